"""Match wire messages (type ids 0x10-0x2F), registered with `p2p_race.wire.message`.

Every message names its match by an 8-byte id, so one peer can tell matches apart and
ignore stale ones. Racer state is the hot path (60 Hz from every racer to every member):
it is flat, fixed size (62 bytes of payload) and carries no names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from p2p_race.match.proof import MAX_VOTES, SignedVote, TermProof
from p2p_race.schema import BOOL, F32, F64, U8, U16, U32, U64, Bytes, Fixed, ListOf, Str
from p2p_race.wire import message

MID = Annotated[bytes, Fixed(8)]  # match id
PID = Annotated[bytes, Fixed(8)]  # peer id (wire form of the 16-hex-digit id)
NAME_BYTES = 16  # keeps a full roster (16 racers + 32 spectators) in one datagram
MAX_RACERS = 16
MAX_SPECTATORS = 32
NO_COLOR = 255  # = p2p_race.match.colors.NO_WISH
MAX_KICKS = 64  # peers a host may remove from one match (the kick list fits one datagram)
INPUT_WINDOW_BYTES = 123  # p2p_race.match.replays: 240 ticks of inputs, two a byte at worst
INPUTS = Annotated[bytes, Bytes(INPUT_WINDOW_BYTES)]

# Roles and phases are small ints on the wire.
ROLE_RACER = 0
ROLE_SPECTATOR = 1
PHASE_LOBBY = 0
PHASE_COUNTDOWN = 1
PHASE_RACING = 2
PHASE_FINISHED = 3
PHASE_NAMES = ("lobby", "countdown", "racing", "finished")

# Racer status in the replicated roster.
ST_RACING = 0
ST_CRASHED = 1  # signed crash report accepted
ST_TIME = 2  # reached the time limit (signed final report)
ST_ABANDONED = 3  # silent too long / left: crashed at its last reported state
ST_NAMES = ("racing", "crashed", "finished", "abandoned")
FLAG_READY = 1
FLAG_CONNECTED = 2
KEY = Annotated[bytes, Fixed(32)]
SIG = Annotated[bytes, Fixed(64)]
NO_SIG = bytes(64)


@dataclass(frozen=True, slots=True)
class WireVote:
    voter_key: KEY
    signature: SIG


@dataclass(frozen=True, slots=True)
class WireProof:
    """`p2p_race.match.proof.TermProof` on the wire (at most a quorum of 16 voters)."""

    match_id: MID
    term: Annotated[int, U32]
    host_key: KEY
    creator_key: KEY
    nonce: Annotated[bytes, Fixed(8)]
    votes: Annotated[tuple, ListOf(WireVote, MAX_VOTES)]


def proof_to_wire(p: TermProof) -> WireProof:
    return WireProof(p.match_id, p.term, p.host_key, p.creator_key, p.nonce,
                     tuple(WireVote(v.voter_key, v.signature) for v in p.votes))


def proof_from_wire(w: WireProof) -> TermProof:
    return TermProof(w.match_id, w.term, w.host_key, w.creator_key, w.nonce,
                     tuple(SignedVote(v.voter_key, v.signature) for v in w.votes))


@dataclass(frozen=True, slots=True)
class WireRules:
    seed: Annotated[int, U64]
    time_limit: Annotated[float, F32]
    difficulty: Annotated[str, Str(8)]
    max_racers: Annotated[int, U8]
    max_spectators: Annotated[int, U8]


@message(0x10)
@dataclass(frozen=True, slots=True)
class Announce:
    """A host tells the LAN about its match (lobby listing, spectating, failover rejoin).
    It carries the proof of its term, so a newcomer can check the host it joins."""

    match_id: MID
    host_name: Annotated[str, Str(NAME_BYTES)]
    rules: Annotated[WireRules, WireRules]
    phase: Annotated[int, U8]
    racers: Annotated[int, U8]
    spectators: Annotated[int, U8]
    proof: Annotated[WireProof, WireProof]

    @property
    def term(self) -> int:
        return self.proof.term


@message(0x11)
@dataclass(frozen=True, slots=True)
class Join:
    match_id: MID
    role: Annotated[int, U8]
    name: Annotated[str, Str(NAME_BYTES)]
    color: Annotated[int, U8] = NO_COLOR  # the joiner's colour wish (p2p_race.match.colors)


@message(0x12)
@dataclass(frozen=True, slots=True)
class JoinRefused:
    match_id: MID
    reason: Annotated[str, Str(64)]


@message(0x13)
@dataclass(frozen=True, slots=True)
class Leave:
    match_id: MID


@message(0x14)
@dataclass(frozen=True, slots=True)
class Ready:
    match_id: MID
    ready: Annotated[bool, BOOL]


@message(0x15)
@dataclass(frozen=True, slots=True)
class VoteRequest:
    """Candidate asks for a vote. `pre` = a pre-vote (no term change, no vote recorded):
    a peer cut off from the others cannot inflate its term and disrupt a healthy host."""

    match_id: MID
    term: Annotated[int, U32]
    last_term: Annotated[int, U32]  # newest term the candidate heard a host in
    roster_version: Annotated[int, U32]
    pre: Annotated[bool, BOOL]


@message(0x16)
@dataclass(frozen=True, slots=True)
class Vote:
    """A granted real vote carries the voter's signature over (match, term, candidate,
    voter), forwardable in the new host's proof; pre-votes and refusals carry zeros."""

    match_id: MID
    term: Annotated[int, U32]
    granted: Annotated[bool, BOOL]
    pre: Annotated[bool, BOOL]
    voter_key: KEY = bytes(32)
    signature: SIG = NO_SIG


@message(0x17)
@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The host is alive (every ~50 ms). `start_at` is in the host's clock (0 = not set).
    `stalls_ms`: how long the host itself stalled lately (its turbulence): members wait
    at least twice that before calling it gone."""

    match_id: MID
    term: Annotated[int, U32]
    phase: Annotated[int, U8]
    roster_version: Annotated[int, U32]
    start_at: Annotated[float, F64]
    has_result: Annotated[bool, BOOL]
    stalls_ms: Annotated[int, U16] = 0


@dataclass(frozen=True, slots=True)
class RosterRacer:
    peer_id: PID
    name: Annotated[str, Str(NAME_BYTES)]
    flags: Annotated[int, U8]  # FLAG_READY | FLAG_CONNECTED
    status: Annotated[int, U8]
    # The final report the host accepted (valid when status != ST_RACING).
    score: Annotated[int, U32]
    distance: Annotated[float, F64]
    crash_time: Annotated[float, F64]
    color: Annotated[int, U8] = NO_COLOR  # its colour wish, as it joined (p2p_race.match.colors)


@message(0x18)
@dataclass(frozen=True, slots=True)
class Roster:
    """The replicated match state: what a new host continues from after a failover."""

    match_id: MID
    term: Annotated[int, U32]
    version: Annotated[int, U32]
    rules: Annotated[WireRules, WireRules]
    phase: Annotated[int, U8]
    start_at: Annotated[float, F64]  # host clock
    started_at: Annotated[float, F64]  # unix seconds of the start, fixed once chosen
    racers: Annotated[tuple, ListOf(RosterRacer, MAX_RACERS)]
    spectators: Annotated[tuple, ListOf(Fixed(8), MAX_SPECTATORS)]


@message(0x19)
@dataclass(frozen=True, slots=True)
class Ping:
    match_id: MID
    nonce: Annotated[int, U32]
    t0: Annotated[float, F64]


@message(0x1A)
@dataclass(frozen=True, slots=True)
class Pong:
    match_id: MID
    nonce: Annotated[int, U32]
    t0: Annotated[float, F64]
    t1: Annotated[float, F64]  # host clock when the ping arrived (= when the pong left)


@message(0x1B)
@dataclass(frozen=True, slots=True)
class CountdownStart:
    match_id: MID
    term: Annotated[int, U32]
    start_at: Annotated[float, F64]  # host clock
    started_at: Annotated[float, F64]  # unix seconds


@message(0x1C)
@dataclass(frozen=True, slots=True)
class RacerState:
    """One racer's car, streamed at 60 Hz (the sender is the racer: the wire signature
    proves it). Full float precision, so a report is exactly the CarState the racer's
    simulation produced and `p2p_race.sim.plausible` judges the real numbers."""

    match_id: MID
    tick: Annotated[int, U32]
    input_seq: Annotated[int, U32]
    x: Annotated[float, F64]
    y: Annotated[float, F64]
    speed: Annotated[float, F64]
    score: Annotated[int, U32]
    distance: Annotated[float, F64]
    crashed: Annotated[bool, BOOL]
    crash_time: Annotated[float, F64]  # -1 when not crashed
    # The inputs of ticks first_tick..tick (replay.codec log encoding): every peer replays
    # them and accepts the state only when the replay produces it (p2p_race.match.replays).
    first_tick: Annotated[int, U32] = 0
    inputs: INPUTS = b""


@message(0x1D)
@dataclass(frozen=True, slots=True)
class FinalReport:
    """A racer's final state: its crash (crashed=True) or the time limit. Repeated until
    a result is seen, so a new host has it too; the result is made of these. It carries the
    last inputs (as a RacerState does) and the racer's attestation: its key and its own
    signature over (match, hash of its input log, its outcome), for the result record."""

    match_id: MID
    tick: Annotated[int, U32]
    input_seq: Annotated[int, U32]
    x: Annotated[float, F64]
    y: Annotated[float, F64]
    speed: Annotated[float, F64]
    score: Annotated[int, U32]
    distance: Annotated[float, F64]
    crashed: Annotated[bool, BOOL]
    crash_time: Annotated[float, F64]
    first_tick: Annotated[int, U32] = 0
    inputs: INPUTS = b""
    key: Annotated[bytes, Fixed(32)] = bytes(32)
    attestation: Annotated[bytes, Fixed(64)] = bytes(64)


@dataclass(frozen=True, slots=True)
class WireRacerResult:
    peer_id: PID
    name: Annotated[str, Str(NAME_BYTES)]
    score: Annotated[int, U32]
    distance: Annotated[float, F64]
    crashed: Annotated[bool, BOOL]
    crash_time: Annotated[float, F64]
    abandoned: Annotated[bool, BOOL] = False


@message(0x1E)
@dataclass(frozen=True, slots=True)
class Result:
    """The signed `replication.records.MatchResult`, field for field (binary, fits a datagram)."""

    match_id: MID
    seed: Annotated[int, U64]
    time_limit: Annotated[float, F64]
    host_id: PID
    term: Annotated[int, U32]
    started_at: Annotated[float, F64]
    finished_at: Annotated[float, F64]
    racers: Annotated[tuple, ListOf(WireRacerResult, MAX_RACERS)]
    winner_id: PID
    winner_name: Annotated[str, Str(NAME_BYTES)]
    signer_key: Annotated[bytes, Fixed(32)]
    signature: Annotated[bytes, Fixed(64)]
    # The rest of the record (attestations, term proof, log hashes) is too big for one
    # datagram: members rebuild it from their own replays and check it against this digest.
    difficulty: Annotated[str, Str(8)] = "normal"
    evidence: Annotated[bytes, Fixed(32)] = bytes(32)


@message(0x1F)
@dataclass(frozen=True, slots=True)
class HostProof:
    """The host's proof of its term (sent on taking over, with rosters and results)."""

    match_id: MID
    proof: Annotated[WireProof, WireProof]


@message(0x28)
@dataclass(frozen=True, slots=True)
class Kick:
    """The host removes `peer` from the match (lobby only); sent to that peer."""

    match_id: MID
    term: Annotated[int, U32]
    peer: PID


@message(0x2A)
@dataclass(frozen=True, slots=True)
class KickList:
    """The peers the host removed from the match, sent to the members with the roster: the
    host's replicated state, so a later host (after a failover) keeps them out too. It has
    its own datagram because a full roster leaves no room for it."""

    match_id: MID
    term: Annotated[int, U32]
    peers: Annotated[tuple, ListOf(Fixed(8), MAX_KICKS)]


@message(0x2B)
@dataclass(frozen=True, slots=True)
class InputRequest:
    """A member that lost more than a window of a racer's inputs asks that racer for the ticks
    from `first_tick` (p2p_race.match.replays). Padded to the largest answer, so answering
    never sends more than was asked with."""

    match_id: MID
    first_tick: Annotated[int, U32]
    pad: INPUTS = bytes(INPUT_WINDOW_BYTES)


@message(0x2C)
@dataclass(frozen=True, slots=True)
class InputFill:
    """A racer's answer to an `InputRequest`: its inputs of at most one window of ticks from
    `first_tick` (the log encoding), to the member that asked."""

    match_id: MID
    first_tick: Annotated[int, U32]
    inputs: INPUTS = b""


@message(0x2D)
@dataclass(frozen=True, slots=True)
class RosterSeal:
    """The host's signature over the electorate-relevant part of its roster `version`
    (p2p_race.match.seal): sent after each Roster (a full roster leaves no room for it), kept
    by members so a later host's record can show a store whom the election counted."""

    match_id: MID
    term: Annotated[int, U32]
    version: Annotated[int, U32]
    signature: SIG


@dataclass(frozen=True, slots=True)
class SealedRacer:
    peer_id: PID
    abandoned: Annotated[bool, BOOL]


@message(0x2E)
@dataclass(frozen=True, slots=True)
class SealRelay:
    """A new host passes on the sealed roster of the host it replaced (its statement and that
    host's signature, p2p_race.match.seal), so a member that missed every seal of it can still
    give its record the term chain stores need. Checked against the replaced host's key."""

    match_id: MID
    term: Annotated[int, U32]  # the sender's term (it hosts it)
    sealed_term: Annotated[int, U32]
    version: Annotated[int, U32]
    phase: Annotated[int, U8]
    racers: Annotated[tuple, ListOf(SealedRacer, MAX_RACERS)]
    spectators: Annotated[tuple, ListOf(Fixed(8), MAX_SPECTATORS)]
    signature: SIG


@message(0x29)
@dataclass(frozen=True, slots=True)
class Rematch:
    """The host of a finished match points its group at the next match it hosts."""

    match_id: MID
    term: Annotated[int, U32]
    next_id: MID


# Every match message, for the adapters that subscribe to them (a hand-kept list once missed
# KickList, so the real runtime dropped it): the classes of this module with a wire type id.
ALL: tuple[type, ...] = tuple(sorted(
    (c for c in list(globals().values())
     if isinstance(c, type) and c.__module__ == __name__ and hasattr(c, "TYPE_ID")),
    key=lambda c: c.TYPE_ID))
