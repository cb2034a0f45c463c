"""Screens owned by other areas, found by import path so the game runs without them.

`open_screen(app, "lobby")` imports `p2p_race.ui.lobby:LobbyScreen` and pushes
`LobbyScreen(app, **kwargs)`; when that module is not part of this build, it shows a clear
in-game message instead. The chat overlay is loaded the same way (`load_overlay`); it must
provide `ChatOverlay(app)` with `.open: bool`, `handle_event(ev) -> bool` (True = consumed),
`update(dt)`, `draw(surface)`, and optionally `toggle()`; it gets events first while open,
and the chat key (T by default) opens it over screens with `chat_enabled = True`.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from p2p_race.ui.app import App

log = logging.getLogger(__name__)

SCREENS: dict[str, str] = {
    "lobby": "p2p_race.ui.lobby:LobbyScreen",
    "spectate": "p2p_race.ui.spectate:SpectateScreen",
    "scores": "p2p_race.ui.leaderboard:LeaderboardScreen",
    "leaderboard": "p2p_race.ui.leaderboard:LeaderboardScreen",  # the old name of "scores"
}
OVERLAYS: dict[str, str] = {
    "chat": "p2p_race.ui.chat_overlay:ChatOverlay",
}
TITLES = {"lobby": "Play on LAN", "spectate": "Spectate", "scores": "Scores", "leaderboard": "Scores",
          "chat": "Chat"}


class Missing(Exception):
    """The module providing a screen is not in this build."""


def resolve(target: str) -> Any:
    """Import "pkg.module:Name"; raise Missing when the module itself does not exist."""
    mod_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise Missing(mod_name) from exc
        raise
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise Missing(f"{mod_name}:{attr}") from exc


def available(name: str) -> bool:
    try:
        resolve(SCREENS.get(name) or OVERLAYS[name])
    except Missing:
        return False
    return True


def open_screen(app: App, name: str, **kwargs: Any) -> bool:
    """Push the screen registered as `name`; show a message and return False if missing."""
    from p2p_race.ui.screens.message import MessageScreen

    target = SCREENS[name]
    try:
        cls = resolve(target)
    except Missing as exc:
        log.info("screen %s unavailable: %s", name, exc)
        app.push(MessageScreen(app, TITLES.get(name, name),
                               [f"{TITLES.get(name, name)} is not available in this build yet.",
                                f"(module {target.split(':')[0]} is not installed)",
                                "Practice against bots works offline: choose Practice in the menu."]))
        return False
    app.push(cls(app, **kwargs))
    return True


def load_overlay(app: App, name: str = "chat") -> Any | None:
    """Create the overlay registered as `name`, or None when it is not in this build."""
    try:
        cls = resolve(OVERLAYS[name])
    except Missing:
        return None
    try:
        return cls(app)
    except Exception:  # noqa: BLE001 - a broken overlay must not take the game down
        log.exception("could not start the %s overlay", name)
        return None
