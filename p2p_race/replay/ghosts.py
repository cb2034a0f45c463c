"""Ghost of your own best run: a practice drive replayed beside the next race on that road.

A practice road is fixed by (seed, time limit, difficulty); the best run of a player on a
road keeps its input log in the score store (`ResultStore.save_ghost`), and the next race
on the same road shows it as one more car, driven again by those inputs. Local only:
nobody else's key signed a practice run.
"""

from __future__ import annotations

from p2p_race.replay.codec import decode_log, encode_log
from p2p_race.replay.view import Ghost
from p2p_race.sim.rules import Rules

GHOST_ID = "ghost"


def road_key(rules: Rules) -> str:
    return f"{rules.seed}:{rules.difficulty}:{rules.time_limit:g}"


def load_ghost(store: object, name: str, rules: Rules) -> Ghost | None:
    """The ghost of `name`'s best run on this road, or None (no run yet, or no store)."""
    get = getattr(store, "ghost", None)
    if get is None:
        return None
    found = get(name, road_key(rules))
    if found is None:
        return None
    score, log = found
    try:
        codes = decode_log(log, rules.limit_ticks)
    except ValueError:
        return None
    return Ghost(rules, GHOST_ID, codes, name=f"best {score}")


def keep_run(store: object, name: str, rules: Rules, codes: bytes, score: int) -> bool:
    """Keep this run as the road's ghost when it beats the one kept; True when kept."""
    save = getattr(store, "save_ghost", None)
    return bool(save is not None and save(name, road_key(rules), int(score), encode_log(bytes(codes))))
