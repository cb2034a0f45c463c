"""Deterministic signed results with real evidence for tests, simulations and benchmarks
(no randomness of its own: everything derives from the arguments).

Each racer really drives: scripted inputs (a random steer/throttle every half second, from
a seeded RNG) on the match's road until it crashes or the time limit; its outcome is what
the replay gives, signed by the racer, and the record carries the input logs.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from functools import cache

from p2p_race.identity import Identity
from p2p_race.match.proof import TermProof, creator_proof, match_id_for, sign_vote
from p2p_race.match.seal import ChainLink, chain_bytes, seal, statement_of
from p2p_race.replay.codec import decode_log, encode_log, inputs_of
from p2p_race.replay.verify import replay, start_x
from p2p_race.sim.car import CarSim
from p2p_race.sim.rules import Rules
from replication.evidence import attested, proof_bytes
from replication.records import MatchResult, adjudicate

NAMES = ("ann", "bob", "cyd", "dee", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lou")
TIME_LIMIT = 30.0  # short races keep fixtures cheap to replay


@cache
def identity(name: str) -> Identity:
    return Identity.from_seed(b"fixture:" + name.encode())


@cache
def scripted_drive(rules: Rules, peer_id: str, script_seed: int) -> bytes:
    """Input codes of a scripted drive: a new random input every 30 ticks, until the car
    crashes or the time runs out."""
    rng = random.Random(script_seed)
    car = CarSim(rules, peer_id, start_x=start_x(peer_id))
    codes = bytearray()
    code = 5
    while not car.finished:
        if car.tick % 30 == 0:
            code = rng.choice((4, 5, 5, 5, 2, 8, 3, 7))  # mostly accelerate, sometimes steer
        car.step(inputs_of(code))
        codes.append(code)
    return bytes(codes)


def _term_proof(match_id: str, term: int, host: Identity, creator: Identity, nonce: bytes,
                players: tuple[str, ...]) -> TermProof:
    """Term 1: the creator hosts. A later term: every player voted for the host."""
    if term == 1:
        return creator_proof(creator.public_key, nonce)
    mid = bytes.fromhex(match_id)
    votes = tuple(sign_vote(mid, term, host.peer_id_bytes, identity(p).public_key, identity(p).sign)
                  for p in players)
    return TermProof(mid, term, host.public_key, creator.public_key, nonce, votes)


def term_chain(proof: TermProof, creator: Identity, players: tuple[str, ...], phase: int = 2) -> bytes:
    """The chain a failover record carries: the creator's sealed roster (every player
    racing, none abandoned) and the proof that elected the host of `proof.term`."""
    st = statement_of(proof.match_id, 1, 1, phase, [(identity(p).peer_id_bytes, False) for p in players], [])
    return chain_bytes([ChainLink(seal(st, creator.sign), proof)])


def make_result(i: int, *, players: tuple[str, ...] | None = None, host: str | None = None,
                term: int = 1, t0: float = 1_700_000_000.0, samples: bool = False,
                time_limit: float = TIME_LIMIT, difficulty: str = "normal",
                term_proof: bytes = b"") -> MatchResult:
    """The signed result of match number `i` (same `i`, same record). Its match id is bound
    to the first player (the creator); `term` > 1 comes with every player's signed vote."""
    rng = random.Random(i)
    if players is None:
        players = tuple(rng.sample(NAMES, rng.randint(2, 4)))
    host_name = host or players[0]
    creator = identity(players[0] if term > 1 else host_name)
    nonce = i.to_bytes(8, "big")
    match_id = match_id_for(creator.public_key, nonce).hex()
    chain = b""
    if not term_proof:
        proof = _term_proof(match_id, term, identity(host_name), creator, nonce, players)
        term_proof = proof_bytes(proof)
        chain = term_chain(proof, creator, players) if term > 1 else b""
    rules = Rules(i, time_limit, difficulty)
    racers, logs = [], {}
    for name in players:
        ident = identity(name)
        codes = scripted_drive(rules, ident.peer_id, rng.getrandbits(32))
        score = replay(rules, ident.peer_id, codes).score
        trace = tuple(score * k // 10 for k in range(11)) if samples else ()
        racers.append(attested(ident, name, match_id, i, time_limit, difficulty, codes, trace))
        logs[ident.peer_id] = encode_log(codes)
    started = t0 + i * 300.0
    result = adjudicate(match_id, i, time_limit, identity(host_name).peer_id, term,
                        started, started + time_limit + 1.0, racers, difficulty=difficulty,
                        term_proof=term_proof, logs=logs)
    return replace(result.signed(identity(host_name)), term_chain=chain)


def rehost(r: MatchResult, host_name: str, term: int, *, finished_at: float | None = None,
           racers: tuple | None = None) -> MatchResult:
    """The same match adjudicated by `host_name` in `term` (a failover), proven by every
    racer's vote; `racers` replaces the entries (e.g. to record another outcome)."""
    names = tuple(x.name for x in r.racers)
    creator_key = json.loads(r.term_proof)["creator_key"]
    creator = next(identity(n) for n in names if identity(n).public_key.hex() == creator_key)
    nonce = bytes.fromhex(json.loads(r.term_proof)["nonce"])
    proof = _term_proof(r.match_id, term, identity(host_name), creator, nonce, names)
    rs = racers if racers is not None else r.racers
    logs = dict(zip((x.peer_id for x in r.racers), r.logs, strict=True))
    out = adjudicate(r.match_id, r.seed, r.time_limit, identity(host_name).peer_id, term, r.started_at,
                     r.finished_at if finished_at is None else finished_at, rs, difficulty=r.difficulty,
                     term_proof=proof_bytes(proof), logs=logs)
    chain = term_chain(proof, creator, names) if term > 1 else b""
    return replace(out.signed(identity(host_name)), term_chain=chain)


def rival(r: MatchResult, host_name: str, term: int, *, racer: int = 0) -> MatchResult:
    """Another valid outcome of the same match, by another host (a partition's other side):
    that host heard racer number `racer` only until two thirds of its drive (abandoned)."""
    x = r.racers[racer]
    codes = decode_log(r.logs[racer])
    short = codes[: max(1, len(codes) * 2 // 3)]
    entry = attested(identity(x.name), x.name, r.match_id, r.seed, r.time_limit, r.difficulty, short)
    racers = tuple(entry if k == racer else y for k, y in enumerate(r.racers))
    out = rehost(r, host_name, term, racers=racers)
    logs = tuple(encode_log(short) if k == racer else lg for k, lg in enumerate(r.logs))
    return replace(out, logs=logs)
