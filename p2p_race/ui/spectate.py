"""The spectate screen: the race screen over a `NetworkRaceView` with no car of our own.

It reuses the RaceScreen (road, traffic, cars, HUD, standings, and its `follow` camera):
the leader by default, or any racer picked with Left/Right (L: back to the leader). The live ranking is the race screen's standings panel; the match's signed
result ends it (`on_finish`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pygame

from p2p_race.ui import style
from p2p_race.ui.screens.race import RaceScreen


class SpectateScreen(RaceScreen):
    name = "spectate"

    def __init__(self, app, view: Any = None, *, on_finish: Callable | None = None, runtime: Any = None,
                 on_leave: Callable | None = None) -> None:
        if view is None:
            from p2p_race.match.view import NetworkRaceView

            rt = runtime or getattr(app, "runtime", None)
            if rt is None:
                raise ValueError("SpectateScreen needs a NetworkRaceView or a runtime in a match")
            view = NetworkRaceView(rt, local_name=app.player_name)
        super().__init__(app, view, mode="match", on_finish=on_finish, on_leave=on_leave)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN and ev.key in (pygame.K_LEFT, pygame.K_RIGHT):
            self.switch_follow(1 if ev.key == pygame.K_RIGHT else -1)
            return
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_l:
            self.follow = None
            return
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE:
            if self.on_leave is not None:
                self.leave()
            else:
                self.app.pop()
            return
        super().handle_event(ev)

    def draw(self, surface: pygame.Surface) -> None:
        super().draw(surface)
        who = self.follow or (f"{self.watching} (leader)" if self.watching else "the leader")
        self.side_panel(surface, "SPECTATING", style.ACCENT2, [who, "<- ->: another car", "L: the leader",
                                                             "Esc: leave"])


def run_window(args: argparse.Namespace) -> int:
    """`p2p-race spectate` with a window: the lobby, spectating the chosen (or first) match."""
    from p2p_race.ui.app import make_app
    from p2p_race.ui.lobby import LobbyScreen

    app = make_app(args)
    app.push(LobbyScreen(app, spectate=args.match_id or "*", args=args))
    return app.run()
