"""Car physics, speed and road bounds, race clock, interpolation (p2p_race.sim)."""

from __future__ import annotations

import random

import pytest

from p2p_race.sim import (
    DT,
    MAX_SPEED,
    MIN_SPEED,
    ROAD_WIDTH,
    START_SPEED,
    CarSim,
    CarState,
    Inputs,
    Race,
    Rules,
    lane_center,
    lerp_state,
)
from p2p_race.sim.car import X_MAX, X_MIN
from p2p_race.sim.rules import LAT_ACCEL, LAT_SPEED, SWEEPER_GAP, SWEEPER_MARGIN


class EmptyRoad:
    """No traffic at all: isolates the car physics from collisions."""

    def near(self, t, y0, y1):
        return []


def car(rules=None, x=None):
    return CarSim(rules or Rules(1), "c", start_x=x, traffic=EmptyRoad())


def test_starts_on_the_start_line_at_start_speed():
    st = car(x=lane_center(2)).state
    assert (st.x, st.y, st.speed, st.tick, st.score, st.distance) == (lane_center(2), 0.0, START_SPEED, 0, 0, 0.0)
    assert st.crashed is False and st.crash_time is None


def test_accelerating_reaches_max_speed_and_never_exceeds_it():
    c = car()
    speeds = []
    for _ in range(60 * 10):
        c.step(Inputs(throttle=1))
        speeds.append(c.state.speed)
    assert max(speeds) == MAX_SPEED
    assert speeds[-1] == MAX_SPEED
    assert all(b >= a for a, b in zip(speeds, speeds[1:], strict=False))  # monotonic


def test_braking_stops_at_the_floor_just_above_the_traffic():
    rules = Rules(1)
    c = car(rules)
    for _ in range(60 * 5):
        c.step(Inputs(throttle=-1))
    assert c.state.speed == pytest.approx(rules.min_speed(c.time))
    assert c.state.speed > rules.flow_speed(c.time)  # traffic can never catch the car


def test_coasting_slows_down_gently():
    c = car()
    c.step(Inputs())
    assert START_SPEED - 0.1 < c.state.speed < START_SPEED


def test_random_inputs_stay_within_all_bounds():
    rng = random.Random(7)
    rules = Rules(3)
    c = car(rules)
    for _ in range(60 * 60):
        c.step(Inputs(steer=rng.choice((-1, 0, 1)), throttle=rng.choice((-1, 0, 1))))
        st = c.state
        assert rules.min_speed(c.time) - 1e-9 <= st.speed <= MAX_SPEED
        assert X_MIN <= st.x <= X_MAX
        assert st.y == st.distance


def test_steering_is_limited_by_the_guard_rails():
    c = car()
    for _ in range(120):
        c.step(Inputs(steer=-1))
    assert c.state.x == X_MIN
    for _ in range(300):
        c.step(Inputs(steer=1))
    assert c.state.x == X_MAX


def test_the_shoulder_is_soft_not_a_wall():
    """Clipping the shoulder costs a little speed; staying on it keeps costing, down to the
    floor. It never crashes the car."""
    rules = Rules(1)
    c = car(rules, x=ROAD_WIDTH - 1.0)
    for _ in range(60 * 6):
        c.step(Inputs(throttle=1))
    assert c.state.speed == MAX_SPEED and not c.offroad
    kmh = c.state.speed * 3.6
    while not c.offroad:  # drift right onto the shoulder, foot down
        c.step(Inputs(steer=1, throttle=1))
    for _ in range(30):
        c.step(Inputs(steer=1, throttle=1))
    assert c.offroad and not c.state.crashed
    assert kmh - c.state.speed * 3.6 < 15.0  # half a second on it: under 15 km/h lost
    for _ in range(60 * 20):
        c.step(Inputs(steer=1, throttle=1))
    assert c.state.speed == pytest.approx(rules.min_speed(c.time))


def test_steering_has_lateral_inertia():
    c = car()
    x0 = c.state.x
    c.step(Inputs(steer=1))
    assert c.vx == pytest.approx(LAT_ACCEL * DT)  # a run-up, not a jump to full speed
    for _ in range(int(LAT_SPEED / LAT_ACCEL / DT) + 1):
        c.step(Inputs(steer=1))
    assert c.vx == LAT_SPEED
    xs = []
    for _ in range(20):  # let go: the car drifts on and settles
        c.step(Inputs())
        xs.append(c.state.x)
    assert xs[5] > xs[0] and c.vx == 0.0 and xs[-1] == xs[-2] > x0
    # counter-steering stops a drift faster than letting go
    a, b = CarSim(Rules(1), "a", traffic=EmptyRoad()), CarSim(Rules(1), "b", traffic=EmptyRoad())
    for sim in (a, b):
        for _ in range(30):
            sim.step(Inputs(steer=1))
    a.step(Inputs(steer=-1))
    b.step(Inputs())
    assert 0 < a.vx < b.vx < LAT_SPEED


def test_the_minimum_pace_rises_and_stays_below_top_speed():
    for diff in ("easy", "normal", "hard"):
        rules = Rules(1, difficulty=diff)
        floors = [rules.min_speed(t) for t in range(0, 600, 10)]
        assert all(b >= a for a, b in zip(floors, floors[1:], strict=False))
        assert floors[-1] - rules.flow_speed(590) > 5 * (floors[0] - rules.flow_speed(0))
        assert floors[-1] < MAX_SPEED and floors[0] >= MIN_SPEED
    passive = car(Rules(1, time_limit=240.0))
    for _ in range(60 * 30):
        passive.step(Inputs(throttle=-1))
    assert passive.state.speed == pytest.approx(Rules(1).min_speed(30.0))


def test_the_sweeper_ends_a_car_that_rides_the_minimum_pace():
    """Always braking on an empty road: the car holds the floor, loses ground to the sweeper
    and is out within about a minute (a crash at that tick, scored as such)."""
    for diff in ("easy", "normal", "hard"):
        rules = Rules(1, difficulty=diff, time_limit=300.0)
        passive = car(rules)
        while not passive.finished:
            passive.step(Inputs(throttle=-1))
        st = passive.state
        assert passive.caught and st.crashed and 40.0 < st.crash_time < 80.0, (diff, st)
        assert rules.sweeper_y(st.crash_time) >= st.y - 4.4 / 2 > rules.sweeper_y(st.crash_time - DT) - 1.0
        racer = car(rules)  # anyone who drove faster early on keeps well ahead of it
        while not racer.finished:
            racer.step(Inputs(throttle=1 if racer.time < 20.0 else -1))
        assert not racer.state.crashed and not racer.caught and racer.tick == rules.limit_ticks


def test_the_sweeper_moves_at_the_minimum_pace_plus_a_shrinking_margin():
    """Its closed form is the integral of its speed, always a little above the floor (so the
    floor alone loses ground) until the pace ramp ends, and never faster than a car can go."""
    for diff in ("easy", "normal", "hard"):
        rules = Rules(1, difficulty=diff)
        ramp = rules.params.pace_ramp_s
        assert rules.sweeper_y(0.0) == -SWEEPER_GAP
        y, t = -SWEEPER_GAP, 0.0
        while t < ramp + 60.0:
            speed = (rules.sweeper_y(t + 0.01) - rules.sweeper_y(t)) / 0.01
            assert speed < MAX_SPEED
            if t < ramp - 1.0:
                assert rules.min_speed(t) + 0.01 < speed < rules.min_speed(t + 0.01) + SWEEPER_MARGIN
            else:
                assert speed == pytest.approx(rules.min_speed(t), abs=SWEEPER_MARGIN / ramp * 1.1 + 1e-6)
            y += speed * 0.01
            t += 0.01
        assert rules.sweeper_y(t) == pytest.approx(y, abs=0.5)


def test_out_of_range_inputs_are_clamped():
    a, b = car(), car()
    for _ in range(30):
        a.step(Inputs(steer=5, throttle=9))
        b.step(Inputs(steer=1, throttle=1))
    assert a.state == b.state


def test_the_clock_stops_at_the_time_limit():
    c = car(Rules(1, time_limit=2.0))
    for _ in range(500):
        c.step(Inputs())
    assert c.tick == 120 and c.finished
    assert c.state.time == pytest.approx(2.0)


def test_score_is_distance_points_when_nothing_is_passed():
    c = car()
    for _ in range(600):
        c.step(Inputs(throttle=1))
    assert c.state.score == c.distance_points
    fast = car()
    for _ in range(60 * 10):  # at top speed a metre is worth POINTS_PER_METRE
        fast.step(Inputs(throttle=1))
    before = (fast.state.score, fast.state.distance)
    for _ in range(60 * 10):
        fast.step(Inputs(throttle=1))
    assert fast.state.score - before[0] == pytest.approx((fast.state.distance - before[1]) * 0.1, abs=1)


def test_crawling_does_not_pay():
    """Points per second grow with the square of the speed: over the same time the car at
    the minimum pace scores far less than the one at top speed."""
    slow, quick = car(Rules(1, time_limit=120.0)), car(Rules(1, time_limit=120.0))
    while not slow.finished:
        slow.step(Inputs(throttle=-1))
        quick.step(Inputs(throttle=1))
    assert slow.state.score < 0.6 * quick.state.score
    assert slow.state.score / slow.state.distance < 0.7 * quick.state.score / quick.state.distance


def test_race_runs_cars_in_lock_step_and_finishes_at_the_limit():
    r = Race(Rules(9, time_limit=3.0), ["a", "b", "c"])
    assert [c.state.x for c in r.cars.values()] == [lane_center(0), lane_center(1), lane_center(2)]
    while not r.finished:
        r.step({"a": Inputs(throttle=1)})
    assert r.tick == 180 and r.time == pytest.approx(3.0)
    assert {c.tick for c in r.cars.values()} == {180}
    assert r.cars["a"].state.distance > r.cars["b"].state.distance
    r.step({"a": Inputs(throttle=1)})
    assert r.tick == 180  # finished races do not advance


def test_race_finishes_early_when_every_car_crashed():
    r = Race(Rules(2, time_limit=600.0), ["a"])
    while not r.finished:  # full speed, never steering: meets a vehicle sooner or later
        r.step({"a": Inputs(throttle=1)})
    assert r.cars["a"].state.crashed
    assert r.time < 600.0


def test_race_rejects_duplicate_ids():
    with pytest.raises(ValueError):
        Race(Rules(1), ["a", "a"])


@pytest.mark.parametrize("kw", [{"difficulty": "insane"}, {"time_limit": 0}, {"time_limit": -5}])
def test_rules_validate(kw):
    with pytest.raises(ValueError):
        Rules(1, **kw)


def test_flow_speed_and_offset_agree():
    rules = Rules(1, difficulty="hard")
    total = 0.0
    for i in range(60 * 200):
        total += rules.flow_speed((i + 0.5) * DT) * DT  # midpoint rule is exact for a linear ramp
    assert total == pytest.approx(rules.flow_offset(200.0), rel=1e-9)
    assert rules.flow_speed(0) < rules.flow_speed(60) < rules.flow_speed(200)


def test_lerp_state_interpolates_continuous_fields():
    a = CarState(1.0, 10.0, 20.0, False, None, 1, 10.0, 5)
    b = CarState(2.0, 12.0, 22.0, True, 0.1, 3, 12.0, 6)
    mid = lerp_state(a, b, 0.5)
    assert (mid.x, mid.y, mid.speed, mid.distance) == (1.5, 11.0, 21.0, 11.0)
    assert (mid.crashed, mid.crash_time, mid.score, mid.tick) == (True, 0.1, 3, 6)
    assert lerp_state(a, b, -1).x == 1.0 and lerp_state(a, b, 2).x == 2.0
