"""Cross-area wiring: the pieces that different parts of the project hand to each other."""

from __future__ import annotations

import argparse
import json
import subprocess

import pytest

from tests.support.proc import ROOT, cli_env, p2p_race_cmd

pytestmark = pytest.mark.lan


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


class _FakeOverlay:
    """Stands in for the chat overlay's screen API (the real one needs a chat service)."""

    def __init__(self) -> None:
        self.matches: list[str | None] = []
        self.open = False
        self.client = None

    def set_match(self, match_id):
        self.matches.append(match_id)

    def handle_event(self, ev):
        return False

    def update(self, dt):
        pass

    def draw(self, surface):
        pass

    def close(self):
        pass


def test_match_posts_chat_notices_and_the_overlay_follows_the_match(data_dir, tmp_path):
    """A finished match posts one winner notice to its chat channel, from the host only,
    and the lobby switches the chat overlay to the match channel and back."""
    import threading
    import time

    import pygame

    from p2p_race.config import Config
    from p2p_race.identity import Identity
    from p2p_race.match import messages as m
    from p2p_race.match.core import MatchRules
    from p2p_race.runtime import PeerRuntime
    from p2p_race.ui.app import App
    from p2p_race.ui.lobby import LobbyScreen, MatchResultScreen
    from tests.support.proc import wait_until

    app = App(Config(name="Host"), data_dir)
    overlay = _FakeOverlay()
    app._chat, app._chat_loaded = overlay, True
    notices: list[tuple[str, str]] = []
    watcher_notices: list[tuple[str, str]] = []
    (tmp_path / "h").mkdir()
    (tmp_path / "w").mkdir()
    host_rt = PeerRuntime(Identity.from_seed(b"host-n"), "Host", data_dir=tmp_path / "h", host="127.0.0.1",
                          port=0, mdns=False, notify=lambda t, c: notices.append((t, c))).start_thread()
    watcher = None
    try:
        lobby = LobbyScreen(app, runtime=host_rt)
        app.push(lobby)
        host_rt.host(MatchRules(seed=4, time_limit=2.0))
        watcher = PeerRuntime(Identity.from_seed(b"watch-n"), "Watch", data_dir=tmp_path / "w", host="127.0.0.1",
                              port=0, peers=[f"127.0.0.1:{host_rt.transport.port}"], mdns=False,
                              notify=lambda t, c: watcher_notices.append((t, c))).start_thread()
        wait_until(lambda: watcher.snapshot().listings, 10, what="the watcher sees the match")
        watcher.join(watcher.snapshot().listings[0].match_id, m.ROLE_SPECTATOR)
        ev, last, deadline = threading.Event(), time.monotonic(), time.monotonic() + 40
        started = False
        while not isinstance(app.top, MatchResultScreen):
            now = time.monotonic()
            app.frame([], min(0.1, now - last))
            last = now
            snap = lobby.snap.match
            if not started and snap is not None and snap.spectators:
                app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_g, mod=0, unicode="g", scancode=0)], 0.016)
                started = True
            assert now < deadline, "the match did not finish"
            ev.wait(0.01)
        match_id = host_rt.snapshot().match.match_id
        assert overlay.matches and overlay.matches[0] == match_id
        wait_until(lambda: notices, 5, what="the winner notice")
        assert len(notices) == 1
        text, channel = notices[0]
        assert channel == f"match:{match_id}" and text.startswith("Host wins the match")
        wait_until(lambda: watcher.snapshot().match and watcher.snapshot().match.result, 10, what="spectator result")
        assert watcher_notices == []  # only the host posts
        # both peers kept the score-over-time they saw (the racer's own, the spectator's from
        # the 60 Hz stream) for the leaderboard's chart
        racer = host_rt.identity.peer_id
        for rt in (host_rt, watcher):
            seen = wait_until(lambda rt=rt: rt.scores.store.samples(match_id).get(racer), 5, what="samples")
            assert len(seen) >= 2 and list(seen) == sorted(seen)
            charted = rt.scores.store.with_samples(rt.scores.store.get(match_id))
            assert charted.racer(racer).samples == seen and seen[-1] <= charted.racer(racer).score
    finally:
        host_rt.stop_thread()
        if watcher is not None:
            watcher.stop_thread()
        app.close()


def test_game_advertises_its_running_chat_service_port(data_dir):
    import os
    import signal
    import types

    from chat.supervisor import ensure_service
    from p2p_race.ui.lobby import _chat_port

    app = types.SimpleNamespace(data_dir=data_dir)
    assert _chat_port(app) == 0  # no chat service: nothing to advertise
    info = ensure_service(data_dir, port=0, host="127.0.0.1", extra=["--no-discovery"])
    try:
        assert _chat_port(app) == info["port"] > 0
    finally:
        os.kill(info["pid"], signal.SIGKILL)
