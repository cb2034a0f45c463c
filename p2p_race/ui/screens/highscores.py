"""The local high-score table (top runs on this machine) from the app's ScoreBoard."""

from __future__ import annotations

import datetime as dt

import pygame

from p2p_race.ui import style
from p2p_race.ui.screen import Screen
from p2p_race.ui.screens.backdrop import backdrop


class HighScoresScreen(Screen):
    name = "highscores"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.entries = app.scores.top(10)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN and ev.key in (pygame.K_ESCAPE, pygame.K_RETURN, pygame.K_SPACE,
                                                    pygame.K_BACKSPACE):
            self.app.audio.play("select")
            self.app.pop()
        elif ev.type == pygame.MOUSEBUTTONDOWN:
            self.app.pop()

    def update(self, dt_: float) -> None:
        backdrop(self.app).update(dt_)

    def draw(self, surface: pygame.Surface) -> None:
        backdrop(self.app).draw(surface, veil=130)
        style.title(surface, "HIGH SCORES", 30, self.app.time, 64)
        r = style.panel(surface, (style.WIDTH // 2 - 300, 120, 600, 400))
        you = self.app.player_name
        style.text(surface, f"Your best: {self.app.scores.best(you):,}", (r.centerx, r.top + 16), 26, style.ACCENT2,
                   anchor="midtop")
        y = r.top + 58
        for label, x, anchor in (("#", 40, "topleft"), ("DRIVER", 90, "topleft"), ("DISTANCE", 390, "topright"),
                                 ("WHEN", 470, "topright"), ("SCORE", 560, "topright")):
            style.text(surface, label, (r.left + x, y), 20, style.DIM, anchor=anchor, shadow=1)
        if not self.entries:
            style.text(surface, "No races yet: choose Practice in the menu!", (r.centerx, r.top + 180), 28,
                       style.TEXT, anchor="midtop")
        medals = [(255, 200, 40), (200, 205, 215), (210, 140, 80)]
        for i, e in enumerate(self.entries):
            yy = y + 30 + i * 30
            c = style.ACCENT if e.name == you else style.TEXT
            if i < 3:
                pygame.draw.circle(surface, medals[i], (r.left + 46, yy + 10), 12)
                style.text(surface, str(i + 1), (r.left + 46, yy + 10), 20, (30, 30, 40), anchor="center", shadow=0)
            else:
                style.text(surface, str(i + 1), (r.left + 46, yy), 24, c, anchor="midtop", shadow=1)
            style.text(surface, e.name, (r.left + 90, yy), 24, c, shadow=1)
            style.text(surface, f"{e.distance / 1000:.2f} km", (r.left + 390, yy), 24, c, anchor="topright", shadow=1)
            when = dt.datetime.fromtimestamp(e.t).strftime("%d %b")
            style.text(surface, when, (r.left + 470, yy), 24, style.DIM, anchor="topright", shadow=1)
            style.text(surface, f"{e.score:,}", (r.left + 560, yy), 24, c, anchor="topright", shadow=1)
        style.key_hint(surface, "Esc: back")
