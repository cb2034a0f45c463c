"""Practice setup: how many bots, how hard, how long; remembered in the config."""

from __future__ import annotations

import pygame

from p2p_race.sim import DIFFICULTIES
from p2p_race.ui import style
from p2p_race.ui.screen import Screen
from p2p_race.ui.screens.backdrop import backdrop

TIMES = (60, 90, 120, 180, 300)
ROWS = ("Bots", "Difficulty", "Time limit", "Start race")


class PracticeSetupScreen(Screen):
    name = "practice_setup"

    def __init__(self, app) -> None:
        super().__init__(app)
        saved = app.config.extra.get("practice", {}) if isinstance(app.config.extra.get("practice"), dict) else {}
        self.bots = int(saved.get("bots", 3)) if 0 <= int(saved.get("bots", 3)) <= 7 else 3
        self.difficulty = saved.get("difficulty", "normal") if saved.get("difficulty") in DIFFICULTIES else "normal"
        self.seconds = int(saved.get("seconds", 180)) if int(saved.get("seconds", 180)) in TIMES else 180
        self.index = 0

    def values(self) -> list[str]:
        return [str(self.bots), self.difficulty.capitalize(), f"{self.seconds // 60}:{self.seconds % 60:02d}", ""]

    def change(self, d: int) -> None:
        row = ROWS[self.index]
        if row == "Bots":
            self.bots = max(0, min(7, self.bots + d))
        elif row == "Difficulty":
            i = DIFFICULTIES.index(self.difficulty)
            self.difficulty = DIFFICULTIES[(i + d) % len(DIFFICULTIES)]
        elif row == "Time limit":
            i = TIMES.index(self.seconds)
            self.seconds = TIMES[max(0, min(len(TIMES) - 1, i + d))]
        self.app.audio.play("move")

    def row_rect(self, i: int) -> pygame.Rect:
        return pygame.Rect(style.WIDTH // 2 - 216, 150 + 40 + i * 70 - 8, 432, 50)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.MOUSEBUTTONDOWN and getattr(ev, "button", 1) in (1, 3):
            for i in range(len(ROWS)):
                if self.row_rect(i).collidepoint(ev.pos):
                    self.index = i
                    if ROWS[i] == "Start race":
                        self.start()
                    else:
                        self.change(1 if ev.button == 1 else -1)
            return
        if ev.type != pygame.KEYDOWN:
            return
        move = style.nav(ev.key)
        if move in ("up", "down"):
            self.index = (self.index + (1 if move == "down" else -1)) % len(ROWS)
        elif move in ("left", "right"):
            self.change(1 if move == "right" else -1)
        elif move == "ok":  # Enter starts from any row, as the footer says; arrows change values
            self.start()
        elif ev.key == pygame.K_ESCAPE:
            self.app.pop()

    def start(self) -> None:
        from p2p_race.ui.screens.race import start_practice

        self.app.config.extra["practice"] = {"bots": self.bots, "difficulty": self.difficulty, "seconds": self.seconds}
        self.app.save_config()
        self.app.audio.play("select")
        self.app.pop()
        start_practice(self.app, bots=self.bots, difficulty=self.difficulty, seconds=self.seconds)

    def update(self, dt: float) -> None:
        backdrop(self.app).update(dt)

    def draw(self, surface: pygame.Surface) -> None:
        backdrop(self.app).draw(surface, veil=130)
        t = self.app.time
        style.title(surface, "PRACTICE", 40, t, 64)
        r = style.panel(surface, (style.WIDTH // 2 - 230, 150, 460, 320))
        for i, (row, val) in enumerate(zip(ROWS, self.values(), strict=True)):
            y = r.top + 40 + i * 70
            sel = i == self.index
            color = style.ACCENT if sel else style.TEXT
            if row == "Start race":
                b = pygame.Rect(r.centerx - 120, y - 6, 240, 50)
                style.panel(surface, b, alpha=235, edge=style.ACCENT if sel else (70, 80, 140),
                            fill=(70, 50, 100) if sel else style.PANEL)
                style.text(surface, "START RACE", b.center, 34, color, anchor="center")
                continue
            if sel:
                pygame.draw.rect(surface, (255, 196, 40, 40), (r.left + 14, y - 8, r.w - 28, 48), 2, border_radius=8)
            style.text(surface, row, (r.left + 36, y + 16), 30, color, anchor="midleft")
            style.text(surface, f"<  {val}  >" if sel else val, (r.right - 40, y + 16), 30, color, anchor="midright")
        if self.bots == 0:
            note = "Alone: survive the time limit to win"
        else:
            note = f"Beat {self.bots} bot{'s' if self.bots > 1 else ''}: finish with the top score"
        style.text(surface, note, (style.WIDTH // 2, r.bottom + 16), 22, style.ACCENT2, anchor="midtop")
        style.key_hint(surface, "Up/Down: choose   Left/Right: change   Enter: start   Esc: back")
