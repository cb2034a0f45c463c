"""Pickups: driven over, they act at once (boost, shield, multiplier), once per car."""

from __future__ import annotations

import pytest

from p2p_race.sim import DT, MAX_SPEED, CarSim, Inputs, Pickup, Race, Rules, lane_center
from p2p_race.sim.rules import BOOST_S, BOOST_SPEED, MULT, MULT_S, SHIELD_S

X = lane_center(1)


class Road:
    """Scripted road: given pickups, and vehicles (id, x, y_at_t0, w, h) moving at 10 m/s."""

    def __init__(self, pickups, vehicles=()):
        self.items = [Pickup(i, x, y, kind) for i, (x, y, kind) in enumerate(pickups)]
        self.items.append(Pickup(len(self.items), X, 1e12, "boost"))  # sentinel far away
        self.vehicles = list(vehicles)

    def pickup(self, i):
        return self.items[i]

    def near(self, t, y0, y1):
        out = []
        for vid, x, y, w, h in self.vehicles:
            yy = y + 10.0 * t
            if yy + h / 2 >= y0 and yy - h / 2 <= y1:
                out.append((vid, 0, x, yy, w, h))
        return out


FLOOR_IT = Inputs(throttle=1)


def drive(sim, seconds, inputs=FLOOR_IT):
    for _ in range(int(round(seconds / DT))):
        sim.step(inputs)


def test_boost_lifts_the_car_above_top_speed_for_a_while():
    sim = CarSim(Rules(1), "c", start_x=X, traffic=Road([(X, 900.0, "boost")]))
    drive(sim, 12.0)
    assert sim.state.speed == MAX_SPEED and sim.pickups_taken == []
    while not sim.pickups_taken:
        sim.step(Inputs(throttle=1))
    assert "boost" in sim.effects()
    top = 0.0
    for _ in range(int((BOOST_S + 1) / DT)):
        sim.step(Inputs())  # boosts without the pedal
        top = max(top, sim.state.speed)
    assert MAX_SPEED < top <= BOOST_SPEED and "boost" not in sim.effects()
    drive(sim, 10.0)
    assert sim.state.speed == MAX_SPEED  # bled back down


def test_shield_absorbs_one_collision_only():
    road = Road([(X, 60.0, "shield")], [(1, X, 200.0, 1.8, 4.5), (2, X, 400.0, 1.8, 4.5)])
    sim = CarSim(Rules(1), "c", start_x=X, traffic=road)
    while "shield" not in sim.effects():
        sim.step(Inputs(throttle=1))
    assert sim.effects()["shield"] == pytest.approx(SHIELD_S, abs=0.05)
    while sim.shield_saves == 0:
        sim.step(Inputs(throttle=1))
        assert not sim.state.crashed
    assert "shield" not in sim.effects()
    drive(sim, 30.0)
    assert sim.state.crashed  # the second truck is not forgiven
    assert sim.overtakes == 0  # driving through a vehicle is no overtake


def test_multiplier_doubles_points_while_it_lasts():
    plain = CarSim(Rules(1), "a", start_x=X, traffic=Road([]))
    mult = CarSim(Rules(1), "b", start_x=X, traffic=Road([(X, 100.0, "multiplier")]))
    drive(plain, 30.0)
    drive(mult, 30.0)
    assert plain.state.distance == mult.state.distance
    gained = mult.state.score - plain.state.score
    # MULT_S seconds at (mostly) top speed, counted (MULT - 1) extra times
    assert gained == pytest.approx((MULT - 1) * MULT_S * MAX_SPEED * 0.1, rel=0.25)
    assert mult.multiplier == 1


def test_a_pickup_beside_the_car_is_not_collected_and_each_counts_once():
    road = Road([(lane_center(3), 100.0, "boost"), (X, 200.0, "shield")])
    sim = CarSim(Rules(1), "c", start_x=X, traffic=road)
    drive(sim, 20.0)
    assert sim.pickups_taken == ["shield"]


def seek(sim, traffic):
    """Steer for the next pickup ahead (a greedy driver that ignores the traffic)."""
    nxt = next(p for p in traffic.pickups_between(sim.state.y, sim.state.y + 1000.0))
    dx = nxt.x - sim.state.x
    stop = sim.vx * sim.vx / 90.0
    steer = 0 if abs(dx) < 0.2 else (1 if dx > 0 else -1)
    if dx * sim.vx > 0 and abs(dx) < stop:
        steer = -steer
    return Inputs(steer, 1)


def test_cars_collect_pickups_independently_on_the_real_road():
    race = Race(Rules(4, time_limit=40.0), ["seeker", "straight"])
    seeker, straight = race.cars["seeker"], race.cars["straight"]
    while not seeker.finished:
        race.step({"seeker": seek(seeker, race.traffic), "straight": Inputs(0, 1)})
        if straight.effects():
            assert set(straight.effects()) <= set(straight.pickups_taken)
    assert seeker.pickups_taken  # driving over them collects them
    assert len(seeker.pickups_taken) > len(straight.pickups_taken)  # the other car got none of those
