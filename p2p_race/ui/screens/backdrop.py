"""The animated scene behind the menus: an autopilot demo race on the real renderer."""

from __future__ import annotations

import pygame

from p2p_race.sim import Inputs, Rules, lerp_state
from p2p_race.ui import style
from p2p_race.ui.raceview import PracticeView
from p2p_race.ui.render import DrawCar, RaceRenderer


class Backdrop:
    def __init__(self, app) -> None:
        self.app = app
        self.renderer = RaceRenderer(app.sprites, car_screen_y=420)
        self.seed = 1000
        self._new()

    def _new(self) -> None:
        self.seed += 1
        self.view = PracticeView(Rules(self.seed, time_limit=600.0, difficulty="easy"), "demo",
                                 "yellow", bots=2, autopilot=True)
        self.prev = self._snap()
        self.cur = self.prev
        self.prev_t = self.cur_t = 0.0
        self.crashed_for = 0.0

    def _snap(self) -> list[DrawCar]:
        v = self.view
        cars = [DrawCar(n, c, st) for n, c, st, _ in v.remote_cars()]
        cars.append(DrawCar("demo", v.local_color, v.local_car(), local=True))
        return cars

    def update(self, dt: float) -> None:
        self.prev, self.prev_t = self.cur, self.cur_t
        self.view.step(Inputs())
        self.cur, self.cur_t = self._snap(), self.view.time
        if self.view.local_car().crashed or self.view.finished:
            self.crashed_for += dt
            if self.crashed_for > 2.5:
                self._new()

    def draw(self, surface: pygame.Surface, veil: int = 120) -> None:
        a = self.app.alpha
        cars = [DrawCar(c.name, c.color, lerp_state(p.state, c.state, a), c.local)
                for p, c in zip(self.prev, self.cur, strict=True)]
        local = cars[-1].state
        t = self.prev_t + (self.cur_t - self.prev_t) * a
        self.renderer.draw(surface, local.y, t, cars, self.view.traffic(t, local.y - 60, local.y + 60), local.speed)
        if veil:
            style.dim(surface, veil)


def backdrop(app) -> Backdrop:
    """The app-wide backdrop, created on first use (keeps running across menu screens)."""
    bd = getattr(app, "_backdrop", None)
    if bd is None:
        bd = Backdrop(app)
        app._backdrop = bd
    return bd
