"""Refuse to open the game window where nobody can see it.

Without a display SDL falls back to its offscreen driver and the game would "run"
invisibly until killed. `require_display()` runs before SDL starts (Linux and the BSDs
need X11 or Wayland; macOS and Windows always have a window server for a logged-in user),
`require_visible_driver(driver)` after, catching the fallback (e.g. DISPLAY set to a dead
X server). A driver the user asked for with SDL_VIDEODRIVER (tests use `dummy`) is always
accepted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from p2p_race.errors import UserError

INVISIBLE_DRIVERS = frozenset({"offscreen", "dummy"})
HEADLESS_HINT = ("without one, use the headless commands: `p2p-race practice --headless`, `bot`, "
                 "`spectate --headless`, `chat`, `peers`, `leaderboard` (or set SDL_VIDEODRIVER=dummy)")


def _asked_for(env: Mapping[str, str]) -> str:
    return env.get("SDL_VIDEODRIVER", "").strip().lower()


def require_display(env: Mapping[str, str] | None = None, platform: str | None = None) -> None:
    """Raise UserError when this desktop has no display to open a window on."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if _asked_for(env) or platform in ("win32", "darwin", "cygwin"):
        return
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        raise UserError("no display: the game window needs a desktop session (neither DISPLAY "
                        f"nor WAYLAND_DISPLAY is set); {HEADLESS_HINT}")


def require_visible_driver(driver: str, env: Mapping[str, str] | None = None) -> None:
    """Raise UserError when SDL fell back to a driver that shows nothing on its own."""
    env = os.environ if env is None else env
    driver = (driver or "").lower()
    if driver in INVISIBLE_DRIVERS and _asked_for(env) != driver:
        shown = env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or "none"
        raise UserError(f"no display: SDL found no window system to open the game on (display {shown}, "
                        f"fell back to the '{driver}' driver); {HEADLESS_HINT}")


def init_display() -> str:
    """Start SDL's video subsystem for the game window; returns the driver's name."""
    require_display()
    import pygame

    try:
        pygame.display.init()
    except pygame.error as exc:
        raise UserError(f"cannot open the game window ({exc}); {HEADLESS_HINT}") from exc
    driver = pygame.display.get_driver()
    try:
        require_visible_driver(driver)
    except UserError:
        pygame.display.quit()
        raise
    return driver
