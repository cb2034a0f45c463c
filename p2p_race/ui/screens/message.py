"""A small overlay that tells the player something and waits for any key."""

from __future__ import annotations

import pygame

from p2p_race.ui import style
from p2p_race.ui.screen import Screen


class MessageScreen(Screen):
    name = "message"
    overlay = True

    def __init__(self, app, title: str, lines: list[str]) -> None:
        super().__init__(app)
        self.title = title
        self.lines = list(lines)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN or (ev.type == pygame.MOUSEBUTTONDOWN and getattr(ev, "button", 1) == 1):
            self.app.audio.play("select")
            self.app.pop()

    def draw(self, surface: pygame.Surface) -> None:
        style.dim(surface, 140)
        w = 40 + max(style.font(24).size(s)[0] for s in [*self.lines, self.title])
        w = max(420, min(760, w))
        h = 120 + 30 * len(self.lines)
        r = style.panel(surface, ((style.WIDTH - w) // 2, (style.HEIGHT - h) // 2, w, h), edge=style.ACCENT2)
        style.text(surface, self.title, (r.centerx, r.top + 18), 40, style.ACCENT, anchor="midtop")
        for i, line in enumerate(self.lines):
            style.text(surface, line, (r.centerx, r.top + 72 + 30 * i), 24, style.TEXT if i == 0 else style.DIM,
                       anchor="midtop")
        style.text(surface, "press any key", (r.centerx, r.bottom - 14), 18, style.DIM, anchor="midbottom", shadow=1)
