"""The live ranking of a match in progress (the rule itself: `p2p_race.ranking`)."""

from __future__ import annotations

from collections.abc import Iterable

from p2p_race.match.state import Racer
from p2p_race.ranking import rank_key


def live_ranking(racers: Iterable[Racer]) -> list[tuple[str, str, int, bool]]:
    """(peer id, name, score, still racing), best first."""
    rows = []
    for r in racers:
        rep = r.final or r.last
        crashed = bool(rep and rep.crashed)
        rows.append((rank_key(rep.score if rep else 0, crashed, rep.crash_time if rep else None, r.peer_id),
                     (r.peer_id, r.name, rep.score if rep else 0, r.final is None)))
    rows.sort(key=lambda x: x[0])
    return [row for _k, row in rows]
