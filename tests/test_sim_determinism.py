"""Same seed + same inputs -> the same states, bit for bit, in separate processes.

Each process runs a race (scripted pseudo-random inputs, a bot, a coasting car) and hashes
every state of every tick plus traffic snapshots. Different PYTHONHASHSEED values make sure
nothing depends on str hashing or set order.
"""

from __future__ import annotations

import subprocess

from tests.support.proc import PYTHON, cli_env

SCRIPT = r"""
import hashlib, random, struct, sys
from p2p_race.bots import BotDriver
from p2p_race.sim import Inputs, Race, Rules, state_digest

seed, seconds, difficulty = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
race = Race(Rules(seed, time_limit=seconds, difficulty=difficulty), ["scripted", "bot", "coast"])
rng = random.Random(seed)
bot = BotDriver("bot", skill=0.7)
digest = state_digest()
tr = hashlib.sha256()
while not race.finished:
    inputs = {"scripted": Inputs(rng.choice((-1, 0, 0, 1)), rng.choice((-1, 0, 1, 1))),
              "bot": bot.decide(race.cars["bot"], race.traffic)}
    race.step(inputs)
    for cid in ("scripted", "bot", "coast"):
        digest.add(race.cars[cid].state)
    if race.tick % 30 == 0:
        y = race.cars["bot"].state.y
        for v in race.traffic.vehicles_between(race.time, y - 50, y + 300):
            tr.update(struct.pack("<qqddddd", v.id, v.lane, v.x, v.y, v.w, v.h, v.speed) + v.kind.encode())
print(digest.hexdigest(), tr.hexdigest(), race.tick)
"""


def run_in_process(seed: int, seconds: float, difficulty: str, hashseed: str) -> str:
    out = subprocess.run([PYTHON, "-c", SCRIPT, str(seed), str(seconds), difficulty],
                         env=cli_env(PYTHONHASHSEED=hashseed), capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip()


def test_two_processes_produce_identical_state_sequences():
    a = run_in_process(77, 40.0, "normal", "0")
    b = run_in_process(77, 40.0, "normal", "12345")
    assert a == b
    assert a.split()[2] == "2400"


def test_a_different_seed_gives_a_different_sequence():
    a = run_in_process(77, 10.0, "hard", "1")
    b = run_in_process(78, 10.0, "hard", "1")
    assert a.split()[0] != b.split()[0] and a.split()[1] != b.split()[1]
