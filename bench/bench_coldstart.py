"""Cold start of the game window: from launching the process to the first frame on the
window (the loading screen), and to the game being ready, with an empty asset cache (the
very first start, when every sound is synthesized) and with a warm one.

Each run is a fresh `python` process (headless SDL) that builds the game the way `p2p-race
play` does (`make_app`) and prints when the first loading frame was presented.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Cold start: first frame on the window (loading screen)"
TARGET_S = 0.5

CHILD = r"""
import json, sys, time
import argparse
from p2p_race.ui import app as appmod
first = []
orig = appmod.App._draw_loading
def draw(self, t):
    if not first:
        first.append(time.time())
    orig(self, t)
appmod.App._draw_loading = draw
a = appmod.make_app(argparse.Namespace(data_dir=sys.argv[1]))
ready = time.time()
a.close()
print(json.dumps({"first": first[0], "ready": ready}))
"""


def launch(cache: Path, data: Path) -> tuple[float, float]:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "P2P_RACE_ASSET_CACHE": str(cache),
           "P2P_RACE_CHAT_AUTOSTART": "0", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(data)], env=env, capture_output=True, text=True,
                         timeout=180, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res["first"] - t0, res["ready"] - t0


def run(quick: bool) -> list[dict]:
    n = 2 if quick else 5
    cold_first, cold_ready, warm_first, warm_ready = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            cache, data = Path(tmp) / f"cache{i}", Path(tmp) / f"data{i}"
            cache.mkdir()
            data.mkdir()
            f, r = launch(cache, data)  # empty cache: the first start ever
            cold_first.append(f)
            cold_ready.append(r)
            f, r = launch(cache, data)  # the same machine again
            warm_first.append(f)
            warm_ready.append(r)
    med = statistics.median
    return [
        {"metric": "first frame, first start (empty asset cache), median", "value": med(cold_first), "unit": "s",
         "target": f"< {TARGET_S}", "ok": med(cold_first) < TARGET_S,
         "note": f"worst {max(cold_first):.3f} s over {n} launches"},
        {"metric": "game ready, first start (sounds synthesized meanwhile), median", "value": med(cold_ready),
         "unit": "s", "note": "the loading screen animates all along"},
        {"metric": "first frame, later start, median", "value": med(warm_first), "unit": "s",
         "target": f"< {TARGET_S}", "ok": med(warm_first) < TARGET_S},
        {"metric": "game ready, later start, median", "value": med(warm_ready), "unit": "s"},
    ]
