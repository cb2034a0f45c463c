"""The screen base class: one screen is one state of the UI stack (menu, race, pause...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pygame

if TYPE_CHECKING:
    from p2p_race.ui.app import App


class Screen:
    """A UI state. The app calls `handle_event` for input, `update(dt)` once per fixed
    simulation step (dt = 1/60 s) while the screen is on top, and `draw(surface)` once per
    frame on the 800x600 logical surface (`app.alpha` is the interpolation fraction).

    `overlay = True` screens (pause, messages) are drawn over the screen below them.
    `chat_enabled = True` screens let the chat overlay open (T) on top of them.
    """

    name = "screen"
    overlay = False
    chat_enabled = False

    def __init__(self, app: App) -> None:
        self.app = app
        self.age = 0.0  # seconds spent on top of the stack

    def on_enter(self) -> None:
        """Called when pushed or when it becomes the top screen again."""

    def on_exit(self) -> None:
        """Called when removed from the stack."""

    def handle_event(self, ev: pygame.event.Event) -> None:
        """Input event (keys, mouse in logical coordinates, gamepad mapped to keys)."""

    def update(self, dt: float) -> None:
        self.age += dt

    def draw(self, surface: pygame.Surface) -> None:
        """Draw the whole screen (or, for overlays, what goes over the screen below)."""
