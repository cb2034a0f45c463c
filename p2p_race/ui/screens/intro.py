"""Intro: the title, name entry (first start, or Tab to change), then the main menu."""

from __future__ import annotations

import math

import pygame

from p2p_race.ui import style
from p2p_race.ui.screen import Screen
from p2p_race.ui.screens.backdrop import backdrop

MAX_NAME = 16
MENU = ["Play on LAN", "Practice", "Scores", "Settings", "Quit"]


class IntroScreen(Screen):
    name = "intro"

    def __init__(self, app, skip_to_menu: bool = False, then=None) -> None:
        super().__init__(app)
        self.then = then  # called once, as soon as the menu is reached (`play --join`: the lobby)
        self.entry = app.config.name
        # A known name goes straight to the menu; `skip_to_menu` is kept for callers that
        # push a race on top right away (the name is then "Player" until set).
        self.state = "menu" if (app.config.name or skip_to_menu) else "name"
        self.menu = style.Menu(MENU, (style.WIDTH // 2, 375), width=300, row=50)
        self.error = ""
        self.confirm_quit = False

    def on_enter(self) -> None:
        self.app.audio.music(True)
        self.app.audio.engine(None)
        self._go_on()

    def _go_on(self) -> None:
        if self.then is not None and self.state == "menu":
            then, self.then = self.then, None
            then()

    # -- input -------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        if self.state == "name":
            self._name_event(ev)
        else:
            self._menu_event(ev)

    def _name_event(self, ev: pygame.event.Event) -> None:
        if ev.type != pygame.KEYDOWN:
            return
        if ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            name = self.entry.strip()
            if not name:
                self.error = "type a name first"
                return
            self.app.config.name = name
            self.app.save_config()
            self.app.audio.play("select")
            self.state = "menu"
            self._go_on()
        elif ev.key == pygame.K_BACKSPACE:
            self.entry = self.entry[:-1]
        elif ev.key == pygame.K_ESCAPE:
            if self.app.config.name:
                self.entry = self.app.config.name
                self.state = "menu"
        else:
            ch = getattr(ev, "unicode", "")
            if ch and ch.isprintable() and len(self.entry) < MAX_NAME and (ch.isalnum() or ch in " _-."):
                self.entry += ch
                self.error = ""

    def _menu_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_TAB:
            self.state = "name"
            return
        if self.confirm_quit:  # Esc asked "quit?": Enter / Y quits, anything else stays
            if ev.type == pygame.KEYDOWN:
                self.confirm_quit = False
                if ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_y):
                    self.app.running = False
            return
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE:
            self.confirm_quit = True
            return
        before = self.menu.index
        choice = self.menu.handle(ev)
        if self.menu.index != before:
            self.app.audio.play("move")
        if choice:
            self.app.audio.play("select")
            self.choose(choice)

    def choose(self, item: str) -> None:
        from p2p_race.ui.screens.practice_setup import PracticeSetupScreen
        from p2p_race.ui.screens.settings import SettingsScreen

        if item == "Play on LAN":
            self.app.open("lobby")
        elif item == "Practice":
            self.app.push(PracticeSetupScreen(self.app))
        elif item == "Scores":
            self.app.open("scores")
        elif item == "Settings":
            self.app.push(SettingsScreen(self.app))
        elif item == "Quit":
            self.app.running = False

    # -- frame -------------------------------------------------------------------------
    def update(self, dt: float) -> None:
        backdrop(self.app).update(dt)

    def draw(self, surface: pygame.Surface) -> None:
        backdrop(self.app).draw(surface, veil=110)
        t = self.app.time
        style.title(surface, "P2P RACE", 48, t, 84)
        style.text(surface, "serverless LAN racing", (style.WIDTH // 2, 136), 24, style.ACCENT2, anchor="midtop")
        if self.state == "name":
            self._draw_name(surface, t)
        else:
            self._driver_badge(surface)
            self.menu.draw(surface, t)
            style.key_hint(surface, "Arrows/WASD: move   Enter: choose   Tab: change name   F11: fullscreen")
            if self.confirm_quit:
                style.dim(surface, 150)
                r = style.panel(surface, (style.WIDTH // 2 - 180, 240, 360, 120), edge=style.ACCENT)
                style.text(surface, "Quit p2p-race?", (r.centerx, r.top + 14), 36, style.ACCENT, anchor="midtop")
                chat = ("chat stays online for nearby players (Settings)" if self.app.config.chat_stays_online
                        else "chat goes offline too")
                style.text(surface, chat, (r.centerx, r.top + 56), 18, style.TEXT, anchor="midtop")
                style.text(surface, "Enter: quit    Esc: stay", (r.centerx, r.top + 84), 22, style.DIM,
                           anchor="midtop")

    def _driver_badge(self, surface: pygame.Surface) -> None:
        """Who is driving: car in the chosen colour, name, personal best (Tab changes the name)."""
        from assets import sprites

        color = self.app.config.car_color
        rgb = sprites.CAR_COLORS.get(color, sprites.CAR_COLORS["red"])
        r = style.panel(surface, (12, 12, 210, 64), alpha=200, edge=style.ACCENT2, radius=10)
        img = self.app.sprites.get(f"car-{color}-18x42", lambda: sprites.car(rgb, 18, 42))
        surface.blit(img, img.get_rect(center=(r.left + 26, r.centery)))
        name = self.app.player_name if len(self.app.player_name) <= 13 else self.app.player_name[:12] + "."
        style.text(surface, name, (r.left + 50, r.top + 10), 26, style.TEXT, shadow=1)
        style.text(surface, f"best {self.app.scores.best(self.app.player_name):,}", (r.left + 50, r.top + 38), 20,
                   style.ACCENT, shadow=1)

    def _draw_name(self, surface: pygame.Surface, t: float) -> None:
        r = style.panel(surface, (style.WIDTH // 2 - 220, 220, 440, 190), edge=style.ACCENT)
        style.text(surface, "Enter your driver name", (r.centerx, r.top + 22), 32, style.TEXT, anchor="midtop")
        box = pygame.Rect(r.left + 40, r.top + 78, r.w - 80, 52)
        pygame.draw.rect(surface, (10, 12, 26), box, border_radius=8)
        pygame.draw.rect(surface, style.ACCENT2, box, 2, border_radius=8)
        tr = style.text(surface, self.entry, (box.left + 16, box.centery), 36, style.ACCENT, anchor="midleft")
        if math.sin(t * 7) > 0:
            pygame.draw.line(surface, style.TEXT, (tr.right + 4, box.top + 10), (tr.right + 4, box.bottom - 10), 3)
        msg = self.error or "letters, digits, space _ - .   (max 16)"
        style.text(surface, msg, (r.centerx, r.bottom - 38), 20, style.DANGER if self.error else style.DIM,
                   anchor="midtop", shadow=1)
        style.key_hint(surface, "Enter: confirm   Backspace: delete")
