"""The growing road as drawn: every theme has its own palette and scenery, pickups, oncoming
headlights, signalling lane changers and pickup effects show (headless; saves the shots
docs/screens/road_<theme>.png with P2P_RACE_UPDATE_SCREENS=1)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assets.sprites import PALETTES
from p2p_race.config import Config
from p2p_race.sim import THEMES, CarState, Rules, Traffic, lane_center, theme_at
from p2p_race.sim.themes import THEME_LENGTH
from p2p_race.ui.app import App
from p2p_race.ui.render import DrawCar, RaceRenderer
from p2p_race.ui.testing import Driver

SEED = 7


@pytest.fixture
def app(data_dir: Path):
    a = App(Config(), data_dir)
    yield a
    a.close()


def scene(tr: Traffic, y0: float, y1: float) -> tuple[float, float]:
    """A camera y in [y0, y1] with a pickup just ahead, and a time with an oncoming vehicle
    and, when there is one, a signalling vehicle in view."""
    p = tr.pickups_between(y0, y1)[0]
    cam = p.y - 14.0
    best = (cam, 60.0)
    for k in range(400):
        t = 60.0 + k * 0.25
        vs = tr.vehicles_between(t, cam - 30, cam + 30)
        if any(v.oncoming for v in vs):
            best = (cam, t)
            if any(v.signal for v in vs):
                return best
    return best


def ground(surf) -> tuple[int, int, int]:
    """The most common colour of the outer verges (the theme's ground)."""
    c = Counter(tuple(surf.get_at((x, y))[:3]) for x in (2, 6, 794, 798) for y in range(0, 600, 3))
    return c.most_common(1)[0][0]


def near(a, b, tol=40) -> bool:
    return sum(abs(p - q) for p, q in zip(a, b, strict=True)) <= tol


def test_each_theme_has_its_own_palette_scenery_and_the_road_content(app: App) -> None:
    r = RaceRenderer(app.sprites)
    r.seed = SEED
    tr = Traffic(Rules(SEED))
    d = Driver(app)
    seen = {}
    for k in range(len(THEMES)):
        y0 = k * THEME_LENGTH + 300.0
        theme = theme_at(SEED, y0)
        cam, t = scene(tr, y0, y0 + 1500.0)
        me = CarState(lane_center(1), cam, 45.0, False, None, 1234, cam, int(t * 60))
        ghost = CarState(lane_center(2), cam + 9.0, 44.0, False, None, 1200, cam + 9.0, int(t * 60))
        cars = [DrawCar("You", "red", me, True, effects={"shield": 6.0, "boost": 1.5}),
                DrawCar("Ada", "blue", ghost)]
        vehicles = tr.vehicles_between(t, cam - 45, cam + 160)
        pickups = tr.pickups_between(cam - 45, cam + 45)
        assert pickups and any(v.oncoming for v in vehicles)
        surf = app.logical
        surf.fill((0, 0, 0))
        r.draw(surf, cam, t, cars, vehicles, 45.0, pickups)
        pal = PALETTES[theme]
        g = ground(surf)
        assert near(g, pal.ground_a) or near(g, pal.ground_b), (theme, g)
        px, py = r.sx(pickups[0].x), r.sy(pickups[0].y, cam)
        assert surf.get_at((int(px), int(py)))[:3] != surf.get_at((int(px), int(py) + 60))[:3]
        seen[theme] = g
        d.shot(f"road_{theme}")
    assert len(seen) == len(THEMES) >= 3
    assert len({g for g in seen.values()}) == len(seen)  # every theme looks different
