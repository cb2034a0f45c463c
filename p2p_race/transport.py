"""The asyncio UDP endpoint every protocol of a peer speaks through.

One socket, one `Codec` (so one sequence space and one replay window per sender): the
signed-datagram rules of docs/ARCHITECTURE.md section 2 are enforced here once, and the protocol
layers above (discovery, match, chat mesh) only ever see verified `Packet`s, dispatched by
message class. Bad input is counted in `codec.drops` and never raises; a handler that
raises is logged and counted, never allowed to stop the socket.

    t = UdpTransport(identity, port=47800)
    await t.start()
    t.on(Hello, lambda packet, addr: ...)
    t.send(Hello(...), ("10.0.0.2", 47800))
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from p2p_race.identity import Identity
from p2p_race.wire import MAX_DATAGRAM, STREAM_GAME, Codec, Packet

log = logging.getLogger(__name__)

Addr = tuple[str, int]
RECV_BUFFER = 1 << 20  # bytes asked for; the kernel caps it (net.core.rmem_max)
RECV_SIZE = 2048  # > MAX_DATAGRAM: anything longer is refused by the codec anyway
DRAIN_BATCH = 256  # datagrams read per wake-up before other tasks get a turn
Handler = Callable[[Packet, Addr], Any]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable from a peer that just died, no route): expected
        # on a LAN with peers coming and going; liveness is the heartbeats' job.
        self.owner.stats["send_errors"] += 1
        log.debug("udp error: %s", exc)


class UdpTransport:
    """A signed-datagram UDP endpoint (docs/ARCHITECTURE.md section 2).

    `key_lookup(peer_id) -> public key | None` and `address_lookup(peer_id) -> (host, port)
    | None` are normally installed by `discovery.Discovery`; `set_key` / `set_address`
    add entries by hand (tests, static set-ups). `protect(peer_id) -> bool` (Discovery: "is a
    live peer") keeps a sender's replay window from ever being evicted. With `fallback=True` a taken `port`
    falls back to a free one, so several peers run side by side on one machine.
    """

    def __init__(
        self,
        identity: Identity,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        stream: int = STREAM_GAME,
        key_lookup: Callable[[str], bytes | None] | None = None,
        address_lookup: Callable[[str], Addr | None] | None = None,
        max_size: int = MAX_DATAGRAM,
        fallback: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.identity = identity
        self.host = host
        self.requested_port = port
        self.fallback = fallback
        self.clock = clock
        self.key_lookup = key_lookup
        self.address_lookup = address_lookup
        self.protect: Callable[[str], bool] | None = None
        self.codec = Codec(identity, stream=stream, key_lookup=self._key_of, max_size=max_size,
                           protect=self._protected, home=self._at_home)
        self.stats: Counter[str] = Counter()
        self._keys: dict[str, bytes] = {}
        self._addresses: dict[str, Addr] = {}
        self._handlers: dict[type, list[Handler]] = {}
        self._any: list[Handler] = []
        self._transport: asyncio.DatagramTransport | None = None  # only without loop readers
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> UdpTransport:
        loop = asyncio.get_running_loop()
        try:
            sock = self._bind(self.requested_port)
        except OSError as exc:
            if not (self.fallback and self.requested_port and exc.errno == errno.EADDRINUSE):
                raise
            log.info("UDP port %d is taken; using a free port", self.requested_port)
            sock = self._bind(0)
        try:  # room for a burst of junk, so honest heartbeats queue behind it, not drop
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        except OSError:
            log.debug("SO_RCVBUF not settable here")
        self.port = sock.getsockname()[1]
        try:
            # read every queued datagram per wake-up: asyncio's own datagram transport reads
            # one per event-loop turn, and under a flood the kernel then drops the rest
            loop.add_reader(sock.fileno(), self._drain)
        except NotImplementedError:  # an event loop without readers (Windows' proactor)
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
            self._transport = transport  # type: ignore[assignment]
            return self
        self._sock, self._loop = sock, loop
        return self

    def _bind(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def _drain(self) -> None:
        for _ in range(DRAIN_BATCH):
            sock = self._sock
            if sock is None:
                return  # a handler closed us
            try:
                data, addr = sock.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors (a peer that just died): liveness handles it
                self.stats["send_errors"] += 1
                log.debug("udp error: %s", exc)
                continue
            self._received(data, (addr[0], addr[1]))

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._loop.remove_reader(sock.fileno())
            sock.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def closed(self) -> bool:
        return self._sock is None and self._transport is None

    # -- keys and addresses -------------------------------------------------------------
    def set_key(self, peer_id: str, public_key: bytes) -> None:
        self._keys[peer_id] = public_key

    def set_address(self, peer_id: str, addr: Addr) -> None:
        self._addresses[peer_id] = addr

    def _key_of(self, peer_id: str) -> bytes | None:
        key = self._keys.get(peer_id)
        if key is None and self.key_lookup is not None:
            key = self.key_lookup(peer_id)
        return key

    def _protected(self, peer_id: str) -> bool:
        return peer_id in self._keys or (self.protect is not None and self.protect(peer_id))

    def _at_home(self, peer_id: str, source: str) -> bool:
        """From where this peer lives (or a peer keyed by hand with no address known)?"""
        addr = self.address_of(peer_id)
        return addr[0] == source if addr is not None else peer_id in self._keys

    def address_of(self, peer_id: str) -> Addr | None:
        addr = self._addresses.get(peer_id)
        if addr is None and self.address_lookup is not None:
            addr = self.address_lookup(peer_id)
        return addr

    # -- handlers -------------------------------------------------------------------------
    def on(self, msg_class: type, handler: Handler) -> None:
        """Call `handler(packet, addr)` for every verified message of `msg_class`.

        Several handlers per class are called in registration order; a coroutine
        function's result is scheduled as a task.
        """
        self._handlers.setdefault(msg_class, []).append(handler)

    def off(self, msg_class: type, handler: Handler) -> None:
        handlers = self._handlers.get(msg_class, [])
        if handler in handlers:
            handlers.remove(handler)

    def on_any(self, handler: Handler) -> None:
        """Call `handler(packet, addr)` for every verified packet (liveness tracking)."""
        self._any.append(handler)

    def off_any(self, handler: Handler) -> None:
        if handler in self._any:
            self._any.remove(handler)

    def _received(self, data: bytes, addr: Addr) -> None:
        self.stats["received"] += 1
        packet = self.codec.decode(data, addr[0])
        if packet is None:
            return
        for handler in self._any:
            self._call(handler, packet, addr)
        handlers = self._handlers.get(type(packet.msg))
        if not handlers:
            self.stats["unhandled"] += 1
            return
        for handler in list(handlers):
            self._call(handler, packet, addr)

    def _call(self, handler: Handler, packet: Packet, addr: Addr) -> None:
        try:
            result = handler(packet, addr)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._task_done)
        except Exception:  # noqa: BLE001 - a buggy handler must not stop the socket
            self.stats["handler_errors"] += 1
            log.exception("handler for %s failed", type(packet.msg).__name__)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats["handler_errors"] += 1
            log.error("async handler failed", exc_info=task.exception())

    # -- sending ------------------------------------------------------------------------
    def encode(self, msg: Any) -> bytes:
        return self.codec.encode(msg, self.clock())

    def send_raw(self, data: bytes, addr: Addr) -> bool:
        if self._sock is not None:
            try:
                self._sock.sendto(data, addr)
            except BlockingIOError:
                self.stats["send_dropped"] += 1  # the send buffer is full: like a lost datagram
                return False
            except OSError as exc:
                self.stats["send_errors"] += 1
                log.debug("udp send to %s: %s", addr, exc)
                return False
        elif self._transport is not None:
            self._transport.sendto(data, addr)
        else:
            return False
        self.stats["sent"] += 1
        self.stats["sent_bytes"] += len(data)
        return True

    def send(self, msg: Any, addr: Addr) -> bool:
        """Sign and send `msg` to `addr`; False when the transport is closed."""
        if self.closed:
            return False
        return self.send_raw(self.encode(msg), addr)

    def send_peer(self, msg: Any, peer_id: str) -> bool:
        """Send to a peer's known address; False when the address is unknown."""
        addr = self.address_of(peer_id)
        if addr is None:
            self.stats["no_address"] += 1
            return False
        return self.send(msg, addr)

    def broadcast(self, msg: Any, peer_ids: Iterable[str]) -> int:
        """Send one signed datagram to many peers (one signature: each receiver keeps its
        own replay window, so sharing the sequence number is safe). Returns how many."""
        if self.closed:
            return 0
        addrs = []
        for pid in peer_ids:
            addr = self.address_of(pid)
            if addr is None:
                self.stats["no_address"] += 1
            else:
                addrs.append(addr)
        return self.send_many(msg, addrs)

    def send_many(self, msg: Any, addrs: Iterable[Addr]) -> int:
        addrs = list(dict.fromkeys(addrs))
        if not addrs or self.closed:
            return 0
        data = self.encode(msg)
        for addr in addrs:
            self.send_raw(data, addr)
        return len(addrs)
