"""The replay screen: a stored match driven again by its input logs (p2p_race.replay.view).

The race screen's renderer and HUD, without its race logic: Space pauses, 1 / 2 / 4 set
the speed, Left / Right (or Tab) follow another car, Esc goes back (or quits when the
replay was opened from the command line).
"""

from __future__ import annotations

import argparse

import pygame

from p2p_race.replay.view import MatchReplay
from p2p_race.ui import style
from p2p_race.ui.screens.race import RaceScreen

SPEEDS = (1, 2, 4)


class ReplayScreen(RaceScreen):
    name = "replay"
    chat_enabled = False

    def __init__(self, app, view: MatchReplay, *, speed: int = 1) -> None:
        super().__init__(app, view, countdown=0.0, mode="replay")
        self.replay = view
        self.phase = "racing"
        self.speed = speed if speed in SPEEDS else 1
        self.paused = False

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type != pygame.KEYDOWN:
            return
        if ev.key == pygame.K_ESCAPE:
            self.app.pop()
        elif ev.key in (pygame.K_SPACE, pygame.K_p):
            self.paused = not self.paused
        elif ev.key in (pygame.K_1, pygame.K_2, pygame.K_4):
            self.speed = {pygame.K_1: 1, pygame.K_2: 2, pygame.K_4: 4}[ev.key]
        elif ev.key in (pygame.K_RIGHT, pygame.K_TAB, pygame.K_LEFT):
            self.replay.follow_next(-1 if ev.key == pygame.K_LEFT else 1)
            self.local_name, self.local_color = self.replay.local_name, self.replay.local_color
            self.cur = self._snapshot()
            self.prev = self.cur

    def update(self, dt: float) -> None:
        self.age += dt
        self.prev, self.prev_t, self.prev_cam = self.cur, self.cur_t, self.cam_y
        if self.paused:
            return
        for _ in range(self.speed):
            self.view.step(None)
        self.cur, self.cur_t = self._snapshot(), self.view.time
        local = self.local_state
        if local is not None:
            self.cam_y += (local.y - self.cam_y) * (1.0 if abs(local.y - self.cam_y) < 30 else 0.2)

    def draw(self, surface: pygame.Surface) -> None:
        super().draw(surface)
        state = "PAUSED" if self.paused else "END" if self.replay.finished else f"{self.speed}x"
        line = f"REPLAY {state}  following {self.replay.local_name}"
        r = style.panel(surface, (style.WIDTH // 2 - 300, style.HEIGHT - 70, 600, 52), alpha=210, radius=10)
        style.text(surface, line, (r.centerx, r.top + 6), 22, style.TEXT, anchor="midtop", shadow=1)
        style.text(surface, "Space pause   1/2/4 speed   Left/Right follow   Esc back", (r.centerx, r.top + 30),
                   17, style.DIM, anchor="midtop")


def open_replay(app, match_id: str) -> bool:
    """Push the replay of a stored match (results screen, leaderboard); False when the
    match is not stored with its inputs (the caller shows why)."""
    from replication.store import ResultStore

    store = ResultStore(app.data_dir)
    try:
        record = store.get(match_id)
    finally:
        store.close()
    if record is None or not record.has_evidence:
        return False
    app.push(ReplayScreen(app, MatchReplay(record)))
    return True


def run_replay_window(args: argparse.Namespace, view: MatchReplay) -> int:
    """`p2p-race replay MATCH_ID` with a window."""
    from p2p_race.ui.app import make_app

    app = make_app(args)
    app.push(ReplayScreen(app, view, speed=getattr(args, "speed", 1)))
    return app.run()
