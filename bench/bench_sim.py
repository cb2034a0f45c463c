"""Simulation speed (steps per second with 1/8/16 cars in traffic, CPU time per car step)
and bot survival: the growing road must end every race (median survival of full-skill bots
on normal under 300 s), and passive play (always braking) must not pay on any seed."""

from __future__ import annotations

import time

from p2p_race.bots import BotDriver, PassiveDriver
from p2p_race.sim import Race, Rules

TITLE = "Game simulation: steps per second, bot survival"


def record(n_cars: int, seconds: float, seed: int = 1) -> tuple[list[str], list[dict]]:
    """Drive a race with bots and keep every tick's inputs, so the replay below times the
    simulation alone (same seed + same inputs -> the same race)."""
    ids = [f"c{i}" for i in range(n_cars)]
    race = Race(Rules(seed, time_limit=seconds), ids)
    bots = {cid: BotDriver(cid, 1.0) for cid in ids}
    tape = []
    while not race.finished:
        moves = {cid: b.decide(race.cars[cid], race.traffic) for cid, b in bots.items()}
        tape.append(moves)
        race.step(moves)
    return ids, tape


def sim_rate(n_cars: int, seconds: float, repeats: int = 3) -> tuple[float, float, int, float]:
    """Ticks per second replaying the tape, and CPU microseconds per step of a car still
    racing (a crashed car's step is nearly free; best of `repeats`, CPU time so that other
    load on the machine counts less)."""
    ids, tape = record(n_cars, seconds)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        race = Race(Rules(1, time_limit=seconds), ids)
        t0, c0 = time.perf_counter(), time.process_time()
        for moves in tape:
            race.step(moves)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    race = Race(Rules(1, time_limit=seconds), ids)
    live = 0
    for moves in tape:
        live += sum(not c.finished for c in race.cars.values())
        race.step(moves)
    alive = sum(not c.state.crashed for c in race.cars.values())
    return len(tape) / best_wall, best_wall, alive, best_cpu / max(1, live) * 1e6


def bot_rate(n_cars: int, seconds: float) -> float:
    t0 = time.perf_counter()
    _, tape = record(n_cars, seconds, seed=2)
    return len(tape) / (time.perf_counter() - t0)


def survival(seeds: int, seconds: float, skill: float = 1.0, difficulty: str = "normal",
             driver=BotDriver) -> tuple[list[float], list[int]]:
    """Survival times and scores of one bot per seed (each seed its own personality)."""
    times, scores = [], []
    for seed in range(seeds):
        race = Race(Rules(1000 + seed, time_limit=seconds, difficulty=difficulty), [f"b{seed}"])
        bot, car = driver(f"b{seed}", skill), race.cars[f"b{seed}"]
        while not race.finished:
            race.step({car.car_id: bot.decide(car, race.traffic)})
        st = car.state
        times.append(st.crash_time if st.crashed else race.time)
        scores.append(st.score)
    return times, scores


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2


def run(quick: bool) -> list[dict]:
    rows = []
    secs = 30.0 if quick else 120.0
    for n in (1, 8, 16):
        rate, _wall, alive, us = sim_rate(n, secs)
        rows.append({"metric": f"sim ticks/s, {n} car(s) + traffic (no bots)", "value": round(rate),
                     "unit": "ticks/s", "target": ">= 600 (10x real time)", "ok": rate >= 600,
                     "note": f"{round(rate * n):,} car-steps/s; {us:.2f} us CPU per racing car-step; "
                             f"{alive}/{n} cars alive after {secs:g} s"})
    for n in (1, 8):
        rate = bot_rate(n, secs / 2)
        rows.append({"metric": f"sim + bot ticks/s, {n} bot car(s)", "value": round(rate), "unit": "ticks/s",
                     "target": ">= 60 (real time)", "ok": rate >= 60,
                     "note": "headless practice speed: every car driven by a BotDriver"})
    seeds = 6 if quick else 20
    times, scores = survival(seeds, 300.0)
    med = median(times)
    rows.append({"metric": "full-skill bot median survival, normal, 300 s race", "value": round(med, 1),
                 "unit": "s", "target": "< 300 s (the road ends every race)", "ok": med < 300.0,
                 "note": f"{seeds} seeds; min {min(times):.1f} s, max {max(times):.1f} s; "
                         f"{sum(t < 300.0 for t in times)} crashed; median score {median(scores):,.0f}"})
    p_times, p_scores = survival(seeds, 300.0, driver=PassiveDriver)
    wins = sum(p > a for p, a in zip(p_scores, scores, strict=True))
    rows.append({"metric": "passive driver (always braking) vs full-skill bot, median score", "value": round(median(p_scores)),
                 "unit": "points", "target": "below the bot's on every seed", "ok": wins == 0,
                 "note": f"same {seeds} seeds; bot median {median(scores):,.0f}; passive outscored the bot "
                         f"on {wins}; passive median survival {median(p_times):.1f} s (the sweeper)"})
    for skill, difficulty in ((0.8, "normal"), (1.0, "hard")):
        t, _ = survival(seeds // 2, 180.0, skill, difficulty)
        rows.append({"metric": f"bot mean survival, skill {skill:g}, {difficulty}", "value": round(sum(t) / len(t), 1),
                     "unit": "s", "note": f"{len(t)} seeds, 180 s limit; worst {min(t):.1f} s; "
                                          f"{sum(x < 180.0 for x in t)} crashed"})
    return rows
