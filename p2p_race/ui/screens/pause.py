"""Pause: freezes a practice race (only the top screen updates) and offers resume/restart/quit.

A LAN match cannot pause (its clock is the host's): the race keeps running under the menu
(`RaceScreen.live`), and the menu offers "Leave match" instead of Restart."""

from __future__ import annotations

import pygame

from p2p_race.ui import style
from p2p_race.ui.screen import Screen


class PauseScreen(Screen):
    name = "pause"
    overlay = True
    chat_enabled = True

    def __init__(self, app, race) -> None:
        super().__init__(app)
        self.race = race
        items = ["Resume"]
        if getattr(race, "restart", None) is not None:
            items.append("Restart")
        self.in_match = getattr(race, "on_leave", None) is not None
        items += ["Settings", "Leave match" if self.in_match else "Quit to menu", "Quit game"]
        self.menu = style.Menu(items, (style.WIDTH // 2, 330), width=280, row=52)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if self.app.controls.is_action(ev, "pause"):
            self.resume()
            return
        choice = self.menu.handle(ev)
        if choice:
            self.app.audio.play("select")
            self.choose(choice)

    def resume(self) -> None:
        self.app.controls.release_all()
        self.app.pop()

    def choose(self, item: str) -> None:
        if item == "Resume":
            self.resume()
        elif item == "Restart":
            self.app.pop()
            self.race.restart()
        elif item == "Settings":
            from p2p_race.ui.screens.settings import SettingsScreen

            self.app.push(SettingsScreen(self.app, over_race=True))
        elif item == "Leave match":
            self.app.pop()
            self.race.leave()
        elif item == "Quit to menu":
            self.app.pop()
            self.app.pop()
        elif item == "Quit game":
            self.app.running = False

    def draw(self, surface: pygame.Surface) -> None:
        style.dim(surface, 150)
        r = style.panel(surface, (style.WIDTH // 2 - 180, 130, 360, 360), edge=style.ACCENT2)
        style.text(surface, "MENU" if self.in_match else "PAUSED", (r.centerx, r.top + 22), 60, style.ACCENT,
                   anchor="midtop", shadow=4)
        if self.in_match:
            style.text(surface, "the match goes on meanwhile", (r.centerx, r.bottom - 30), 20, style.DIM, anchor="midtop")
        self.menu.draw(surface, self.app.time)
        style.key_hint(surface, "Esc/P: resume   Enter: choose")
