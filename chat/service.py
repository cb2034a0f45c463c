"""The chat service: one OS process per peer (per data dir), the asyncio adapter around
`ChatNode`, meshed over TCP with the other peers' services and serving local/remote clients.

    python -m chat.service --data-dir D [--port P] [--peer HOST:PORT ...]
    p2p-race chat --serve

Why TCP between services (not UDP with the wire codec): chat needs reliable, ordered
delivery and bulk history sync (5,000 messages of up to 500 characters); TCP gives that,
plus flow control and an immediate end-of-stream when a service dies, which is what lets
a client fall back in milliseconds. Authenticity does not depend on the link: every
message carries its author's signature and is verified by every receiver.

One port serves both: the first frame of a connection says whether it is a peer service
(`{"t": "hello", "role": "peer", ...}`) or a client (`"role": "client"`). A single
instance per data dir is guaranteed by an OS file lock on `chat.lock` (released by the
OS even on SIGKILL); `chat.json` says where the running one listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chat.clientauth import SeenProofs, proven_id
from chat.core import ChatNode
from chat.framing import FrameError, FrameReader, ReadBudget, decode_body, encode_frame
from chat.history import History
from chat.limits import KeyedBuckets, Limits
from chat.message import KIND_SYSTEM, LOBBY, ChatMessage, InvalidMessage
from chat.peers import PeerSource, StaticPeers, chat_addr_of_game_peer, parse_addr
from chat.store import ChatStore, StoreError
from chat.supervisor import InstanceLock, write_info
from p2p_race import netinfo
from p2p_race.backoff import BackoffMap
from p2p_race.identity import Identity, load_or_create
from p2p_race.stopsignals import on_stop_signals
from p2p_race.wakeup import Wakeup

log = logging.getLogger("chat.service")

Addr = tuple[str, int]
DIAL_INTERVAL = 0.5
DIAL_BACKOFF_MAX = 30.0  # an address we were told about is tried at most this rarely
MAX_DIALING = 4  # outgoing connection attempts in flight at once
LEARNED_PER_HELLO = 8  # addresses taken from one peer's hello
LEARNED_FAILS = 3  # a learned address that failed this often in a row is forgotten
MAX_LEARNED = 64  # learned (not configured, not discovered) addresses kept at once
HELLO_TIMEOUT = 3.0
MAX_CLIENT_HISTORY = 5000
# Admission (README, Chat > Transport): caps before and after the hello, fair per
# source address; when a class is full the newcomer takes the slot of the idlest
# connection of the address holding the most, so one host cannot lock the others out.
# Against many addresses: a connection still waiting for its hello after PENDING_GRACE
# gives way to a newer one (an honest hello comes within a round trip); a client proven by a signed hello
# (chat/clientauth.py: the owner, or a peer discovery listed at that address) takes the
# slot of a weaker one; an anonymous newcomer takes the slot of one silent ANON_IDLE.
MAX_PENDING, MAX_PENDING_PER_ADDR = 64, 8
MAX_CLIENTS, MAX_CLIENTS_PER_ADDR = 192, 32
MAX_PEERS, MAX_PEERS_PER_ADDR = 64, 16
RANK_ANON, RANK_PEER, RANK_OWNER = 0, 1, 2  # clients: who gives way to whom
ANON_IDLE = 6.0  # honest clients ask for peers every 2 s: silent this long is not one in use
PENDING_GRACE = 1.0  # a new connection's hello may sit unread this long (a burst of accepts)
THIS_MACHINE = ("127.0.0.1", "::1")  # no other host opens a TCP connection from these: the
# owner's clients wait for their hello in MAX_PENDING_PER_ADDR slots of their own
IDLE_TIMEOUT = 30.0  # no frame at all for this long: gone (clients ask for peers every 2 s)
FRAME_TIMEOUT = 10.0  # a frame begun must be complete within this
HELLO_FRAME, CLIENT_FRAME, PEER_FRAME = 16 * 1024, 64 * 1024, 1024 * 1024
READ_BUDGET = 8 * 1024 * 1024  # partial-frame bytes held for all connections together
MAX_BUFFERED = 16 * 1024 * 1024  # bytes queued for one connection before we give up on it
MAX_TOTAL_BUFFERED = 16 * 1024 * 1024  # for all connections: past it, the largest queue goes
# Client lines, by our clock: stored lines per author; submits per connection and per
# source address; identities new to this service per source address, and from anonymous
# clients over all addresses (a swarm on many addresses; proven clients are exempt).
AUTHOR_BURST, AUTHOR_RATE = 10.0, 1.5
CONN_BURST, CONN_RATE = 30.0, 5.0
ADDR_BURST, ADDR_RATE = 60.0, 10.0
NEW_AUTHOR_BURST, NEW_AUTHOR_RATE = 32.0, 0.1
ANON_NEW_AUTHOR_BURST, ANON_NEW_AUTHOR_RATE = 64.0, 0.5
HIST_BURST, HIST_RATE = 4.0, 0.2  # full-history answers per connection


class Conn:
    """One TCP connection (peer link or client), with a write queue of frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.remote: Addr = (str(peer[0]), int(peer[1]))
        self.role = "?"
        self.peer_id = ""
        self.listen: Addr | None = None  # a peer service's own listening address
        self.channel: str | None = None  # a client's subscription (None: all)
        self.subscribed = False
        self.closed = False
        self.frames: FrameReader | None = None
        self.last_rx = time.monotonic()
        self.rank = RANK_ANON  # a client's proof (chat/clientauth.py)
        self.pool: set[Conn] | None = None  # all connections, for the shared output bound

    def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            data = encode_frame(frame)
        except FrameError as exc:
            log.debug("send to %s failed: %s", self.remote, exc)
            self.close()
            return
        self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        """An encoded frame (answers many clients ask for are encoded once), queued unless
        this connection, or all of them together, hold too much unread output."""
        if self.closed:
            return
        queued = self.writer.transport.get_write_buffer_size()
        if queued > MAX_BUFFERED:
            log.info("%r reads too slowly: closing it", self)
            self.close(abort=True)  # a peer or client that never reads must not grow our memory
            return
        if queued > 1 << 20 and self.pool is not None and _queued(self.pool) > MAX_TOTAL_BUFFERED:
            victim = max((c for c in list(self.pool) if not c.closed), key=_queue_size, default=self)
            log.info("output for all connections over %d bytes: closing %r", MAX_TOTAL_BUFFERED, victim)
            victim.close(abort=True)  # the one holding the most: honest readers drain theirs
            if victim is self:
                return
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("send to %s failed: %s", self.remote, exc)
            self.close()

    def close(self, abort: bool = False) -> None:
        """End the connection; `abort` drops what is still queued for it (a close would
        keep that memory until a peer that never reads reads it)."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                if abort:
                    self.writer.transport.abort()
                else:
                    self.writer.close()

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<Conn {self.role} {self.peer_id[:8]} {self.remote}>"


class ChatService:
    def __init__(self, identity: Identity, data_dir: Path, *, name: str = "", host: str = "0.0.0.0",
                 port: int = 0, peers: Iterable[Addr] = (), sources: Iterable[PeerSource] = (),
                 store: bool = True, announce: bool = True) -> None:
        self.identity = identity
        self.data_dir = Path(data_dir)
        self.name = name or f"peer-{identity.peer_id[:6]}"
        self.host = host
        self.port = port
        self.store = ChatStore(self.data_dir) if store else None
        self._wakeup = Wakeup()  # the node's timers run at its deadlines (p2p_race/wakeup.py)
        # new-author budgets per peer address: a reconnect gets no fresh one (chat/core.py)
        self.node = ChatNode(History(), source_of=lambda conn: conn.remote[0])
        self.sources: list[PeerSource] = [StaticPeers(peers), *sources]
        self.announce = announce
        self.conns: set[Conn] = set()
        self.pending: set[Conn] = set()  # accepted, hello not yet read
        self.known: dict[Addr, str] = {}  # service address -> peer id ("" until hello)
        self.learned: dict[Addr, int] = {}  # addresses only a peer's hello named -> failures
        self._dialing: set[Addr] = set()
        self._dials: BackoffMap[Addr] = BackoffMap(2 * DIAL_INTERVAL, DIAL_BACKOFF_MAX)
        self._self_addrs: set[Addr] = set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self.budget = ReadBudget(READ_BUDGET)
        self.limits = Limits(conn=KeyedBuckets(CONN_BURST, CONN_RATE),
                             addr=KeyedBuckets(ADDR_BURST, ADDR_RATE))
        self.author_lines = KeyedBuckets(AUTHOR_BURST, AUTHOR_RATE)
        self.new_authors = KeyedBuckets(NEW_AUTHOR_BURST, NEW_AUTHOR_RATE)
        self.anon_new_authors = KeyedBuckets(ANON_NEW_AUTHOR_BURST, ANON_NEW_AUTHOR_RATE)
        self.learn_budget = KeyedBuckets(LEARNED_PER_HELLO, LEARNED_PER_HELLO / 300)
        self.hist_budget = KeyedBuckets(HIST_BURST, HIST_RATE)
        self._seen_proofs = SeenProofs()
        self.refused: dict[str, int] = {}  # admission refusals and sheddings, by reason
        self._hist_cache: dict[tuple[str | None, int | None], tuple[tuple[str, int], bytes]] = {}
        self.started_at = time.time()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self.store is not None:
            n = self.store.load_into(self.node.history, time.time())
            log.info("loaded %d messages from %s", n, self.store.path)
        # asyncio's default reuse_address: on POSIX only (on Windows SO_REUSEADDR would let
        # a second service share the port instead of moving to a free one)
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]
        for src in self.sources:
            await src.start(self)
        self._tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._dialer())]
        if self.announce:
            self.post_system(f"{self.name} joined")
        log.info("chat service %s listening on %s:%d", self.identity.peer_id, self.host, self.port)

    async def stop(self, say_goodbye: bool = True) -> None:
        if say_goodbye and self.announce:
            self.post_system(f"{self.name} left")
            await self._drain(0.3)
        for src in self.sources:
            with contextlib.suppress(Exception):
                await src.stop()
        for t in self._tasks:
            t.cancel()
        if self._server is not None:
            self._server.close()
        for c in list(self.conns | self.pending):
            c.close()
        if self.store is not None:
            self.store.close()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for c in list(self.conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.writer.drain(), max(0.01, deadline - time.monotonic()))

    # -- posting --------------------------------------------------------------------------
    def post_system(self, text: str, channel: str = LOBBY) -> ChatMessage | None:
        """A system notice signed by this peer (joined, left, ...)."""
        try:
            msg = ChatMessage.create(self.identity, name=self.name, channel=channel, text=text,
                                     clock=self.node.history.clock + 1, t=time.time(), kind=KIND_SYSTEM)
        except InvalidMessage:
            return None
        res = self.submit(msg, None)
        return res.new

    def submit(self, msg: ChatMessage, source: Conn | None):
        """Store and flood a line; `res.new` is set only once it is on disk."""
        res, acts = self.node.submit(msg, time.monotonic(), source)
        if not self._apply(acts) and res.new is not None:
            res.new, res.reason = None, "store_failed"
        return res

    def _apply(self, acts) -> bool:
        """Make the node's actions happen: store first, then send. False when the store
        failed: then the new lines are taken back out of the log and nothing is sent, so
        no ack and no flood announces a line this peer does not hold."""
        if acts.delivered or acts.removed:
            if self.store is not None:
                try:
                    self.store.save(acts.delivered, acts.removed)
                except StoreError as exc:
                    log.error("%s; acknowledging nothing until it can be written", exc)
                    self.node.history.forget([m.id for m in acts.delivered])
                    return False
        for link, frame in acts.sends:
            link.send(frame)
        if acts.delivered or acts.removed:
            for c in list(self.conns):
                if c.role != "client" or not c.subscribed:
                    continue
                for m in acts.delivered:
                    if c.channel is None or m.channel == c.channel:
                        c.send({"t": "msg", "m": m.to_wire()})
                if acts.removed:
                    c.send({"t": "gone", "ids": acts.removed})
        return True

    # -- timers ---------------------------------------------------------------------------
    async def _ticker(self) -> None:
        """Deadlines, not polling: the mesh node says when its next digest is due."""
        while True:
            await self._wakeup.sleep_until(self.node.next_deadline(time.monotonic()))
            self._apply(self.node.tick(time.monotonic()))

    async def _dialer(self) -> None:
        while True:
            now = time.monotonic()
            for src in self.sources:
                try:
                    for addr in src.addresses():
                        self.known.setdefault(addr, "")
                        self.learned.pop(addr, None)  # configured or discovered: kept for good
                except Exception:  # noqa: BLE001 - a broken source must not stop the mesh
                    log.exception("peer source %r failed", src)
            linked = {c.listen for c in self.conns if c.role == "peer" and c.listen}
            linked_ids = {c.peer_id for c in self.conns if c.role == "peer"}
            for addr, pid in list(self.known.items()):
                if len(self._dialing) >= MAX_DIALING:
                    break
                if addr in linked or addr in self._dialing or addr in self._self_addrs:
                    continue
                if pid and pid in linked_ids:
                    continue
                if self._dials.waiting(addr, now):
                    continue
                self._dialing.add(addr)
                asyncio.create_task(self._dial(addr))
            await asyncio.sleep(DIAL_INTERVAL)

    def _dial_failed(self, addr: Addr, wait: float | None = None) -> None:
        """Back off exponentially; forget an address only a peer named after a few tries."""
        self._dials.fail(addr, time.monotonic(), wait or 0.0)
        if addr in self.learned:
            self.learned[addr] += 1
            if self.learned[addr] >= LEARNED_FAILS:
                self._forget(addr)

    def _forget(self, addr: Addr) -> None:
        for table in (self.known, self.learned):
            table.pop(addr, None)
        self._dials.forget(addr)

    # -- connections ----------------------------------------------------------------------
    def _hello(self) -> dict[str, Any]:
        return {"t": "hello", "role": "peer", "id": self.identity.peer_id, "name": self.name,
                "port": self.port, "peers": [list(a) for a in self.service_addrs()]}

    def service_addrs(self) -> list[Addr]:
        """Addresses of the other peers' services we know to be live (for clients' fallback)."""
        out = [c.listen for c in self.conns if c.role == "peer" and c.listen and not c.closed]
        return sorted(set(out))

    async def _dial(self, addr: Addr) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr, limit=1 << 16), 2.0)
        except (TimeoutError, OSError):
            self._dialing.discard(addr)
            self._dial_failed(addr)
            return
        conn = Conn(reader, writer)
        conn.frames = FrameReader(reader, PEER_FRAME, idle_timeout=HELLO_TIMEOUT,
                                  frame_timeout=HELLO_TIMEOUT, budget=self.budget)
        try:
            conn.send(self._hello())
            reply = await self._read_json(conn)
            self._dialing.discard(addr)
            if not self._peer_hello_ok(conn, reply, addr):
                conn.close()
                if addr in self.learned:
                    self._forget(addr)  # only a peer said a service was there: there is none
                else:
                    self._dial_failed(addr, DIAL_BACKOFF_MAX)
                return
            if not self._admit(conn, "peer"):
                return
            self._dials.ok(addr)
            self.learned.pop(addr, None)
            await self._run_peer(conn)
        finally:
            self._dialing.discard(addr)
            conn.frames.release()  # bytes left after the hello go back to the shared budget

    async def _read_json(self, conn: Conn) -> dict[str, Any] | None:
        """The connection's next frame as JSON, or None when it ended, broke the framing or
        stayed silent past its timeouts (the reason is counted)."""
        assert conn.frames is not None
        try:
            body = await conn.frames.read()
            if body is None:
                return None
            conn.last_rx = time.monotonic()
            return decode_body(body)
        except TimeoutError:
            self._count("timeout")
        except FrameError as exc:
            self._count("budget" if "partial" in str(exc) else "bad_frame")
        except OSError:
            pass
        return None

    def _count(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def _admit(self, conn: Conn, role: str) -> bool:
        """Take a slot for `conn` in its class (pending, client, peer), shedding another
        connection when the class is full (`_victim`); False (and closed) when none gives way."""
        cap, per_addr = {"pending": (MAX_PENDING, MAX_PENDING_PER_ADDR),
                         "client": (MAX_CLIENTS, MAX_CLIENTS_PER_ADDR),
                         "peer": (MAX_PEERS, MAX_PEERS_PER_ADDR)}[role]
        if role == "pending":
            here = conn.remote[0] in THIS_MACHINE
            pool = {c for c in self.pending if (c.remote[0] in THIS_MACHINE) == here}
            cap = per_addr if here else cap
        else:
            pool = {c for c in self.conns if c.role == role}
        idle = {"pending": PENDING_GRACE, "client": ANON_IDLE, "peer": None}[role]
        victim = _victim(conn, pool, cap, per_addr, idle)
        if victim is False:
            self._count(f"{role}_full")
            conn.close()
            return False
        if victim is not None:
            self._count(f"{role}_shed")
            victim.close(abort=True)
            pool.discard(victim)
            self.pending.discard(victim)
            self.conns.discard(victim)
        if role == "pending":
            self.pending.add(conn)
        return True

    def _client_rank(self, conn: Conn, hello: dict) -> int:
        """RANK_OWNER for our own key, RANK_PEER for a key discovery listed at the client's
        address, proven by the hello's signature over the address it dialed; else anonymous."""
        here = conn.writer.get_extra_info("sockname") or ("", 0)
        pid = proven_id(hello, (str(here[0]), int(here[1])), time.time(),
                        lambda p: self._trusted_client(p, conn.remote[0]), self._seen_proofs)
        if pid is None:
            return RANK_ANON
        conn.peer_id = pid
        return RANK_OWNER if pid == self.identity.peer_id else RANK_PEER

    def _vouched_addrs(self) -> set[Addr]:
        """Service addresses someone we trust named: configured ones (--peer, config) and
        those of peers discovery listed at their proven address (never a DNS-SD hint). A
        peer link there ranks above one from anywhere else, so a swarm of links from many
        addresses with made-up ids cannot keep the mesh's own links out (`_victim`). An
        incoming link is at (its TCP source address, the port its hello names): only a
        process on that machine can claim it."""
        out: set[Addr] = set()
        for src in self.sources:
            try:
                table = getattr(src, "table", None)
                if table is None:
                    out.update(src.addresses())
                    continue
                out.update((p.addr[0], p.chat_port) for p in table() if p.addr is not None and p.chat_port)
            except Exception:  # noqa: BLE001 - a broken source must not stop the mesh
                log.exception("peer source %r failed", src)
        return out

    def _trusted_client(self, peer_id: str, ip: str) -> bool:
        if peer_id == self.identity.peer_id:
            return True
        for src in self.sources:
            for p in getattr(src, "table", list)():
                if p.id == peer_id and (p.addr is not None and p.addr[0] == ip or ip in p.addresses):
                    return True
        return False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # returning normally on cancellation (shutdown) keeps asyncio from logging the
        # handler task's CancelledError as an error (Python 3.11 streams callback)
        with contextlib.suppress(asyncio.CancelledError):
            conn = Conn(reader, writer)
            try:
                await self._accept_inner(conn)
            finally:
                self.pending.discard(conn)
                if conn.frames is not None:
                    conn.frames.release()

    async def _accept_inner(self, conn: Conn) -> None:
        if not self._admit(conn, "pending"):
            return
        conn.frames = FrameReader(conn.reader, HELLO_FRAME, idle_timeout=HELLO_TIMEOUT,
                                  frame_timeout=HELLO_TIMEOUT, budget=self.budget)
        first = await self._read_json(conn)
        self.pending.discard(conn)
        if conn.closed or not isinstance(first, dict) or first.get("t") != "hello":
            conn.close()
            return
        if first.get("role") == "client":
            conn.rank = self._client_rank(conn, first)
            if self._admit(conn, "client"):
                await self._run_client(conn, first)
            return
        if first.get("role") != "peer" or not self._peer_hello_ok(conn, first, None):
            conn.close()
            return
        if not self._admit(conn, "peer"):
            return
        conn.send(self._hello())
        await self._run_peer(conn)

    def _peer_hello_ok(self, conn: Conn, hello: Any, dialed: Addr | None) -> bool:
        if not isinstance(hello, dict) or hello.get("t") != "hello" or hello.get("role") != "peer":
            return False
        pid, port = hello.get("id"), hello.get("port")
        if (not isinstance(pid, str) or len(pid) != 16 or pid.strip("0123456789abcdef")
                or not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
            return False  # the id is printed (`chat --status`): hex only
        if pid == self.identity.peer_id:
            if dialed is not None:
                self._self_addrs.add(dialed)
            return False
        conn.role = "peer"
        conn.peer_id = pid
        conn.listen = dialed or (conn.remote[0], port)
        conn.rank = RANK_PEER if conn.listen in self._vouched_addrs() else RANK_ANON
        self.known[conn.listen] = pid
        self._learn(hello.get("peers"), conn.remote[0])
        return True

    def _learn(self, items: Any, source_ip: str) -> None:
        """Take a few of the addresses a peer's hello names: at most LEARNED_PER_HELLO per
        source address per five minutes, MAX_LEARNED in all, each dropped after a few
        failed dials, so no peer's list makes us dial more than a small multiple of it."""
        if not isinstance(items, list):
            return
        now = time.monotonic()
        for item in items[:LEARNED_PER_HELLO]:
            addr = parse_addr(item)
            if addr is None or addr in self.known or addr in self._self_addrs:
                continue
            if len(self.learned) >= MAX_LEARNED or not self.learn_budget.take(source_ip, now):
                self._count("learn_over_budget")
                return
            self.known[addr] = ""
            self.learned[addr] = 0

    async def _run_peer(self, conn: Conn) -> None:
        self.conns.add(conn)
        conn.pool = self.conns
        assert conn.frames is not None
        conn.frames.limit(PEER_FRAME, idle_timeout=IDLE_TIMEOUT, frame_timeout=FRAME_TIMEOUT)
        log.info("linked with peer %s at %s", conn.peer_id, conn.listen)
        self._apply(self.node.link_up(conn, time.monotonic()))
        self._wakeup.poke()  # a new link: its first digest is due in a second
        try:
            while not conn.closed:
                frame = await self._read_json(conn)
                if frame is None:
                    break
                self._apply(self.node.on_frame(conn, frame, time.monotonic()))
        finally:
            conn.frames.release()
            self.node.link_down(conn)
            self.conns.discard(conn)
            conn.close()
            if conn.listen:
                self._dials.hold(conn.listen, time.monotonic() + DIAL_INTERVAL)
            log.info("peer %s link closed", conn.peer_id)

    async def _run_client(self, conn: Conn, hello: dict) -> None:
        conn.role = "client"
        self.conns.add(conn)
        conn.pool = self.conns
        assert conn.frames is not None
        conn.frames.limit(CLIENT_FRAME, idle_timeout=IDLE_TIMEOUT, frame_timeout=FRAME_TIMEOUT)
        conn.send({"t": "welcome", "id": self.identity.peer_id, "name": self.name,
                   "clock": self.node.history.clock, "peers": [list(a) for a in self.service_addrs()]})
        try:
            while not conn.closed:
                frame = await self._read_json(conn)
                if frame is None:
                    break
                self._client_frame(conn, frame)
        finally:
            conn.frames.release()
            self.conns.discard(conn)
            self.limits.buckets["conn"].forget(conn)
            self.hist_budget.forget(conn)
            conn.close()

    def _client_frame(self, conn: Conn, frame: dict) -> None:
        kind = frame.get("t")
        if kind == "submit":
            conn.send(self._client_submit(conn, frame.get("m")))
        elif kind == "sub":
            ch = frame.get("channel")
            conn.channel = ch if isinstance(ch, str) else None
            conn.subscribed = True
        elif kind == "hist":
            if conn.writer.transport.get_write_buffer_size() > 1 << 20:
                self._count("hist_unread")
                conn.close(abort=True)  # asks again before reading the last answer
                return
            if not self.hist_budget.take(conn, time.monotonic()):
                self._count("hist_over_budget")
                conn.close(abort=True)  # honest clients ask once per connection
                return
            ch = frame.get("channel")
            limit = frame.get("limit")
            limit = limit if isinstance(limit, int) and 0 < limit <= MAX_CLIENT_HISTORY else None
            conn.send_raw(self._hist_answer(ch if isinstance(ch, str) else None, limit))
        elif kind == "peers":
            conn.send({"t": "peers", "peers": [list(a) for a in self.service_addrs()]})
        elif kind == "stats":
            conn.send({"t": "stats", **self.stats()})
        elif kind == "ping":
            conn.send({"t": "pong"})

    def _hist_answer(self, channel: str | None, limit: int | None) -> bytes:
        """The encoded history answer, cached until the log changes: asking for it again
        costs a dictionary look-up, not an encoding of 5,000 lines."""
        h = self.node.history
        key = (channel, limit)
        stamp = (h.digest(), h.clock)
        hit = self._hist_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        msgs = h.messages(channel, limit)
        try:
            data = encode_frame({"t": "hist", "m": [m.to_wire() for m in msgs], "clock": h.clock})
        except FrameError:  # too large for one frame: the newest lines that fit
            data = encode_frame({"t": "hist", "m": [m.to_wire() for m in msgs[-1000:]], "clock": h.clock})
        if len(self._hist_cache) >= 16:
            self._hist_cache.clear()
        self._hist_cache[key] = (stamp, data)
        return data

    def _client_submit(self, conn: Conn, wire: Any) -> dict[str, Any]:
        """A client's line: parse, rate-limit by our clock, store durably, then the ack."""
        h = self.node.history
        try:
            msg = ChatMessage.from_wire(wire)
        except InvalidMessage as exc:
            return {"t": "ack", "id": "", "ok": False, "reason": exc.reason}
        msg_id = _id_or_blank(msg)
        now = time.monotonic()
        ip = conn.remote[0]
        refused = self.limits.take(now, conn=conn, addr=ip)
        # identities new here: per address, and from anonymous clients over all addresses;
        # a proven client's own lines (chat/clientauth.py) are exempt
        new_author = not h.author_count(msg.author_id) and not (
            conn.rank > RANK_ANON and msg.author_id == conn.peer_id)
        if refused is None and not h.known(msg_id):
            # checked now, charged only once the line is stored (a forged line costs its
            # author nothing)
            if not self.author_lines.allows(msg.author_key, now):
                refused = "author"
            elif new_author and not self.new_authors.allows(ip, now):
                refused = "new_author"
            elif new_author and not self.anon_new_authors.allows("all", now):
                refused = "anon_new_author"
        if refused is not None:
            # "busy", not "rate_limited": this service's budget, not the rule that refuses the
            # id everywhere, so the client offers the same line again later (chat/session.py)
            self.node.drops[f"client_{refused}_over_budget"] += 1
            return {"t": "ack", "id": msg_id, "ok": False, "reason": "busy", "clock": h.clock}
        res = self.submit(msg, None)
        if res.new is not None:
            self.author_lines.take(msg.author_key, now)
            if new_author:
                self.new_authors.take(ip, now)
                self.anon_new_authors.take("all", now)
        ok = res.new is not None or res.duplicate
        return {"t": "ack", "id": res.new.id if res.new is not None else msg_id, "ok": ok,
                "reason": res.reason or "", "clock": h.clock}

    def stats(self) -> dict[str, Any]:
        h = self.node.history
        return {"id": self.identity.peer_id, "port": self.port, "count": len(h), "digest": h.digest(),
                "clock": h.clock, "drops": dict(h.drops + self.node.drops),
                "links": sorted(c.peer_id for c in self.conns if c.role == "peer"),
                "clients": sum(1 for c in self.conns if c.role == "client"),
                "clients_proven": sum(1 for c in self.conns if c.role == "client" and c.rank > RANK_ANON),
                "pending": len(self.pending), "refused": dict(self.refused), "buffered": self.budget.used,
                "known": len(self.known), "learned": len(self.learned), "dialing": len(self._dialing),
                "pid": os.getpid()}


def _victim(conn: Conn, pool: set[Conn], cap: int, per_addr: int, idle: float | None) -> Conn | None | bool:
    """Who gives up its slot to `conn`: None (there is room), a connection, or False (refuse).

    Over its address's share: its own idlest sibling of no higher rank. A full class: the
    idlest connection of a lower rank (of the address holding the most of them); else of
    its rank, the idlest of an address holding more than `conn`'s would; else the idlest
    of all once silent `idle` seconds (None: never)."""
    ip = conn.remote[0]
    mine = [c for c in pool if c.remote[0] == ip]
    if len(mine) >= per_addr:
        siblings = [c for c in mine if c.rank <= conn.rank]
        return min(siblings, key=_last_rx) if siblings else False
    if len(pool) < cap:
        return None
    weaker = [c for c in pool if c.rank < conn.rank]
    if weaker:
        return min(_busiest(weaker), key=_last_rx)
    equal = [c for c in pool if c.rank == conn.rank]
    if not equal:
        return False
    busiest = _busiest(equal)
    if len(busiest) > len(mine) + 1:
        return min(busiest, key=_last_rx)
    idlest = min(equal, key=_last_rx)
    if idle is not None and time.monotonic() - idlest.last_rx >= idle:
        return idlest
    return False


def _busiest(conns: list[Conn]) -> list[Conn]:
    """The connections of the address holding the most (of equals, the one silent longest)."""
    by_ip: dict[str, list[Conn]] = {}
    for c in conns:
        by_ip.setdefault(c.remote[0], []).append(c)
    return max(by_ip.values(), key=lambda group: (len(group), -min(map(_last_rx, group))))


def _last_rx(conn: Conn) -> float:
    return conn.last_rx


def _queue_size(conn: Conn) -> int:
    return conn.writer.transport.get_write_buffer_size()


def _queued(conns: Iterable[Conn]) -> int:
    return sum(_queue_size(c) for c in list(conns) if not c.closed)


def _id_or_blank(msg: ChatMessage) -> str:
    try:
        from chat.message import content_id

        return content_id(msg.content())
    except InvalidMessage:
        return ""


# -- process entry point ----------------------------------------------------------------
def add_service_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None,
                   help=f"chat TCP port (default: config chat_port, else {netinfo.DEFAULT_CHAT_PORT}; "
                        "0 = any free port)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    p.add_argument("--no-discovery", action="store_true",
                   help="find other chat services only through --peer and peer sharing")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chat.service", description="p2p-race chat service")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--name", default=None)
    p.add_argument("--peer", action="append", default=[], metavar="HOST[:PORT]")
    p.add_argument("--interface", default=None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    add_service_arguments(p)
    return p


def serve(args: argparse.Namespace) -> int:
    """Run the service in this process until SIGTERM/SIGINT (used by both entry points)."""
    from p2p_race.config import Config
    from p2p_race.errors import UserError
    from p2p_race.paths import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    lock = InstanceLock(data_dir)
    if not lock.acquire():
        info = lock.info() or {}
        print(json.dumps({"event": "already_running", "pid": info.get("pid"), "port": info.get("port")}),
              flush=True)
        return 0
    cfg = Config.load(data_dir)
    identity = load_or_create(data_dir)
    name = args.name or cfg.name or f"peer-{identity.peer_id[:6]}"
    peers = [parse_addr(p, netinfo.DEFAULT_CHAT_PORT) for p in args.peer]
    peers += [chat_addr_of_game_peer(p) for p in cfg.peers]
    if any(p is None for p in peers[:len(args.peer)]):
        raise UserError("--peer must be HOST or HOST:PORT")
    explicit = args.port is not None
    port = args.port if explicit else (cfg.chat_port or netinfo.DEFAULT_CHAT_PORT)
    sources: list[PeerSource] = []
    if not getattr(args, "no_discovery", False):
        from chat.peers import discovery_source

        src = discovery_source(identity, name, args.interface, data_dir)
        if src is not None:
            sources.append(src)

    async def main() -> int:
        nonlocal port
        svc = ChatService(identity, data_dir, name=name, host=args.host, port=port,
                          peers=[p for p in peers if p], sources=sources)
        try:
            await svc.start()
        except OSError as exc:
            if explicit or exc.errno != errno.EADDRINUSE:
                raise UserError(f"cannot listen on chat port {port}: {exc.strerror}") from exc
            log.warning("chat port %d busy, using a free port", port)
            svc = ChatService(identity, data_dir, name=name, host=args.host, port=0,
                              peers=[p for p in peers if p], sources=sources)
            await svc.start()
        write_info(data_dir, {"pid": os.getpid(), "port": svc.port, "host": args.host,
                              "id": identity.peer_id, "name": name, "started": time.time()})
        print(json.dumps({"event": "ready", "port": svc.port, "id": identity.peer_id,
                          "pid": os.getpid()}), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        on_stop_signals(stop.set, loop)
        await stop.wait()
        await svc.stop()
        return 0

    try:
        return asyncio.run(main())
    finally:
        lock.release()


def main(argv: list[str] | None = None) -> int:
    from p2p_race.cli import setup_logging
    from p2p_race.errors import UserError

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return serve(args)
    except UserError as exc:
        print(f"chat.service: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
