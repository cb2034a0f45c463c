"""Attacker traffic at a fixed rate: send times on an absolute schedule.

Pacing is a rate, not a wait for a condition: the k-th item goes out at start + k * interval
(monotonic clock), so a slow loop body does not stretch the rate and a starved process sends
what it owes at once instead of drifting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_never = threading.Event()  # never set: its wait() is a timed block that signals cannot cut short


def paced(items: Iterable[T], interval: float) -> Iterator[T]:
    """Yield each item at its slot of the schedule (the first at once)."""
    start = time.monotonic()
    for k, item in enumerate(items):
        due = start + k * interval
        while (left := due - time.monotonic()) > 0:
            _never.wait(left)
        yield item
