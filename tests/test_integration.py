"""Cross-area wiring: the pieces that different parts of the project hand to each other."""

from __future__ import annotations

import argparse
import json
import subprocess

from tests.support.proc import ROOT, cli_env, p2p_race_cmd


def test_game_high_scores_are_the_replicated_leaderboard(data_dir):
    from p2p_race.ui.app import make_app
    from replication.scoreboard import ReplicatedScoreBoard

    app = make_app(argparse.Namespace(data_dir=str(data_dir), name="Zoe"))
    try:
        assert isinstance(app.scores, ReplicatedScoreBoard)
        app.scores.record("Zoe", 321, mode="practice", distance=1500.0)
        assert app.scores.best("Zoe") == 321
    finally:
        app.close()
    # a fresh process sees the same store the game wrote
    from replication.scoreboard import ReplicatedScoreBoard as Board

    assert Board(data_dir).best("Zoe") == 321


def test_every_design_command_is_available():
    res = subprocess.run(p2p_race_cmd("--help"), capture_output=True, text=True, env=cli_env(), cwd=ROOT)
    assert res.returncode == 0
    for cmd in ("play", "practice", "bot", "spectate", "chat", "peers", "leaderboard", "doctor"):
        assert cmd in res.stdout, f"`p2p-race {cmd}` missing from --help"


def test_practice_json_shape_from_the_console_entry(tmp_path):
    res = subprocess.run(p2p_race_cmd("practice", "--headless", "--seed", "5", "--bots", "2", "--seconds", "5", "--json"),
                         capture_output=True, text=True, env=cli_env(tmp_path), cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["seed"] == 5 and len(out["cars"]) == 3
    assert {"name", "score", "distance", "crashed", "crash_time"} <= set(out["cars"][0])


def test_text_survives_pygame_quit_and_init():
    """Cached fonts must not outlive pygame.quit() (a stale Font crashes SDL_ttf)."""
    script = (
        "import pygame\nfrom p2p_race.ui import style\n"
        "s = pygame.Surface((100, 100))\n"
        "for _ in range(3):\n"
        "    pygame.init(); style.text(s, 'hi', (0, 0)); pygame.quit()\n"
        "print('ok')\n"
    )
    import sys

    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(), cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-500:]
