"""BotDriver: dodges traffic well, deterministic, skill makes a difference."""

from __future__ import annotations

import pytest

from p2p_race.bots import BotDriver, PassiveDriver, Personality, practice_skills
from p2p_race.sim import LANES, CarSim, Inputs, Race, Rules, lane_center
from p2p_race.sim.rules import ONCOMING


def run_bot(seed, seconds, skill=1.0, difficulty="normal"):
    race = Race(Rules(seed, time_limit=seconds, difficulty=difficulty), ["b"])
    bot, car = BotDriver("b", skill), race.cars["b"]
    lanes = set()
    while not race.finished:
        race.step({"b": bot.decide(car, race.traffic)})
        lanes.add(int(car.state.x // 3.5))
    st = car.state
    return (st.crash_time if st.crashed else race.time), car, lanes


@pytest.mark.slow
def test_default_bot_mean_survival_at_least_60s():
    """DESIGN/issue 4 target: mean survival >= 60 s at the default difficulty (normal).
    The bench measures more seeds over the full 180 s."""
    results = [run_bot(seed, 120.0) for seed in range(6)]
    survival = [r[0] for r in results]
    assert sum(survival) / len(survival) >= 60.0, survival
    for _, car, lanes in results:
        assert car.overtakes > 30  # it really drives through the traffic, not around it
        assert len(lanes) >= 3  # and uses the lanes
        assert car.state.distance / car.time > 35.0  # at a good pace, not crawling


def test_bot_survives_hard_traffic_for_a_while():
    survival = [run_bot(seed, 40.0, difficulty="hard")[0] for seed in (1, 2)]
    assert min(survival) >= 40.0


def test_bot_beats_driving_straight():
    straight = Race(Rules(3, time_limit=60.0), ["s"])
    while not straight.finished:
        straight.step({"s": Inputs(throttle=1)})
    assert straight.cars["s"].state.crashed
    t, _, _ = run_bot(3, 60.0)
    assert t > straight.cars["s"].state.crash_time


def test_passive_play_loses_to_the_bot_on_every_seed():
    """Braking all the time never beats the default bot, on the seeds of `make bench`: not
    dodging like the bot (which outlasted and outscored it on 2 of these 6 seeds before the
    sweeper), not parked in any lane. Riding the minimum pace, the sweeper ends the race
    within about a minute; scores only grow, so the bot wins once it is ahead of the best."""
    for seed in range(1000, 1006):
        rules = Rules(seed, time_limit=300.0)  # normal, as long as the bench's races
        race = Race(rules, ["p"])
        dodger, car = PassiveDriver(f"b{seed}"), race.cars["p"]
        while not race.finished:
            race.step({"p": dodger.decide(car, race.traffic)})
        assert car.caught and car.state.crash_time < 90.0, (seed, car.state)
        best = car.state.score
        for lane in range(ONCOMING, LANES):
            parked = CarSim(rules, "p", start_x=lane_center(lane))
            while not parked.finished:
                parked.step(Inputs(throttle=-1))
            assert parked.state.crashed and parked.state.crash_time < 90.0
            best = max(best, parked.state.score)
        race = Race(rules, [f"b{seed}"])
        bot, car = BotDriver(f"b{seed}"), race.cars[f"b{seed}"]
        while not race.finished and car.state.score <= best:
            race.step({car.car_id: bot.decide(car, race.traffic)})
        assert car.state.score > best and not car.caught, (seed, car.state.score, best)


def test_decisions_are_deterministic():
    def trace():
        race = Race(Rules(9, time_limit=20.0), ["a", "b"])
        bots = {"a": BotDriver("a", 1.0), "b": BotDriver("b", 0.4)}
        out = []
        while not race.finished:
            moves = {cid: bots[cid].decide(race.cars[cid], race.traffic) for cid in bots}
            out.append(tuple(moves.values()))
            race.step(moves)
        return out

    assert trace() == trace()


@pytest.mark.slow
def test_low_skill_is_worse_than_full_skill():
    seeds = range(4)
    good = [run_bot(s, 90.0, 1.0) for s in seeds]
    weak = [run_bot(s, 90.0, 0.2) for s in seeds]
    assert sum(g[0] for g in good) >= sum(w[0] for w in weak)
    assert sum(g[1].state.distance for g in good) > sum(w[1].state.distance for w in weak)
    assert any(w[1].state.crashed for w in weak)


def test_crashed_bot_lets_go():
    race = Race(Rules(1), ["b"])
    car = race.cars["b"]
    while not car.state.crashed:
        race.step({"b": Inputs(throttle=1)})
    assert BotDriver("b").decide(car, race.traffic) == Inputs()


def test_practice_skills_vary_and_stay_in_range():
    sk = practice_skills("normal", 7)
    assert len(set(sk)) > 1 and all(0.05 <= s <= 1.0 for s in sk)
    assert max(practice_skills("hard", 3)) > max(practice_skills("easy", 3))
    assert LANES == 4


def test_personalities_are_stable_per_driver_and_differ_between_drivers():
    ids = [f"bot{i}" for i in range(1, 16)]
    pers = [Personality.of(i) for i in ids]
    assert pers == [Personality.of(i) for i in ids]  # the same id is the same driver everywhere
    assert len(set(pers)) == len(ids)
    bots = [BotDriver(i, 1.0) for i in ids]
    assert len({round(b.cruise, 3) for b in bots}) == len(ids)  # one skill, different paces
    assert {p.lane for p in pers} == set(range(LANES))
    assert min(p.aggression for p in pers) < 0.3 < 0.7 < max(p.aggression for p in pers)


def test_bots_of_one_skill_drive_apart():
    """Same skill, same road, same start lane: different lines, speeds and scores."""
    ids = ["Ada", "Blaze", "Comet", "Dash"]
    race = Race(Rules(5, time_limit=30.0), ids)
    for c in race.cars.values():  # all from the same spot: only the personality differs
        c._x = race.cars["Ada"].state.x
    bots = {i: BotDriver(i, 1.0) for i in ids}
    traces = {i: [] for i in ids}
    while not race.finished:
        race.step({i: b.decide(race.cars[i], race.traffic) for i, b in bots.items()})
        for i in ids:
            traces[i].append(round(race.cars[i].state.x, 2))
    assert len({tuple(t) for t in traces.values()}) == len(ids)
    assert len({race.cars[i].state.score for i in ids}) == len(ids)


@pytest.mark.slow
def test_five_full_skill_bots_on_one_seed_do_not_last_300_s_and_never_tie():
    """The issue's scene: five full-skill bots, one seed, 300 s. The road keeps getting
    harder (denser rows, a rising minimum pace), so the median crash comes before 300 s,
    and their personalities keep every score apart."""
    ids = [f"bot{i}" for i in range(1, 6)]
    race = Race(Rules(2026, time_limit=300.0), ids)
    bots = {i: BotDriver(i, 1.0) for i in ids}
    while not race.finished:
        race.step({i: b.decide(race.cars[i], race.traffic) for i, b in bots.items() if not race.cars[i].finished})
    survival = sorted(c.state.crash_time if c.state.crashed else 300.0 for c in race.cars.values())
    assert survival[2] < 300.0, survival
    assert min(survival) > 60.0, survival  # hard at the end, not at the start
    scores = [c.state.score for c in race.cars.values()]
    assert len(set(scores)) == len(scores), scores


def test_practice_bots_keep_their_colour_whatever_the_player_drives():
    from p2p_race.ui.raceview import bot_colors

    base = bot_colors("red", 5)
    assert len(set(base)) == 5 and "red" not in base
    for player in ("blue", "green", "yellow", "white"):
        cols = bot_colors(player, 5)
        assert player not in cols and len(set(cols)) == 5
        changed = [i for i in range(5) if cols[i] != base[i]]
        assert changed == ([base.index(player)] if player in base else [])  # only the clash moves
