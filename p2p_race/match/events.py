"""What the match core returns: actions for the adapter (`Send`, `Broadcast`) and typed,
frozen events for the UI / CLI. Consumers `match` on the event classes; the JSON event
name of each (`--json-events`, docs/ARCHITECTURE.md) is its `name`.

The core decides *whether* something is announced to the match's chat (`Announcement`
subclasses: only the peer in charge emits them, once); the adapter writes the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from replication.records import MatchResult


# -- actions ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    to: tuple[str, ...]
    msg: Any


@dataclass(frozen=True, slots=True)
class Broadcast:
    """To every peer on the LAN (lobby announcements)."""

    msg: Any


class RejectReason(Enum):
    """Why the core refused a message (counted in `MatchCore.rejected`)."""

    NOT_A_RACER = "state from a peer that is not a racer of this match"
    FINAL_NOT_A_RACER = "final report from a peer that is not a racer of this match"
    IMPLAUSIBLE_STATE = "implausible state"
    IMPLAUSIBLE_FINAL = "implausible final report"
    EARLY_FINAL = "final report before the time limit without a crash"
    BAD_RESULT = "result that does not verify"
    RESULT_NOT_HOST = "result from a host nobody proved for its term"
    NOT_A_MEMBER = "match message from a peer outside the roster"
    NOT_THE_HOST = "host-only message from a peer that is not the proven host"
    TERM_TOO_FAR = "term far above the current one"
    UNPROVEN_TERM = "newer term without a proof"
    BAD_PROOF = "term proof that does not verify"
    NOT_THE_CREATOR = "announcement not bound to the match creator"
    BAD_VOTE = "vote that does not verify"
    DIVERGED = "state its inputs do not produce (racer excluded)"
    RESULT_COUNTS_DIVERGED = "result that counts a racer whose inputs diverged"
    ABANDONED_WHILE_HEARD = "racer called abandoned that we heard lately (it was not silent)"
    ABANDONED_TOO_EARLY = "racer called abandoned before its last state that we hold"
    RESULT_BELOW_SIGNED = "result that gives a racer less than its own final report"

    @property
    def quiet(self) -> bool:
        """Usually honest traffic in flight (a roster update not there yet): debug-level."""
        return self in (RejectReason.NOT_A_RACER, RejectReason.NOT_A_MEMBER)


# -- events ----------------------------------------------------------------------------
class MatchEvent:
    """Base of every event; `name` is the JSON event name."""

    __slots__ = ()
    name: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class Joined(MatchEvent):
    name: ClassVar[str] = "joined"
    match_id: str
    role: str  # "racer" | "spectator"
    host: bool  # we created it


@dataclass(frozen=True, slots=True)
class HostChanged(MatchEvent):
    name: ClassVar[str] = "host"
    match_id: str
    host: str | None
    host_name: str
    term: int


@dataclass(frozen=True, slots=True)
class CountdownSet(MatchEvent):
    name: ClassVar[str] = "countdown"
    at: float  # local monotonic clock
    started_at: float  # unix seconds


@dataclass(frozen=True, slots=True)
class Started(MatchEvent):
    name: ClassVar[str] = "start"
    at: float


@dataclass(frozen=True, slots=True)
class Crashed(MatchEvent):
    name: ClassVar[str] = "crash"
    peer: str
    racer: str  # display name
    score: int
    crash_time: float
    abandoned: bool


@dataclass(frozen=True, slots=True)
class ResultAdopted(MatchEvent):
    name: ClassVar[str] = "result"
    result: MatchResult
    proof: Any = None  # proof.TermProof of the result's term, when known


@dataclass(frozen=True, slots=True)
class ElectionStarted(MatchEvent):
    name: ClassVar[str] = "election"
    term: int
    failed_host: str | None


@dataclass(frozen=True, slots=True)
class ConnectionChanged(MatchEvent):
    name: ClassVar[str] = "connection"
    peer: str
    racer: str
    connected: bool


@dataclass(frozen=True, slots=True)
class Left(MatchEvent):
    name: ClassVar[str] = "left"
    match_id: str


@dataclass(frozen=True, slots=True)
class Refused(MatchEvent):
    name: ClassVar[str] = "refused"
    match_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SteppedDown(MatchEvent):
    name: ClassVar[str] = "stepped_down"
    term: int


@dataclass(frozen=True, slots=True)
class MemberJoined(MatchEvent):
    name: ClassVar[str] = "member"
    peer: str
    member: str  # display name
    role: str


@dataclass(frozen=True, slots=True)
class RosterUpdated(MatchEvent):
    name: ClassVar[str] = "roster"
    version: int


@dataclass(frozen=True, slots=True)
class Rejected(MatchEvent):
    name: ClassVar[str] = "rejected"
    peer: str
    reason: RejectReason


@dataclass(frozen=True, slots=True)
class StateAccepted(MatchEvent):
    """A racer's state the core accepted: the only states to draw or sample (the runtime
    consumes these itself; they are not forwarded to listeners)."""

    name: ClassVar[str] = "state"
    peer: str
    report: Any  # state.CarReport


@dataclass(frozen=True, slots=True)
class Diverged(MatchEvent):
    """A racer streamed a state its inputs do not produce (p2p_race.match.replays): it is
    out of this match's result on this peer, for good. Shown to the user, never silent."""

    name: ClassVar[str] = "diverged"
    peer: str
    racer: str
    reason: str


class Announcement(MatchEvent):
    """Something the match's chat should hear; emitted once, by the peer in charge."""

    __slots__ = ()
    match_id: str


@dataclass(frozen=True, slots=True)
class TookOver(Announcement):
    name: ClassVar[str] = "took_over"
    match_id: str
    host_name: str
    term: int


@dataclass(frozen=True, slots=True)
class Won(Announcement):
    name: ClassVar[str] = "won"
    match_id: str
    result: MatchResult


@dataclass(frozen=True, slots=True)
class Excluded(Announcement):
    """The host tells the match's chat that a racer is out of the result (once)."""

    name: ClassVar[str] = "excluded"
    match_id: str
    racer: str
    reason: str


@dataclass(frozen=True, slots=True)
class Kicked(MatchEvent):
    """The host removed us from its match."""

    name: ClassVar[str] = "kicked"
    match_id: str
    host_name: str


@dataclass(frozen=True, slots=True)
class RematchOffered(MatchEvent):
    """The host of our finished match hosts the next one; we follow it (not ready yet)."""

    name: ClassVar[str] = "rematch"
    match_id: str
    next_id: str
    host_name: str


Event = MatchEvent
Action = Send | Broadcast | MatchEvent
