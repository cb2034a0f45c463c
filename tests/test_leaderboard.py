"""`p2p-race leaderboard` (local store, flags, sync between real processes), the in-game
LeaderboardScreen driven headless, and the replicated ScoreBoard the game uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.highscores import LocalScoreBoard, ScoreBoard
from replication.fixtures import make_result
from replication.scoreboard import ReplicatedScoreBoard
from replication.store import ResultStore
from tests.support.proc import PYTHON, cli_env, p2p_race_cmd, spawn, wait_until


def fill(data_dir: Path, ids, **kw) -> list:
    store = ResultStore(data_dir)
    results = [make_result(i, **kw) for i in ids]
    for r in results:
        store.add(r)
    store.close()
    return results


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The local store's board (--no-pull: no LAN pull, that is tests/test_leaderboard_lan.py)."""
    return subprocess.run(p2p_race_cmd("leaderboard", "--no-pull", *args), env=cli_env(data_dir),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.lan  # runs the CLI as a real process
def test_leaderboard_json_shape_from_local_store(data_dir):
    results = fill(data_dir, range(12), players=("ann", "bob", "cyd"))
    out = cli(data_dir, "--json", "--recent", "5")
    assert out.returncode == 0, out.stderr
    board = json.loads(out.stdout)
    assert board["source"] == "local"
    assert [p["name"] for p in board["players"]] and all(
        {"name", "best", "matches", "wins"} <= set(p) for p in board["players"])
    assert sum(p["wins"] for p in board["players"]) == 12
    assert all(p["matches"] == 12 for p in board["players"])
    newest = sorted(results, key=lambda r: -r.finished_at)[:5]
    assert [m["match_id"] for m in board["recent"]] == [r.match_id for r in newest]
    m = board["recent"][0]
    assert set(m) == {"match_id", "winner", "scores", "t"}
    assert m["scores"] == newest[0].scores and m["winner"] == newest[0].winner_name
    assert m["t"] == newest[0].finished_at


@pytest.mark.lan  # runs the CLI as a real process
def test_leaderboard_limit_player_and_text_output(data_dir):
    fill(data_dir, range(20))
    board = json.loads(cli(data_dir, "--json", "--limit", "3").stdout)
    assert len(board["players"]) == 3
    bests = [p["best"] for p in board["players"]]
    assert bests == sorted(bests, reverse=True)
    one = json.loads(cli(data_dir, "--json", "--player", "bob").stdout)
    assert [p["name"] for p in one["players"]] == ["bob"]
    assert one["recent"] and all("bob" in m["scores"] for m in one["recent"])
    text = cli(data_dir, "--limit", "2")
    assert "source: local" in text.stdout and "Recent matches" in text.stdout


@pytest.mark.lan  # runs the CLI as a real process
def test_leaderboard_empty_and_bad_flags(data_dir):
    board = json.loads(cli(data_dir, "--json").stdout)
    assert board == {"source": "local", "players": [], "recent": []}
    bad = cli(data_dir, "--sync-with", "nohost")
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli(data_dir, "--limit", "0")
    assert bad.returncode == 2


@pytest.mark.lan
def test_leaderboard_sync_with_a_peer_process_converges_both_ways(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    fill(b, range(30, 40))  # b has its own results; a's serve process adds 10 more
    proc, out = spawn([PYTHON, "-m", "replication", "serve", "--data-dir", str(a),
                       "--add-fixtures", "10", "--fixture-start", "0"], cli_env())
    try:
        port = json.loads(out.wait_for(lambda s: '"listening"' in s, 30.0, what="listening"))["port"]
        got = cli(b, "--json", "--local", "--recent", "50", "--sync-with", f"127.0.0.1:{port}")
        assert got.returncode == 0, got.stderr
        assert len(json.loads(got.stdout)["recent"]) == 20
    finally:
        proc.terminate()
        proc.wait(10)
    sa, sb = ResultStore(a), ResultStore(b)
    assert sa.ids() == sb.ids() and len(sa.ids()) == 20
    assert sa.digest() == sb.digest()
    assert sa.leaderboard(50) == sb.leaderboard(50)


@pytest.mark.lan
def test_leaderboard_sync_with_nobody_listening_is_a_clean_error(data_dir):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = cli(data_dir, "--sync-with", f"127.0.0.1:{port}")
    assert out.returncode == 2 and "cannot sync" in out.stderr and "Traceback" not in out.stderr


# -- the game's ScoreBoard ----------------------------------------------------------------
def test_replicated_scoreboard_is_a_scoreboard_with_match_and_practice_bests(data_dir):
    old = LocalScoreBoard(data_dir)
    old.record("zoe", 777, distance=1500.0)
    board = ReplicatedScoreBoard(data_dir)
    assert isinstance(board, ScoreBoard)
    assert board.best("zoe") == 777  # imported from highscores.json
    results = [make_result(i, players=("zoe", "ann")) for i in range(5)]
    for r in results:
        board.store.add(r)
    zoe_best = max(r.scores["zoe"] for r in results)
    assert board.best("zoe") == max(777, zoe_best)
    assert board.record("zoe", 10) is False
    assert board.record("zoe", 10**6, distance=9.0) is True
    top = board.top(3)
    assert top[0].name == "zoe" and top[0].score == 10**6 and top[0].mode == "practice"
    assert [e.score for e in board.top(20)] == sorted((e.score for e in board.top(20)), reverse=True)
    assert {e.mode for e in board.top(20)} == {"practice", "match"}
    again = ReplicatedScoreBoard(data_dir)  # the legacy import happens once
    assert sum(e.score == 777 for e in again.top(50)) == 1


# -- the in-game screen -------------------------------------------------------------------
@pytest.fixture
def app(data_dir):
    from p2p_race.ui.app import App

    a = App(Config(name="ann"), data_dir, scoreboard=ReplicatedScoreBoard(data_dir))
    yield a
    a.close()


@pytest.mark.slow
def test_scores_screen_tabs_player_bots_and_chart(app, data_dir):
    from p2p_race.ui import registry, style
    from p2p_race.ui.leaderboard import LeaderboardScreen, match_name
    from p2p_race.ui.screen import Screen
    from p2p_race.ui.testing import Driver, text_overlaps

    results = [make_result(i, samples=(i == 3)) for i in range(1, 8)]
    results.append(make_result(8, players=("ann", "Ada")))  # a match against a lobby bot
    for r in results:
        app.scores.store.add(r)
    assert registry.open_screen(app, "scores")
    screen = app.top
    assert isinstance(screen, LeaderboardScreen) and isinstance(screen, Screen)
    d = Driver(app)
    d.run(0.1)
    assert screen.board()["source"] == "local" and screen.view == "Mine"
    assert not text_overlaps(app)
    d.shot("scores_mine")
    d.press(pygame.K_RIGHT)  # LAN: bots hidden until B
    assert screen.view == "LAN"
    humans = [p["name"] for p in screen.rows()]
    assert "Ada" not in humans and humans
    d.press(pygame.K_b)
    assert "Ada" in [p["name"] for p in screen.rows()]
    d.press(pygame.K_b)
    assert not text_overlaps(app)
    d.shot("scores_lan")
    d.press(pygame.K_DOWN)
    chosen = screen.rows()[1]["name"]
    d.press(pygame.K_RETURN)
    assert screen.player == chosen and screen.board()["players"][0]["name"] == chosen
    assert not text_overlaps(app)
    d.press(pygame.K_ESCAPE)  # back to the LAN tab, not out
    assert screen.player is None and app.top is screen
    d.press(pygame.K_RIGHT)  # Recent: matches named by time and players, not ids
    recent = screen.rows()
    assert [m["match_id"] for m in recent] == [r.match_id for r in sorted(results, key=lambda r: -r.finished_at)]
    with style.recording_text() as rec:
        app.draw()
    texts = [t for _r, t in rec]
    assert not any(r.match_id in t for t in texts for r in results)
    newest = sorted(results, key=lambda r: -r.finished_at)[0]
    names = [n for n, _s in sorted(newest.scores.items(), key=lambda kv: -kv[1])]
    assert match_name(newest.finished_at, names) in texts
    assert not text_overlaps(app)
    d.shot("scores_recent")
    target = next(i for i, m in enumerate(recent) if m["match_id"] == results[2].match_id)
    for _ in range(target):
        d.press(pygame.K_DOWN)
    d.press(pygame.K_RETURN)
    assert screen.chart == results[2] and any(x.samples for x in screen.chart.racers)
    d.run(0.05)
    with style.recording_text() as rec:
        app.draw()
    texts = [t for _r, t in rec]
    assert "0" in texts and "time (s)" in texts and any(t.replace(",", "").isdigit() and int(t.replace(",", "")) > 0
                                                        for t in texts)  # values on both axes
    d.shot("leaderboard_chart_over_time")
    d.press(pygame.K_ESCAPE)
    assert screen.chart is None
    d.press(pygame.K_DOWN)
    d.press(pygame.K_RETURN)
    assert screen.chart is not None and not any(x.samples for x in screen.chart.racers)
    d.run(0.05)
    d.shot("leaderboard_chart_bars")
    d.press(pygame.K_ESCAPE)
    d.press(pygame.K_ESCAPE)
    assert not isinstance(app.top, LeaderboardScreen)


def test_axis_ticks_are_round_and_cover_the_top():
    from p2p_race.ui.leaderboard import nice_ticks

    for top in (1, 7, 10, 99, 100, 101, 2_345, 98_765):
        ticks = nice_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and 2 <= len(ticks) <= 6
        step = ticks[1] - ticks[0]
        assert all(abs((b - a) - step) < 1e-9 for a, b in zip(ticks, ticks[1:], strict=False))
        assert str(int(step)).strip("0") in ("1", "2", "5")


def test_leaderboard_screen_falls_back_to_local_and_says_so(app):
    from p2p_race.ui.leaderboard import LeaderboardScreen
    from p2p_race.ui.testing import Driver
    from replication.nx import free_port

    app.scores.store.add(make_result(1))
    dead = f"mongodb://u:pw@127.0.0.1:{free_port()}/x"
    screen = LeaderboardScreen(app, uri=dead)
    app.push(screen)
    d = Driver(app)
    wait_until(lambda: screen.board().get("mongodb_error"), 15.0, what="MongoDB fallback")
    d.run(0.05)
    assert screen.board()["source"] == "local" and screen.board().get("mongodb_error")
    assert "pw" not in screen.board()["mongodb_uri"]
    d.shot("leaderboard_local_fallback")
