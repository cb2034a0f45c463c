"""Collision and scoring rules: tight hitboxes, crash state, overtakes and near misses.

The car runs against a scripted traffic (vehicles placed by the test, moving at a fixed
speed) so each rule is checked in isolation; the real traffic is covered in test_sim_traffic.
"""

from __future__ import annotations

from p2p_race.sim import CAR_W, DT, CarSim, Inputs, Rules, lane_center
from p2p_race.sim.rules import NEAR_MISS_BONUS, OVERTAKE_BONUS

SEDAN_W, SEDAN_H = 1.8, 4.5


class ScriptedTraffic:
    """Vehicles (id, x, y_at_t0, w, h) all moving at `speed`: the duck type CarSim queries."""

    def __init__(self, vehicles, speed=10.0):
        self.vehicles = vehicles
        self.speed = speed

    def near(self, t, y0, y1):
        out = []
        for vid, x, y, w, h in self.vehicles:
            yy = y + self.speed * t
            if yy + h / 2 >= y0 and yy - h / 2 <= y1:
                out.append((vid, 0, x, yy, w, h))
        return out


NO_INPUT = Inputs()


def drive(sim, seconds, inputs=NO_INPUT):
    for _ in range(int(round(seconds / DT))):
        sim.step(inputs)
    return sim.state


def pass_at(dx, ahead=30.0):
    """Drive straight past one sedan whose centre is `dx` to the side; return the car."""
    x = lane_center(1)
    sim = CarSim(Rules(1), "c", start_x=x, traffic=ScriptedTraffic([(1, x + dx, ahead, SEDAN_W, SEDAN_H)]))
    drive(sim, 5.0)
    return sim


def test_driving_into_a_vehicle_is_a_crash():
    x = lane_center(1)
    sim = CarSim(Rules(1), "c", start_x=x, traffic=ScriptedTraffic([(7, x, 30.0, SEDAN_W, SEDAN_H)]))
    st = drive(sim, 5.0)
    assert st.crashed
    # 25 m/s coasting down at 2 m/s^2 against 10 m/s closes a 30 m gap minus the half lengths
    # of both hitboxes (4.1 m) in about 2 s.
    assert 1.8 < st.crash_time < 2.2
    assert st.crash_time == round(st.crash_time / DT) * DT
    assert st.speed == 0.0
    assert sim.overtakes == 0


def test_a_crash_is_final_but_the_clock_runs_on():
    x = lane_center(1)
    sim = CarSim(Rules(1), "c", start_x=x, traffic=ScriptedTraffic([(7, x, 20.0, SEDAN_W, SEDAN_H)]))
    crashed = drive(sim, 3.0)
    assert crashed.crashed
    later = drive(sim, 2.0, Inputs(steer=1, throttle=1))
    assert later.tick == crashed.tick + 120
    assert (later.x, later.y, later.score, later.crash_time, later.speed) == (
        crashed.x, crashed.y, crashed.score, crashed.crash_time, 0.0)


def test_hitboxes_are_tighter_than_the_bodies():
    # Bodies overlap by 0.15 m sideways (|dx| < (1.8 + 1.8) / 2) but the hitboxes do not.
    sim = pass_at(1.65)
    assert not sim.state.crashed
    # A little closer and the hitboxes touch.
    assert pass_at(1.5).state.crashed


def test_passing_a_vehicle_is_an_overtake():
    sim = pass_at(3.5)  # one lane over: body gap 1.7 m, no near miss
    st = sim.state
    assert not st.crashed
    assert sim.overtakes == 1 and sim.near_misses == 0
    assert st.score == sim.distance_points + OVERTAKE_BONUS


def test_a_close_pass_is_a_near_miss():
    sim = pass_at(CAR_W / 2 + SEDAN_W / 2 + 0.5)  # body gap 0.5 m < NEAR_MISS_GAP
    st = sim.state
    assert sim.overtakes == 1 and sim.near_misses == 1
    assert st.score == sim.distance_points + OVERTAKE_BONUS + NEAR_MISS_BONUS


def test_a_vehicle_is_counted_once():
    x = lane_center(1)
    sim = CarSim(Rules(1), "c", start_x=x,
                 traffic=ScriptedTraffic([(1, x + 3.5, 30.0, SEDAN_W, SEDAN_H), (2, x - 3.5, 60.0, SEDAN_W, SEDAN_H)]))
    drive(sim, 8.0)
    assert sim.overtakes == 2
    bonus = sim.state.score - sim.distance_points
    assert bonus == 2 * OVERTAKE_BONUS


def test_a_vehicle_not_yet_reached_gives_nothing():
    x = lane_center(1)
    sim = CarSim(Rules(1), "c", start_x=x, traffic=ScriptedTraffic([(1, x + 3.5, 500.0, SEDAN_W, SEDAN_H)]))
    drive(sim, 3.0)
    assert sim.overtakes == 0 and sim.state.score == sim.distance_points


def test_braking_buys_time_behind_a_vehicle():
    """Early in a race the minimum pace is just above the traffic: braking hard behind a
    vehicle turns a crash in ~1 s into seconds of waiting for a gap."""
    x = lane_center(1)
    flow = Rules(1).flow_speed(0.0)

    def crash_time(throttle):
        sim = CarSim(Rules(1), "c", start_x=x,
                     traffic=ScriptedTraffic([(7, x, 30.0, SEDAN_W, SEDAN_H)], speed=flow))
        while not sim.state.crashed and sim.time < 20.0:
            sim.step(Inputs(throttle=throttle))
        return sim.time

    assert crash_time(1) < 2.5
    assert crash_time(-1) > 8.0
