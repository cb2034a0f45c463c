"""`p2p-race practice`: a race against 0-7 bots; headless (no window) or in the game window.

Headless, the player's car is driven by a BotDriver too and the race runs as fast as the CPU
allows; same seed, same options -> the same JSON, byte for byte (the simulation and the bots
are deterministic).
"""

from __future__ import annotations

import argparse
import json
import secrets

from p2p_race.errors import UserError

HELP = "race against bots; --headless runs without a window and prints the outcome"

MAX_BOTS = 7
MAX_SECONDS = 3600.0
MAX_SEED = 2**63 - 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true",
                        help="no window: a bot drives your car, the race runs at full speed")
    parser.add_argument("--seed", type=int, default=None,
                        help="traffic seed (default: random); same seed -> same race")
    parser.add_argument("--bots", type=int, default=3, help=f"bot cars, 0-{MAX_BOTS} (default 3)")
    parser.add_argument("--seconds", type=float, default=180.0, help="time limit (default 180)")
    parser.add_argument("--difficulty", choices=("easy", "normal", "hard"), default="normal")
    parser.add_argument("--bot-skill", type=float, default=None,
                        help="skill of the bot cars, 0.05-1 (default: by difficulty)")
    parser.add_argument("--ghost", action="store_true",
                        help="window: race a ghost of your best run on this road (use with --seed)")


def validate(args: argparse.Namespace) -> None:
    if not 0 <= args.bots <= MAX_BOTS:
        raise UserError(f"--bots must be between 0 and {MAX_BOTS} (got {args.bots})")
    if not 0 < args.seconds <= MAX_SECONDS:  # also rejects NaN
        raise UserError(f"--seconds must be more than 0 and at most {MAX_SECONDS:g} (got {args.seconds:g})")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and 2^63-1 (got {args.seed})")
    if args.json and not args.headless:
        raise UserError("--json prints a race outcome and needs --headless")
    if args.bot_skill is not None and not 0.05 <= args.bot_skill <= 1.0:
        raise UserError(f"--bot-skill must be between 0.05 and 1 (got {args.bot_skill:g})")


def player_name(args: argparse.Namespace) -> str:
    """--name, else the configured name (without creating a data dir), else "You"."""
    if args.name:
        return args.name
    import os
    from pathlib import Path

    from p2p_race.config import Config
    from p2p_race.paths import ENV_HOME

    home = args.data_dir or os.environ.get(ENV_HOME)
    if home and Path(home).is_dir():
        name = Config.load(Path(home)).name
        if name:
            return name
    return "You"


def run_headless(seed: int, bots: int, seconds: float, difficulty: str = "normal",
                 name: str = "You", bot_skill: float | None = None) -> dict:
    """Run a practice race to the end; return the docs/ARCHITECTURE.md section 10 outcome dict."""
    from p2p_race.bots import BOT_NAMES, BotDriver, practice_skills
    from p2p_race.sim import Race, Rules

    rules = Rules(seed=seed, time_limit=seconds, difficulty=difficulty)
    ids = ["player", *[f"bot{i + 1}" for i in range(bots)]]
    names = {"player": name}
    for i, bid in enumerate(ids[1:]):
        bot_name = BOT_NAMES[i % len(BOT_NAMES)]
        names[bid] = bot_name if bot_name != name else f"{bot_name} (bot)"
    skills = [bot_skill] * bots if bot_skill is not None else practice_skills(difficulty, bots)
    drivers = {"player": BotDriver("player", 1.0)}
    drivers.update({bid: BotDriver(bid, skills[i]) for i, bid in enumerate(ids[1:])})
    race = Race(rules, ids)
    cars, traffic = race.cars, race.traffic
    while not race.finished:
        race.step({cid: d.decide(cars[cid], traffic) for cid, d in drivers.items()
                   if not cars[cid].finished})
    rows = []
    for cid in ids:
        car = cars[cid]
        st = car.state
        rows.append({
            "name": names[cid], "score": st.score, "distance": round(st.distance, 2),
            "crashed": st.crashed,
            "crash_time": None if st.crash_time is None else round(st.crash_time, 3),
            "bot": cid != "player", "skill": drivers[cid].skill,
            "overtakes": car.overtakes, "near_misses": car.near_misses,
        })
    order = sorted(range(len(rows)), key=lambda i: (
        -rows[i]["score"], -(rows[i]["crash_time"] if rows[i]["crashed"] else float("inf")), i))
    for rank, i in enumerate(order, start=1):
        rows[i]["rank"] = rank
    return {"seed": seed, "duration_s": round(race.time, 3), "difficulty": difficulty,
            "winner": rows[order[0]]["name"], "cars": rows}


def run(args: argparse.Namespace) -> int:
    validate(args)
    if not args.headless:
        try:
            from p2p_race.ui.app import run_practice
        except ImportError as exc:
            raise UserError(f"the game window is not available ({exc}); use --headless") from exc
        from p2p_race.commands.play import after_window

        code = run_practice(args)
        after_window(args)  # the window's lobby may have started the chat service
        return code
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    out = run_headless(seed, args.bots, args.seconds, args.difficulty, player_name(args), args.bot_skill)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"practice: seed {out['seed']}, {out['difficulty']}, {out['duration_s']:g} s, winner {out['winner']}")
    print(f"{'#':>2}  {'name':<16} {'score':>7} {'distance':>10}  crashed")
    for car in sorted(out["cars"], key=lambda c: c["rank"]):
        crash = f"at {car['crash_time']:.1f} s" if car["crashed"] else "no"
        print(f"{car['rank']:>2}  {car['name']:<16} {car['score']:>7} {car['distance']:>9.0f}m  {crash}")
    return 0
