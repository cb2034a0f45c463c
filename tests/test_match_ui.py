"""Match UI: snapshot interpolation of remote cars, and the lobby / race / spectate /
result screens driven headless over real peer runtimes on loopback."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.identity import Identity
from p2p_race.match import messages as m
from p2p_race.match.core import CarReport, MatchRules
from p2p_race.match.view import INTERP_DELAY, interpolate
from p2p_race.runtime import PeerRuntime
from p2p_race.sim import DT
from tests.support.proc import cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan


def test_interpolation_is_smooth_under_loss_and_jitter():
    """A car at 40 m/s streamed at 60 Hz; 5 % of the reports lost, each delayed 0-30 ms.
    Drawn at 60 fps INTERP_DELAY behind: every frame within 2 cm of the true position and
    never moving backwards."""
    rng = random.Random(5)
    speed = 40.0
    arrivals = []
    for tick in range(1, 600):
        if rng.random() < 0.05:
            continue
        y = speed * tick * DT
        arrivals.append((tick * DT + rng.uniform(0.0, 0.030), CarReport(tick, 5.0, y, speed, 0, y, False, -1.0)))
    arrivals.sort(key=lambda a: a[0])
    last_y = -1.0
    worst = 0.0
    for frame in range(30, 590):
        now = frame * DT + 0.004
        history = [(t, r) for t, r in arrivals if t <= now][-32:]
        render_tick = now / DT - INTERP_DELAY / DT
        st = interpolate(history, render_tick)
        assert st is not None
        worst = max(worst, abs(st.y - speed * render_tick * DT))
        assert st.y >= last_y
        last_y = st.y
    assert worst < 0.02


def test_interpolation_holds_a_crash_and_extrapolates_briefly():
    reps = [(0.0, CarReport(10, 5.0, 10.0, 30.0, 1, 10.0, False, -1.0)),
            (0.1, CarReport(16, 5.0, 13.0, 0.0, 1, 13.0, True, 16 * DT))]
    assert interpolate(reps, 40).crashed and interpolate(reps, 40).y == 13.0
    one = [(0.0, CarReport(10, 5.0, 10.0, 30.0, 1, 10.0, False, -1.0))]
    assert interpolate(one, 13).y == pytest.approx(10.0 + 30.0 * 3 * DT)
    assert interpolate(one, 600).y == pytest.approx(10.0 + 30.0 * 0.25)  # then it waits


def _runtime(tmp: Path, name: str, peers=(), config=None) -> PeerRuntime:
    d = tmp / name
    d.mkdir()
    rt = PeerRuntime(Identity.from_seed(name.encode()), name, data_dir=d, host="127.0.0.1", port=0, peers=peers,
                     mdns=False, config=config)
    return rt.start_thread()


def _pump(app, until, timeout: float, what: str):
    """Run app frames in real time (the match clock is real) until `until()` is true."""
    ev = threading.Event()
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while True:
        now = time.monotonic()
        app.frame([], min(0.1, now - last))
        last = now
        if until():
            return
        if now > deadline:
            raise AssertionError(f"timed out waiting for {what}; stack {[s.name for s in app.stack]}")
        ev.wait(0.01)


@pytest.fixture
def app(data_dir: Path):
    from p2p_race.ui.app import App

    a = App(Config(name="Racer"), data_dir)
    yield a
    a.close()


def test_lobby_hosts_races_and_shows_the_signed_result(app, tmp_path):
    from p2p_race.ui.lobby import LobbyScreen, MatchResultScreen
    from p2p_race.ui.screens.race import RaceScreen

    host_rt = _runtime(tmp_path, "Racer")
    watcher = None
    try:
        lobby = LobbyScreen(app, runtime=host_rt)
        app.push(lobby)
        # the host dialog builds rules from its fields
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_h, mod=0, unicode="h", scancode=0)], DT)
        assert lobby.mode == "host"
        for k in (pygame.K_RIGHT, pygame.K_DOWN, pygame.K_LEFT, pygame.K_ESCAPE):
            app.frame([pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="", scancode=0)], DT)
        assert lobby.mode == "browse" and lobby.host_opts["racers"] == 5
        host_rt.host(MatchRules(seed=3, time_limit=3.0))  # a short race for the test
        watcher = _runtime(tmp_path, "Watcher", peers=[f"127.0.0.1:{host_rt.transport.port}"])
        wait_until(lambda: watcher.snapshot().listings, 10, what="the watcher sees the match")
        watcher.join(watcher.snapshot().listings[0].match_id, m.ROLE_SPECTATOR)
        _pump(app, lambda: lobby.snap.match and lobby.snap.match.spectators, 10, "the spectator in the roster")
        app.draw()
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_g, mod=0, unicode="g", scancode=0)], DT)
        _pump(app, lambda: isinstance(app.top, RaceScreen), 5, "the race screen")
        _pump(app, lambda: isinstance(app.top, MatchResultScreen), 30, "the result screen")
        screen = app.top
        app.draw()
        res = screen.result
        assert res is not None and res.verify() and res.racer(host_rt.identity.peer_id) is not None
        assert screen.victory  # the only racer wins
        wait_until(lambda: watcher.snapshot().match.result == res, 10, what="the spectator's result")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="", scancode=0)], DT)
        assert app.top is lobby
    finally:
        host_rt.stop_thread()
        if watcher is not None:
            watcher.stop_thread()


def test_spectate_screen_follows_a_bot_match_to_its_end(app, tmp_path):
    from p2p_race.ui.lobby import LobbyScreen, MatchResultScreen
    from p2p_race.ui.spectate import SpectateScreen

    ev = tmp_path / "bot.jsonl"
    (tmp_path / "bot").mkdir()
    bot, out = spawn(p2p_race_cmd("bot", "--host", "--racers", "1", "--time-limit", "4", "--countdown", "2",
                                  "--name", "Robo", "--no-mdns", "--interface", "127.0.0.1", "--json-events", str(ev),
                                  "--linger", "3", "--timeout", "60"), cli_env(tmp_path / "bot"))
    rt = None
    try:
        port = wait_until(lambda: next((json.loads(x)["port"] for x in ev.read_text().splitlines()
                                        if '"listening"' in x), None) if ev.exists() else None, 30,
                          what="the bot listening")
        rt = _runtime(tmp_path, "Watcher", peers=[f"127.0.0.1:{port}"])
        lobby = LobbyScreen(app, runtime=rt, spectate="*")
        app.push(lobby)
        _pump(app, lambda: isinstance(app.top, SpectateScreen), 20, "the spectate screen")
        spec = app.top
        _pump(app, lambda: spec.phase == "racing" or isinstance(app.top, MatchResultScreen), 10, "racing")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RIGHT, mod=0, unicode="", scancode=0)], DT)
        assert spec.follow == "Robo"
        _pump(app, lambda: any(c.name == "Robo" and c.state.y > 0 for c in spec.cur.values()), 10, "the car moving")
        app.draw()
        _pump(app, lambda: isinstance(app.top, MatchResultScreen), 30, "the result")
        assert app.top.result.winner_name == "Robo" and not app.top.victory
        assert app.top.title == "MATCH OVER"  # a spectator did not lose anything
        assert bot.wait(timeout=30) == 0, "\n".join(out.lines[-10:])
    finally:
        if bot.poll() is None:
            bot.kill()
        if rt is not None:
            rt.stop_thread()


def test_solo_player_races_a_bot_rematches_with_it_and_kicks_it(app, tmp_path):
    from p2p_race.match.state import MatchConfig
    from p2p_race.ui.lobby import LobbyScreen, MatchResultScreen

    rt = _runtime(tmp_path, "Racer", config=MatchConfig(auto_start=2, auto_start_delay=30.0))
    lobby = LobbyScreen(app, runtime=rt)
    app.push(lobby)
    try:
        rt.host(MatchRules(seed=9, time_limit=3.0))
        _pump(app, lambda: lobby.snap.match is not None, 5, "our match")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_b, mod=0, unicode="b", scancode=0)], DT)
        assert len(lobby.bots) == 1
        _pump(app, lambda: len(lobby.snap.match.racers) == 2 and all(r.ready for r in lobby.snap.match.racers),
              30, "the bot joined and ready")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_g, mod=0, unicode="g", scancode=0)], DT)
        _pump(app, lambda: isinstance(app.top, MatchResultScreen), 40, "the result screen")
        res = app.top.result
        assert res is not None and {r.name for r in res.racers} == {"Racer", "Ada"}
        Driver_shot(app, "lan_result")
        # Space: rematch. The bot stays: it follows us into the next match and readies up
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0, unicode=" ", scancode=0)], DT)
        assert app.top is lobby
        _pump(app, lambda: lobby.snap.match is not None and lobby.snap.match.match_id != res.match_id
              and len(lobby.snap.match.racers) == 2 and all(r.ready for r in lobby.snap.match.racers),
              40, "the bot in the rematch, ready")
        assert lobby.snap.match.phase == "lobby" and lobby.bots[0].poll() is None
        _pump(app, lambda: "starting in" in lobby.status_line(), 2, "the auto-start countdown shown")
        assert 25 < lobby.auto_start_in() <= 30  # the host's own timer (30 s in this test)
        Driver_shot(app, "lan_rematch")
        # K: kick it (told otherwise, the bot goes)
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_k, mod=0, unicode="k", scancode=0)], DT)
        assert lobby.mode == "kick" and [n for _p, n in lobby.kick_choices()] == ["Ada"]
        Driver_shot(app, "lan_kick")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="", scancode=0)], DT)
        _pump(app, lambda: len(lobby.snap.match.racers) == 1, 5, "the bot out of the roster")
        assert lobby.bots[0].wait(timeout=20) == 0  # kicked: the bot left
    finally:
        lobby.on_exit()  # stops the bot processes
        rt.stop_thread()


def test_two_peers_paint_each_car_the_same_colour(tmp_path):
    """Both wish red: each peer's race view gives every car the colour the other peer gives
    it (its own car included), and no two cars share one. Before, each peer drew its own car
    in its own setting and the others in roster order, so the colours disagreed."""
    from p2p_race.match.view import NetworkRaceView

    a = _runtime(tmp_path, "Ada")
    b = _runtime(tmp_path, "Bob", peers=[f"127.0.0.1:{a.transport.port}"])
    try:
        for rt in (a, b):
            rt.set_color("red")
        a.host(MatchRules(seed=4, time_limit=3.0))
        wait_until(lambda: b.snapshot().listings, 10, what="Bob sees Ada's match")
        b.join(b.snapshot().listings[0].match_id, m.ROLE_RACER)
        both = lambda rt: rt.snapshot().match is not None and len(rt.snapshot().match.racers) == 2  # noqa: E731
        wait_until(lambda: both(a) and both(b), 10, what="both racers in both rosters")
        va, vb = NetworkRaceView(a, local_color="red"), NetworkRaceView(b, local_color="red")
        (_, a_seen_by_b, _, _), = vb.remote_cars()
        (_, b_seen_by_a, _, _), = va.remote_cars()
        assert va.local_color == a_seen_by_b and vb.local_color == b_seen_by_a
        assert va.local_color != vb.local_color and "red" in (va.local_color, vb.local_color)
    finally:
        b.stop_thread()
        a.stop_thread()


def _steer_into_traffic(app, race, timeout: float) -> bool:
    """Real time (the match clock is real): full throttle, steering at the nearest vehicle
    ahead, until our car crashes."""
    held: set[int] = set()
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    pause = threading.Event()
    while time.monotonic() < deadline:
        st = race.view.local_car()
        if st.crashed:
            app.frame([pygame.event.Event(pygame.KEYUP, key=k, mod=0, unicode="", scancode=0) for k in held], DT)
            return True
        ahead = [v for v in race.view.traffic(race.view.time, st.y, st.y + 80) if v.y > st.y]
        want = {pygame.K_UP}
        if ahead:
            tx = min(ahead, key=lambda v: v.y).x
            want.add(pygame.K_RIGHT if tx > st.x + 0.3 else pygame.K_LEFT if tx < st.x - 0.3 else pygame.K_UP)
        evs = [pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="", scancode=0) for k in want - held]
        evs += [pygame.event.Event(pygame.KEYUP, key=k, mod=0, unicode="", scancode=0) for k in held - want]
        held = want
        now = time.monotonic()
        app.frame(evs, min(0.1, now - last))
        last = now
        pause.wait(0.02)
    return False


def test_after_a_crash_in_a_match_the_race_goes_on_and_we_can_leave(app, tmp_path):
    """Crashed in a LAN match: the clock and traffic keep running, the camera moves to the
    car still racing after ~2 s (arrows pick another), the pause menu offers Leave match."""
    from p2p_race.ui.lobby import LobbyScreen
    from p2p_race.ui.screens.pause import PauseScreen
    from p2p_race.ui.screens.race import RaceScreen

    rt = _runtime(tmp_path, "Racer")
    lobby = LobbyScreen(app, runtime=rt)
    app.push(lobby)
    try:
        rt.host(MatchRules(seed=11, time_limit=40.0, difficulty="hard"))
        _pump(app, lambda: lobby.snap.match is not None, 5, "our match")
        lobby.add_bot()
        _pump(app, lambda: len(lobby.snap.match.racers) == 2 and all(r.ready for r in lobby.snap.match.racers),
              30, "the bot joined and ready")
        rt.start_match()
        _pump(app, lambda: isinstance(app.top, RaceScreen) and app.top.phase == "racing", 10, "racing")
        race = app.top
        _pump(app, lambda: race.cur_t > 1.5, 5, "a moment of racing")
        Driver_shot(app, "lan_race")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_t, mod=0, unicode="t", scancode=0)], DT)
        for ch in "gg, good luck":
            app.frame([pygame.event.Event(pygame.KEYDOWN, key=0, mod=0, unicode=ch, scancode=0)], DT)
        assert app.chat is None or app.chat.open
        Driver_shot(app, "lan_race_chat")  # the chat keeps to the verge, off the road
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="", scancode=0)], DT)
        assert _steer_into_traffic(app, race, 30), "our car never crashed"
        crashed_at = race.view.time
        clock_left = race.view.rules.time_limit - race.cur_t
        _pump(app, lambda: race.phase == "spectating", 4, "spectating after the crash")
        assert race.cur_t > crashed_at + 1.5  # the match clock ran on (it used to stop at the crash)
        assert race.view.rules.time_limit - race.cur_t < clock_left - 1.5
        _pump(app, lambda: race.watching == "Ada", 1, "watching the leader still racing")
        _pump(app, lambda: abs(race.cam_y - race.cur["Ada"].state.y) < 5, 2, "the camera on the leader")
        Driver_shot(app, "lan_watching")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RIGHT, mod=0, unicode="", scancode=0)], DT)
        assert race.follow == "Ada"
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="", scancode=0)], DT)
        menu = app.top
        assert isinstance(menu, PauseScreen) and "Leave match" in menu.menu.items and "Restart" not in menu.menu.items
        t = race.cur_t
        _pump(app, lambda: race.cur_t > t + 0.3, 3, "the match running on under the menu")
        menu.menu.index = menu.menu.items.index("Leave match")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="", scancode=0)], DT)
        assert app.top is lobby
        _pump(app, lambda: lobby.snap.match is None, 3, "left the match")
    finally:
        lobby.on_exit()
        rt.stop_thread()


def test_quick_play_joins_the_busiest_open_match_not_ready_and_lists_our_own(app, tmp_path):
    """Space in the lobby: with two open matches it joins the one with more racers, and
    joining does not mark us ready (R does). With none it hosts, and our own match is
    listed. Protocol words (ids, terms) only in the details view."""
    from p2p_race.ui import style
    from p2p_race.ui.lobby import LobbyScreen
    from p2p_race.ui.testing import text_overlaps

    small = _runtime(tmp_path, "Small")
    big = _runtime(tmp_path, "Big")
    friend = _runtime(tmp_path, "Friend", peers=[f"127.0.0.1:{big.transport.port}"])
    me = _runtime(tmp_path, "Racer", peers=[f"127.0.0.1:{small.transport.port}",
                                            f"127.0.0.1:{big.transport.port}"])
    try:
        small.host(MatchRules(seed=1, time_limit=30.0))
        big.host(MatchRules(seed=2, time_limit=30.0))
        # the friend may hear of the small match too (peer lists travel), so pick Big's by host
        def big_listing():
            return next((li for li in friend.snapshot().listings if li.host_id == big.identity.peer_id), None)

        wait_until(big_listing, 10, what="the friend sees the big match")
        friend.join(big_listing().match_id)
        wait_until(lambda: len(big.snapshot().match.racers) == 2, 10, what="the friend in the big match")
        lobby = LobbyScreen(app, runtime=me)
        app.push(lobby)
        _pump(app, lambda: len(lobby.snap.listings) == 2 and max(li.racers for li in lobby.snap.listings) == 2,
              10, "both matches listed")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0, unicode=" ", scancode=0)], DT)
        _pump(app, lambda: lobby.snap.match is not None and len(lobby.snap.match.racers) == 3, 10, "joined")
        ms = lobby.snap.match
        assert ms.host_name == "Big"
        mine = next(r for r in ms.racers if r.peer_id == me.identity.peer_id)
        assert not mine.ready  # joining is not being ready
        assert big.snapshot().match.phase == "lobby"
        with style.recording_text() as rec:
            app.draw()
        texts = " ".join(t for _r, t in rec)
        assert "term" not in texts and ms.match_id[:8] not in texts and "press R" in texts
        assert not text_overlaps(app)
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_r, mod=0, unicode="r", scancode=0)], DT)
        _pump(app, lambda: next(r for r in big.snapshot().match.racers if r.peer_id == me.identity.peer_id).ready,
              10, "ready at the host")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_i, mod=0, unicode="i", scancode=0)], DT)
        with style.recording_text() as rec:
            app.draw()
        assert any(ms.host[:8] in t for _r, t in rec)  # the details view names ids and terms
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_i, mod=0, unicode="i", scancode=0)], DT)
        Driver_shot(app, "lan_lobby")
        # leave, and the open matches are gone: quick play hosts, and our match is listed
        small.leave()
        big.leave()
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_x, mod=0, unicode="x", scancode=0)], DT)
        _pump(app, lambda: lobby.snap.match is None and not lobby.snap.listings, 15, "the LAN's matches gone")
        app.frame([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0, unicode=" ", scancode=0)], DT)
        _pump(app, lambda: lobby.snap.match is not None and lobby.snap.match.is_host, 5, "hosting")
        listed = lobby.listings()
        assert [li.match_id for li in listed] == [lobby.snap.match.match_id]
        assert not text_overlaps(app)
    finally:
        for rt in (me, friend, big, small):
            rt.stop_thread()


def Driver_shot(app, name: str) -> None:  # noqa: N802 - a screenshot of the current frame
    from p2p_race.ui.testing import Driver

    app.draw()
    Driver(app).shot(name)


def test_a_new_host_is_a_toast_not_a_chat_line(app, tmp_path):
    """The lobby turns host-change events into a toast over whatever screen is on top."""
    from p2p_race.match.events import HostChanged
    from p2p_race.ui.lobby import LobbyScreen

    rt = _runtime(tmp_path, "Racer")
    try:
        lobby = LobbyScreen(app, runtime=rt)
        app.push(lobby)
        first = HostChanged("m1", "aa" * 16, "Ada", 1)
        lobby._toast_for(first)
        assert app.toasts == []  # the host we joined under is no news
        lobby._toast_for(HostChanged("m1", "bb" * 16, "Bo", 2))
        assert [t for t, _at in app.toasts] == ["Bo is now hosting the match"]
        app.draw()
        from p2p_race.ui.testing import Driver

        Driver(app).run(4.0, step=0.1)
        assert app.toasts == []  # gone after a few seconds
    finally:
        rt.stop_thread()
