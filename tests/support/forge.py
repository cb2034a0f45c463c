"""Forged failover records for tests: a real match's record re-hosted by anyone, with the
votes and the chain links the test chooses (p2p_race.match.seal)."""

from __future__ import annotations

import json
from dataclasses import replace

from p2p_race.identity import Identity
from p2p_race.match.proof import TermProof, sign_vote
from p2p_race.match.seal import ChainLink, chain_bytes, seal, statement_of
from replication.evidence import proof_bytes
from replication.fixtures import NAMES, identity
from replication.records import MatchResult, adjudicate


def creator_of(r: MatchResult) -> tuple[Identity, bytes]:
    """The fixture identity that created `r`'s match, and the match id's nonce."""
    d = json.loads(r.term_proof)
    creator = next(identity(n) for n in NAMES if identity(n).public_key.hex() == d["creator_key"])
    return creator, bytes.fromhex(d["nonce"])


def sealed(r: MatchResult, names: tuple[str, ...] | None = None, *, by: Identity | None = None, phase: int = 2,
           abandoned: tuple[str, ...] = (), spectators: tuple[Identity, ...] = (), term: int = 1):
    """A roster statement of `r`'s match (all its racers by default) sealed by `by` (the creator)."""
    creator, _ = creator_of(r)
    names = names if names is not None else tuple(x.name for x in r.racers)
    st = statement_of(bytes.fromhex(r.match_id), term, 7, phase,
                      [(identity(n).peer_id_bytes, n in abandoned) for n in names],
                      [s.peer_id_bytes for s in spectators])
    return seal(st, (by or creator).sign)


def proof(r: MatchResult, term: int, host: Identity, voters: tuple[Identity, ...]) -> TermProof:
    creator, nonce = creator_of(r)
    mid = bytes.fromhex(r.match_id)
    votes = tuple(sign_vote(mid, term, host.peer_id_bytes, v.public_key, v.sign) for v in voters)
    return TermProof(mid, term, host.public_key, creator.public_key, nonce, votes)


def forged(r: MatchResult, host: Identity, voters: tuple[Identity, ...], keep: tuple[str, ...],
           links: list[ChainLink] | None = None, term: int = 2) -> MatchResult:
    """`r` re-hosted by `host` as `term`, keeping only the racers named `keep` (their real
    entries and logs), its proof signed by `voters`; the chain is the creator's real seal of
    the race unless `links` says otherwise."""
    p = proof(r, term, host, voters)
    idx = [i for i, x in enumerate(r.racers) if x.name in keep]
    racers = [r.racers[i] for i in idx]
    logs = {r.racers[i].peer_id: r.logs[i] for i in idx}
    out = adjudicate(r.match_id, r.seed, r.time_limit, host.peer_id, term, r.started_at, r.finished_at,
                     racers, difficulty=r.difficulty, term_proof=proof_bytes(p), logs=logs).signed(host)
    chain = chain_bytes(links if links is not None else [ChainLink(sealed(r), p)])
    return replace(out, term_chain=chain)
