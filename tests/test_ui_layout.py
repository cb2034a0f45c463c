"""Layout: every screen is reachable by keys from the menu, and on none of them do two
labels overlap, at the logical 800x600 and with 8 drivers in the race (headless SDL).

`text_overlaps` records the rectangle of every text drawn in one frame (labels under a
dimming veil, i.e. under a dialog, do not count) and lists the overlapping pairs.
"""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from p2p_race.config import Config
from p2p_race.sim import Rules
from p2p_race.ui.app import DT, App
from p2p_race.ui.raceview import PracticeView
from p2p_race.ui.screens.intro import IntroScreen
from p2p_race.ui.screens.race import RaceScreen
from p2p_race.ui.testing import Driver, text_overlaps


@pytest.fixture
def app(data_dir: Path):
    a = App(Config(name="Maximilian"), data_dir)  # a long name: the worst case for labels
    yield a
    a.close()


def no_overlaps(app: App, where: str) -> None:
    bad = text_overlaps(app)
    assert not bad, f"{where}: overlapping labels {bad[:5]}"


def open_menu_item(d: Driver, item: str) -> None:
    menu = d.app.top.menu
    while menu.selected != item:
        d.press(pygame.K_DOWN)
    d.press(pygame.K_RETURN)


def test_menu_screens_are_reachable_and_tidy(app: App) -> None:
    d = Driver(app)
    app.push(IntroScreen(app))
    d.run(0.3)
    no_overlaps(app, "menu")
    d.press(pygame.K_ESCAPE)
    no_overlaps(app, "quit dialog")
    d.press(pygame.K_ESCAPE)
    for item, name in (("Practice", "practice_setup"), ("Settings", "settings"), ("Scores", "scores")):
        if item not in app.top.menu.items:
            continue
        open_menu_item(d, item)
        assert app.top.name == name
        d.run(0.2)
        no_overlaps(app, name)
        d.press(pygame.K_ESCAPE)
        assert app.top.name == "intro"


def eight_driver_race(app: App, seconds: float = 180.0, autopilot: bool = False) -> RaceScreen:
    view = PracticeView(Rules(seed=77, time_limit=seconds), app.player_name, "red", bots=7, autopilot=autopilot)
    race = RaceScreen(app, view)
    app.push(race)
    return race


def test_race_with_eight_drivers_has_no_overlapping_labels(app: App) -> None:
    d = Driver(app)
    app.push(IntroScreen(app))
    race = eight_driver_race(app, autopilot=True)
    d.run(0.5)
    no_overlaps(app, "countdown")
    d.run(2.7)
    assert race.phase == "racing"
    for _ in range(6):  # a few moments of the race, bots ahead and behind
        d.run(1.5, step=4 * DT)
        no_overlaps(app, f"race at {race.view.time:.1f} s")
    d.press(pygame.K_ESCAPE)
    assert app.top.name == "pause"
    no_overlaps(app, "pause")
    menu = app.top.menu
    menu.index = menu.items.index("Settings")
    d.press(pygame.K_RETURN)
    assert app.top.name == "settings"
    no_overlaps(app, "settings over pause")
    d.shot("settings_over_pause")
    d.press(pygame.K_ESCAPE, pygame.K_ESCAPE)
    assert app.top is race and race.resume_left > 0  # a 3-2-1 before the race goes on
    no_overlaps(app, "resume countdown")
    t = race.view.time
    d.run(1.0)
    assert race.view.time == t  # frozen during the 3-2-1
    d.run(1.0)
    assert race.view.time > t


@pytest.mark.slow
def test_spectating_after_a_crash_with_eight_drivers(app: App) -> None:
    d = Driver(app)
    app.push(IntroScreen(app))
    race = eight_driver_race(app)
    d.run(3.2)
    from tests.test_ui_screens import drive_into_traffic

    assert drive_into_traffic(d, race)
    d.run(2.5, step=4 * DT, until=lambda: race.phase == "spectating")
    assert race.phase == "spectating" and race.watching
    first = race.watching
    d.press(pygame.K_RIGHT)
    assert race.follow and race.follow != first or len([c for c in race.cur.values() if not c.local]) == 1
    d.run(0.5)
    no_overlaps(app, "spectating")
    d.shot("spectating")
    race.skip_to_end()
    d.run(0.5)
    assert app.top.name in ("gameover", "victory")
    no_overlaps(app, "results with 8 drivers")


def test_the_overlap_check_finds_overlapping_labels(app: App) -> None:
    """The check itself: two labels drawn over each other are reported, side by side not."""
    from p2p_race.ui import style
    from p2p_race.ui.screen import Screen

    class Labels(Screen):
        name = "labels"
        pos = (100, 100)

        def draw(self, surface):
            surface.fill(style.BG)
            style.text(surface, "first label", (100, 100), 24)
            style.text(surface, "second label", self.pos, 24)

    s = Labels(app)
    app.push(s)
    s.pos = (150, 105)
    assert text_overlaps(app) == [("first label", "second label")]
    s.pos = (100, 130)
    assert text_overlaps(app) == []


def test_spectate_screen_with_eight_drivers(app: App) -> None:
    from p2p_race.ui.spectate import SpectateScreen
    from tests.test_ui_screens import SpectatorView

    d = Driver(app)
    app.push(IntroScreen(app))
    view = SpectatorView(PracticeView(Rules(seed=5, time_limit=60.0), "Zed", "red", bots=7, autopilot=True))
    spec = SpectateScreen(app, view)
    app.push(spec)
    d.run(3.2)
    for _ in range(4):
        d.run(1.5, step=4 * DT)
        no_overlaps(app, f"spectating at {view.time:.1f} s")
    d.press(pygame.K_RIGHT)
    assert spec.follow is not None
    d.run(0.5)
    no_overlaps(app, "spectating a chosen car")
    d.shot("spectate")


def test_lobby_host_dialog_and_match_result_are_tidy(app: App, tmp_path: Path) -> None:
    from p2p_race.identity import Identity
    from p2p_race.runtime import PeerRuntime
    from p2p_race.ui.lobby import LobbyScreen, MatchResultScreen
    from replication.fixtures import make_result

    d = Driver(app)
    app.push(IntroScreen(app))
    (tmp_path / "rt").mkdir()
    rt = PeerRuntime(Identity.from_seed(b"layout"), "Maximilian", data_dir=tmp_path / "rt", host="127.0.0.1",
                     port=0, mdns=False).start_thread()
    try:
        lobby = LobbyScreen(app, runtime=rt)
        app.push(lobby)
        d.run(0.2)
        no_overlaps(app, "lobby")
        d.press(pygame.K_h)
        no_overlaps(app, "host dialog")
        d.press(pygame.K_RETURN)
        assert d.wait_for(lambda: lobby.snap.match is not None and bool(lobby.listings())), "hosting never showed"
        no_overlaps(app, "lobby, hosting")
        players = ("Maximilian", "Ada", "Blaze", "Comet", "Dash", "Echo", "Flint", "Gale")
        result = make_result(3, players=players)
        me = next(r for r in result.racers if r.name == "Maximilian")
        app.push(MatchResultScreen(app, result, me.peer_id))
        d.run(0.2)
        no_overlaps(app, "match result, 8 racers")
        spectator = MatchResultScreen(app, result, "ff" * 16)
        app.replace(spectator)
        assert spectator.title == "MATCH OVER"
        d.press(pygame.K_d)
        no_overlaps(app, "match result details")
    finally:
        rt.stop_thread()
