"""Which road theme (scenery and palette) a stretch of road has: a pure function of the
match seed and the distance, so every peer draws the same scenery without a rules field.

The road changes theme every THEME_LENGTH metres, going round a seeded order of all the
themes (so every theme comes within len(THEMES) stretches and none twice in a row).
Physics does not depend on the theme.
"""

from __future__ import annotations

THEMES = ("countryside", "desert", "city", "snow")
THEME_LENGTH = 2500.0  # m of road per theme


def _mix(a: int, b: int) -> int:
    """A 32-bit integer hash of two integers (deterministic, no Python hash())."""
    v = (a * 2654435761 + b * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    v ^= v >> 15
    v = (v * 2246822519) & 0xFFFFFFFF
    v ^= v >> 13
    return v


def theme_order(seed: int) -> tuple[int, ...]:
    """The seeded order the themes come in (Fisher-Yates driven by an integer hash)."""
    order = list(range(len(THEMES)))
    for i in range(len(order) - 1, 0, -1):
        j = _mix(seed & 0xFFFFFFFF, i) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return tuple(order)


def theme_index(seed: int, distance: float) -> int:
    """Index into THEMES of the road at `distance` metres (before the start: the first one)."""
    k = max(0, int(distance // THEME_LENGTH))
    order = theme_order(seed)
    return order[k % len(order)]


def theme_at(seed: int, distance: float) -> str:
    """The theme name of the road at `distance` for a match `seed`."""
    return THEMES[theme_index(seed, distance)]
