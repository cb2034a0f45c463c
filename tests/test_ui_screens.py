"""The game screens driven headless by synthetic input, from the intro to the results.

Each step checks the screen's state and saves a PNG (docs/screens/_tmp/; run with
P2P_RACE_UPDATE_SCREENS=1 to refresh the committed docs/screens/*.png).
"""

from __future__ import annotations

import json
from pathlib import Path

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.sim import DT, Rules
from p2p_race.ui import registry
from p2p_race.ui.app import App
from p2p_race.ui.raceview import PracticeView
from p2p_race.ui.screen import Screen
from p2p_race.ui.screens.intro import IntroScreen
from p2p_race.ui.screens.race import RaceScreen, start_practice
from p2p_race.ui.testing import Driver, key, keyup


@pytest.fixture
def app(data_dir: Path):
    a = App(Config(), data_dir)
    yield a
    a.close()


def names(app: App) -> list[str]:
    return [s.name for s in app.stack]


def read_config(data_dir: Path) -> dict:
    return json.loads((data_dir / "config.json").read_text())


def to_menu(d: Driver, name: str = "Zoe") -> None:
    d.app.push(IntroScreen(d.app))
    d.run(0.3)
    assert d.app.top.state == "name"
    d.type(name)
    d.press(pygame.K_RETURN)
    assert d.app.top.state == "menu"


def drive_into_traffic(d: Driver, race: RaceScreen, seconds: float = 90.0) -> bool:
    """Hold the throttle and steer at the nearest vehicle ahead until the car crashes."""
    held: set[int] = set()

    def want(keys: set[int]) -> list[pygame.event.Event]:
        evs = [key(k) for k in keys - held] + [keyup(k) for k in held - keys]
        held.clear()
        held.update(keys)
        return evs

    for _ in range(int(seconds / (4 * DT))):
        st = race.view.local_car()
        if st.crashed:
            d.send(*want(set()))
            return True
        ahead = [v for v in race.view.traffic(race.view.time, st.y, st.y + 80) if v.y > st.y]
        keys = {pygame.K_UP}
        if ahead:
            target = min(ahead, key=lambda v: v.y).x
            if target > st.x + 0.3:
                keys.add(pygame.K_RIGHT)
            elif target < st.x - 0.3:
                keys.add(pygame.K_LEFT)
        d.app.frame(want(keys), 4 * DT)
    return False


def test_intro_name_entry_and_menu(app: App, data_dir: Path) -> None:
    d = Driver(app)
    app.push(IntroScreen(app))
    d.run(0.5)
    assert app.top.name == "intro" and app.top.state == "name"
    d.press(pygame.K_RETURN)  # empty name is refused
    assert app.top.state == "name" and app.top.error
    d.type("Zoex")
    d.press(pygame.K_BACKSPACE)
    assert app.top.entry == "Zoe"
    d.shot("intro")
    d.press(pygame.K_RETURN)
    assert app.top.state == "menu"
    assert read_config(data_dir)["name"] == "Zoe"
    d.press(pygame.K_DOWN, pygame.K_DOWN, pygame.K_UP)
    assert app.top.menu.selected == "Practice"
    d.run(0.5)
    d.shot("menu")
    # Tab goes back to the name entry, Esc there keeps the saved name
    d.press(pygame.K_TAB)
    assert app.top.state == "name"
    d.press(pygame.K_ESCAPE)
    assert app.top.state == "menu" and app.config.name == "Zoe"
    # Esc in the menu asks first: Esc again stays, Enter quits
    d.press(pygame.K_ESCAPE)
    assert app.running and app.top.confirm_quit
    d.shot("quit_confirm")
    d.press(pygame.K_ESCAPE)
    assert app.running and not app.top.confirm_quit
    d.press(pygame.K_ESCAPE, pygame.K_RETURN)
    assert not app.running


def test_menu_plugs_in_other_areas_screens_by_registry(app: App, monkeypatch) -> None:
    d = Driver(app)
    to_menu(d)

    class FakeLobby(Screen):
        name = "fake-lobby"

    import sys
    import types

    mod = types.ModuleType("fake_lobby_mod")
    mod.FakeLobby = FakeLobby
    monkeypatch.setitem(sys.modules, "fake_lobby_mod", mod)
    monkeypatch.setitem(registry.SCREENS, "lobby", "fake_lobby_mod:FakeLobby")
    monkeypatch.setitem(registry.SCREENS, "scores", "p2p_race.ui.no_such_leaderboard:LeaderboardScreen")
    app.top.menu.index = app.top.menu.items.index("Play on LAN")
    d.press(pygame.K_RETURN)
    assert names(app) == ["intro", "fake-lobby"]
    app.pop()
    app.top.menu.index = app.top.menu.items.index("Scores")
    d.press(pygame.K_RETURN)
    assert names(app) == ["intro", "message"]
    assert "not available" in app.top.lines[0]
    d.run(0.2)
    d.shot("missing_screen")
    d.press(pygame.K_SPACE)
    assert names(app) == ["intro"]


def test_practice_countdown_race_pause_crash_gameover(app: App, data_dir: Path, monkeypatch) -> None:
    import p2p_race.ui.screens.race as race_mod

    class FixedSeed:  # the menu draws a random seed; pin it so this run is reproducible
        def randrange(self, *a):
            return 1234

    monkeypatch.setattr(race_mod.random, "SystemRandom", FixedSeed)
    d = Driver(app)
    to_menu(d)
    app.top.menu.index = app.top.menu.items.index("Practice")
    d.press(pygame.K_RETURN)
    setup = app.top
    assert setup.name == "practice_setup" and setup.bots == 3
    d.press(pygame.K_LEFT)  # 2 bots
    d.press(pygame.K_DOWN, pygame.K_RIGHT)  # difficulty normal -> hard
    d.press(pygame.K_LEFT)  # back to normal
    assert (setup.bots, setup.difficulty) == (2, "normal")
    d.run(0.3)
    d.shot("practice_setup")
    d.press(pygame.K_DOWN, pygame.K_DOWN, pygame.K_RETURN)  # Start race
    assert read_config(data_dir)["practice"] == {"bots": 2, "difficulty": "normal", "seconds": 180}
    race = app.top
    assert names(app) == ["intro", "race"] and race.phase == "countdown"
    assert len(race.view.remote_cars()) == 2
    d.run(1.4)
    assert race.phase == "countdown" and race.view.time == 0.0  # nothing moves before GO
    d.shot("countdown")
    d.run(1.7)
    assert race.phase == "racing"
    assert app.audio.played.count("beep") == 3 and "go" in app.audio.played
    # accelerate for a second: speed rises, the car travels
    v0 = race.view.local_car().speed
    d.send(key(pygame.K_w))
    d.run(1.0)
    st = race.view.local_car()
    assert st.speed > v0 and st.y > 20
    d.run(0.6)
    d.shot("race_start")
    # pause freezes the race; P resumes
    d.press(pygame.K_ESCAPE)
    assert names(app)[-1] == "pause"
    t = race.view.time
    d.run(1.0)
    assert race.view.time == t
    d.shot("pause")
    d.press(pygame.K_p)
    assert app.top is race
    d.send(keyup(pygame.K_w))
    # crash into traffic
    assert drive_into_traffic(d, race)
    assert race.phase == "crashed" and "crash" in app.audio.played
    d.run(0.35)
    d.shot("crash")
    d.run(2.0, step=4 * DT, until=lambda: race.phase != "crashed")
    if not race.view.finished:
        assert race.phase == "spectating"
        d.run(0.5)
        d.shot("spectating")
        d.press(pygame.K_SPACE)  # skip to the results
    d.run(1.5, until=lambda: app.top is not race)
    res = app.top
    assert res.name in ("gameover", "victory")
    me = next(r for r in res.rows if r.local)
    assert me.crashed and me.score == race.view.local_car().score
    assert app.scores.best("Zoe") == me.score
    stored = json.loads((data_dir / "highscores.json").read_text())
    assert stored["best"]["Zoe"] == me.score
    if res.name == "gameover":
        d.run(0.5)
        d.shot("gameover")
    # Space restarts: a new race in countdown
    d.press(pygame.K_SPACE)
    assert app.top.name == "race" and app.top is not race and app.top.phase == "countdown"
    # Esc from a result goes back to the menu
    app.top.finish()
    assert app.top.name in ("gameover", "victory")
    d.press(pygame.K_ESCAPE)
    assert names(app) == ["intro"]


def test_victory_against_bot(app: App, data_dir: Path) -> None:
    d = Driver(app)
    to_menu(d)
    rules = Rules(seed=21, time_limit=12.0)
    view = PracticeView(rules, "Zoe", "blue", bots=1, bot_skill=0.05, autopilot=True)
    race = RaceScreen(app, view, restart=lambda: start_practice(app, bots=1, seed=21, seconds=12, replace=True))
    app.push(race)
    d.run(3.1)
    assert race.phase == "racing"
    d.run(13.0, step=4 * DT, until=lambda: app.top is not race)
    res = app.top
    assert res.name == "victory", [(r.name, r.score, r.crashed) for r in res.rows]
    assert res.rank == 1 and res.new_best and not res.me.crashed
    assert app.audio.played[-1] == "win"
    d.run(0.8)
    d.shot("victory")
    d.press(pygame.K_SPACE)
    assert app.top.name == "race" and app.top.view.rules.seed == 21


def test_game_over_against_time_when_alone(app: App) -> None:
    """Alone, surviving to the flag is a victory; crashing is a game over."""
    d = Driver(app)
    to_menu(d)
    race = start_practice(app, bots=0, seed=5, seconds=60)
    d.run(3.1)
    assert drive_into_traffic(d, race)
    d.run(4.0, step=4 * DT, until=lambda: app.top is not race)
    assert app.top.name == "gameover" and len(app.top.rows) == 1
    assert app.audio.played[-1] == "lose"
    d.press(pygame.K_ESCAPE)
    assert names(app) == ["intro"]


def test_braking_all_race_long_the_hud_warns_of_the_sweeper_then_it_catches_you(app: App, monkeypatch) -> None:
    """Seed 1001 leaves lane 0 clear long enough: holding the brake, the HUD shows the sweeper
    closing in, then the race ends with "CAUGHT!" instead of "CRASHED!"."""
    from p2p_race.ui import style

    drawn: list[str] = []
    real_text = style.text

    def text(surf, msg, *a, **kw):
        drawn.append(str(msg))
        return real_text(surf, msg, *a, **kw)

    monkeypatch.setattr(style, "text", text)
    d = Driver(app)
    to_menu(d)
    race = start_practice(app, bots=0, seed=1001, seconds=120)
    d.run(3.1)
    d.send(key(pygame.K_DOWN))
    assert d.run(70.0, step=10 * DT, until=lambda: race.view.local_car().crashed)
    assert race.view.local_sim.caught and race.phase == "crashed"
    warned = [m for m in drawn if m.endswith(" m") and m[:-2].isdigit()]
    assert "SWEEPER" in drawn and len(warned) > 10 and int(warned[0][:-2]) > int(warned[-1][:-2])
    drawn.clear()
    d.run(0.2)
    assert "CAUGHT!" in drawn and "CRASHED!" not in drawn and "SWEEPER" not in drawn
    d.send(keyup(pygame.K_DOWN))


def test_scores_screen_mine_tab_has_the_badges_best(app: App) -> None:
    """One scores screen: "Mine" shows the same best as the menu's badge (practice runs count)."""
    d = Driver(app)
    for n, s in (("Zoe", 1520), ("Ada", 980), ("Max", 2210), ("Zoe", 640), ("Kim", 400)):
        app.scores.record(n, s, distance=s * 9.0)
    to_menu(d)
    assert "High Scores" not in app.top.menu.items and "Leaderboard" not in app.top.menu.items
    app.top.menu.index = app.top.menu.items.index("Scores")
    d.press(pygame.K_RETURN)
    sc = app.top
    assert sc.name == "scores" and sc.view == "Mine"
    assert [r[1] for r in sc.my_runs()] == [1520, 640]
    d.run(0.3)
    from p2p_race.ui import style

    with style.recording_text() as rec:
        app.draw()
    texts = [t for _r, t in rec]
    assert "BEST RUN" in texts and "1,520" in texts  # = app.scores.best("Zoe"), the badge's number
    d.shot("scores_mine")
    d.press(pygame.K_ESCAPE)
    assert names(app) == ["intro"]


def test_settings_saved_to_config(app: App, data_dir: Path) -> None:
    d = Driver(app)
    to_menu(d)
    app.top.menu.index = app.top.menu.items.index("Settings")
    d.press(pygame.K_RETURN)
    st = app.top
    assert st.name == "settings"
    music0 = app.config.music_volume
    d.press(pygame.K_RIGHT)  # music +10%
    assert read_config(data_dir)["music_volume"] == pytest.approx(min(1.0, music0 + 0.1))
    d.press(pygame.K_DOWN, pygame.K_LEFT, pygame.K_LEFT)  # sound -20%
    assert read_config(data_dir)["sound_volume"] == pytest.approx(0.6)
    assert app.audio.sound_volume == pytest.approx(0.6)
    d.press(pygame.K_DOWN, pygame.K_DOWN, pygame.K_RIGHT)  # car colour red -> blue
    assert read_config(data_dir)["car_color"] == "blue"
    # the chat service can be set to stop when the game quits
    d.press(pygame.K_DOWN)
    assert st.row == "Chat after quit" and st.value(st.row) == "Stays online"
    d.press(pygame.K_RIGHT)
    assert read_config(data_dir)["chat_stays_online"] is False and st.value(st.row) == "Stops"
    # rebind "left" to J
    d.press(pygame.K_DOWN)
    assert st.row == "Key: left"
    d.press(pygame.K_RETURN)
    assert st.capturing == "left"
    d.press(pygame.K_j)
    assert st.capturing is None
    assert read_config(data_dir)["keys"]["left"][0] == "j"
    assert pygame.K_j in app.controls.bindings["left"]
    d.run(0.3)
    d.shot("settings")
    # the new binding steers the car
    d.press(pygame.K_ESCAPE)
    race = start_practice(app, bots=0, seed=3, seconds=30)
    d.run(3.1)
    x0 = race.view.local_car().x
    d.send(key(pygame.K_j))
    d.run(0.3)
    assert race.view.local_car().x < x0 - 1.0


def test_interpolated_drawing_between_ticks(app: App) -> None:
    race = start_practice(app, bots=1, seed=8, seconds=30)
    d = Driver(app)
    d.run(3.2)
    d.run(0.5)
    a = race.cars(0.0)
    b = race.cars(1.0)
    m = race.cars(0.5)
    for ca, cb, cm in zip(a, b, m, strict=True):
        assert ca.state.y <= cm.state.y <= cb.state.y
        assert cm.state.y == pytest.approx((ca.state.y + cb.state.y) / 2)
    # a frame shorter than a tick renders between ticks without stepping
    t = race.view.time
    app.frame([], DT / 2)
    assert race.view.time == t and app.alpha == pytest.approx(0.5, abs=0.05)


def test_race_with_eight_cars_and_traffic(app: App) -> None:
    """A busy race: 8 cars among traffic, HUD standings ordered by score, smooth frames."""
    d = Driver(app)
    app.config.name = "Zoe"
    view = PracticeView(Rules(seed=77, time_limit=120.0), "Zoe", "red", bots=7, autopilot=True)
    race = RaceScreen(app, view)
    app.push(race)
    d.run(3.1)
    d.run(11.0, step=4 * DT)
    st = view.local_car()
    assert not st.crashed and st.y > 300
    on_screen = view.traffic(view.time, race.cam_y - 45, race.cam_y + 45)
    assert on_screen, "the traffic should be in view by now"
    cars = race.cars(app.alpha)
    assert len(cars) == 8 and sum(c.local for c in cars) == 1
    from p2p_race.ui.screens.race import standings

    rows = standings(cars)
    assert [r.score for r in rows] == sorted((r.score for r in rows), reverse=True)
    d.run(0.2)
    d.shot("race")


class SpectatorView:
    """A RaceView without a local car (what a spectator of a networked match has)."""

    def __init__(self, inner: PracticeView) -> None:
        self.inner = inner
        self.rules = inner.rules

    @property
    def time(self) -> float:
        return self.inner.time

    @property
    def finished(self) -> bool:
        return self.inner.finished

    def local_car(self):
        return None

    def remote_cars(self):
        return [("Zed", "red", self.inner.local_car(), True), *self.inner.remote_cars()]

    def traffic(self, t, y0=None, y1=None):
        return self.inner.traffic(t, y0, y1)

    def step(self, inputs) -> None:
        from p2p_race.sim import Inputs

        self.inner.step(Inputs())


def test_spectator_view_follows_the_leader_and_shows_results(app: App) -> None:
    from p2p_race.ui.raceview import RaceView

    d = Driver(app)
    view = SpectatorView(PracticeView(Rules(seed=9, time_limit=10.0), "Zed", "red", bots=2, autopilot=True))
    assert isinstance(view, RaceView)
    race = RaceScreen(app, view)
    app.push(race)
    d.run(3.1)
    d.run(3.0, step=4 * DT)
    leader = max(view.remote_cars(), key=lambda c: c[2].y)
    assert race.watching == leader[0]
    assert abs(race.cam_y - leader[2].y) < 5.0
    d.run(8.0, step=4 * DT, until=lambda: app.top is not race)
    assert app.top.name == "results" and app.top.me is None
    assert len(app.top.rows) == 3 and app.scores.top(5) == []  # a spectator records no score


def test_cars_lean_into_lane_changes_and_show_brake_lights(app: App) -> None:
    d = Driver(app)
    race = start_practice(app, bots=0, seed=3, seconds=30)
    d.run(3.2)
    me = next(c for c in race.cars(0.5) if c.local)
    assert me.tilt == 0.0 and not me.braking
    d.send(key(pygame.K_RIGHT), key(pygame.K_DOWN))
    d.run(0.1)
    me = next(c for c in race.cars(0.5) if c.local)
    assert me.tilt > 0.5 and me.braking
    d.send(keyup(pygame.K_RIGHT), keyup(pygame.K_DOWN))
    d.run(0.1)
    me = next(c for c in race.cars(0.5) if c.local)
    assert 0.0 < me.tilt < 0.5 and not me.braking  # lateral inertia: it drifts on a moment
    d.run(0.4)
    me = next(c for c in race.cars(0.5) if c.local)
    assert me.tilt == 0.0


def test_enter_on_any_practice_row_starts_the_race(app: App) -> None:
    """The footer says "Enter: start": on the Bots row it starts, it does not add a bot."""
    from p2p_race.ui.screens.practice_setup import PracticeSetupScreen

    d = Driver(app)
    to_menu(d)
    app.push(PracticeSetupScreen(app))
    setup = app.top
    assert setup.index == 0 and setup.bots == 3
    d.press(pygame.K_RETURN)
    assert app.top.name == "race" and len(app.top.view.remote_cars()) == 3


def test_rebinding_a_taken_key_says_so_and_never_leaves_an_action_unbound(app: App, data_dir: Path) -> None:
    d = Driver(app)
    to_menu(d)
    from p2p_race.ui.screens.settings import SettingsScreen

    st = SettingsScreen(app)
    app.push(st)
    st.bind("right", pygame.K_w)  # W was Accelerate's second key: Accelerate keeps Up
    keys = read_config(data_dir)["keys"]
    assert keys["right"] == ["w", "d"] and keys["accelerate"] == ["up"]
    assert "Accelerate keeps UP".lower() in st.flash.lower()
    st.bind("brake", pygame.K_UP)  # Up was Accelerate's only key left: swapped
    keys = read_config(data_dir)["keys"]
    assert keys["brake"] == ["up", "s"] and keys["accelerate"] == ["down"]
    assert "swapped" in st.flash and "Accelerate now DOWN".lower() in st.flash.lower()
    assert all(keys[a] for a in ("left", "right", "accelerate", "brake", "pause", "chat"))
    assert pygame.K_DOWN in app.controls.bindings["accelerate"]
