"""`p2p-race replay`: every stored match replays to its stored result; the window plays it."""

from __future__ import annotations

import json
import subprocess

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.replay.view import MatchReplay, stored_outcome
from p2p_race.ui.app import App
from p2p_race.ui.screens.replay import ReplayScreen, open_replay
from p2p_race.ui.testing import Driver
from replication.fixtures import make_result
from replication.store import ResultStore
from tests.support.proc import cli_env, p2p_race_cmd


@pytest.mark.parametrize("seed", range(12))
def test_replaying_every_stored_match_reproduces_its_result(seed, data_dir):
    """Property over many seeds and difficulties: store, read back, replay, compare."""
    store = ResultStore(data_dir)
    r = make_result(100 + seed, difficulty=("easy", "normal", "hard")[seed % 3],
                    players=("ann", "bob", "cyd", "dee")[: 2 + seed % 3])
    store.add(r)
    for held in store.all():
        view = MatchReplay(held)
        view.run_to_end()
        assert view.outcome() == stored_outcome(held)
        assert view.outcome()["winner_id"] == held.winner_id


def test_headless_json_prints_the_replayed_outcome_equal_to_the_stored_one(data_dir):
    store = ResultStore(data_dir)
    r = make_result(42, players=("ann", "bob", "cyd"))
    store.add(r)
    store.close()
    run = subprocess.run(p2p_race_cmd("replay", r.match_id[:6], "--headless", "--json", "--data-dir", str(data_dir)),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["equals_stored"] is True and out["winner_id"] == r.winner_id
    assert [x["score"] for x in out["racers"]] == [x.score for x in r.racers]
    bad = subprocess.run(p2p_race_cmd("replay", "nope", "--headless", "--data-dir", str(data_dir)),
                         env=cli_env(), capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no stored match" in bad.stderr and "Traceback" not in bad.stderr


def test_the_replay_window_pauses_changes_speed_and_follows_any_car(data_dir):
    store = ResultStore(data_dir)
    r = make_result(43, players=("ann", "bob", "cyd"))
    store.add(r)
    store.close()
    app = App(Config(), data_dir)
    try:
        assert open_replay(app, r.match_id)
        screen = app.stack[-1]
        assert isinstance(screen, ReplayScreen)
        d = Driver(app)
        d.run(0.5)
        t1 = screen.view.time
        assert t1 > 0.3
        d.press(pygame.K_SPACE)
        d.run(0.5)
        assert screen.view.time == t1  # paused
        d.press(pygame.K_SPACE, pygame.K_4)
        d.run(0.5)
        assert screen.view.time - t1 > 1.5  # 4x
        first = screen.replay.followed
        d.press(pygame.K_RIGHT)
        assert screen.replay.followed != first and screen.local_name == screen.replay.local_name
        d.shot("replay")
        d.press(pygame.K_ESCAPE)
        assert not any(isinstance(s, ReplayScreen) for s in app.stack)
        assert open_replay(app, "0" * 16) is False
    finally:
        app.close()


def test_watch_replay_from_the_leaderboard_and_the_match_result_screen(data_dir):
    from p2p_race.ui.leaderboard import TABS, LeaderboardScreen
    from p2p_race.ui.lobby import MatchResultScreen

    store = ResultStore(data_dir)
    r = make_result(44, players=("ann", "bob"))
    store.add(r)
    app = App(Config(), data_dir)
    try:
        d = Driver(app)
        app.push(LeaderboardScreen(app, store=store, uri=""))
        app.stack[-1].tab = TABS.index("Recent")  # (the scores screen's recent matches)
        d.press(pygame.K_r)
        assert isinstance(app.stack[-1], ReplayScreen) and app.stack[-1].replay.record.match_id == r.match_id
        d.press(pygame.K_ESCAPE)
        app.push(MatchResultScreen(app, r, r.racers[0].peer_id))
        d.press(pygame.K_r)
        assert isinstance(app.stack[-1], ReplayScreen)
        d.press(pygame.K_ESCAPE)
        unknown = make_result(45, players=("ann", "bob"))  # not stored here: no replay, a note instead
        app.push(MatchResultScreen(app, unknown, unknown.racers[0].peer_id))
        d.press(pygame.K_r)
        assert app.stack[-1].name == "match_result" and app.stack[-1].replay_missing
    finally:
        app.close()
        store.close()


def test_practice_ghost_is_your_best_run_driven_again(data_dir):
    from p2p_race.replay.ghosts import keep_run, load_ghost
    from p2p_race.sim import Inputs, Rules
    from p2p_race.ui.raceview import PracticeView

    store = ResultStore(data_dir)
    rules = Rules(77, 20.0)
    assert load_ghost(store, "ann", rules) is None
    runs = []
    first = PracticeView(rules, "ann", bots=0, on_run_end=lambda codes, score: runs.append((codes, score)))
    states = []
    while not first.finished:
        first.step(Inputs(1 if first.race.tick % 90 < 20 else 0, 1))
        states.append(first.local_car())
    (codes, score), = runs
    assert keep_run(store, "ann", rules, codes, score)
    assert not keep_run(store, "ann", rules, codes[:10], 0)  # a worse run does not replace it
    again = PracticeView(rules, "ann", bots=0, ghost=load_ghost(store, "ann", rules))
    for st in states[:400]:
        again.step(Inputs())
        name, _color, ghost_state, _ = again.remote_cars()[-1]
        assert name == f"best {score}"
        assert (ghost_state.x, ghost_state.y, ghost_state.crashed) == (st.x, st.y, st.crashed)
    assert load_ghost(store, "ann", Rules(78, 20.0)) is None  # another road, no ghost
