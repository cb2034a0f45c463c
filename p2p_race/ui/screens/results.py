"""After a race: VICTORY or GAME OVER, the final score, the high score and the standings.

Space restarts, Esc goes back to the menu; the menu offers Restart / Menu / Quit.
"""

from __future__ import annotations

import math
import random

import pygame

from assets.sprites import CAR_COLORS
from p2p_race.ui import style
from p2p_race.ui.screen import Screen


class ResultScreen(Screen):
    def __init__(self, app, rows, *, victory: bool, new_best: bool, best: int,
                 backdrop: pygame.Surface | None = None, restart=None, rules=None) -> None:
        super().__init__(app)
        self.me = next((r for r in rows if r.local), None)
        # a spectator (no car of its own) sees neutral "RESULTS"
        self.name = "victory" if victory else "gameover" if self.me is not None else "results"
        self.rows = rows
        self.victory = victory
        self.new_best = new_best
        self.best = best
        self.restart = restart
        self.rules = rules
        self.backdrop = backdrop
        self.me = next((r for r in rows if r.local), None)
        self.rank = next((i for i, r in enumerate(rows, 1) if r.local), 0)
        items = (["Restart"] if restart else []) + ["Menu", "Quit"]
        self.menu = style.Menu(items, (style.WIDTH // 2, 0), width=170, row=50)
        rnd = random.Random(9)
        colors = [style.ACCENT, style.ACCENT2, style.GOOD, style.DANGER, (200, 120, 255)]
        self.confetti = [(rnd.uniform(0, style.WIDTH), rnd.uniform(-600, 0), rnd.uniform(60, 160),
                          rnd.uniform(0, 6.28), rnd.choice(colors)) for _ in range(90)]

    def on_enter(self) -> None:
        self.app.audio.engine(None)
        if self.age == 0 and not getattr(self, "_played", False):
            self._played = True
            self.app.audio.play("win" if self.victory else "lose" if self.me is not None else "select")

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN:
            if ev.key == pygame.K_SPACE and self.restart:
                self.app.audio.play("select")
                self.restart()
                return
            if ev.key == pygame.K_ESCAPE:
                self.app.audio.play("select")
                self.app.pop()
                return
            if ev.key in (pygame.K_LEFT, pygame.K_a):
                self.menu.index = (self.menu.index - 1) % len(self.menu.items)
                return
            if ev.key in (pygame.K_RIGHT, pygame.K_d):
                self.menu.index = (self.menu.index + 1) % len(self.menu.items)
                return
        choice = self._menu_event(ev)
        if choice == "Restart":
            self.restart()
        elif choice == "Menu":
            self.app.pop()
        elif choice == "Quit":
            self.app.running = False

    def _menu_event(self, ev: pygame.event.Event) -> str | None:
        if ev.type == pygame.KEYDOWN and ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            return self.menu.selected
        if ev.type == pygame.MOUSEBUTTONDOWN:
            for i, r in enumerate(self._buttons()):
                if r.collidepoint(ev.pos):
                    return self.menu.items[i]
        return None

    def _buttons(self) -> list[pygame.Rect]:
        n = len(self.menu.items)
        w, gap = 170, 16
        x0 = style.WIDTH // 2 - (n * w + (n - 1) * gap) // 2
        return [pygame.Rect(x0 + i * (w + gap), self._panel().bottom + 20, w, 48) for i in range(n)]

    def _panel(self) -> pygame.Rect:
        h = 200 + 24 * min(8, len(self.rows))
        return pygame.Rect(style.WIDTH // 2 - 300, 120, 600, h)

    def draw(self, surface: pygame.Surface) -> None:
        t = self.age
        if self.backdrop is not None:
            surface.blit(self.backdrop, (0, 0))
        style.dim(surface, 165)
        head = {"victory": "VICTORY!", "gameover": "GAME OVER"}.get(self.name, "RESULTS")
        col = {"victory": style.ACCENT, "gameover": style.DANGER}.get(self.name, style.ACCENT2)
        size = 86 + int(6 * math.sin(t * 4)) if self.victory else 86
        if self.victory:
            for x, y0, sp, ph, c in self.confetti:
                y = (y0 + sp * t) % (style.HEIGHT + 40) - 20
                xx = x + 14 * math.sin(t * 3 + ph)
                pygame.draw.rect(surface, c, (xx, y, 7, 11 if int(t * 6 + ph) % 2 else 5))
        r = style.panel(surface, self._panel(), edge=col, alpha=235)
        style.text(surface, head, (style.WIDTH // 2, 62), size, col, anchor="center", shadow=5)
        score = self.me.score if self.me else (self.rows[0].score if self.rows else 0)
        style.text(surface, "FINAL SCORE" if self.me else "WINNING SCORE", (r.left + 30, r.top + 20), 22,
                   style.DIM, shadow=1)
        style.text(surface, f"{score:,}", (r.left + 30, r.top + 42), 64, style.ACCENT)
        style.text(surface, "HIGH SCORE", (r.right - 30, r.top + 20), 22, style.DIM, anchor="topright", shadow=1)
        style.text(surface, f"{self.best:,}", (r.right - 30, r.top + 42), 64, style.TEXT, anchor="topright")
        if self.new_best:
            k = 0.5 + 0.5 * math.sin(t * 6)
            badge = pygame.Rect(r.centerx - 95, r.top + 52, 190, 40)
            pygame.draw.rect(surface, (int(200 + 55 * k), 60, 90), badge, border_radius=20)
            style.text(surface, "NEW HIGH SCORE!", badge.center, 22, style.TEXT, anchor="center", shadow=1)
        if self.me is None and self.rows:
            style.text(surface, f"Winner: {self.rows[0].name}", (r.centerx, r.top + 116), 24, style.ACCENT2,
                       anchor="midtop")
        if self.me is not None:
            how = (f"survived {self.me.crash_time:.1f} s" if self.me.crashed and self.me.crash_time is not None
                   else "survived to the flag")
            line = f"{ordinal(self.rank)} of {len(self.rows)}  -  {self.me.distance / 1000:.2f} km  -  {how}"
            if len(self.rows) == 1:
                line = f"{self.me.distance / 1000:.2f} km  -  {how}"
            style.text(surface, line, (r.centerx, r.top + 116), 24, style.ACCENT2, anchor="midtop")
        # standings table
        y = r.top + 152
        style.text(surface, "#", (r.left + 40, y), 20, style.DIM, shadow=1)
        style.text(surface, "DRIVER", (r.left + 90, y), 20, style.DIM, shadow=1)
        style.text(surface, "DISTANCE", (r.left + 360, y), 20, style.DIM, anchor="topright", shadow=1)
        style.text(surface, "SCORE", (r.right - 40, y), 20, style.DIM, anchor="topright", shadow=1)
        rows = self.rows[:8]
        for i, s in enumerate(rows):
            yy = y + 26 + i * 24
            c = style.ACCENT if s.local else style.TEXT
            style.text(surface, str(self.rows.index(s) + 1), (r.left + 40, yy), 22, c, shadow=1)
            pygame.draw.rect(surface, CAR_COLORS.get(s.color, style.TEXT), (r.left + 68, yy + 3, 12, 15), border_radius=3)
            status = "  (crashed)" if s.crashed else ""
            style.text(surface, s.name + status, (r.left + 90, yy), 22, c, shadow=1)
            style.text(surface, f"{s.distance / 1000:.2f} km", (r.left + 360, yy), 22, c, anchor="topright", shadow=1)
            style.text(surface, f"{s.score:,}", (r.right - 40, yy), 22, c, anchor="topright", shadow=1)
        for i, (item, b) in enumerate(zip(self.menu.items, self._buttons(), strict=True)):
            sel = i == self.menu.index
            style.panel(surface, b, alpha=235, edge=style.ACCENT if sel else (70, 80, 140),
                        fill=(70, 50, 100) if sel else style.PANEL)
            style.text(surface, item, b.center, 30, style.ACCENT if sel else style.TEXT, anchor="center")
        style.key_hint(surface, "Space: race again   Esc: menu   Left/Right + Enter: choose", style.HEIGHT - 26)


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
