"""asyncio adapter for result sync over TCP (the core is replication.sync).

Frames: a 4-byte big-endian length, then one JSON sync message of at most `MAX_FRAME` bytes;
a longer length header or a malformed frame ends the connection. A round on one connection:

    client: Digest                        server: Offer... Done
    client: Request... Records... Done    server: Records... Done      (then both close)

TCP keeps order, so the server's second Done comes after every Records it owes. Store work
runs in a worker thread (`asyncio.to_thread`) so hosting sync never stalls the game loop.
Sessions are capped and idle connections time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from p2p_race.framing import LENGTH, FrameError, frame
from p2p_race.framing import read_frame as read_body
from replication.store import ResultStore
from replication.sync import MAX_FRAME, Done, Msg, SyncPeer, decode, encode

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0
MAX_SESSIONS = 8


async def read_frame(reader: asyncio.StreamReader, timeout: float = IDLE_TIMEOUT) -> bytes | None:
    """One sync frame body, or None on a clean EOF between frames."""
    return await read_body(reader, MAX_FRAME, timeout)


def write_msgs(writer: asyncio.StreamWriter, msgs: list[Msg]) -> None:
    for msg in msgs:
        writer.write(frame(encode(msg), MAX_FRAME))


async def _handle(core: SyncPeer, data: bytes) -> tuple[Msg, list[Msg]]:
    try:
        msg = decode(data)
    except ValueError as exc:
        raise FrameError(f"malformed frame: {exc}") from None
    replies = await asyncio.to_thread(core.handle, msg)
    return msg, replies


@dataclass
class SyncReport:
    added: int = 0
    pushed: int = 0
    rejected: int = 0
    received: int = 0


async def serve_sync(store: ResultStore, host: str = "127.0.0.1", port: int = 0, *,
                     max_sessions: int = MAX_SESSIONS,
                     idle_timeout: float = IDLE_TIMEOUT) -> asyncio.base_events.Server:
    """Accept sync rounds from peers; returns the started asyncio server (`.close()` it).

    The bound port is `server.sockets[0].getsockname()[1]`.
    """
    sessions = asyncio.Semaphore(max_sessions)
    stats: Counter[str] = Counter()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if sessions.locked():
            stats["busy"] += 1
            writer.close()
            return
        async with sessions:
            core = SyncPeer(store)
            try:
                while True:
                    data = await read_frame(reader, idle_timeout)
                    if data is None:
                        break
                    msg, replies = await _handle(core, data)
                    if isinstance(msg, Done):
                        replies = [Done()]
                    write_msgs(writer, replies)
                    await writer.drain()
            except (TimeoutError, FrameError, ConnectionError) as exc:
                stats["dropped"] += 1
                log.info("sync session ended: %s", exc or type(exc).__name__)
            finally:
                stats.update(core.stats)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    server = await asyncio.start_server(on_client, host, port, limit=MAX_FRAME + LENGTH.size)
    server.sync_stats = stats  # type: ignore[attr-defined]
    return server


async def sync_with(store: ResultStore, host: str, port: int, *,
                    timeout: float = IDLE_TIMEOUT) -> SyncReport:
    """Run one sync round with the peer at host:port: afterwards both hold the union."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    core = SyncPeer(store)
    dones = 0
    try:
        write_msgs(writer, core.start())
        await writer.drain()
        while dones < 2:
            data = await read_frame(reader, timeout)
            if data is None:
                raise ConnectionError("peer closed the sync session early")
            msg, replies = await _handle(core, data)
            if isinstance(msg, Done):
                dones += 1
                if dones == 1:
                    replies = [Done()]
            write_msgs(writer, replies)
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    s = core.stats
    return SyncReport(added=s["added"], pushed=s["pushed"], rejected=s["rejected"],
                      received=s["added"] + s["duplicate"] + s["rejected"])


async def sync_loop(store: ResultStore, peers: Callable[[], list[tuple[str, int]]], *,
                    interval: float = 20.0, rng: random.Random | None = None,
                    timeout: float = IDLE_TIMEOUT) -> None:
    """Anti-entropy for a peer process: every ~`interval` s (jittered, so peers do not all
    sync at once) run one round with a random peer from `peers()` (host, sync port pairs,
    e.g. from discovery). Runs until cancelled; an unreachable peer only costs that round.
    """
    rng = rng or random.Random()
    while True:
        await asyncio.sleep(interval * (0.5 + rng.random()))
        candidates = list(peers())
        if not candidates:
            continue
        host, port = rng.choice(candidates)
        try:
            report = await sync_with(store, host, port, timeout=timeout)
            if report.added or report.pushed:
                log.info("synced with %s:%d: %d new, %d pushed", host, port, report.added, report.pushed)
        except (OSError, TimeoutError, FrameError, ConnectionError) as exc:
            log.info("sync with %s:%d failed: %s", host, port, exc or type(exc).__name__)
