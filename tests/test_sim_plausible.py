"""plausible(): honest states always pass; impossible reports are rejected."""

from __future__ import annotations

import dataclasses
import random

import pytest

from p2p_race.bots import BotDriver
from p2p_race.sim import DT, MAX_SPEED, CarSim, Inputs, Race, Rules, plausible
from p2p_race.sim.car import X_MAX
from p2p_race.sim.plausible import TOP_SPEED

RULES = Rules(21, time_limit=60.0)


def honest_states():
    """States of a bot and of a random driver over a whole race (including a crash)."""
    race = Race(RULES, ["bot", "wild"])
    bot = BotDriver("bot")
    rng = random.Random(3)
    seqs = {"bot": [race.cars["bot"].state], "wild": [race.cars["wild"].state]}
    while not race.finished:
        race.step({"bot": bot.decide(race.cars["bot"], race.traffic),
                   "wild": Inputs(rng.choice((-1, 0, 1)), rng.choice((-1, 1, 1)))})
        for cid in seqs:
            seqs[cid].append(race.cars[cid].state)
    return seqs


@pytest.fixture(scope="module")
def seqs():
    return honest_states()


def test_every_honest_state_is_plausible(seqs):
    assert seqs["wild"][-1].crashed  # the random driver's crash is covered too
    for states in seqs.values():
        prev = None
        for st in states:
            assert plausible(prev, st, RULES), (prev, st)
            assert plausible(None, st, RULES)
            prev = st


def test_honest_states_pass_with_gaps(seqs):
    """Lost packets: a report may skip many ticks."""
    for states in seqs.values():
        for gap in (2, 7, 61):
            for a, b in zip(states[::gap], states[gap::gap], strict=False):
                assert plausible(a, b, RULES)


def mid(seqs):
    s = seqs["bot"]
    return s[1000], s[1001]


def test_rejects_speed_over_max(seqs):
    a, b = mid(seqs)
    assert not plausible(a, dataclasses.replace(b, speed=TOP_SPEED + 1), RULES)
    assert not plausible(a, dataclasses.replace(b, speed=a.speed + 2.0), RULES)  # too sudden
    assert not plausible(None, dataclasses.replace(b, speed=MAX_SPEED * 2), RULES)


def test_rejects_speed_under_the_floor(seqs):
    _, b = mid(seqs)
    assert not plausible(None, dataclasses.replace(b, speed=1.0), RULES)


def test_rejects_a_car_still_racing_behind_the_sweeper():
    """A report of a car crawling on at the minimum pace after the sweeper reached it: out."""
    rules = Rules(21, time_limit=120.0)
    car = CarSim(rules, "p", traffic=EmptyRoad())
    prev = car.state
    while not car.caught:
        prev = car.state
        car.step(Inputs(throttle=-1))
    assert plausible(prev, car.state, rules)  # the honest end: out at that tick
    t = (prev.tick + 1) * DT
    forged = dataclasses.replace(prev, tick=prev.tick + 1, y=prev.y + prev.speed * DT,
                                 distance=prev.distance + prev.speed * DT, speed=rules.min_speed(t))
    assert not plausible(prev, forged, rules)
    assert not plausible(None, forged, rules)


class EmptyRoad:
    def near(self, t, y0, y1):
        return []


def test_rejects_distance_beyond_max_speed(seqs):
    a, b = mid(seqs)
    far = a.distance + MAX_SPEED * DT * 3
    assert not plausible(a, dataclasses.replace(b, distance=far, y=far), RULES)
    huge = TOP_SPEED * b.time + 10
    assert not plausible(None, dataclasses.replace(b, distance=huge, y=huge), RULES)


def test_rejects_teleport_sideways_and_off_road(seqs):
    a, b = mid(seqs)
    assert not plausible(a, dataclasses.replace(b, x=a.x + 3.5), RULES)
    assert not plausible(None, dataclasses.replace(b, x=X_MAX + 1), RULES)


def test_rejects_score_inflation(seqs):
    a, b = mid(seqs)
    assert not plausible(a, dataclasses.replace(b, score=a.score + 500), RULES)
    assert not plausible(None, dataclasses.replace(b, score=10**6), RULES)
    assert not plausible(a, dataclasses.replace(b, score=a.score - 1), RULES)


def test_rejects_time_travel_and_bad_fields(seqs):
    a, b = mid(seqs)
    assert not plausible(b, a, RULES)
    assert not plausible(None, dataclasses.replace(b, tick=RULES.limit_ticks + 1), RULES)
    assert not plausible(None, dataclasses.replace(b, x=float("nan")), RULES)
    assert not plausible(None, dataclasses.replace(b, y=b.y + 5), RULES)  # y != distance


def test_rejects_uncrashing_and_changing_a_crash(seqs):
    wild = seqs["wild"]
    crashed = next(s for s in wild if s.crashed)
    later = wild[-1]
    assert plausible(crashed, later, RULES)
    assert not plausible(crashed, dataclasses.replace(later, crashed=False, crash_time=None,
                                                     speed=30.0), RULES)
    assert not plausible(crashed, dataclasses.replace(later, score=later.score + 5), RULES)
    assert not plausible(crashed, dataclasses.replace(later, crash_time=later.crash_time + 1), RULES)
    assert not plausible(None, dataclasses.replace(crashed, crash_time=crashed.time + 5), RULES)
    assert not plausible(None, dataclasses.replace(crashed, crash_time=None), RULES)


def test_accepts_network_reports_duck_typed(seqs):
    """A match's report type (crash_time -1 when alive) and rules type work as well."""

    @dataclasses.dataclass(frozen=True)
    class Report:
        tick: int
        x: float
        y: float
        speed: float
        score: int
        distance: float
        crashed: bool
        crash_time: float
        input_seq: int = 0

    @dataclasses.dataclass(frozen=True)
    class MatchRules:
        seed: int
        time_limit: float

    def report(st, seq=0):
        return Report(st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                      -1.0 if st.crash_time is None else st.crash_time, seq)

    rules = MatchRules(21, 60.0)
    a, b = mid(seqs)
    assert plausible(report(a), report(b), rules)
    assert plausible(report(b), report(b, seq=5), rules)  # a repeat with other extra fields
    assert not plausible(report(a), dataclasses.replace(report(b), speed=99.0), rules)
    wild = seqs["wild"]
    crashed = next(s for s in wild if s.crashed)
    assert plausible(report(wild[wild.index(crashed) - 1]), report(crashed), rules)


def test_garbage_reports_are_rejected_without_raising(seqs):
    rng = random.Random(5)
    weird = [float("inf"), float("-inf"), float("nan"), -1e300, 1e300, -1, 0, 2**70, None, "x", True]
    base = seqs["bot"][500]
    for _ in range(3000):
        field = rng.choice(["x", "y", "speed", "crashed", "crash_time", "score", "distance", "tick"])
        bad = dataclasses.replace(base, **{field: rng.choice(weird)})
        assert plausible(None, bad, RULES) in (True, False)
        assert plausible(base, bad, RULES) in (True, False)


def test_boosted_and_multiplied_honest_states_are_plausible():
    """A driver that goes for every pickup: boosts above top speed and doubled points stay
    inside the envelope."""
    from tests.test_sim_pickups import seek

    taken = set()
    for seed in (4, 8):
        race = Race(Rules(seed, time_limit=40.0), ["seeker"])
        car = race.cars["seeker"]
        prev = car.state
        while not car.finished:
            race.step({"seeker": seek(car, race.traffic)})
            st = car.state
            assert plausible(prev, st, race.rules), (prev, st)
            assert plausible(None, st, race.rules)
            prev = st
        taken.update(car.pickups_taken)
    assert {"boost", "multiplier"} <= taken
