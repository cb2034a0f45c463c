"""Sleep until a sans-I/O core's next deadline, or until an input may have brought it nearer.

The cores (the peer table, the chat mesh node, the match core) report when they next need
to run, aioquic's `get_timer` style (docs/ARCHITECTURE.md, "Deadlines"); an adapter awaits
`sleep_until(core.next_deadline(now))` instead of polling every few milliseconds, and calls
`poke()` after feeding the core an input that can add an earlier deadline (a new peer, a new
candidate, a new link). Inputs that only push deadlines later (a heartbeat) need no poke: an
early wake-up just asks the core again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Wakeup:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._event = asyncio.Event()
        self.wakes = 0  # how often the loop ran (tests and benchmarks read it)

    def poke(self) -> None:
        """Wake the sleeper now: its core may have a nearer deadline."""
        self._event.set()

    async def sleep_until(self, at: float) -> None:
        """Return at `at` (the clock's seconds) or at the next `poke`, whichever comes first."""
        delay = at - self._clock()
        if delay > 0 and not self._event.is_set():
            try:
                await asyncio.wait_for(self._event.wait(), delay)
            except TimeoutError:
                pass
        self._event.clear()
        self.wakes += 1
