"""Is a result record worth storing? Its evidence, re-checked by every store and reader.

A record is accepted only when all of this holds (docs/ARCHITECTURE.md, verifiable matches):
- it is well formed and the host's signature verifies (`MatchResult.problem`);
- it carries its evidence: every racer's public key, input log and log hash, and the
  evidence digest the host signed matches them;
- the host is proven for its term (`term_problem`): term 1 is the creator; a later term
  carries the signed votes that elected its host and the chain of sealed rosters from the
  creator that shows those voters were the electorate (p2p_race.match.seal);
- every racer that finished or crashed signed (match, log hash, its outcome) itself;
- replaying every log on the match's road reproduces every score, distance, crash and
  crash time exactly (p2p_race.replay.verify);
- its times are sane: it did not finish in the future (beyond `FUTURE_SLACK`).

`accept_problem(record)` returns why a record must be refused, or None.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

from p2p_race.identity import PUBLIC_KEY_BYTES, Identity, peer_id_of, verify
from replication.records import MatchResult, RacerResult

FUTURE_SLACK = 120.0  # seconds a record's finish may lie ahead of our clock (clock skew)

TermCheck = Callable[[MatchResult], "str | None"]
_term_checks: list[TermCheck] = []


def set_term_check(check: TermCheck | None) -> None:
    """Replace the term-proof verifier (None: back to the election's own, `proof_problem`)."""
    _term_checks[:] = [check] if check is not None else []


def term_problem(r: MatchResult) -> str | None:
    """Why the record's host is not proven for its term, or None."""
    if _term_checks:
        return _term_checks[0](r)
    return proof_problem(r)


def proof_bytes(proof: object) -> bytes:
    """A `p2p_race.match.proof.TermProof` in the record's form: its canonical JSON."""
    return json.dumps(proof.to_json(), sort_keys=True, separators=(",", ":")).encode()  # type: ignore[attr-defined]


def proof_problem(r: MatchResult) -> str | None:
    """The election's proof (p2p_race.match.proof): the match id is bound to its creator,
    term 1 is the creator's, a later term carries the signed votes that elected the host."""
    if not r.term_proof:
        return "no proof of the host's term"
    from p2p_race.match.proof import TermProof, verify_proof

    try:
        proof = TermProof.from_json(json.loads(r.term_proof))
    except (ValueError, TypeError, RecursionError):
        return "malformed term proof"
    if proof.match_id.hex() != r.match_id or proof.term != r.term or proof.host != r.host_id:
        return "the term proof is for another match, term or host"
    why = verify_proof(proof, verify)
    if why is not None:
        return f"term proof: {why.value}"
    if proof.term == 1:
        return None
    return chain_problem(r, proof)


def chain_problem(r: MatchResult, proof: object) -> str | None:
    """A later term is proven only by the chain from the creator (p2p_race.match.seal): each
    proof's votes counted against the roster the replaced host sealed, and the record naming
    no racer that roster did not (once the race was under way)."""
    from p2p_race.match.seal import chain_from_bytes
    from p2p_race.match.seal import chain_problem as walk

    if not r.term_chain:
        return "no term chain: nothing shows who could elect the host of a later term"
    try:
        links = chain_from_bytes(r.term_chain)
    except ValueError as exc:
        return f"term chain: {exc}"
    why, lineup = walk(proof, links, verify)  # type: ignore[arg-type]
    if why is not None:
        return f"term chain: {why}"
    if lineup is not None:
        extra = sorted({x.peer_id for x in r.racers} - lineup)
        if extra:
            return f"racer {extra[0]} was not in the race the replaced host sealed"
    return None


def accept_problem(r: MatchResult, now: float | None = None) -> str | None:
    """Why this record must not be stored, or None when every piece of evidence checks out."""
    why = r.problem()
    if why is not None:
        return why
    if not r.has_evidence:
        return "no evidence: racer keys, log hashes or input logs are missing"
    if r.evidence_digest and r.evidence_digest != r.evidence_hash():
        return "the evidence is not what the host signed"
    now = time.time() if now is None else now
    if r.finished_at > now + FUTURE_SLACK or r.started_at > now + FUTURE_SLACK:
        return "the match finished in the future"
    why = term_problem(r)
    if why is not None:
        return why
    return replay_problem(r)


def replay_problem(r: MatchResult) -> str | None:
    """Why the racers' own signatures or the replay of their logs do not back the record."""
    from p2p_race.replay.codec import decode_log
    from p2p_race.replay.verify import log_hash_of, replay
    from p2p_race.sim.rules import Rules

    try:
        rules = Rules(r.seed, r.time_limit, r.difficulty)
    except ValueError as exc:
        return str(exc)
    for racer, log in zip(r.racers, r.logs, strict=True):
        who = f"racer {racer.peer_id}"
        if racer.key and (len(racer.key) != PUBLIC_KEY_BYTES or peer_id_of(racer.key) != racer.peer_id):
            return f"{who}: key does not match its peer id"
        if not racer.key and not racer.abandoned:
            return f"{who}: no key"
        try:
            codes = decode_log(log, rules.limit_ticks)
        except ValueError as exc:
            return f"{who}: bad input log: {exc}"
        if log_hash_of(codes) != racer.log_hash:
            return f"{who}: input log does not match its hash"
        if racer.attestation:
            signed = racer.attestation_bytes(r.match_id, r.seed, r.time_limit, r.difficulty)
            if not verify(racer.key, racer.attestation, signed):
                return f"{who}: attestation does not verify"
        elif not racer.abandoned:
            return f"{who}: did not sign its outcome"
        try:
            out = replay(rules, racer.peer_id, codes)
        except ValueError as exc:
            return f"{who}: {exc}"
        if (out.score, out.distance, out.crashed, out.crash_time, out.abandoned) != (
                racer.score, racer.distance, racer.crashed, racer.crash_time, racer.abandoned):
            return (f"{who}: replay gives score {out.score}, crash {out.crash_time:.3f}, "
                    f"not {racer.score}, {racer.crash_time:.3f}")
    return None


def attested(identity: Identity, name: str, match_id: str, seed: int, time_limit: float, difficulty: str,
             codes: bytes, samples: tuple[int, ...] = ()) -> RacerResult:
    """A racer's entry of a record for a drive it made: the replayed outcome, signed by the
    racer. An incomplete drive comes out abandoned and unsigned, as the host records a
    racer that went silent."""
    from p2p_race.replay.verify import log_hash_of, replay
    from p2p_race.sim.rules import Rules

    out = replay(Rules(seed, time_limit, difficulty), identity.peer_id, codes)
    racer = RacerResult(identity.peer_id, name, out.score, out.distance, out.crashed,
                        out.crash_time, samples, key=identity.public_key,
                        log_hash=log_hash_of(codes), abandoned=out.abandoned)
    if out.abandoned:
        return racer
    signed = racer.attestation_bytes(match_id, seed, time_limit, difficulty)
    return replace(racer, attestation=identity.sign(signed))
