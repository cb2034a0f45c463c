"""What the headless peer commands (`bot`, `spectate`) share: opening the runtime."""

from __future__ import annotations

import asyncio
from typing import Any

from p2p_race.errors import UserError
from p2p_race.stopsignals import on_stop_signals


async def open_runtime(rt: Any, log: Any) -> asyncio.Event:
    """Open `rt` on the running loop and log `listening`; the returned event is set by
    SIGINT/SIGTERM, so the command can leave its match cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    on_stop_signals(stop.set, loop)
    try:
        await rt.open()
    except OSError as exc:
        raise UserError(f"cannot open the UDP port: {exc.strerror}") from exc
    log.emit("listening", id=rt.identity.peer_id, name=rt.name, port=rt.transport.port)
    return stop
