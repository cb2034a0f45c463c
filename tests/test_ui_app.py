"""The app shell: window scaling, gamepad input, silent audio, the chat overlay slot and
the `play` / `practice` entry points, all headless (SDL dummy drivers)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.ui import app as app_mod
from p2p_race.ui import registry
from p2p_race.ui.app import DT, App
from p2p_race.ui.audio import Audio
from p2p_race.ui.screens.intro import IntroScreen
from p2p_race.ui.screens.race import start_practice
from p2p_race.ui.testing import Driver, key


@pytest.fixture
def app(data_dir: Path):
    a = App(Config(name="Zoe"), data_dir)
    yield a
    a.close()


def test_letterbox_scaling_and_mouse_mapping(data_dir: Path) -> None:
    a = App(Config(name="Zoe"), data_dir, window_size=(1280, 720))
    try:
        a.push(IntroScreen(a))
        vp = a.viewport()
        assert vp.size == (960, 720) and vp.topleft == (160, 0)  # 4:3 kept, bars left/right
        a.frame([], DT)
        # the logical frame is scaled into the viewport; the bars stay black
        assert a.window.get_at((80, 360))[:3] == (0, 0, 0)
        assert a.window.get_at((640, 360))[:3] != (0, 0, 0)
        assert a.to_logical((160 + 480, 360)) == (400, 300)
        # a click at the scaled position of a menu button chooses it
        menu = a.top.menu
        target = menu.rects()[menu.items.index("Scores")]
        wx = 160 + target.centerx * 1.2
        wy = target.centery * 1.2
        a.frame([pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(int(wx), int(wy)), button=1)], DT)
        assert a.top.name == "scores"
        # resizing to a tall window letterboxes top and bottom
        a.window = pygame.display.set_mode((600, 900), pygame.RESIZABLE)
        a.frame([pygame.event.Event(pygame.VIDEORESIZE, w=600, h=900, size=(600, 900))], DT)
        vp = a.viewport()
        assert vp.size == (600, 450) and vp.topleft == (0, 225)
    finally:
        a.close()
    assert Config.load(data_dir).extra["window_size"] == [600, 900]  # reopened at that size
    b = App(Config.load(data_dir), data_dir)
    try:
        assert b.window.get_size() == (600, 900)
    finally:
        b.close()


def test_fullscreen_toggle_is_saved(app: App, data_dir: Path) -> None:
    app.push(IntroScreen(app))
    app.frame([key(pygame.K_F11)], DT)
    assert app.fullscreen is True
    assert Config.load(data_dir).fullscreen is True
    app.frame([], DT)  # still draws and scales in fullscreen
    app.frame([key(pygame.K_F11)], DT)
    assert app.fullscreen is False and Config.load(data_dir).fullscreen is False


def test_gamepad_drives_and_navigates(app: App) -> None:
    d = Driver(app)
    app.push(IntroScreen(app))
    menu = app.top.menu
    assert menu.selected == "Play on LAN"
    d.send(pygame.event.Event(pygame.JOYHATMOTION, joy=0, instance_id=0, hat=0, value=(0, -1)))
    d.send(pygame.event.Event(pygame.JOYHATMOTION, joy=0, instance_id=0, hat=0, value=(0, 0)))
    assert menu.selected == "Practice"
    d.send(pygame.event.Event(pygame.JOYBUTTONDOWN, joy=0, instance_id=0, button=0))  # A = choose
    d.send(pygame.event.Event(pygame.JOYBUTTONUP, joy=0, instance_id=0, button=0))
    assert app.top.name == "practice_setup"
    d.send(pygame.event.Event(pygame.JOYBUTTONDOWN, joy=0, instance_id=0, button=1))  # B = back
    d.send(pygame.event.Event(pygame.JOYBUTTONUP, joy=0, instance_id=0, button=1))
    assert app.top.name == "intro"
    race = start_practice(app, bots=0, seed=4, seconds=30)
    d.run(3.1)
    assert race.phase == "racing"
    c = app.controls
    d.send(pygame.event.Event(pygame.JOYAXISMOTION, joy=0, instance_id=0, axis=0, value=0.9))
    d.send(pygame.event.Event(pygame.JOYAXISMOTION, joy=0, instance_id=0, axis=5, value=1.0))
    assert c.steer_throttle() == (1, 1)
    x0, v0 = race.view.local_car().x, race.view.local_car().speed
    d.run(0.25)
    st = race.view.local_car()
    assert st.x > x0 + 1.0 and st.speed > v0
    d.send(pygame.event.Event(pygame.JOYAXISMOTION, joy=0, instance_id=0, axis=0, value=0.1))  # deadzone
    d.send(pygame.event.Event(pygame.JOYAXISMOTION, joy=0, instance_id=0, axis=5, value=-1.0))
    d.send(pygame.event.Event(pygame.JOYBUTTONDOWN, joy=0, instance_id=0, button=1))  # B brakes, no pause
    assert c.steer_throttle() == (0, -1) and app.top is race
    d.send(pygame.event.Event(pygame.JOYBUTTONUP, joy=0, instance_id=0, button=1))
    d.send(pygame.event.Event(pygame.JOYBUTTONDOWN, joy=0, instance_id=0, button=7))  # Start pauses
    assert app.top.name == "pause"


def test_audio_is_silent_without_a_sound_device(monkeypatch) -> None:
    def broken(*a, **k):
        raise pygame.error("No available audio device")

    monkeypatch.setattr(pygame.mixer, "get_init", lambda: None)
    monkeypatch.setattr(pygame.mixer, "init", broken)
    audio = Audio(0.5, 0.5)
    assert audio.enabled is False
    audio.play("crash")
    audio.music(True)
    audio.engine(0.7)
    audio.set_volumes(0.2, 0.3)
    audio.close()
    assert audio.played == ["crash"] and audio.sound_volume == pytest.approx(0.2)


def test_audio_with_dummy_driver_loads_every_sound() -> None:
    audio = Audio(0.5, 0.5)
    try:
        if not audio.enabled:
            pytest.skip("this SDL build has no dummy audio driver")
        assert {"beep", "go", "crash", "engine", "select", "move"} <= set(audio.sounds)
        audio.play("beep")
        audio.music(True)
        assert audio.track == "menu"
        audio.music("race")
        assert audio.track == "race"
        audio.music(True)  # back on a menu screen
        assert audio.track == "menu"
        freqs = []
        for k in range(40):  # speeding up: the live engine note climbs with every chunk
            audio.engine(k / 39)
            freqs.append(audio._synth.freq)
            audio._synth.render(k / 39)  # stands in for the mixer consuming the queue
        assert audio._engine.get_busy() or audio._engine.get_queue() is not None
        assert all(b >= a for a, b in zip(freqs, freqs[1:], strict=False)) and freqs[-1] > 2 * freqs[0]
        audio.engine(None)
        audio.music(False)
        assert audio.track is None and audio.engine_level is None
    finally:
        audio.close()


class FakeChat:
    def __init__(self, app) -> None:
        self.open = False
        self.got: list[int] = []
        self.drawn = 0
        self.updates = 0

    def toggle(self) -> None:
        self.open = not self.open

    def handle_event(self, ev) -> bool:
        if ev.type == pygame.KEYDOWN:
            self.got.append(ev.key)
            if ev.key == pygame.K_ESCAPE:
                self.open = False
            return True
        return False

    def update(self, dt: float) -> None:
        self.updates += 1

    def draw(self, surface) -> None:
        self.drawn += 1


def test_chat_overlay_slot(app: App, monkeypatch) -> None:
    import sys
    import types

    mod = types.ModuleType("fake_chat_mod")
    mod.ChatOverlay = FakeChat
    monkeypatch.setitem(sys.modules, "fake_chat_mod", mod)
    monkeypatch.setitem(registry.OVERLAYS, "chat", "fake_chat_mod:ChatOverlay")
    d = Driver(app)
    app.push(IntroScreen(app))
    d.press(pygame.K_t)  # the menu is not chat-enabled: T does nothing there
    chat = app.chat
    assert isinstance(chat, FakeChat) and not chat.open
    race = start_practice(app, bots=0, seed=4, seconds=30)
    d.run(3.1)
    d.press(pygame.K_t)
    assert chat.open
    d.press(pygame.K_p)  # goes to the chat, not to the race (no pause)
    assert app.top is race and chat.got == [pygame.K_p]
    d.run(0.2)
    assert chat.drawn > 0 and chat.updates > 0
    d.press(pygame.K_ESCAPE)
    assert not chat.open and app.top is race
    d.press(pygame.K_p)
    assert app.top.name == "pause"


def test_missing_chat_overlay_is_none(app: App, monkeypatch) -> None:
    monkeypatch.setitem(registry.OVERLAYS, "chat", "p2p_race.ui.no_such_chat:ChatOverlay")
    assert app.chat is None


def _quit_after(n: int):
    calls = {"n": 0}
    real = pygame.event.get

    def get(*a, **k):
        calls["n"] += 1
        evs = real(*a, **k)
        if calls["n"] >= n:
            evs.append(pygame.event.Event(pygame.QUIT))
        return evs

    return get, calls


def test_run_game_and_run_practice_entry_points(data_dir: Path, monkeypatch) -> None:
    get, calls = _quit_after(5)
    monkeypatch.setattr(pygame.event, "get", get)
    seen = []
    orig = App.close

    def close(self):
        seen.append([s.name for s in self.stack])
        orig(self)

    monkeypatch.setattr(App, "close", close)
    args = argparse.Namespace(data_dir=str(data_dir), name="Ivy", fullscreen=False, windowed=False)
    assert app_mod.run_game(args) == 0
    assert seen[-1] == ["intro"] and calls["n"] >= 5
    calls["n"] = 0
    args = argparse.Namespace(data_dir=str(data_dir), name="Ivy", bots=2, seed=7, seconds=30.0,
                              difficulty="hard", bot_skill=None)
    assert app_mod.run_practice(args) == 0
    assert seen[-1] == ["intro", "race"]


def test_losing_focus_releases_keys_and_pauses(app: App) -> None:
    d = Driver(app)
    race = start_practice(app, bots=0, seed=4, seconds=30)
    d.run(3.1)
    d.send(key(pygame.K_UP), key(pygame.K_LEFT))
    assert app.controls.steer_throttle() == (-1, 1)
    d.send(pygame.event.Event(pygame.WINDOWFOCUSLOST, window=None))
    assert app.controls.steer_throttle() == (0, 0)
    assert app.top.name == "pause" and app.stack[-2] is race


def test_no_display_is_a_clear_user_error(data_dir: Path, monkeypatch) -> None:
    from p2p_race.errors import UserError

    def no_video(*a, **k):
        raise pygame.error("No available video device")

    monkeypatch.setattr(pygame.display, "set_mode", no_video)
    with pytest.raises(UserError, match="--headless"):
        App(Config(name="Zoe"), data_dir)


def test_mouse_works_in_setup_and_settings(app: App, data_dir: Path) -> None:
    from p2p_race.ui.screens.practice_setup import PracticeSetupScreen
    from p2p_race.ui.screens.settings import ROWS, SettingsScreen

    def click(pos, button=1):
        app.frame([pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button)], DT)

    app.push(IntroScreen(app))
    setup = PracticeSetupScreen(app)
    app.push(setup)
    bots = setup.bots
    click(setup.row_rect(0).center)  # left click: one more bot
    assert setup.bots == bots + 1
    click(setup.row_rect(0).center, 3)  # right click: one fewer
    assert setup.bots == bots
    settings = SettingsScreen(app)
    app.pop()
    app.push(settings)
    click(settings.row_rect(ROWS.index("Car colour")).center)
    assert Config.load(data_dir).car_color == "blue"
    click(settings.row_rect(ROWS.index("Key: brake")).center)
    assert settings.capturing == "brake"
    app.frame([key(pygame.K_k)], DT)
    assert Config.load(data_dir).keys["brake"][0] == "k"
    click(settings.row_rect(ROWS.index("Back")).center)
    assert app.top.name == "intro"


def test_a_loading_screen_shows_while_the_sounds_are_built(data_dir: Path, monkeypatch) -> None:
    """On a first start the sounds take seconds to synthesize: the window shows the loading
    screen (not black) before the audio exists, keeps redrawing it, and the app then starts."""
    import threading

    drawn: list[float] = []
    orig = App._draw_loading

    def counting(self, t: float) -> None:
        orig(self, t)
        drawn.append(t)

    monkeypatch.setattr(App, "_draw_loading", counting)
    seen: dict[str, object] = {}

    def slow_audio() -> Audio:
        wait = threading.Event()
        for _ in range(500):  # poll until the UI thread has redrawn the loading screen a few times
            win = pygame.display.get_surface()
            if len(drawn) >= 3 and win is not None:
                seen["pixel"] = win.get_at((400, 200))[:3]
                break
            wait.wait(0.01)
        seen["frames"] = len(drawn)
        return Audio(0.0, 0.0)

    a = App(Config(name="Zoe"), data_dir, audio=slow_audio)
    try:
        assert seen["frames"] >= 3 and drawn[0] == 0.0 and drawn[-1] > 0.0  # drawn at once, then animated
        assert seen["pixel"] != (0, 0, 0), "the window was black while the audio was built"
        a.push(IntroScreen(a))
        a.frame([], DT)
        assert a.top.name == "intro"
    finally:
        a.close()
