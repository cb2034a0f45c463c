"""Reject car states no honest CarSim could produce (for reports received over the network).

A peer simulates its own car, so a cheating or broken peer could report anything. These are
necessary conditions derived from the physics constants: they never reject a real state
(tests replay honest races through them) and catch teleports, speed hacks, score inflation,
un-crashing and time travel. They cannot prove a state honest; replaying inputs would.
"""

from __future__ import annotations

import math

from p2p_race.sim.car import X_MAX, X_MIN, CarState
from p2p_race.sim.rules import (
    BOOST_ACCEL,
    BOOST_SPEED,
    BRAKE,
    CAR_H,
    DT,
    LANES,
    LAT_SPEED,
    MAX_SPEED,
    MIN_SPEED,
    MULT,
    NEAR_MISS_BONUS,
    OVERSPEED_DRAG,
    OVERTAKE_BONUS,
    POINTS_PER_METRE,
    Rules,
)
from p2p_race.sim.traffic import KINDS

EPS = 1e-6
_PASS_POINTS = OVERTAKE_BONUS + NEAR_MISS_BONUS
_MIN_BODY = min(h for _, h in KINDS.values())


# The fastest a car can go (a boost pickup lifts it above MAX_SPEED for a while) and the
# fastest its speed can change in a tick either way.
TOP_SPEED = BOOST_SPEED
MAX_DV = BOOST_ACCEL
MIN_DV = -(BRAKE + OVERSPEED_DRAG)


def max_score_rate(rules: Rules) -> float:
    """Upper bound on points per second: distance points at boosted top speed plus every
    vehicle of the densest traffic passed with a near miss, all under a score multiplier."""
    p = rules.params
    rows_per_s = (TOP_SPEED - min(p.speed0, p.speed1)) / (min(p.gap1, p.gap2) + _MIN_BODY)
    return MULT * (TOP_SPEED * POINTS_PER_METRE * TOP_SPEED / MAX_SPEED
                   + rows_per_s * (LANES - 1) * _PASS_POINTS)


def _slack(rules: Rules) -> float:
    # Integer flooring and a pass landing on a tick boundary: a burst of one full row.
    return 2.0 + MULT * (LANES - 1) * _PASS_POINTS


def _real(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _well_typed(st) -> bool:
    """Plain finite numbers of the right kinds (a report may come from anywhere)."""
    try:
        return (all(_real(getattr(st, f)) for f in ("x", "y", "speed", "distance"))
                and isinstance(st.crashed, bool)
                and all(isinstance(getattr(st, f), int) and not isinstance(getattr(st, f), bool)
                        for f in ("tick", "score"))
                and (st.crash_time is None or _real(st.crash_time)))
    except AttributeError:
        return False


def _crash_time(st) -> float | None:
    ct = st.crash_time
    return None if ct is None or (not st.crashed and ct < 0) else ct


def _same(a, b) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in _FIELDS)


_FIELDS = ("x", "y", "speed", "crashed", "crash_time", "score", "distance", "tick")


def _as_rules(rules) -> Rules:
    if isinstance(rules, Rules):
        return rules
    return Rules(int(rules.seed), float(rules.time_limit), str(getattr(rules, "difficulty", "normal")))


def plausible(prev: CarState | None, new: CarState, rules: Rules) -> bool:
    """True when `new` could follow `prev` (or, with prev None, could occur at all) under rules.

    Duck-typed: any object with CarState's fields works (a network report whose crash_time is
    -1 when not crashed, too), and `rules` may be any object with seed, time_limit and
    difficulty. Reports must arrive in tick order: a `new` older than `prev` is rejected.
    """
    rules = _as_rules(rules)
    if not _well_typed(new) or (prev is not None and not _well_typed(prev)):
        return False
    t = new.tick * DT
    if new.tick < 0 or new.tick > rules.limit_ticks or new.score < 0:
        return False
    if not (X_MIN - EPS <= new.x <= X_MAX + EPS) or abs(new.y - new.distance) > EPS * (1 + abs(new.y)):
        return False
    if not (-EPS <= new.distance <= TOP_SPEED * t + EPS * (1 + new.distance)):
        return False
    if new.score > max_score_rate(rules) * t + _slack(rules):
        return False
    if new.score < int(new.distance * POINTS_PER_METRE * MIN_SPEED / MAX_SPEED) - 1:
        return False  # distance points are always there, at the lowest speed's rate at least
    if new.crashed:
        ct = new.crash_time
        if ct is None or not (0.0 < ct <= t + EPS):
            return False
        if new.speed != 0.0:
            return False
    else:
        if _crash_time(new) is not None or not (rules.min_speed(t) - EPS <= new.speed <= TOP_SPEED + EPS):
            return False
        if new.tick and new.y - CAR_H / 2 <= rules.sweeper_y(t) - EPS * (1 + new.distance):
            return False  # the sweeper reached it: that car is out
    if prev is None:
        return True
    if new.tick < prev.tick:
        return False
    if prev.crashed:  # a crash is final: nothing may change any more
        return (new.crashed and new.crash_time == prev.crash_time and new.score == prev.score
                and new.x == prev.x and new.y == prev.y and new.distance == prev.distance)
    dt = (new.tick - prev.tick) * DT
    if new.tick == prev.tick:
        return _same(new, prev)
    if abs(new.x - prev.x) > LAT_SPEED * dt + EPS:
        return False
    dd = new.distance - prev.distance
    if dd > TOP_SPEED * dt + EPS * (1 + new.distance):
        return False
    if new.score < prev.score or new.score - prev.score > max_score_rate(rules) * dt + _slack(rules):
        return False
    if new.crashed:
        ct = new.crash_time
        return prev.tick * DT < ct + EPS and dd >= -EPS
    if dd < rules.min_speed(prev.tick * DT) * dt - EPS * (1 + new.distance):
        return False
    dv = new.speed - prev.speed
    return MIN_DV * dt - EPS <= dv <= MAX_DV * dt + EPS
