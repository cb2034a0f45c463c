"""The match result record: what a host adjudicated, signed with its identity.

A result is a pure function of the racers' reports (`adjudicate`), so any host of a match
reaches the same winner. The record is signed over `canonical_bytes()` (a fixed binary
encoding with a domain prefix, not JSON, so no two encoders can disagree) and checked by
every peer before it is stored or synced: bad signatures, a signer that is not the host,
a winner that adjudication would not pick, duplicate racers or absurd numbers are refused.
What the numbers are worth (a proven host, the racers' own signatures, a replay of their
inputs) is checked by replication.evidence before anything is stored.

`outcome_bytes()` covers only what a result *means* (match, rules, racers, winner); two
hosts of one match (after a failover) sign different records with the same outcome, and
peers treat those as the same result (see replication.store).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import struct
from dataclasses import dataclass, field, replace
from typing import Any

from p2p_race.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, peer_id_of, verify
from p2p_race.ranking import rank_key
from p2p_race.text import check_name

DOMAIN = b"p2p-race/match-result/v2\x00"
OUTCOME_DOMAIN = b"p2p-race/match-outcome/v2\x00"
EVIDENCE_DOMAIN = b"p2p-race/match-evidence/v1\x00"
ATTESTATION_DOMAIN = b"p2p-race/racer-attestation/v1\x00"
HASH_BYTES = 32
MAX_LOGS_BYTES = 2 * 1024 * 1024  # 16 racers of an hour-long race; keeps a record in one sync frame
MAX_CHAIN_BYTES = 96 * 1024  # p2p_race.match.seal.MAX_CHAIN_BYTES: 16 links of sealed roster and proof
MAX_PROOF_BYTES = 4096  # the host's term proof: a quorum of signed votes (16 racers + 32 spectators)
DIFFICULTIES = ("easy", "normal", "hard")

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
    # Evidence (replication.evidence): the racer's public key, the hash of its input codes
    # (p2p_race.replay.verify.log_hash_of) and its signature over `attestation_bytes`.
    # An abandoned racer (it stopped streaming) signed nothing: its entry rests on the host's
    # signature and on the replay of the inputs the host received.
    key: bytes = b""
    log_hash: bytes = b""
    attestation: bytes = b""
    abandoned: bool = False

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
        for v, n, what in ((self.key, PUBLIC_KEY_BYTES, "racer key"), (self.log_hash, HASH_BYTES, "log hash"),
                           (self.attestation, SIGNATURE_BYTES, "attestation")):
            if not isinstance(v, bytes) or len(v) not in (0, n):
                raise ValueError(f"{what} must be {n} bytes")
        if not isinstance(self.abandoned, bool) or (self.abandoned and not self.crashed):
            raise ValueError("an abandoned racer counts as crashed")

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
        out.append(1 if self.abandoned else 0)

    def _pack_evidence(self, out: bytearray) -> None:
        for v in (self.key, self.log_hash, self.attestation):
            out.append(len(v))
            out += v

    def attestation_bytes(self, match_id: str, seed: int, time_limit: float, difficulty: str) -> bytes:
        """What the racer signs at the end of its drive: the match, its inputs, its outcome."""
        return attestation_bytes(match_id, seed, time_limit, difficulty, self.log_hash, self.score,
                                 self.distance, self.crashed, self.crash_time)

    def to_json(self) -> dict:
        d: dict[str, Any] = {
            "peer_id": self.peer_id, "name": self.name, "score": self.score,
            "distance": float(self.distance), "crashed": self.crashed,
            "crash_time": float(self.crash_time),
        }
        if self.samples:
            d["samples"] = list(self.samples)
        if self.key:
            d["key"] = self.key.hex()
        if self.log_hash:
            d["log_hash"] = self.log_hash.hex()
        if self.attestation:
            d["attestation"] = self.attestation.hex()
        if self.abandoned:
            d["abandoned"] = True
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
                samples=tuple(samples), key=_hex(d.get("key", ""), "racer key"),
                log_hash=_hex(d.get("log_hash", ""), "log hash"),
                attestation=_hex(d.get("attestation", ""), "attestation"),
                abandoned=d.get("abandoned", False),
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
    """The one ranking rule (p2p_race.ranking), applied to a stored racer."""
    return rank_key(r.score, r.crashed, r.crash_time, r.peer_id)


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
    # Evidence: the proof that a quorum elected `host_id` for `term` (p2p_race.match.proof),
    # the difficulty (with seed and time limit: the road every log is replayed on), and the
    # racers' encoded input logs in racer order (not signed themselves: their hashes are).
    term_proof: bytes = b""
    difficulty: str = "normal"
    logs: tuple[bytes, ...] = ()
    # Only in a result received as a datagram (too small for the evidence): the digest of the
    # evidence the host signed; a full record computes it from its own fields instead.
    evidence_digest: bytes = b""
    # For a term >= 2: the chain from the creator to this term (p2p_race.match.seal): each
    # replaced host's sealed roster and its successor's proof. Self-certifying (its seals and
    # votes are signed), so outside the host's signature: each peer attaches the seals it holds.
    term_chain: bytes = b""

    # -- encoding -------------------------------------------------------------------
    def _pack_outcome(self, out: bytearray) -> None:
        _str(out, self.match_id)
        out += struct.pack("!Qd", self.seed, float(self.time_limit))
        _str(out, self.difficulty)
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
        out += self.evidence_digest or self.evidence_hash()
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

    def evidence_hash(self) -> bytes:
        """Digest of the racers' keys, log hashes and attestations and of the term proof:
        the host's signature covers it, so none of them can be swapped afterwards."""
        out = bytearray(EVIDENCE_DOMAIN)
        for r in self.racers:
            r._pack_evidence(out)
        out += struct.pack("!H", len(self.term_proof))
        out += self.term_proof
        return hashlib.sha256(out).digest()

    @property
    def has_evidence(self) -> bool:
        """Carries every racer's key and log hash and the logs themselves (a full record)."""
        return bool(self.racers) and len(self.logs) == len(self.racers) and all(
            (r.key or r.abandoned) and r.log_hash for r in self.racers)

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
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}")
        if not isinstance(self.term_proof, bytes) or len(self.term_proof) > MAX_PROOF_BYTES:
            raise ValueError(f"term proof must be at most {MAX_PROOF_BYTES} bytes")
        if not isinstance(self.term_chain, bytes) or len(self.term_chain) > MAX_CHAIN_BYTES or \
                not self.term_chain.isascii():
            raise ValueError(f"term chain must be ASCII JSON of at most {MAX_CHAIN_BYTES} bytes")
        if not isinstance(self.evidence_digest, bytes) or len(self.evidence_digest) not in (0, HASH_BYTES):
            raise ValueError("evidence digest must be 32 bytes")
        if not isinstance(self.logs, tuple) or len(self.logs) not in (0, len(self.racers)) or not all(
                isinstance(lg, bytes) for lg in self.logs):
            raise ValueError("logs must be one bytes object per racer")
        from p2p_race.replay.codec import max_log_bytes

        cap = max_log_bytes(int(round(self.time_limit * 60)))
        if any(len(lg) > cap for lg in self.logs):
            raise ValueError(f"an input log is longer than {cap} bytes")
        if sum(len(lg) for lg in self.logs) > MAX_LOGS_BYTES:
            raise ValueError(f"input logs longer than {MAX_LOGS_BYTES} bytes in all")
        winner = min(self.racers, key=_rank_key)
        if self.winner_id != winner.peer_id or self.winner_name != winner.name:
            raise ValueError("winner does not match adjudication")

    # -- JSON -----------------------------------------------------------------------
    def to_json(self, logs: bool = True) -> dict:
        """The JSON form (store, sync, MongoDB); `logs=False` leaves the input logs out."""
        d = {
            "match_id": self.match_id, "seed": self.seed, "time_limit": float(self.time_limit),
            "difficulty": self.difficulty,
            "host_id": self.host_id, "term": self.term,
            "started_at": float(self.started_at), "finished_at": float(self.finished_at),
            "racers": [r.to_json() for r in self.racers],
            "winner_id": self.winner_id, "winner_name": self.winner_name,
            "signer_key": self.signer_key.hex(), "signature": self.signature.hex(),
            "term_proof": self.term_proof.hex(),
        }
        if logs and self.logs:
            d["logs"] = [base64.b64encode(lg).decode("ascii") for lg in self.logs]
        if self.evidence_digest:
            d["evidence_digest"] = self.evidence_digest.hex()
        if self.term_chain:
            d["term_chain"] = self.term_chain.decode("ascii")
        return d

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
            logs = d.get("logs", [])
            if not isinstance(logs, list) or len(logs) > MAX_RACERS or not all(isinstance(x, str) for x in logs):
                raise ValueError("logs must be a list of base64 strings")
            result = cls(
                match_id=d["match_id"], seed=d["seed"], time_limit=_f(d["time_limit"]),
                host_id=d["host_id"], term=d["term"],
                started_at=_f(d["started_at"]), finished_at=_f(d["finished_at"]),
                racers=tuple(RacerResult.from_json(r) for r in racers),
                winner_id=d["winner_id"], winner_name=d["winner_name"],
                signer_key=_hex(key, "signer_key"), signature=_hex(sig, "signature"),
                term_proof=_hex(d.get("term_proof", ""), "term proof"),
                difficulty=d.get("difficulty", "normal"),
                logs=tuple(_b64(x) for x in logs),
                evidence_digest=_hex(d.get("evidence_digest", ""), "evidence digest"),
                term_chain=_chain(d.get("term_chain", "")),
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


def _hex(v: Any, what: str) -> bytes:
    if not isinstance(v, str) or len(v) > 2 * MAX_PROOF_BYTES:
        raise ValueError(f"{what} must be a hex string")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise ValueError(f"{what} must be a hex string") from None


def _chain(v: Any) -> bytes:
    """A term chain is JSON text in a record's JSON (readable in MongoDB as it is)."""
    if not isinstance(v, str) or len(v) > MAX_CHAIN_BYTES:
        raise ValueError(f"term chain must be a string of at most {MAX_CHAIN_BYTES} characters")
    if not v.isascii():
        raise ValueError("term chain must be ASCII JSON")
    return v.encode("ascii")


def _b64(v: str) -> bytes:
    try:
        return base64.b64decode(v.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValueError("an input log must be base64") from None


def attestation_bytes(match_id: str, seed: int, time_limit: float, difficulty: str, log_hash: bytes,
                      score: int, distance: float, crashed: bool, crash_time: float) -> bytes:
    """What a racer signs about its own drive (its FinalReport carries the signature)."""
    out = bytearray(ATTESTATION_DOMAIN)
    _str(out, match_id)
    out += struct.pack("!Qd", seed, float(time_limit))
    _str(out, difficulty)
    out += log_hash
    out += struct.pack("!QdBd", score, float(distance), 1 if crashed else 0, float(crash_time))
    return bytes(out)


def _f(v: Any) -> Any:
    """JSON numbers to float, keeping non-numbers for validate() to refuse."""
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def preferred(a: MatchResult, b: MatchResult) -> MatchResult:
    """Of two results for one match id (two hosts on two sides of a partition), the one every
    peer keeps: the lower term, then the lower host id. One rule for the match core and the
    store, so all peers end with the same record whichever arrived first.

    Callers pass only results whose host is proven for its term (replication.evidence): a
    term nobody elected never gets here, so a forged low term cannot win. As a last guard a
    result with no term proof never beats one that has a proof."""
    if bool(a.term_proof) != bool(b.term_proof):
        return a if a.term_proof else b
    return b if (b.term, b.host_id) < (a.term, a.host_id) else a


def adjudicate(
    match_id: str, seed: int, time_limit: float, host_id: str, term: int,
    started_at: float, finished_at: float, racers: Any, *, difficulty: str = "normal",
    term_proof: bytes = b"", logs: dict[str, bytes] | None = None,
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
        winner_id=winner.peer_id, winner_name=winner.name, term_proof=term_proof,
        difficulty=difficulty, logs=tuple(logs[r.peer_id] for r in rs) if logs else (),
    )
    result.validate()
    return result
