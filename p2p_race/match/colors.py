"""Racer colours in a match: a pure function of the replicated roster, so every peer (racer
or spectator, before or after a failover) paints every car the same, on every screen.

Each racer sends its colour wish (the car colour of its settings) with its `Join`; the host
replicates it in the `Roster`. Colours go out in peer id order: a racer gets its wish if no
racer before it has that colour, else the first free colour of an order seeded by its peer
id. The same group with the same wishes gets the same colours in every match (rematches
included); a roster of more racers than colours starts the palette over.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

# Wire order of the colours (an index travels in Join and RosterRacer): append only.
PALETTE = ("red", "blue", "green", "yellow", "orange", "purple", "cyan", "white", "pink", "black")
NO_WISH = 255  # no (known) colour wish: the peer id's own order decides


def wish_index(color: str | None) -> int:
    """The wire form of a colour wish (NO_WISH for an unknown colour)."""
    return PALETTE.index(color) if color in PALETTE else NO_WISH


def clean_wish(index: int) -> int:
    """A wish from the wire: a palette index, anything else counts as no wish."""
    return index if 0 <= index < len(PALETTE) else NO_WISH


def _order(peer_id: str) -> list[str]:
    order = list(PALETTE)
    random.Random(f"p2p-race/colour/{peer_id}").shuffle(order)  # str seed: SHA-512, not hash()
    return order


def racer_colors(racers: Iterable[tuple[str, int]]) -> dict[str, str]:
    """(peer id, wish index) of every racer -> peer id -> colour name; any input order."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for pid, wish in sorted(racers):
        if len(taken) == len(PALETTE):
            taken.clear()
        w = clean_wish(wish)
        want = [PALETTE[w]] if w != NO_WISH else []
        color = next(c for c in [*want, *_order(pid)] if c not in taken)
        taken.add(color)
        out[pid] = color
    return out
