"""Traffic: a pure function of (seed, difficulty, time), always passable, harder further on;
lane changers signal first; oncoming vehicles keep to their lane; pickups lie still."""

from __future__ import annotations

from collections import Counter

import pytest

from p2p_race.sim import (
    CAR_H,
    LANE_WIDTH,
    LANES,
    ONCOMING,
    PICKUP_KINDS,
    ROAD_WIDTH,
    Inputs,
    Race,
    Rules,
    Traffic,
    lane_center,
    lane_of,
)
from p2p_race.sim.rules import DIFFICULTY, HITBOX_H, LAT_ACCEL, LAT_SPEED
from p2p_race.sim.traffic import KINDS, MOVE_S, SIGNAL_S


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
        cars = [v for v in tr.vehicles_between(t, 0.0, 20000.0) if not v.oncoming]
        assert cars
        for v in cars:
            assert 0 <= v.lane < LANES and lane_of(v.x) == v.lane
            assert v.x - v.w / 2 > 0.0 and v.x + v.w / 2 < ROAD_WIDTH  # never in the oncoming lane
            if v.signal == 0:  # not changing lanes: inside its own lane
                assert v.x - v.w / 2 > v.lane * LANE_WIDTH and v.x + v.w / 2 < (v.lane + 1) * LANE_WIDTH
            assert 0 < v.speed < rules.min_speed(t)
            assert (v.w, v.h) == KINDS[v.kind]
    later = {v.id: v.y for v in tr.vehicles_between(10.0, 0, 3000) if not v.oncoming}
    earlier = {v.id: v.y for v in tr.vehicles_between(5.0, 0, 3000) if not v.oncoming}
    common = set(later) & set(earlier)
    assert common and all(later[i] > earlier[i] for i in common)


def test_oncoming_vehicles_keep_to_their_lane_and_come_closer_together():
    rules = Rules(6)
    tr = Traffic(rules)
    onc = [v for v in tr.vehicles_between(60.0, 0.0, 30000.0) if v.oncoming]
    assert len(onc) > 20
    for v in onc:
        assert v.lane == ONCOMING and v.x + v.w / 2 < 0.0 and v.x - v.w / 2 > -LANE_WIDTH
        assert v.speed == -rules.flow_speed(60.0) and v.id < 0
    a = {v.id: v.y for v in tr.vehicles_between(60.0, 0.0, 30000.0) if v.oncoming}
    b = {v.id: v.y for v in tr.vehicles_between(61.0, 0.0, 30000.0) if v.oncoming}
    assert all(b[i] < a[i] for i in set(a) & set(b))  # they drive towards the cars
    ys = sorted(v.y for v in onc)
    early = [q - p for p, q in zip(ys, ys[1:], strict=False) if p < 5000]
    late = [q - p for p, q in zip(ys, ys[1:], strict=False) if p > 20000]
    assert sum(late) / len(late) < sum(early) / len(early) / 2


def test_lane_changers_signal_before_they_move_and_stay_on_the_road():
    tr = Traffic(Rules(12))
    tr.vehicles_between(0.0, 0.0, 6000.0)
    changers = [(tr._Y[k], v) for k, v in enumerate(tr._veh) if v[10] is not None]
    assert len(changers) > 10
    for y_slot, (vid, lane, x, *_rest, changer) in changers[:8]:
        other = changer[0]
        assert abs(lane_of(other) - lane) == 1
        moves = 0
        prev_x = prev_sig = None
        for k in range(0, 60 * 16, 2):
            t = k / 60
            s = tr.offset(t)
            v = next(v for v in tr.vehicles_between(t, y_slot + s - 3, y_slot + s + 3) if v.id == vid)
            if prev_x is not None and v.x != prev_x:  # it signalled that way just before
                assert prev_sig == (1 if v.x > prev_x else -1), f"vehicle {vid} moved at t={t} unsignalled"
                moves += 1
            prev_x, prev_sig = v.x, v.signal
            assert min(x, other) - 1e-9 <= v.x <= max(x, other) + 1e-9
        assert moves > 0, vid


def test_changers_move_slowly_enough_to_see():
    """A signal lasts SIGNAL_S and a move MOVE_S: long enough for a driver to react."""
    assert SIGNAL_S >= 1.0 and MOVE_S >= 1.0


def test_several_kinds_appear():
    kinds = Counter(v.kind for v in Traffic(Rules(8)).vehicles_between(0.0, 0.0, 20000.0))
    assert set(kinds) == set(KINDS)


@pytest.mark.parametrize("difficulty", ["easy", "normal", "hard"])
def test_road_is_always_passable(difficulty):
    """Every row leaves a lane free (a lane changer's two lanes both count), and the clear gap
    between rows never drops below the difficulty's final gap. Early on (before the
    density ramp ends) it is long enough to cross from any lane to any other at the
    starting pace, lateral run-up included; the rising pace is what ends races later."""
    p = DIFFICULTY[difficulty]
    cross_all = (LANES - 1) * LANE_WIDTH / LAT_SPEED + LAT_SPEED / LAT_ACCEL  # s, with inertia
    need = CAR_H * HITBOX_H + p.pace0 * cross_all
    for seed in range(30):
        tr = Traffic(Rules(seed, difficulty=difficulty))
        rows = tr.rows_between(0.0, 15000.0)
        assert len(rows) > 100
        for (lo, hi, lanes), (nlo, _nhi, _nl) in zip(rows, rows[1:], strict=False):
            assert 1 <= len(lanes) <= LANES - 1
            assert nlo - hi >= p.gap2, (seed, lo)
            if hi < p.density_ramp_m:
                assert nlo - hi >= need, (seed, lo)


@pytest.mark.slow
def test_at_every_moment_some_lane_is_open():
    """Road view, all sampled times: no wall of vehicles across all lanes anywhere."""
    for seed in range(12):
        tr = Traffic(Rules(seed))
        for k in range(0, 300 * 4, 7):
            t = k / 4
            y0 = tr.offset(t) + 100.0 + 20.0 * t
            cars = [v for v in tr.vehicles_between(t, y0, y0 + 600.0) if not v.oncoming]
            for step in range(0, 600, 2):
                y = y0 + step
                blocked = set()
                for v in cars:  # every lane the body touches (a changer mid-move touches two)
                    if v.y - v.h / 2 < y + CAR_H and v.y + v.h / 2 > y - CAR_H:
                        blocked.update(range(lane_of(v.x - v.w / 2), lane_of(v.x + v.w / 2) + 1))
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


def test_pickups_lie_still_on_lanes_and_every_kind_appears():
    a, b = Traffic(Rules(9)), Traffic(Rules(9))
    b.pickups_between(5000.0, 6000.0)  # query order does not matter
    pa = a.pickups_between(0.0, 20000.0)
    assert pa == b.pickups_between(0.0, 20000.0)
    assert {p.kind for p in pa} == set(PICKUP_KINDS)
    assert pa[0].y > 200.0 and all(q.y - p.y >= 150.0 for p, q in zip(pa, pa[1:], strict=False))
    assert {p.x for p in pa} <= {lane_center(k) for k in range(ONCOMING, LANES)}
    assert [p.id for p in pa] == list(range(len(pa)))
    assert a.pickup(3) == pa[3]
    assert Traffic(Rules(10)).pickups_between(0.0, 20000.0) != pa
