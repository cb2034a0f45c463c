"""The chat client with fallback, used by `p2p-race chat` and the in-game overlay.

It signs messages itself (the author's key lives in the data dir), so any peer's service
can accept them: it talks to the local service over loopback TCP and, when that one is
gone, to any other live service (the ones the local service listed, --peer addresses, a
discovery table). The rules (what stays pending, what is offered again on a new
connection, when a service counts as hung, which service comes next) are the sans-I/O
`chat.session.ClientSession`; this module is its adapter.

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
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chat.clientauth import signed_hello
from chat.framing import FrameError, read_frame, write_frame
from chat.history import History
from chat.message import KIND_SYSTEM, KIND_TEXT, LOBBY, ChatMessage
from chat.session import (
    ACK_TIMEOUT,
    Action,
    ClientSession,
    Drop,
    RateLimited,
    StartLocal,
    SwitchLocal,
    Write,
)
from chat.supervisor import ensure_service, running_info
from p2p_race.identity import Identity, load_or_create
from p2p_race.wakeup import Wakeup

__all__ = ["ChatClient", "RateLimited", "query_service", "send_notice"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]
CONNECT_TIMEOUT = 0.5
WELCOME_TIMEOUT = 1.0


class _Hung(Exception):
    """The service is alive but answers nothing (the session's ack timeout)."""


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
        self.start_service = start_service
        self.service_kw = service_kw or {}
        self.use_local = use_local
        self.session = ClientSession(self.identity, self.name, channel=channel, ack_timeout=ack_timeout,
                                     use_local=use_local)
        self.events: deque[tuple[float, str, Any]] = deque(maxlen=1000)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: Wakeup | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._spawning = False

    # -- state (the session's, read under the lock) ---------------------------------------
    @property
    def view(self) -> History:
        return self.session.view

    @property
    def channel(self) -> str | None:
        return self.session.channel

    @property
    def acked(self) -> dict[str, Addr]:
        return self.session.acked

    @property
    def failed(self) -> dict[str, str]:
        return self.session.failed

    @property
    def known_services(self) -> list[Addr]:
        return self.session.known_services

    @property
    def connected(self) -> Addr | None:
        return self.session.addr

    @property
    def connected_local(self) -> bool:
        return self.session.local

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
        self._kick()
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
            msg = self.session.send(text, channel, kind, hold=hold, wall=time.time())
            self._cond.notify_all()
        self._kick()
        return msg

    def held(self) -> int:
        """Lines waiting for the rate limit to allow them."""
        with self._lock:
            return len(self.session.held)

    def notice(self, text: str, channel: str = LOBBY) -> ChatMessage:
        """A system notice (host changed, winner, ...) signed by this peer."""
        return self.send(text, channel, kind=KIND_SYSTEM)

    def pending(self) -> list[str]:
        """Ids sent but not yet acknowledged by a service."""
        with self._lock:
            return self.session.pending()

    def wait_acked(self, msg_id: str, timeout: float) -> bool:
        """True once a service accepted `msg_id`; False on timeout or refusal."""
        return self._wait(lambda: True if msg_id in self.acked else False if msg_id in self.failed else None,
                          timeout)

    def wait_synced(self, timeout: float) -> bool:
        """True once connected and the service's history is in `view`."""
        return self._wait(lambda: True if self.session.synced else None, timeout)

    def _wait(self, verdict: Callable[[], bool | None], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = verdict()
                if v is not None:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    # -- reading --------------------------------------------------------------------------
    def messages(self, channel: str | None = None) -> list[ChatMessage]:
        with self._lock:
            return self.view.messages(channel)

    def poll(self) -> list[ChatMessage]:
        """Messages that arrived since the last poll (arrival order)."""
        with self._lock:
            out = list(self.session.inbox)
            self.session.inbox.clear()
            return out

    # -- the network thread -----------------------------------------------------------------
    def _kick(self) -> None:
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake.poke)

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._wake = Wakeup()
        ready.set()
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    def _local_addr(self) -> Addr | None:
        """Where this data dir's chat service listens now (its info file), if it runs."""
        info = running_info(self.data_dir)
        return (_local_host(info), int(info["port"])) if info is not None else None

    def _candidates(self) -> list[tuple[Addr, bool]]:
        local = self._local_addr() if self.use_local else None
        if self.use_local and local is None:
            self._maybe_spawn_local()
        others: list[Addr] = list(self.peers)
        if self.discovery is not None:
            with contextlib.suppress(Exception):
                others += list(self.discovery())
        with self._lock:
            return self.session.candidates(local, others, time.monotonic())

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

    async def _sleep(self, until: float) -> None:
        """Until the session's next deadline, or earlier when woken (a new line, close)."""
        assert self._wake is not None
        await self._wake.sleep_until(until)

    async def _run(self) -> None:
        while not self._closed:
            with self._lock:
                self.session.release_held(time.time())
            conn = await self._connect_any()
            if conn is None:
                with self._lock:
                    until = min(self.session.next_deadline(time.monotonic()), time.monotonic() + 0.1)
                await self._sleep(until)
                continue
            addr, local, reader, writer = conn
            hung = False
            try:
                await self._session(addr, local, reader, writer)
            except (TimeoutError, _Hung, FrameError, OSError) as exc:
                log.info("chat service %s lost: %s", addr, exc)
                # alive but not answering (hung, overloaded): try the others first
                hung = not isinstance(exc, ConnectionResetError)
            finally:
                with contextlib.suppress(Exception):
                    writer.close()
                with self._lock:
                    self.session.on_lost(addr, hung, time.monotonic())
                    self._cond.notify_all()
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

    def _do(self, writer: asyncio.StreamWriter, actions: list[Action]) -> bool:
        """Carry out the session's actions; False when the connection is to end."""
        for a in actions:
            match a:
                case Write(frame):
                    write_frame(writer, frame)
                case Drop(reason):
                    raise _Hung(reason)
                case StartLocal():
                    self._maybe_spawn_local()
                case SwitchLocal():
                    log.info("local chat service is back: switching to it")
                    return False
        return True

    async def _session(self, addr: Addr, local: bool, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        dialed = writer.get_extra_info("peername") or addr
        # signed: a service keeps room for its owner and for peers discovery listed
        write_frame(writer, signed_hello(self.identity, (str(dialed[0]), int(dialed[1])), time.time()))
        welcome = await asyncio.wait_for(read_frame(reader), WELCOME_TIMEOUT)
        with self._lock:
            actions = self.session.on_welcome(addr, local, welcome or {}, time.monotonic())
        if any(isinstance(a, Drop) for a in actions):
            raise FrameError("no welcome")
        self.events.append((time.time(), "connected", addr))
        log.info("chat client connected to %s%s", addr, " (local)" if local else "")
        self._do(writer, actions)
        reader_task = asyncio.create_task(self._read_loop(reader))
        reader_task.add_done_callback(lambda _t: self._kick())  # the connection ended: no waiting
        try:
            while not self._closed and not reader_task.done():
                with self._lock:
                    now = time.monotonic()
                    actions = self.session.tick(now, time.time(), self._local_addr)
                    until = self.session.next_deadline(now)
                    self._cond.notify_all()
                if not self._do(writer, actions):
                    return
                await writer.drain()
                await self._sleep(until)
            if reader_task.done():
                reader_task.result()
        finally:
            reader_task.cancel()
            with contextlib.suppress(BaseException):
                await reader_task

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            frame = await read_frame(reader)
            if frame is None:
                raise ConnectionResetError("service closed the connection")
            # verify outside the lock: the game's frame, polling the client, never waits for it
            decoded = self.session.decode(frame) if frame.get("t") in ("msg", "hist") else None
            with self._lock:
                self.session.on_frame(frame, time.monotonic(), time.time(), decoded)
                self._cond.notify_all()
            if frame.get("t") == "ack":
                self.events.append((time.time(), "ack", frame.get("id")))
                self._kick()  # a refused line may be written again at once


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


def query_service(addr: Addr, frame: dict[str, Any], timeout: float = 3.0,
                  identity: Identity | None = None) -> dict[str, Any]:
    """One request/answer with a service as a client (blocking; tests, benchmarks, tools).

    `frame` is e.g. {"t": "stats"} or {"t": "hist"}; returns the answer frame. With
    `identity` the hello is signed (the service's owner is served even when it is full).
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
        dialed = sock.getpeername()
        hello = ({"t": "hello", "role": "client", "id": "query"} if identity is None
                 else signed_hello(identity, (str(dialed[0]), int(dialed[1])), time.time()))
        sock.sendall(encode_frame(hello))
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
