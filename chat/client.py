"""The chat client with fallback, used by `p2p-race chat` and the in-game overlay.

It signs messages itself (the author's key lives in the data dir), so any peer's service
can accept them: it talks to the local service over loopback TCP and, when that one is
gone, to any other live service (the ones the local service listed, --peer addresses, a
discovery table). On every (re)connection it resubmits what was not acknowledged, and its
recent messages too (a service may have acked and then died before passing them on);
ids are content hashes, so services deduplicate: nothing is lost, nothing duplicated.

All network work happens on a background thread with its own event loop; the public
methods are thread-safe and never block (except the explicit `wait_*` helpers), so a
pygame frame never waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chat.framing import FrameError, read_frame, write_frame
from chat.history import History
from chat.message import KIND_SYSTEM, KIND_TEXT, LOBBY, ChatMessage, InvalidMessage, content_id
from chat.supervisor import ensure_service, running_info
from p2p_race.identity import Identity, Verifier, load_or_create

log = logging.getLogger(__name__)

Addr = tuple[str, int]
CONNECT_TIMEOUT = 0.5
ACK_TIMEOUT = 0.6
RECENT = 200
LOCAL_RECHECK = 1.0
PENALTY = 3.0  # seconds a service that timed out goes to the back of the list
WELCOME_TIMEOUT = 1.0


class RateLimited(Exception):
    """Sending now would exceed the per-author rate: the message was not sent."""


class ChatClient:
    def __init__(self, data_dir: Path | str, *, name: str = "", peers: Iterable[Addr] = (),
                 discovery: Callable[[], Iterable[Addr]] | None = None, channel: str | None = None,
                 start_service: bool = False, service_kw: dict[str, Any] | None = None,
                 identity: Identity | None = None, ack_timeout: float = ACK_TIMEOUT,
                 use_local: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.identity = identity or load_or_create(self.data_dir)
        self.name = name or f"peer-{self.identity.peer_id[:6]}"
        self.peers = list(peers)
        self.discovery = discovery
        self.channel = channel  # subscription: None = every channel
        self.start_service = start_service
        self.service_kw = service_kw or {}
        self.ack_timeout = ack_timeout
        self.use_local = use_local
        self.view = History()
        self.known_services: list[Addr] = []
        self.connected: Addr | None = None
        self.connected_local = False
        self.events: deque[tuple[float, str, Any]] = deque(maxlen=1000)
        self.failed: dict[str, str] = {}  # id -> reason a service refused it
        self.acked: dict[str, Addr] = {}
        self._lock = threading.RLock()
        self._pending: OrderedDict[str, tuple[ChatMessage, float]] = OrderedDict()
        self._recent: deque[ChatMessage] = deque(maxlen=RECENT)
        self._inbox: deque[ChatMessage] = deque(maxlen=5000)
        self._held: deque[tuple[str, str, int]] = deque(maxlen=1000)
        self._cond = threading.Condition(self._lock)
        self._server_clock = 0
        self._synced = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._spawning = False
        self._last_addr: Addr | None = None
        self._penalty: dict[Addr, float] = {}
        self._last_rx = 0.0
        self._verifier = Verifier()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> ChatClient:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="chat-client",
                                        daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def close(self) -> None:
        self._closed = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)
        if self._thread is not None:
            self._thread.join(timeout=3)

    def __enter__(self) -> ChatClient:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- sending --------------------------------------------------------------------------
    def send(self, text: str, channel: str = LOBBY, *, kind: int = KIND_TEXT,
             hold: bool = False) -> ChatMessage | None:
        """Sign and queue `text`; returns the message (its id is final). Raises
        InvalidMessage (empty, too long, bad channel). Over the per-author rate it raises
        RateLimited, or with `hold=True` keeps the line and sends it as soon as the rate
        allows (returns None): a fast typist loses nothing."""
        with self._lock:
            if hold and self._held:
                _check_text(text, channel, kind, self.identity)
                self._held.append((text, channel, kind))
                return None
            try:
                msg = self._create(text, channel, kind)
            except RateLimited:
                if not hold:
                    raise
                self._held.append((text, channel, kind))
                return None
        self._kick()
        return msg

    def _create(self, text: str, channel: str, kind: int) -> ChatMessage:
        clock = max(self.view.clock, self._server_clock) + 1
        msg = ChatMessage.create(self.identity, name=self.name, channel=channel, text=text,
                                 clock=clock, t=time.time(), kind=kind)
        if self.view.would_rate_limit(msg):
            raise RateLimited("slow down: at most 5 messages per 5 seconds")
        res = self.view.add(msg, time.time(), trusted=True)
        self._pending[msg.id] = (msg, 0.0)
        self._recent.append(msg)
        if res.new is not None:
            self._inbox.append(res.new)
        self._cond.notify_all()
        return msg

    def held(self) -> int:
        """Lines waiting for the rate limit to allow them."""
        with self._lock:
            return len(self._held)

    def _release_held(self) -> None:
        with self._lock:
            while self._held:
                text, channel, kind = self._held[0]
                try:
                    self._create(text, channel, kind)
                except RateLimited:
                    return
                except InvalidMessage:
                    pass
                self._held.popleft()

    def notice(self, text: str, channel: str = LOBBY) -> ChatMessage:
        """A system notice (host changed, winner, ...) signed by this peer."""
        return self.send(text, channel, kind=KIND_SYSTEM)

    def pending(self) -> list[str]:
        """Ids sent but not yet acknowledged by a service."""
        with self._lock:
            return list(self._pending)

    def wait_acked(self, msg_id: str, timeout: float) -> bool:
        """True once a service accepted `msg_id`; False on timeout or refusal."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if msg_id in self.acked:
                    return True
                if msg_id in self.failed:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def wait_synced(self, timeout: float) -> bool:
        """True once connected and the service's history is in `view`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._synced:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- reading --------------------------------------------------------------------------
    def messages(self, channel: str | None = None) -> list[ChatMessage]:
        with self._lock:
            return self.view.messages(channel)

    def poll(self) -> list[ChatMessage]:
        """Messages that arrived since the last poll (arrival order)."""
        with self._lock:
            out = list(self._inbox)
            self._inbox.clear()
            return out

    # -- the network thread -----------------------------------------------------------------
    def _kick(self) -> None:
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.set)

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    def _candidates(self) -> list[tuple[Addr, bool]]:
        out: list[tuple[Addr, bool]] = []
        if self.use_local:
            info = running_info(self.data_dir)
            if info is not None:
                out.append(((_local_host(info), int(info["port"])), True))
            else:
                self._maybe_spawn_local()
        others: list[Addr] = list(self.peers) + list(self.known_services)
        if self.discovery is not None:
            with contextlib.suppress(Exception):
                others += list(self.discovery())
        seen = {a for a, _ in out}
        # the service we last used first (it was alive), then the rest in a stable order
        if self._last_addr in others:
            others.remove(self._last_addr)
            others.insert(0, self._last_addr)
        for a in others:
            if a not in seen:
                seen.add(a)
                out.append((a, False))
        now = time.monotonic()
        out.sort(key=lambda c: self._penalty.get(c[0], 0) > now)  # stable: penalized last
        return out

    def _maybe_spawn_local(self) -> None:
        """(Re)start this data dir's chat service in the background when allowed."""
        if self.start_service and not self._spawning:
            self._spawning = True
            threading.Thread(target=self._spawn_local, daemon=True).start()

    def _spawn_local(self) -> None:
        try:
            ensure_service(self.data_dir, **self.service_kw)
        except RuntimeError as exc:
            log.warning("cannot start the local chat service: %s", exc)
        finally:
            self._spawning = False
            self._kick()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closed:
            self._release_held()
            conn = await self._connect_any()
            if conn is None:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                continue
            addr, local, reader, writer = conn
            try:
                await self._session(addr, local, reader, writer)
            except (TimeoutError, FrameError, OSError) as exc:
                log.info("chat service %s lost: %s", addr, exc)
                if not isinstance(exc, ConnectionResetError):
                    # alive but not answering (hung, overloaded): try the others first
                    self._penalty[addr] = time.monotonic() + PENALTY
            finally:
                with contextlib.suppress(Exception):
                    writer.close()
                with self._lock:
                    self.connected = None
                    self.connected_local = False
                    self._synced = False
                self.events.append((time.time(), "disconnected", addr))

    async def _connect_any(self):
        for addr, local in self._candidates():
            if self._closed:
                return None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*addr, limit=1 << 16), CONNECT_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            return addr, local, reader, writer
        return None

    async def _session(self, addr: Addr, local: bool, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        assert self._wake is not None
        write_frame(writer, {"t": "hello", "role": "client", "id": self.identity.peer_id})
        welcome = await asyncio.wait_for(read_frame(reader), WELCOME_TIMEOUT)
        if not welcome or welcome.get("t") != "welcome":
            raise FrameError("no welcome")
        self._last_rx = time.monotonic()
        self._take_services(welcome.get("peers"), addr)
        clock = welcome.get("clock")
        with self._lock:
            self.connected = addr
            self.connected_local = local
            self._last_addr = addr
            if isinstance(clock, int):
                self._server_clock = max(self._server_clock, clock)
            # everything recent is offered again: dedup by id makes that harmless
            resend = {m.id: m for m in self._recent}
            for msg_id, (m, _t) in self._pending.items():
                resend[msg_id] = m
            now = time.monotonic()
            for msg_id in list(self._pending):
                self._pending[msg_id] = (self._pending[msg_id][0], now)
        self.events.append((time.time(), "connected", addr))
        log.info("chat client connected to %s%s", addr, " (local)" if local else "")
        write_frame(writer, {"t": "sub", "channel": self.channel})
        write_frame(writer, {"t": "hist", "channel": self.channel})
        for m in sorted(resend.values(), key=lambda m: m.key):
            write_frame(writer, {"t": "submit", "m": m.to_wire()})
        sent_ids = set(resend)
        reader_task = asyncio.create_task(self._read_loop(reader, addr))
        last_peers = time.monotonic()
        last_local_check = time.monotonic()
        try:
            while not self._closed and not reader_task.done():
                self._release_held()
                with self._lock:
                    fresh = [m for i, (m, t) in self._pending.items() if i not in sent_ids]
                    oldest = min((t for _m, t in self._pending.values() if t), default=None)
                now = time.monotonic()
                for m in fresh:
                    sent_ids.add(m.id)
                    with self._lock:
                        if m.id in self._pending:
                            self._pending[m.id] = (m, now)
                    write_frame(writer, {"t": "submit", "m": m.to_wire()})
                await writer.drain()
                if (oldest is not None and now - oldest > self.ack_timeout
                        and now - self._last_rx > self.ack_timeout):
                    # nothing at all heard for that long while a line waits: hung or gone
                    raise TimeoutError("no ack within the ack timeout")
                if now - last_peers > 2.0:
                    last_peers = now
                    write_frame(writer, {"t": "peers"})
                if not local and self.use_local and now - last_local_check > LOCAL_RECHECK:
                    last_local_check = now
                    info = running_info(self.data_dir)
                    if info is None:
                        self._maybe_spawn_local()  # we use a peer's service meanwhile
                    elif self._penalty.get((_local_host(info), int(info["port"])), 0) < now:
                        log.info("local chat service is back: switching to it")
                        return
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
            if reader_task.done():
                reader_task.result()
        finally:
            reader_task.cancel()
            with contextlib.suppress(BaseException):
                await reader_task

    async def _read_loop(self, reader: asyncio.StreamReader, addr: Addr) -> None:
        while True:
            frame = await read_frame(reader)
            if frame is None:
                raise ConnectionResetError("service closed the connection")
            self._last_rx = time.monotonic()
            kind = frame.get("t")
            if kind == "msg":
                self._take_msgs([frame.get("m")])
            elif kind == "hist":
                self._take_msgs(frame.get("m") if isinstance(frame.get("m"), list) else [])
                with self._lock:
                    self._synced = True
                    self._cond.notify_all()
            elif kind == "ack":
                self._take_ack(frame, addr)
            elif kind == "gone":
                ids = frame.get("ids")
                with self._lock:
                    for i in ids if isinstance(ids, list) else []:
                        if isinstance(i, str):
                            self.view._remove(i)
            elif kind == "peers":
                self._take_services(frame.get("peers"), addr)

    def _take_msgs(self, items: list) -> None:
        # verify outside the lock (a 5,000-line history takes a few hundred ms to check):
        # the game's frame, polling the client, never waits for it
        now = time.time()
        checked = []
        for item in items:
            try:
                msg = ChatMessage.from_wire(item)
                if content_id(msg.content()) in self.view.by_id:
                    continue
                checked.append(msg.verified(self._verifier))
            except InvalidMessage:
                continue
        with self._lock:
            for msg in checked:
                res = self.view.add(msg, now, trusted=True)
                if res.new is not None:
                    self._inbox.append(res.new)
            self._cond.notify_all()

    def _take_ack(self, frame: dict, addr: Addr) -> None:
        msg_id = frame.get("id")
        if not isinstance(msg_id, str):
            return
        clock = frame.get("clock")
        with self._lock:
            if isinstance(clock, int):
                self._server_clock = max(self._server_clock, clock)
            reason = str(frame.get("reason") or "refused")
            if frame.get("ok"):
                self.acked[msg_id] = addr
            elif msg_id in self._pending and reason == "rate_limited":
                # the service knew more of our recent lines than we did (another client of
                # this peer, or we had not synced yet): the rule refuses it everywhere, so
                # write it again later with a fresh stamp instead of losing it
                msg = self._pending[msg_id][0]
                self.view._remove(msg_id)
                self._held.appendleft((msg.text, msg.channel, msg.kind))
            elif msg_id in self._pending:
                self.failed[msg_id] = reason
            self._pending.pop(msg_id, None)
            self.events.append((time.time(), "ack", msg_id))
            self._cond.notify_all()

    def _take_services(self, peers: Any, via: Addr) -> None:
        if not isinstance(peers, list):
            return
        out = []
        for p in peers[:256]:
            if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int):
                out.append((p[0], p[1]))
        with self._lock:
            merged = [a for a in self.known_services if a not in out] + out
            self.known_services = merged[-64:]


def _local_host(info: dict[str, Any]) -> str:
    """Where to reach this machine's service: loopback unless it listens on one address."""
    host = info.get("host")
    return host if isinstance(host, str) and host not in ("", "0.0.0.0", "::") else "127.0.0.1"


def send_notice(data_dir: Path | str, text: str, channel: str = LOBBY, *, name: str = "",
                timeout: float = 3.0, peers: Iterable[Addr] = ()) -> bool:
    """Post a system notice (host changed, winner, ...) as this peer and wait until a chat
    service accepted it. Blocking: call it from a worker thread, not from a frame."""
    with ChatClient(data_dir, name=name, peers=peers) as client:
        client.wait_synced(min(timeout, 1.0))
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = client.send(text, channel, kind=KIND_SYSTEM)
                break
            except RateLimited:
                if time.monotonic() > deadline:
                    return False
                threading.Event().wait(0.1)
        return bool(msg) and client.wait_acked(msg.id, max(0.0, deadline - time.monotonic()))


def _check_text(text: str, channel: str, kind: int, identity: Identity) -> None:
    """Raise InvalidMessage now for a line that could never be sent."""
    ChatMessage.create(identity, name="x", channel=channel, text=text, clock=1, t=0.0, kind=kind)


def query_service(addr: Addr, frame: dict[str, Any], timeout: float = 3.0) -> dict[str, Any]:
    """One request/answer with a service as a client (blocking; tests, benchmarks, tools).

    `frame` is e.g. {"t": "stats"} or {"t": "hist"}; returns the answer frame.
    """
    import socket

    from chat.framing import MAX_FRAME, decode_body, encode_frame

    def read(sock: socket.socket) -> dict[str, Any]:
        head = _recv_exact(sock, 4)
        n = int.from_bytes(head, "big")
        if n > MAX_FRAME:
            raise FrameError("frame too large")
        return decode_body(_recv_exact(sock, n))

    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(encode_frame({"t": "hello", "role": "client", "id": "query"}))
        welcome = read(sock)
        if welcome.get("t") != "welcome":
            raise FrameError("no welcome")
        sock.sendall(encode_frame(frame))
        while True:
            answer = read(sock)
            if answer.get("t") not in ("msg", "gone"):
                return answer


def _recv_exact(sock: Any, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError("closed")
        buf += chunk
    return bytes(buf)
