"""Simulation speed (steps per second with 1/8/16 cars in traffic) and bot survival."""

from __future__ import annotations

import time

from p2p_race.bots import BotDriver
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


def sim_rate(n_cars: int, seconds: float) -> tuple[float, float, int]:
    ids, tape = record(n_cars, seconds)
    race = Race(Rules(1, time_limit=seconds), ids)
    t0 = time.perf_counter()
    for moves in tape:
        race.step(moves)
    wall = time.perf_counter() - t0
    alive = sum(not c.state.crashed for c in race.cars.values())
    return len(tape) / wall, wall, alive


def bot_rate(n_cars: int, seconds: float) -> float:
    t0 = time.perf_counter()
    _, tape = record(n_cars, seconds, seed=2)
    return len(tape) / (time.perf_counter() - t0)


def survival(seeds: int, seconds: float, skill: float = 1.0, difficulty: str = "normal") -> tuple[float, float, int]:
    times = []
    crashed = 0
    for seed in range(seeds):
        race = Race(Rules(1000 + seed, time_limit=seconds, difficulty=difficulty), ["b"])
        bot, car = BotDriver("b", skill), race.cars["b"]
        while not race.finished:
            race.step({"b": bot.decide(car, race.traffic)})
        st = car.state
        crashed += st.crashed
        times.append(st.crash_time if st.crashed else race.time)
    return sum(times) / len(times), min(times), crashed


def run(quick: bool) -> list[dict]:
    rows = []
    secs = 30.0 if quick else 120.0
    for n in (1, 8, 16):
        rate, _wall, alive = sim_rate(n, secs)
        rows.append({"metric": f"sim ticks/s, {n} car(s) + traffic (no bots)", "value": round(rate),
                     "unit": "ticks/s", "target": ">= 600 (10x real time)", "ok": rate >= 600,
                     "note": f"{round(rate * n):,} car-steps/s; {alive}/{n} cars alive after {secs:g} s"})
    for n in (1, 8):
        rate = bot_rate(n, secs / 2)
        rows.append({"metric": f"sim + bot ticks/s, {n} bot car(s)", "value": round(rate), "unit": "ticks/s",
                     "target": ">= 60 (real time)", "ok": rate >= 60,
                     "note": "headless practice speed: every car driven by a BotDriver"})
    seeds, limit = (10, 90.0) if quick else (20, 180.0)
    for skill, difficulty, target in ((1.0, "normal", 60.0), (0.8, "normal", None), (1.0, "hard", None)):
        mean, worst, crashed = survival(seeds, limit, skill, difficulty)
        row = {"metric": f"bot mean survival, skill {skill:g}, {difficulty}", "value": round(mean, 1), "unit": "s",
               "note": f"{seeds} seeds, {limit:g} s limit; worst {worst:.1f} s; {crashed} crashed"}
        if target is not None:
            row.update(target=f">= {target:g} s", ok=mean >= target)
        rows.append(row)
    return rows
