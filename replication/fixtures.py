"""Deterministic signed results for tests, simulations and benchmarks (no randomness of
its own: everything derives from the arguments)."""

from __future__ import annotations

import random
from functools import cache

from p2p_race.identity import Identity
from replication.records import MatchResult, RacerResult, adjudicate

NAMES = ("ann", "bob", "cyd", "dee", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lou")


@cache
def identity(name: str) -> Identity:
    return Identity.from_seed(b"fixture:" + name.encode())


def make_result(i: int, *, players: tuple[str, ...] | None = None, host: str | None = None,
                term: int = 1, t0: float = 1_700_000_000.0, samples: bool = False) -> MatchResult:
    """The signed result of match number `i` (same `i`, same record)."""
    rng = random.Random(i)
    if players is None:
        players = tuple(rng.sample(NAMES, rng.randint(2, 4)))
    racers = []
    for name in players:
        crashed = rng.random() < 0.7
        crash_time = round(rng.uniform(1, 179), 3) if crashed else -1.0
        driven = crash_time if crashed else 180.0
        distance = round(rng.uniform(0.3, 0.95) * 60.0 * driven, 2)  # 60 m/s: top speed
        score = int(distance * 0.1 + rng.uniform(0.0, 20.0) * driven)
        trace = tuple(score * k // 10 for k in range(11)) if samples else ()
        racers.append(RacerResult(identity(name).peer_id, name, score, distance,
                                  crashed, crash_time, trace))
    host_name = host or players[0]
    started = t0 + i * 300.0
    result = adjudicate(f"m{i:08d}", i, 180.0, identity(host_name).peer_id, term,
                        started, started + 181.0, racers)
    return result.signed(identity(host_name))
