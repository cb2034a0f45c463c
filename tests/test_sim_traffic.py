"""Traffic: a pure function of (seed, difficulty, time), always passable, harder further on."""

from __future__ import annotations

from collections import Counter

import pytest

from p2p_race.sim import CAR_H, LANE_WIDTH, LANES, Inputs, Race, Rules, Traffic, lane_of
from p2p_race.sim.rules import HITBOX_H, LAT_SPEED, MIN_REL_SPEED
from p2p_race.sim.traffic import KINDS


def snapshot(traffic, t, y0, y1):
    return [(v.id, v.lane, v.x, v.y, v.w, v.h, v.kind, v.variant) for v in traffic.vehicles_between(t, y0, y1)]


def test_same_seed_same_traffic_regardless_of_query_order():
    a, b = Traffic(Rules(42)), Traffic(Rules(42))
    far = snapshot(b, 150.0, 4000.0, 4300.0)  # b generates far ahead first
    near_b = snapshot(b, 3.0, 0.0, 400.0)
    assert snapshot(a, 3.0, 0.0, 400.0) == near_b
    assert snapshot(a, 150.0, 4000.0, 4300.0) == far
    assert far and near_b


def test_different_seeds_or_difficulties_differ():
    base = snapshot(Traffic(Rules(1)), 10.0, 0.0, 1500.0)
    assert snapshot(Traffic(Rules(2)), 10.0, 0.0, 1500.0) != base
    assert snapshot(Traffic(Rules(1, difficulty="hard")), 10.0, 0.0, 1500.0) != base


def test_traffic_does_not_depend_on_the_cars():
    """Networked peers simulate only their own car: the road must be the same for all."""
    ra, rb = Race(Rules(5), ["a"]), Race(Rules(5), ["a", "b", "c"])
    for i in range(600):
        ra.step({})
        rb.step({"b": Inputs(throttle=1, steer=i % 3 - 1)})
    t = ra.time
    assert snapshot(ra.traffic, t, 0.0, 2000.0) == snapshot(rb.traffic, t, 0.0, 2000.0)


def test_vehicles_move_forward_in_lanes_slower_than_any_car():
    rules = Rules(3)
    tr = Traffic(rules)
    for t in (0.0, 30.0, 90.0, 170.0):
        cars = tr.vehicles_between(t, 0.0, 20000.0)
        assert cars
        for v in cars:
            assert 0 <= v.lane < LANES and lane_of(v.x) == v.lane
            assert v.x - v.w / 2 > v.lane * LANE_WIDTH and v.x + v.w / 2 < (v.lane + 1) * LANE_WIDTH
            assert 0 < v.speed < rules.min_speed(t)
            assert (v.w, v.h) == KINDS[v.kind]
    later = {v.id: v.y for v in tr.vehicles_between(10.0, 0, 3000)}
    earlier = {v.id: v.y for v in tr.vehicles_between(5.0, 0, 3000)}
    common = set(later) & set(earlier)
    assert common and all(later[i] > earlier[i] for i in common)


def test_several_kinds_appear():
    kinds = Counter(v.kind for v in Traffic(Rules(8)).vehicles_between(0.0, 0.0, 20000.0))
    assert set(kinds) == set(KINDS)


@pytest.mark.parametrize("difficulty", ["easy", "normal", "hard"])
def test_road_is_always_passable(difficulty):
    """Every row leaves a lane free, and the clear gap between rows is long enough to cross
    from any lane to any other at the slowest speed a car can go (the car is always at least
    MIN_REL_SPEED faster than the traffic)."""
    cross_all = (LANES - 1) * LANE_WIDTH / LAT_SPEED  # seconds to cross three lanes
    need = CAR_H * HITBOX_H + MIN_REL_SPEED * cross_all
    for seed in range(40):
        tr = Traffic(Rules(seed, difficulty=difficulty))
        rows = tr.rows_between(0.0, 15000.0)
        assert len(rows) > 100
        for (lo, hi, lanes), (nlo, _nhi, _nl) in zip(rows, rows[1:], strict=False):
            assert 1 <= len(lanes) <= LANES - 1
            assert nlo - hi >= need, (seed, lo)


def test_at_every_moment_some_lane_is_open():
    """Road view, all sampled times: no wall of vehicles across all lanes anywhere."""
    for seed in range(12):
        tr = Traffic(Rules(seed))
        for k in range(0, 180 * 4, 7):
            t = k / 4
            y0 = tr.offset(t) + 100.0
            cars = tr.vehicles_between(t, y0, y0 + 600.0)
            for step in range(0, 600, 2):
                y = y0 + step
                blocked = {v.lane for v in cars if v.y - v.h / 2 < y + CAR_H and v.y + v.h / 2 > y - CAR_H}
                assert len(blocked) < LANES, (seed, t, y)


def test_density_and_speed_rise():
    rules = Rules(11)
    tr = Traffic(rules)
    early = tr.rows_between(0.0, 2000.0)
    late = tr.rows_between(8000.0, 10000.0)
    assert len(late) > len(early)
    assert sum(len(r[2]) for r in late) / len(late) > sum(len(r[2]) for r in early) / len(early)
    assert rules.flow_speed(170.0) > rules.flow_speed(0.0)
    for easy, hard in [(Rules(1, difficulty="easy"), Rules(1, difficulty="hard"))]:
        assert hard.flow_speed(60.0) > easy.flow_speed(60.0)
        assert len(Traffic(hard).rows_between(0, 5000)) > len(Traffic(easy).rows_between(0, 5000))


def test_start_is_clear():
    tr = Traffic(Rules(4))
    assert tr.vehicles_between(0.0, -50.0, 140.0) == []
