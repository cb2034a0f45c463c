"""The one ranking rule of a race, and the one way to pick a match from the lobby.

Rank: highest score, then longest survival (still racing or never crashed = longest), then
the lower peer id (or name, where no id is at hand). Adjudication
(`replication.records.adjudicate`), the live standings and the results screens all use it,
so the winner shown is the winner stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

PHASE_LOBBY = 0  # messages.PHASE_*; kept here so this module imports nothing
PHASE_FINISHED = 3


def rank_key(score: int, crashed: bool, crash_time: float | None, tie: str) -> tuple:
    survival = crash_time if crashed and crash_time is not None else math.inf
    return (-score, -survival, tie)


def ranked(racers: Iterable[Any]) -> list[Any]:
    """Result racers (`records.RacerResult`-like: score, crashed, crash_time, peer_id), best first."""
    return sorted(racers, key=lambda r: rank_key(r.score, r.crashed, r.crash_time, r.peer_id))


def pick_match(listings: Iterable[Any], *, to_race: bool, match_id: str | None = None,
               exclude: Iterable[str] = ()) -> Any | None:
    """The lobby listing to join: the one asked for (`match_id`; "*" = any), else the open
    one with the most racers, then the most recently announced. Open to race: in its lobby
    with a free racer slot; open to watch: not over."""
    skip = set(exclude)
    best = None
    for li in listings:
        if li.match_id in skip or (match_id and match_id != "*" and li.match_id != match_id):
            continue
        if to_race and not (li.phase == PHASE_LOBBY and li.racers < li.rules.max_racers):
            continue
        if not to_race and li.phase == PHASE_FINISHED:
            continue
        if best is None or (li.racers, li.seen) > (best.racers, best.seen):
            best = li
    return best
