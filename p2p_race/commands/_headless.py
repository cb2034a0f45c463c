"""What the headless peer commands (`bot`, `spectate`) share: opening the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from p2p_race.errors import UserError


async def open_runtime(rt: Any, log: Any) -> asyncio.Event:
    """Open `rt` on the running loop and log `listening`; the returned event is set by
    SIGINT/SIGTERM, so the command can leave its match cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await rt.open()
    except OSError as exc:
        raise UserError(f"cannot open the UDP port: {exc.strerror}") from exc
    log.emit("listening", id=rt.identity.peer_id, name=rt.name, port=rt.transport.port)
    return stop
