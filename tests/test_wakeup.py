"""The one deadline driver (p2p_race/wakeup.py): call_at at the core's deadline, re-armed
only when it moves; sleeps that end at the deadline or at a poke, and no poke lost."""

from __future__ import annotations

import asyncio
import time

from p2p_race.wakeup import DeadlineTimer, Wakeup


def test_deadline_timer_fires_once_at_the_deadline_and_rearms_only_when_it_moves() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fired: list[float] = []
        done = asyncio.Event()
        timer = DeadlineTimer(loop, lambda: (fired.append(time.monotonic()), done.set()))
        at = time.monotonic() + 0.05
        timer.arm(at)
        first = timer._handle
        timer.arm(at)  # the same deadline: the same handle
        assert timer._handle is first
        timer.arm(at + 10.0)  # moved later, then back: only the newest counts
        timer.arm(at)
        assert first.cancelled() and timer._handle is not first
        await asyncio.wait_for(done.wait(), 30)
        assert len(fired) == 1 and fired[0] >= at - 0.002
        timer.arm(time.monotonic() + 60)
        timer.cancel()  # nothing pending: nothing fires
        timer.arm(None)
        assert timer._handle is None

    asyncio.run(main())


def test_wakeup_returns_at_the_deadline_or_at_a_poke_and_keeps_a_poke_made_while_awake() -> None:
    async def main() -> None:
        w = Wakeup()
        t0 = time.monotonic()
        await w.sleep_until(t0 + 0.05)
        assert time.monotonic() - t0 >= 0.049
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, w.poke)
        t1 = time.monotonic()
        await w.sleep_until(t1 + 60)  # woken by the poke, long before the deadline
        assert time.monotonic() - t1 < 30
        w.poke()  # while awake: the next sleep returns at once
        t2 = time.monotonic()
        await w.sleep_until(t2 + 60)
        assert time.monotonic() - t2 < 30
        assert w.wakes == 3

    asyncio.run(main())
