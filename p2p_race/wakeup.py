"""The one driver of every sans-I/O core's deadlines: `loop.call_at`, never a polling loop.

The cores (the match core, the peer table, the chat mesh node, the chat client session)
report when they next need to run, aioquic's `get_timer` style (docs/ARCHITECTURE.md
section 7). Their clocks are `time.monotonic()`; the loop's clock may differ by a constant,
so both drivers here convert.

- `DeadlineTimer`: callback style (the match runtime). `arm(at)` keeps one `call_at` handle
  at the core's deadline and re-arms only when the deadline moved.
- `Wakeup`: coroutine style (discovery, the chat service and client). A loop awaits
  `sleep_until(core.next_deadline(now))` and an input that can bring the deadline nearer
  (a new peer, candidate, link or line) calls `poke()`. Inputs that only push deadlines
  later (a heartbeat) need no poke: an early wake-up just asks the core again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

MIN_DELAY = 0.0005  # a deadline already due still yields to the loop once


def _call_at(loop: asyncio.AbstractEventLoop, at: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
    """`loop.call_at` for a deadline `at` of time.monotonic()."""
    return loop.call_at(loop.time() + max(at - time.monotonic(), MIN_DELAY), callback)


class DeadlineTimer:
    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at: float | None = None

    def arm(self, at: float | None) -> None:
        """Run the callback at `at` (None: nothing pending); one handle, moved only if needed."""
        if at == self._at and self._handle is not None:
            return
        self.cancel()
        self._at = at
        if at is not None:
            self._handle = _call_at(self._loop, at, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._at = None

    def _fire(self) -> None:
        self._handle = self._at = None
        self._callback()


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.wakes = 0  # how often the loop ran (tests and benchmarks read it)

    def poke(self) -> None:
        """Wake the sleeper now: its core may have a nearer deadline (loop thread only)."""
        self._event.set()

    async def sleep_until(self, at: float) -> None:
        """Return at `at` (time.monotonic() seconds) or at the next `poke`, whichever is first.
        A poke that came while we were awake is not lost: the next sleep returns at once."""
        if at > time.monotonic() and not self._event.is_set():
            handle = _call_at(asyncio.get_running_loop(), at, self._event.set)
            try:
                await self._event.wait()
            finally:
                handle.cancel()
        self._event.clear()
        self.wakes += 1
