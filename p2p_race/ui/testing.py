"""Synthetic input for driving the UI headless (tests, screenshots, benchmarks).

Screens get exactly the events a keyboard or pad would send; frames advance a fixed
simulated time, so nothing depends on the wall clock.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygame

from p2p_race.ui.app import DT, App

SCREEN_DIR = Path(__file__).resolve().parents[2] / "docs" / "screens"


def key(k: int, unicode: str = "") -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=unicode, scancode=0)


def keyup(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYUP, key=k, mod=0, unicode="", scancode=0)


def typed(s: str) -> list[pygame.event.Event]:
    return [key(pygame.key.key_code(ch.lower()) if ch != " " else pygame.K_SPACE, ch) for ch in s]


class Driver:
    """Feeds an App events and frames: `d.press(K_RETURN)`, `d.run(seconds)`."""

    def __init__(self, app: App) -> None:
        self.app = app

    def press(self, *keys: int, frames: int = 1) -> None:
        """Tap each key (down and up in one frame), like a quick key press."""
        for k in keys:
            self.app.frame([key(k), keyup(k)], DT)
        for _ in range(frames - 1):
            self.app.frame([], DT)

    def type(self, s: str) -> None:
        for ev in typed(s):
            self.app.frame([ev, keyup(ev.key)], DT)

    def send(self, *events: pygame.event.Event) -> None:
        self.app.frame(list(events), DT)

    def run(self, seconds: float, step: float = DT, until=None) -> bool:
        """Advance `seconds` of game time in frames of `step`; stop early when `until()`."""
        n = max(1, round(seconds / step))
        for _ in range(n):
            self.app.frame([], step)
            if until is not None and until():
                return True
        return until is None

    def wait_for(self, until, timeout: float = 20.0, step: float = DT) -> bool:
        """Advance frames until `until()`, giving up after `timeout` seconds of wall time.

        For conditions another thread settles (a runtime's loop): simulated frames run far
        faster than that thread may be scheduled on a starved CPU, so a game-time budget
        would be timing luck.
        """
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.app.frame([], step)
            if until():
                return True
            time.sleep(0.005)  # yield the GIL to the runtime's thread
        return False

    def shot(self, name: str, directory: Path | None = None) -> Path:
        """Save the logical surface as `<name>.png` under docs/screens/_tmp (ignored by git),
        and into docs/screens/ itself when P2P_RACE_UPDATE_SCREENS=1."""
        out = directory or SCREEN_DIR / "_tmp"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.png"
        self.app.screenshot(path)
        if os.environ.get("P2P_RACE_UPDATE_SCREENS") == "1":
            self.app.screenshot(SCREEN_DIR / f"{name}.png")
        return path


def text_overlaps(app: App, slack: int = 2) -> list[tuple[str, str]]:
    """Pairs of labels that overlap on the current frame (each rect shrunk by `slack` px:
    the font's line box has blank space above and below the glyphs)."""
    from p2p_race.ui import style

    with style.recording_text() as rec:
        app.draw()
    boxes = [(r.inflate(-2 * slack, -2 * slack), s) for r, s in rec if r.w > 2 * slack and r.h > 2 * slack]
    out = []
    for i, (a, sa) in enumerate(boxes):
        for b, sb in boxes[i + 1:]:
            if a.colliderect(b):
                out.append((sa, sb))
    return out
