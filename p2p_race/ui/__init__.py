"""The pygame game window: app loop, screens, rendering. Pygame code only draws and reads
input; the race itself comes from `p2p_race.sim` through a `RaceView`."""

import os
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before any `import pygame`


def _import_pygame() -> None:
    """Import pygame without `pkg_resources`: pygame asks setuptools' pkg_resources (a third
    of a second of a cold start, before the window can open) only to locate its bundled
    font, and without it reads the same file from its own folder."""
    if "pygame" in sys.modules or "pkg_resources" in sys.modules:
        return
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # "not installed" for this import
    try:
        import pygame  # noqa: F401
    finally:
        if sys.modules.get("pkg_resources", 0) is None:
            del sys.modules["pkg_resources"]


_import_pygame()
