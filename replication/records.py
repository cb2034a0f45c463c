"""The match result record: what a host adjudicated, signed with its identity.

A result is a pure function of the racers' reports (`adjudicate`), so any host of a match
reaches the same winner. The record is signed over `canonical_bytes()` (a fixed binary
encoding with a domain prefix, not JSON, so no two encoders can disagree) and checked by
every peer before it is stored or synced: bad signatures, a signer that is not the host,
a winner that adjudication would not pick, duplicate racers or absurd numbers are refused.

`outcome_bytes()` covers only what a result *means* (match, rules, racers, winner); two
hosts of one match (after a failover) sign different records with the same outcome, and
peers treat those as the same result (see replication.store).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
from dataclasses import dataclass, field, replace
from typing import Any

from p2p_race.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, peer_id_of, verify
from p2p_race.text import check_name

DOMAIN = b"p2p-race/match-result/v1\x00"
OUTCOME_DOMAIN = b"p2p-race/match-outcome/v1\x00"

MAX_RACERS = 64
MAX_MATCH_ID = 64
MAX_SCORE = 1_000_000_000
MAX_DISTANCE = 10_000_000.0  # metres; a 1 h race at 1000 km/h is 1e6
MAX_TIME_LIMIT = 3600.0
MAX_SAMPLES = 3600  # one score sample per second of an hour-long race
MAX_TERM = 2**32 - 1
MAX_SEED = 2**64 - 1
# Between the start and the published result: countdown slack, stragglers, a failover.
FINISH_SLACK = 600.0
MAX_UNIX = 2**33  # year 2242: anything later is garbage

_MATCH_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
_PEER_ID_RE = re.compile(r"[0-9a-f]{16}\Z")


@functools.cache
def _physics() -> tuple[float, float]:
    """(top speed m/s, most points per second on any difficulty) from the simulation's
    constants: a report beyond what any car could drive or score in its time is absurd."""
    from p2p_race.sim import Rules, max_score_rate
    from p2p_race.sim.rules import DIFFICULTIES, MAX_SPEED

    return MAX_SPEED, max(max_score_rate(Rules(0, 180.0, d)) for d in DIFFICULTIES)


def _check_name(name: Any, what: str) -> None:
    check_name(name, what)  # the one name rule (p2p_race.text): clean, 1-64 bytes


def _check_int(v: Any, lo: int, hi: int, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{what} must be an integer in [{lo}, {hi}]")


def _check_float(v: Any, lo: float, hi: float, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{what} must be a finite number in [{lo}, {hi}]")


def _check_peer_id(v: Any, what: str) -> None:
    if not isinstance(v, str) or not _PEER_ID_RE.match(v):
        raise ValueError(f"{what} must be 16 lowercase hex digits")


def _str(out: bytearray, s: str) -> None:
    raw = s.encode("utf-8")
    out += struct.pack("!H", len(raw))
    out += raw


@dataclass(frozen=True)
class RacerResult:
    """One racer's final report. `crash_time` is -1 when the racer did not crash.

    `samples` (optional) is the racer's score once per second, for the score-over-time chart.
    """

    peer_id: str
    name: str
    score: int
    distance: float
    crashed: bool
    crash_time: float  # -1 when not crashed
    samples: tuple[int, ...] = field(default=())

    def validate(self, time_limit: float = MAX_TIME_LIMIT) -> None:
        _check_peer_id(self.peer_id, "racer peer_id")
        _check_name(self.name, "racer name")
        _check_int(self.score, 0, MAX_SCORE, "score")
        _check_float(self.distance, 0.0, MAX_DISTANCE, "distance")
        if not isinstance(self.crashed, bool):
            raise ValueError("crashed must be a bool")
        if self.crashed:
            _check_float(self.crash_time, 0.0, time_limit + 1.0, "crash_time")
        elif self.crash_time != -1:
            raise ValueError("crash_time must be -1 when not crashed")
        if not isinstance(self.samples, tuple) or len(self.samples) > MAX_SAMPLES:
            raise ValueError(f"samples must be a tuple of at most {MAX_SAMPLES} scores")
        for s in self.samples:
            _check_int(s, 0, MAX_SCORE, "sample")

    def implausible(self, time_limit: float) -> str | None:
        """Why no car of the simulation could have produced this report, or None.
        (Checked on records received and stored, not by `adjudicate`.)"""
        driven = float(self.crash_time) if self.crashed else float(time_limit)
        top_speed, top_rate = _physics()
        if self.distance > top_speed * driven * 1.05 + 50.0:
            return f"racer {self.peer_id}: distance is impossible in the time driven"
        if self.score > top_rate * (driven * 1.05 + 2.0) + 100:
            return f"racer {self.peer_id}: score is impossible in the time driven"
        return None

    @property
    def survival(self) -> float:
        """How long the racer stayed on the road: infinite when it never crashed."""
        return math.inf if not self.crashed else float(self.crash_time)

    def _pack(self, out: bytearray) -> None:
        out += bytes.fromhex(self.peer_id)
        _str(out, self.name)
        out += struct.pack("!QdBd", self.score, float(self.distance), 1 if self.crashed else 0,
                           float(self.crash_time))
        out += struct.pack("!H", len(self.samples))
        out += struct.pack(f"!{len(self.samples)}Q", *self.samples)

    def to_json(self) -> dict:
        d: dict[str, Any] = {
            "peer_id": self.peer_id, "name": self.name, "score": self.score,
            "distance": float(self.distance), "crashed": self.crashed,
            "crash_time": float(self.crash_time),
        }
        if self.samples:
            d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_json(cls, d: Any) -> RacerResult:
        if not isinstance(d, dict):
            raise ValueError("racer must be an object")
        try:
            samples = d.get("samples", [])
            if not isinstance(samples, list):
                raise ValueError("samples must be a list")
            r = cls(
                peer_id=d["peer_id"], name=d["name"], score=d["score"],
                distance=d["distance"], crashed=d["crashed"], crash_time=d["crash_time"],
                samples=tuple(samples),
            )
        except KeyError as exc:
            raise ValueError(f"racer is missing {exc.args[0]!r}") from None
        r.validate()
        if isinstance(r.distance, int):
            r = replace(r, distance=float(r.distance))
        if isinstance(r.crash_time, int):
            r = replace(r, crash_time=float(r.crash_time))
        return r


def _rank_key(r: RacerResult) -> tuple:
    # Highest score, then longest survival (never crashed = infinite), then lowest peer id.
    return (-r.score, -r.survival, r.peer_id)


@dataclass(frozen=True)
class MatchResult:
    match_id: str
    seed: int
    time_limit: float
    host_id: str
    term: int
    started_at: float  # unix seconds
    finished_at: float  # unix seconds
    racers: tuple[RacerResult, ...]
    winner_id: str
    winner_name: str
    signer_key: bytes = b""
    signature: bytes = b""

    # -- encoding -------------------------------------------------------------------
    def _pack_outcome(self, out: bytearray) -> None:
        _str(out, self.match_id)
        out += struct.pack("!Qd", self.seed, float(self.time_limit))
        out += struct.pack("!H", len(self.racers))
        for r in self.racers:
            r._pack(out)
        out += bytes.fromhex(self.winner_id)
        _str(out, self.winner_name)

    def canonical_bytes(self) -> bytes:
        """Deterministic encoding of everything but the signature (what the host signs)."""
        out = bytearray(DOMAIN)
        self._pack_outcome(out)
        out += bytes.fromhex(self.host_id)
        out += struct.pack("!Idd", self.term, float(self.started_at), float(self.finished_at))
        out += struct.pack("!H", len(self.signer_key))
        out += self.signer_key
        return bytes(out)

    def outcome_bytes(self) -> bytes:
        """Only what the result means: equal for every host that adjudicates the match."""
        out = bytearray(OUTCOME_DOMAIN)
        self._pack_outcome(out)
        return bytes(out)

    def outcome_hash(self) -> bytes:
        return hashlib.sha256(self.outcome_bytes()).digest()

    # -- signing --------------------------------------------------------------------
    def signed(self, identity: Identity) -> MatchResult:
        """This result signed by `identity`, which must be the host's."""
        if identity.peer_id != self.host_id:
            raise ValueError("only the host identity can sign a match result")
        unsigned = replace(self, signer_key=identity.public_key, signature=b"")
        return replace(unsigned, signature=identity.sign(unsigned.canonical_bytes()))

    def problem(self) -> str | None:
        """Why this record must be refused, or None when it is valid and correctly signed."""
        try:
            self.validate()
        except ValueError as exc:
            return str(exc)
        for r in self.racers:
            why = r.implausible(self.time_limit)
            if why:
                return why
        if len(self.signer_key) != PUBLIC_KEY_BYTES or len(self.signature) != SIGNATURE_BYTES:
            return "unsigned"
        if peer_id_of(self.signer_key) != self.host_id:
            return "signer is not the host"
        if not verify(self.signer_key, self.signature, self.canonical_bytes()):
            return "bad signature"
        return None

    def verify(self) -> bool:
        return self.problem() is None

    def validate(self) -> None:
        """Check types, bounds and internal consistency (not the signature). Raises ValueError."""
        if not isinstance(self.match_id, str) or not _MATCH_ID_RE.match(self.match_id):
            raise ValueError("match_id must be 1-64 characters of [A-Za-z0-9_.:-]")
        _check_int(self.seed, 0, MAX_SEED, "seed")
        _check_float(self.time_limit, 1.0, MAX_TIME_LIMIT, "time_limit")
        _check_peer_id(self.host_id, "host_id")
        _check_int(self.term, 0, MAX_TERM, "term")
        _check_float(self.started_at, 0.0, MAX_UNIX, "started_at")
        _check_float(self.finished_at, 0.0, MAX_UNIX, "finished_at")
        if self.finished_at < self.started_at:
            raise ValueError("finished before it started")
        if self.finished_at - self.started_at > self.time_limit + FINISH_SLACK:
            raise ValueError("match lasted far longer than its time limit")
        if not isinstance(self.racers, tuple) or not 1 <= len(self.racers) <= MAX_RACERS:
            raise ValueError(f"a result needs 1..{MAX_RACERS} racers")
        seen = set()
        for r in self.racers:
            if not isinstance(r, RacerResult):
                raise ValueError("racers must be RacerResult")
            r.validate(self.time_limit)
            if r.peer_id in seen:
                raise ValueError(f"duplicate racer {r.peer_id}")
            seen.add(r.peer_id)
        if list(self.racers) != sorted(self.racers, key=lambda r: r.peer_id):
            raise ValueError("racers must be sorted by peer_id")
        if not isinstance(self.signer_key, bytes) or not isinstance(self.signature, bytes):
            raise ValueError("signer_key and signature must be bytes")
        winner = min(self.racers, key=_rank_key)
        if self.winner_id != winner.peer_id or self.winner_name != winner.name:
            raise ValueError("winner does not match adjudication")

    # -- JSON -----------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "match_id": self.match_id, "seed": self.seed, "time_limit": float(self.time_limit),
            "host_id": self.host_id, "term": self.term,
            "started_at": float(self.started_at), "finished_at": float(self.finished_at),
            "racers": [r.to_json() for r in self.racers],
            "winner_id": self.winner_id, "winner_name": self.winner_name,
            "signer_key": self.signer_key.hex(), "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, d: Any) -> MatchResult:
        """Parse and validate (not the signature: call `verify()`). Raises ValueError."""
        if not isinstance(d, dict):
            raise ValueError("a match result must be an object")
        try:
            racers = d["racers"]
            if not isinstance(racers, list):
                raise ValueError("racers must be a list")
            key, sig = d.get("signer_key", ""), d.get("signature", "")
            if not isinstance(key, str) or not isinstance(sig, str):
                raise ValueError("signer_key and signature must be hex strings")
            result = cls(
                match_id=d["match_id"], seed=d["seed"], time_limit=_f(d["time_limit"]),
                host_id=d["host_id"], term=d["term"],
                started_at=_f(d["started_at"]), finished_at=_f(d["finished_at"]),
                racers=tuple(RacerResult.from_json(r) for r in racers),
                winner_id=d["winner_id"], winner_name=d["winner_name"],
                signer_key=bytes.fromhex(key), signature=bytes.fromhex(sig),
            )
        except KeyError as exc:
            raise ValueError(f"match result is missing {exc.args[0]!r}") from None
        result.validate()
        return result

    # -- views ----------------------------------------------------------------------
    @property
    def scores(self) -> dict[str, int]:
        return {r.name: r.score for r in self.racers}

    def racer(self, peer_id: str) -> RacerResult | None:
        return next((r for r in self.racers if r.peer_id == peer_id), None)


def _f(v: Any) -> Any:
    """JSON numbers to float, keeping non-numbers for validate() to refuse."""
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def preferred(a: MatchResult, b: MatchResult) -> MatchResult:
    """Of two valid results for one match id (two hosts on two sides of a partition), the one
    every peer keeps: the lower term, then the lower host id. One rule for the match core and
    the store, so all peers end with the same record whichever arrived first."""
    return b if (b.term, b.host_id) < (a.term, a.host_id) else a


def adjudicate(
    match_id: str, seed: int, time_limit: float, host_id: str, term: int,
    started_at: float, finished_at: float, racers: Any,
) -> MatchResult:
    """The (unsigned) result of a match: a pure function of the racers' reports.

    Winner: highest score; ties go to longer survival (`crash_time`, not crashed = infinite),
    then to the lower peer id. Racers are stored sorted by peer id so every host encodes the
    same bytes whatever order the reports arrived in. Raises ValueError on invalid input.
    """
    rs = tuple(sorted(racers, key=lambda r: r.peer_id))
    if not rs:
        raise ValueError("a result needs at least one racer")
    winner = min(rs, key=_rank_key)
    result = MatchResult(
        match_id=match_id, seed=seed, time_limit=float(time_limit), host_id=host_id, term=term,
        started_at=float(started_at), finished_at=float(finished_at), racers=rs,
        winner_id=winner.peer_id, winner_name=winner.name,
    )
    result.validate()
    return result
