"""Match state and plumbing shared by the core and its adapters: rules, timers config,
the replicated per-match state, and result wire conversion.

Split from `core.py` so the state machine there reads as protocol logic only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from p2p_race.match import messages as m
from p2p_race.match.machine import Membership, Phase, Role
from p2p_race.match.proof import TermProof
from p2p_race.match.seal import RosterStatement, SealedRoster
from replication.records import MatchResult, RacerResult, preferred

NEVER = float("-inf")  # clocks may be negative: "never" must compare below any time
TICK_RATE = 60


# -- configuration and rules ---------------------------------------------------------
@dataclass(frozen=True)
class MatchRules:
    seed: int
    time_limit: float = 180.0
    difficulty: str = "normal"
    max_racers: int = m.MAX_RACERS
    max_spectators: int = m.MAX_SPECTATORS

    def normalized(self) -> MatchRules:
        """As every peer will see it after the wire (time limit as a 32-bit float)."""
        tl = struct.unpack("!f", struct.pack("!f", float(self.time_limit)))[0]
        return replace(self, time_limit=tl, max_racers=max(1, min(self.max_racers, m.MAX_RACERS)),
                       max_spectators=max(0, min(self.max_spectators, m.MAX_SPECTATORS)))

    def to_wire(self) -> m.WireRules:
        return m.WireRules(self.seed, self.time_limit, self.difficulty, self.max_racers, self.max_spectators)

    @classmethod
    def from_wire(cls, w: m.WireRules) -> MatchRules:
        return cls(w.seed, w.time_limit, w.difficulty, w.max_racers, w.max_spectators)

    @property
    def limit_ticks(self) -> int:
        return int(round(self.time_limit * TICK_RATE))


@dataclass(frozen=True)
class MatchConfig:
    heartbeat: float = 0.05
    election_min: float = 0.15
    election_max: float = 0.30
    roster_every: float = 0.5
    announce_every: float = 1.0
    ping_every: float = 0.1  # while the start time matters
    ping_every_racing: float = 0.5  # liveness for spectators / crashed racers
    countdown: float = 3.0
    disconnect_after: float = 2.0
    abandon_after: float = 10.0
    spectator_timeout: float = 3.0
    final_every: float = 0.2
    result_every: float = 0.25
    result_linger: float = 3.0
    join_retry: float = 0.3
    listing_ttl: float = 3.5
    auto_start: int | None = None  # host counts down once this many racers are all ready
    # Replay every racer from its streamed inputs (p2p_race.match.replays) and accept only
    # the states the replay produces. The runtime always turns it on; off, states pass the
    # physics envelope `plausible` only (unit tests that stream made-up cars).
    verify_inputs: bool = False
    auto_start_delay: float = 0.0  # ... this long after they all became ready (a visible countdown)
    max_term_jump: int = 64  # a term further above ours than this is ignored (never believed)
    stall: float = 0.05  # called this much later than our deadline: we were not running
    patience_max: float = 4.0  # the longest a loaded machine makes us wait before an election
    # A member that lost more than a window of a racer's inputs asks it again this often; a
    # racer answers each member at most this often (one window per answer).
    input_request_every: float = 0.25
    # Racers the host admits per machine (the proven IP address discovery holds for a peer;
    # loopback exempt: those are the host's own processes). Votes are counted per racer, so
    # without this one machine could join a majority of sybil racers and elect its own host.
    # 0: no limit.
    racers_per_address: int = 1
    spectators_per_address: int = 2  # spectator identities one machine may hold in a match (0: no bound)


# -- state -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CarReport:
    """What the core knows of a car: the plain numbers of a RacerState / FinalReport."""

    tick: int
    x: float
    y: float
    speed: float
    score: int
    distance: float
    crashed: bool
    crash_time: float
    input_seq: int = 0
    # Local car only: the input codes of the ticks since the previous report (replay.codec),
    # which the core streams and replays (p2p_race.match.replays).
    inputs: bytes = b""


StateCheck = Callable[[CarReport | None, CarReport, MatchRules], bool]


def default_plausible(prev: CarReport | None, new: CarReport, rules: MatchRules) -> bool:
    """`p2p_race.sim.plausible`: bounds derived from the physics that no honest car exceeds."""
    from p2p_race.sim.plausible import plausible

    return plausible(prev, new, rules)  # type: ignore[arg-type]  # duck-typed by design


@dataclass
class Racer:
    peer_id: str
    name: str
    ready: bool = False
    connected: bool = True  # as the host decided (replicated)
    status: int = m.ST_RACING
    color: int = m.NO_COLOR  # colour wish (replicated; p2p_race.match.colors decides the colour)
    final: CarReport | None = None
    last: CarReport | None = None  # newest accepted state
    last_heard: float = NEVER  # local clock
    state_at: float = 0.0  # local clock when `last` arrived
    # We believed the host's word that it was abandoned (it was silent to us too): from then
    # on what it sends does not count, so its later words do not refute that belief.
    abandon_believed: bool = False
    origin: str | None = None  # host only: the proven address it was admitted from (roster.py)


@dataclass
class Listing:
    """A match seen in the lobby (from its host's announcements)."""

    match_id: str
    host_id: str
    host_name: str
    term: int
    rules: MatchRules
    phase: int
    racers: int
    spectators: int
    seen: float
    proof: TermProof | None = None


@dataclass
class Match:
    """One peer's replica of a match. `phase` and `role` (election) change only through
    `machine.move`; everything else is plain data the core's modules update."""

    match_id: str
    rules: MatchRules
    member: Membership
    _phase: Phase = Phase.LOBBY
    joined: bool = False
    # the match's owner: match_id == proof.match_id_for(creator_key, nonce)
    creator_key: bytes = b""
    nonce: bytes = b""
    # election
    term: int = 0
    host: str | None = None
    _role: Role = Role.FOLLOWER
    voted_for: str | None = None
    votes: dict[str, object] = field(default_factory=dict)  # voter -> SignedVote (or True: pre-vote)
    deadline: float = 0.0
    last_host_at: float = NEVER
    failed_host: str | None = None  # host whose silence we are electing past
    proofs: dict[int, TermProof] = field(default_factory=dict)  # term -> verified proof
    # term -> the last roster statement of that term's host we got, and the last one we hold
    # its seal of (p2p_race.match.seal): a record of a later term shows stores its electorate
    rosters: dict[int, RosterStatement] = field(default_factory=dict)
    seals: dict[int, SealedRoster] = field(default_factory=dict)
    early_seal: Any = None  # a RosterSeal that arrived before its Roster
    # replicated
    roster_term: int = 0
    version: int = 0
    racers: dict[str, Racer] = field(default_factory=dict)
    spectators: dict[str, float] = field(default_factory=dict)  # id -> last heard (host view)
    watch_origin: dict[str, str | None] = field(default_factory=dict)  # host: spectator -> admitted from
    join_replies: dict[str, float] = field(default_factory=dict)  # host: member -> when its Join is answered again
    start_at_host: float = 0.0  # in the current host's clock
    start_local: float | None = None  # frozen once the start is reached or a host changes
    start_host_id: str | None = None
    started_at: float = 0.0  # unix seconds, fixed by the first host that counted down
    started: bool = False
    result: MatchResult | None = None
    # timers
    next_heartbeat: float = NEVER
    next_roster: float = NEVER
    next_announce: float = NEVER
    next_ping: float = NEVER
    next_final: float = NEVER
    next_join: float = NEVER
    next_vote_resend: float = NEVER
    result_until: float = NEVER
    next_result: float = NEVER
    adjudicate_after: float = NEVER  # a new host first hears whether a result exists already
    followed_at: float = NEVER  # when we began to follow the current host
    ping_nonce: int = 0
    pings: dict[int, float] = field(default_factory=dict)
    result_replies: dict[str, tuple[int, float]] = field(default_factory=dict)  # host: member -> (copies fetched, next)
    my_final: m.FinalReport | None = None
    host_name: str = ""
    countdown_emitted: bool = False
    want_ready: bool = False
    left: set[str] = field(default_factory=set)  # members that said goodbye
    kicked: dict[str, float] = field(default_factory=dict)  # removed peer -> the host repeats its Kick until (replicated: KickList)
    auto_start_at: float | None = None  # host view: when the auto-start counts down (everyone ready)
    rematch_notice: tuple | None = None  # host view: (old group, Rematch pointer, repeat until)
    suspects: set[str] = field(default_factory=set)  # host view: silent until heard again
    verifier: Any = None  # p2p_race.match.replays.MatchVerifier once the race runs (verify_inputs)
    pending_inputs: bytearray = field(default_factory=bytearray)  # our inputs from before the start
    proof_shown: dict[str, float] = field(default_factory=dict)  # host: stale host -> when told
    next_input_request: float = NEVER  # when we may next ask racers for inputs we lost
    fills_sent: dict[str, float] = field(default_factory=dict)  # racer: member -> when we last answered
    out_of_touch: bool = False  # we stalled, or heard no host, for `disconnect_after` in this match

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def role(self) -> Role:
        return self._role

    @property
    def mid(self) -> bytes:
        return bytes.fromhex(self.match_id)

    @property
    def proof(self) -> TermProof | None:
        """The proof of the current term, once verified."""
        return self.proofs.get(self.term)

    def is_member(self, peer_id: str) -> bool:
        return peer_id in self.racers or peer_id in self.spectators


def mid_bytes(match_id: str) -> bytes:
    return bytes.fromhex(match_id)


def pid_bytes(peer_id: str) -> bytes:
    return bytes.fromhex(peer_id)


def clean_name(name: str) -> str:
    """A display name that fits the wire (16 UTF-8 bytes) and the result record."""
    name = "".join(c for c in name if ord(c) >= 32 and ord(c) != 127).strip() or "racer"
    raw = name.encode("utf-8")[: m.NAME_BYTES]
    return raw.decode("utf-8", "ignore") or "racer"


def result_to_wire(r: MatchResult) -> m.Result:
    return m.Result(
        mid_bytes(r.match_id), r.seed, r.time_limit, pid_bytes(r.host_id), r.term, r.started_at,
        r.finished_at,
        tuple(m.WireRacerResult(pid_bytes(x.peer_id), x.name, x.score, x.distance, x.crashed, x.crash_time,
                                x.abandoned)
              for x in r.racers),
        pid_bytes(r.winner_id), r.winner_name, r.signer_key, r.signature, r.difficulty,
        r.evidence_digest or r.evidence_hash(),
    )


def result_from_wire(w: m.Result) -> MatchResult | None:
    try:
        r = MatchResult(
            w.match_id.hex(), w.seed, w.time_limit, w.host_id.hex(), w.term, w.started_at, w.finished_at,
            tuple(RacerResult(x.peer_id.hex(), x.name, x.score, x.distance, x.crashed, x.crash_time,
                              abandoned=x.abandoned)
                  for x in w.racers),
            w.winner_id.hex(), w.winner_name, w.signer_key, w.signature, difficulty=w.difficulty,
        )
        if r.evidence_hash() != w.evidence:  # the evidence is not in the datagram: keep its digest
            r = replace(r, evidence_digest=w.evidence)
    except (TypeError, ValueError):
        return None
    return r if r.verify() else None


def _preferred(a: MatchResult, b: MatchResult) -> MatchResult:
    """Two signed results of one match (two hosts in a partition): all peers keep the same."""
    return preferred(a, b)


def report_of(msg: m.RacerState | m.FinalReport) -> CarReport:
    return CarReport(msg.tick, msg.x, msg.y, msg.speed, msg.score, msg.distance, msg.crashed, msg.crash_time,
                     msg.input_seq)
