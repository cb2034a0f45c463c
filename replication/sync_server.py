"""asyncio adapter for result sync over TCP (the core is replication.sync).

Frames: a 4-byte big-endian length, then one JSON sync message of at most `MAX_FRAME` bytes;
a longer length header or a malformed frame ends the connection. A round on one connection:

    client: Digest                        server: Offer... Done
    client: Request... Records... Done    server: Records... Done      (then both close)

TCP keeps order, so the server's second Done comes after every Records it owes. Store work
runs in a worker thread (`asyncio.to_thread`) so hosting sync never stalls the game loop.

Slow clients cannot hold sync: each session has deadlines (idle between frames, a frame
finished within FRAME_TIMEOUT of its first byte, the whole round within SESSION_TIMEOUT),
one source address holds at most MAX_SESSIONS_PER_ADDR of the MAX_SESSIONS slots, and when
the slots are full a newcomer takes the slot of a session that has kept us waiting for its
next frame longest (over SHED_AFTER), from the address holding the most slots. A session
that talks steadily but has held its slot longer than a round needs (SHED_AGE; an honest
round of 10,000 results takes ~2.5 s) can be shed as well, oldest first: clients that keep
sending cheap frames cannot pin every slot either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from p2p_race.framing import FrameError, FrameReader, ReadBudget, frame
from p2p_race.framing import read_frame as read_body
from replication.store import ResultStore
from replication.sync import MAX_FRAME, Done, Msg, SyncPeer, decode, encode

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0  # a client's wait for the server (sync_with, sync_loop)
SERVER_IDLE = 10.0  # the server's wait for a client's next frame
FRAME_TIMEOUT = 10.0
SESSION_TIMEOUT = 120.0
SHED_AFTER = 1.0
SHED_AGE = 5.0  # a session older than this may give its slot to a newcomer
MAX_SESSIONS = 8
MAX_SESSIONS_PER_ADDR = 2
READ_BUDGET = 3 * MAX_FRAME  # partial-frame bytes all sessions may hold together


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


class _Session:
    def __init__(self, ip: str, writer: asyncio.StreamWriter, started: float = 0.0) -> None:
        self.ip = ip
        self.writer = writer
        self.started = started
        self.waiting_since: float | None = None  # since when we wait for its next frame

    def sheddable(self, now: float) -> bool:
        slow = self.waiting_since is not None and now - self.waiting_since > SHED_AFTER
        return slow or now - self.started > SHED_AGE


class _Slots:
    """Fair session slots (see the module docstring); `now` is the loop's clock."""

    def __init__(self, total: int, per_addr: int) -> None:
        self.total = total
        self.per_addr = per_addr
        self.sessions: set[_Session] = set()

    def admit(self, new: _Session, now: float) -> _Session | None | bool:
        """True: admitted; a _Session: admitted, shed that one; False: refused."""
        mine = [s for s in self.sessions if s.ip == new.ip]
        if len(mine) >= self.per_addr:
            pool = mine
        elif len(self.sessions) >= self.total:
            counts: Counter[str] = Counter(s.ip for s in self.sessions)
            pool = [s for s in self.sessions if counts[s.ip] > len(mine)]
        else:
            self.sessions.add(new)
            return True
        slow = [s for s in pool if s.sheddable(now)]
        if not slow:
            return False
        counts = Counter(s.ip for s in slow)
        victim = min(slow, key=lambda s: (-counts[s.ip], -_waited(s, now), s.started))
        self.sessions.discard(victim)
        self.sessions.add(new)
        return victim


def _waited(s: _Session, now: float) -> float:
    return 0.0 if s.waiting_since is None else now - s.waiting_since


async def serve_sync(store: ResultStore, host: str = "127.0.0.1", port: int = 0, *,
                     max_sessions: int = MAX_SESSIONS, max_per_addr: int = MAX_SESSIONS_PER_ADDR,
                     idle_timeout: float = SERVER_IDLE,
                     session_timeout: float = SESSION_TIMEOUT) -> asyncio.base_events.Server:
    """Accept sync rounds from peers; returns the started asyncio server (`.close()` it).

    The bound port is `server.sockets[0].getsockname()[1]`; `server.sync_stats` counts
    sessions refused (busy), shed (slow) and dropped (timeouts, bad frames).
    """
    slots = _Slots(max_sessions, max_per_addr)
    budget = ReadBudget(READ_BUDGET)
    stats: Counter[str] = Counter()

    async def session(sess: _Session, reader: asyncio.StreamReader, core: SyncPeer) -> None:
        frames = FrameReader(reader, MAX_FRAME, idle_timeout=idle_timeout, frame_timeout=FRAME_TIMEOUT,
                             budget=budget)
        loop = asyncio.get_running_loop()
        try:
            while True:
                sess.waiting_since = loop.time()
                data = await frames.read()
                sess.waiting_since = None
                if data is None:
                    break
                msg, replies = await _handle(core, data)
                if isinstance(msg, Done):
                    replies = [Done()]
                write_msgs(sess.writer, replies)
                await sess.writer.drain()
        finally:
            frames.release()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # returning normally on cancellation (server shutdown) keeps asyncio from logging
        # the handler task's CancelledError as an error
        with contextlib.suppress(asyncio.CancelledError):
            await client_session(reader, writer)

    async def client_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        now = asyncio.get_running_loop().time()
        sess = _Session(str(peer[0]), writer, now)
        verdict = slots.admit(sess, now)
        if verdict is False:
            stats["busy"] += 1
            writer.close()
            return
        if isinstance(verdict, _Session):
            stats["shed"] += 1
            verdict.writer.close()
        core = SyncPeer(store)
        try:
            await asyncio.wait_for(session(sess, reader, core), session_timeout)
        except (TimeoutError, FrameError, ConnectionError) as exc:
            stats["dropped"] += 1
            log.info("sync session ended: %s", exc or type(exc).__name__)
        finally:
            slots.sessions.discard(sess)
            stats.update(core.stats)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(on_client, host, port, limit=1 << 16)
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
