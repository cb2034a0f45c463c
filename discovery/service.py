"""`Discovery`: the asyncio adapter that drives the `PeerTable` core (docs/ARCHITECTURE.md section 3).

It owns no socket of its own: it speaks Hello / Heartbeat / Leave / PeerList through the
caller's `UdpTransport` (installing the table as the transport's key and address book),
runs the zeroconf adapter, and runs the table's timers at the deadlines it reports
(p2p_race/wakeup.py), not by polling. The chat service
reuses it with its own transport, service type and ports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable

from discovery.mdns import MdnsAdapter
from discovery.messages import (
    HELLO_KNOWN,
    MAX_MATCH_ID_BYTES,
    MAX_STATE_BYTES,
    PEERLIST_MAX,
    Heartbeat,
    Hello,
    Leave,
    PeerList,
    PeerRef,
    padded,
)
from discovery.table import (
    HEARTBEAT_INTERVAL,
    TIMEOUT,
    Answer,
    Beat,
    Challenge,
    Event,
    Greet,
    HelloInfo,
    Output,
    Peer,
    PeerTable,
    Pins,
    Share,
)
from discovery.txt import SERVICE_TYPE, TxtRecord, build_txt, instance_name
from p2p_race import netinfo
from p2p_race.errors import UserError
from p2p_race.text import check_name
from p2p_race.transport import Addr, UdpTransport
from p2p_race.wakeup import Wakeup
from p2p_race.wire import Packet

log = logging.getLogger(__name__)

TICK = 0.05  # the retry delay after a failed tick
Subscriber = Callable[[str, Peer], None]


def parse_peer_address(text: str, default_port: int = netinfo.DEFAULT_GAME_PORT) -> Addr:
    """`HOST`, `HOST:PORT` or `[V6]:PORT` -> (host, port); raises UserError when malformed."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UserError(f"--peer {text}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise UserError(f"--peer {text}: expected [ADDRESS]:PORT")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    if not host:
        raise UserError(f"--peer {text}: missing host")
    return host, port


def _ipv6_of(v4_addrs: list[str]) -> tuple[list[str], list[int]]:
    """IPv6 addresses and interface indexes of the (multicast, non-loopback) interfaces that
    carry `v4_addrs`: DNS-SD also announces AAAA records and listens on IPv6 there."""
    addrs: list[str] = []
    indexes: list[int] = []
    for iface in netinfo.interfaces():
        if iface.loopback or not iface.multicast or not iface.ipv6 or not set(iface.ipv4) & set(v4_addrs):
            continue
        try:
            indexes.append(socket.if_nametoindex(iface.name))
        except OSError:
            continue
        addrs.extend(iface.ipv6)
    return addrs, indexes


def _check_text(what: str, value: str, limit: int) -> None:
    if len(value.encode("utf-8")) > limit:
        raise ValueError(f"{what} must be at most {limit} bytes of UTF-8")


def bind_host(interface: str | None) -> str:
    """The address a peer's UDP sockets bind to: every interface, or the one `--interface`
    (a name or an IP) chose. Raises UserError when it matches nothing."""
    if not interface:
        return "0.0.0.0"
    addrs = netinfo.lan_ipv4(interface)
    if not addrs:
        raise UserError(f"--interface {interface} matches no interface with an IPv4 address "
                        "(see `p2p-race doctor`)")
    return addrs[0]


async def _resolve(addr: Addr) -> Addr:
    """A `--peer` host name -> its IPv4 address, once (never a blocking lookup per send)."""
    host, port = addr
    try:
        ipaddress.IPv4Address(host)
        return addr
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise UserError(f"--peer {host}: cannot resolve it ({exc.strerror or exc}); use an IPv4 address") from exc
    return infos[0][4][0], port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UserError(f"--peer {whole}: port must be 1-65535")
    return int(text)


class Discovery:
    def __init__(
        self,
        identity,
        transport: UdpTransport,
        name: str,
        service_type: str = SERVICE_TYPE,
        interface: str | None = None,
        peers: Iterable[str | Addr] = (),
        txt_extra: dict[str, str] | None = None,
        *,
        game_port: int | None = None,
        chat_port: int = 0,
        state: str = "lobby",
        match_id: str = "",
        pins: Pins | None = None,
        mdns: bool = True,
        mdns_interfaces: list[str] | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        timeout: float = TIMEOUT,
    ) -> None:
        check_name(name, "name")  # the one name rule (p2p_race.text)
        _check_text("state", state, MAX_STATE_BYTES)
        _check_text("match id", match_id, MAX_MATCH_ID_BYTES)
        self.identity = identity
        self.transport = transport
        self.name = name
        self.service_type = service_type
        self.interface = interface or None
        self.static = [p if isinstance(p, tuple) else parse_peer_address(p) for p in peers]
        self.txt_extra = dict(txt_extra or {})
        self._game_port = game_port
        self.chat_port = chat_port
        self.state = state
        self.match_id = match_id
        self.use_mdns = mdns
        self.mdns_interfaces = mdns_interfaces
        self._wakeup = Wakeup()
        self.table = PeerTable(identity.peer_id, pins=pins, timeout=timeout,
                               heartbeat_interval=heartbeat_interval,
                               wall_offset=time.time() - time.monotonic())
        self.mdns: MdnsAdapter | None = None
        self.times: dict[str, float] = {}
        self._subscribers: list[Subscriber] = []
        self.mdns_first_seen: dict[str, float] = {}  # peer id -> wall time its DNS-SD record arrived
        self.on_mdns_seen: Callable[[str], None] | None = None  # benchmarks: zeroconf-alone latency
        self._ticker: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._started = False
        self._twin_warned = False

    # -- public API ------------------------------------------------------------------------
    @property
    def peer_id(self) -> str:
        return self.identity.peer_id

    @property
    def game_port(self) -> int:
        return self._game_port or self.transport.port

    def peers(self) -> list[Peer]:
        return self.table.list()

    def peer(self, peer_id: str) -> Peer | None:
        p = self.table.peers.get(peer_id)
        return p.snapshot() if p else None

    def key_of(self, peer_id: str) -> bytes | None:
        return self.table.key_of(peer_id)

    def address_of(self, peer_id: str) -> Addr | None:
        return self.table.address_of(peer_id)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """`callback(event, peer)` for every added / updated / removed; returns unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def set_state(self, state: str, match_id: str = "") -> None:
        """Change what we advertise: peers hear it within one datagram, DNS-SD follows."""
        _check_text("state", state, MAX_STATE_BYTES)
        _check_text("match id", match_id, MAX_MATCH_ID_BYTES)
        if (state, match_id) == (self.state, self.match_id):
            return
        self.state, self.match_id = state, match_id
        if not self._started:
            return
        self._send_heartbeats_now()
        if self.mdns is not None:
            self._spawn(self.mdns.update(self._txt()))

    def add_peer_address(self, addr: str | Addr) -> None:
        """Like `--peer`: greet this address until someone answers there."""
        target = addr if isinstance(addr, tuple) else parse_peer_address(addr)
        if not self._started:
            self.static.append(target)
            return

        async def add() -> None:
            resolved = await _resolve(target)
            self.static.append(resolved)
            self._apply(self.table.add_static(resolved, time.monotonic()))
            self._wakeup.poke()  # a new peer or candidate: maybe a nearer deadline

        self._spawn(add())

    async def start(self) -> None:
        """Begin answering hellos, greet `--peer` addresses and start mDNS in the background
        (registration probing takes ~1 s; browsing finds existing peers in ~30 ms)."""
        mdns_addrs = self.mdns_addresses() if self.use_mdns else []  # a bad --interface fails first
        self.static = [await _resolve(addr) for addr in self.static]
        if self.transport.closed:
            await self.transport.start()
        self.times["start"] = time.time()
        t = self.transport
        if t.key_lookup is None:
            t.key_lookup = self.table.key_of
        if t.address_lookup is None:
            t.address_lookup = self.table.address_of
        if t.protect is None:
            t.protect = self.table.peers.__contains__  # live peers' replay windows stay
        t.on(Hello, self._on_hello)
        t.on(Heartbeat, self._on_heartbeat)
        t.on(Leave, self._on_leave)
        t.on(PeerList, self._on_peerlist)
        t.on_any(self._on_any)
        self._started = True
        now = time.monotonic()
        for addr in self.static:
            self._apply(self.table.add_static(addr, now))
            self._wakeup.poke()  # a new peer or candidate: maybe a nearer deadline
        self._ticker = asyncio.ensure_future(self._tick_loop())
        if self.use_mdns:
            await self._start_mdns(mdns_addrs)

    async def stop(self, reason: str = "exit") -> None:
        """Clean exit: a signed Leave to every peer, then DNS-SD goodbyes."""
        if not self._started:
            return
        self._started = False
        peers = list(self.table.peers)
        if peers and not self.transport.closed:
            self.transport.broadcast(Leave(reason.encode()[:32].decode("utf-8", "ignore")), peers)
        t = self.transport
        for cls, handler in ((Hello, self._on_hello), (Heartbeat, self._on_heartbeat),
                             (Leave, self._on_leave), (PeerList, self._on_peerlist)):
            t.off(cls, handler)
        t.off_any(self._on_any)
        if self._ticker is not None:
            self._ticker.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.mdns is not None:
            await self.mdns.close()
        self.times["stopped"] = time.time()

    # -- mDNS -------------------------------------------------------------------------------
    def mdns_addresses(self) -> list[str]:
        if self.mdns_interfaces is not None:
            return list(self.mdns_interfaces)
        addrs = netinfo.lan_ipv4(self.interface)
        if self.interface and not addrs:
            raise UserError(f"--interface {self.interface} matches no interface with an IPv4 address "
                            "(see `p2p-race doctor`)")
        return addrs

    async def _start_mdns(self, addrs: list[str]) -> None:
        self.table.local_addrs = list(addrs)  # a DNS-SD record's addresses on our subnets first
        if all(a.startswith("127.") for a in addrs):
            log.warning("no LAN interface with multicast: mDNS reaches only this machine; "
                        "add other players with --peer HOST (see `p2p-race doctor`)")
        v6_addrs, v6_ifs = ([], []) if self.mdns_interfaces is not None else _ipv6_of(addrs)
        self.mdns = MdnsAdapter(self.service_type, interfaces=addrs, v6_interfaces=v6_ifs,
                                v6_addresses=v6_addrs, on_record=self._on_mdns_record,
                                on_removed=self._on_mdns_removed)
        if not await self.mdns.start():
            return
        self.times["browsing"] = self.mdns.times["browsing"]
        instance = instance_name(self.name, self.peer_id, self.service_type)
        server = f"p2prace-{self.peer_id}-{self.transport.port}.local."
        self._spawn(self.mdns.register(instance, server, self.transport.port, self._txt(), addrs))

    def _txt(self) -> dict[str, str]:
        return build_txt(self.identity.public_key, self.name, self.game_port, self.chat_port,
                         self.state, self.match_id, self.txt_extra)

    def _on_mdns_record(self, instance: str, record: TxtRecord, addrs: list[str], port: int) -> None:
        if record.peer_id == self.peer_id:  # not our own record: the adapter filters that one
            if not self._twin_warned:
                self._twin_warned = True
                log.warning("another p2p-race runs with this identity at %s:%d (same data dir?); other "
                            "players see the two as one peer: give each its own --data-dir",
                            addrs[0], port)
            return
        if record.peer_id not in self.mdns_first_seen:
            self.mdns_first_seen[record.peer_id] = time.time()
            if self.on_mdns_seen is not None:
                self.on_mdns_seen(record.peer_id)
        self._apply(self.table.mdns_seen(instance, record.peer_id, addrs, port, time.monotonic()))
        self._wakeup.poke()  # a new peer or candidate: maybe a nearer deadline

    def _on_mdns_removed(self, instance: str) -> None:
        self._apply(self.table.mdns_removed(instance, time.monotonic()))

    # -- messages ---------------------------------------------------------------------------
    def _hello(self, reply: bool, cookie: bytes, echo: bytes = b"", known: bool = False) -> Hello:
        refs = tuple(PeerRef(k, h, p) for k, h, p in self.table.refs(None, HELLO_KNOWN)) if known else ()
        return Hello(self.identity.public_key, self.service_type, self.name, self.game_port,
                     self.chat_port, self.state, self.match_id, reply, refs, cookie, echo)

    def _on_hello(self, packet: Packet, addr: Addr) -> None:
        msg: Hello = packet.msg
        if msg.service != self.service_type:
            return
        info = HelloInfo(msg.public_key, msg.name, msg.game_port, msg.chat_port, msg.state,
                         msg.match_id, msg.reply, tuple((r.public_key, r.host, r.port) for r in msg.known),
                         msg.cookie, msg.echo, packet.size)
        self._apply(self.table.on_hello(packet.sender, info, addr, time.monotonic()))
        self._wakeup.poke()  # a new peer or candidate: maybe a nearer deadline

    def _on_heartbeat(self, packet: Packet, addr: Addr) -> None:
        m: Heartbeat = packet.msg
        self._apply(self.table.on_heartbeat(packet.sender, m.state, m.match_id, m.sent, m.echo,
                                            m.echo_delay, addr, time.monotonic()))

    def _on_leave(self, packet: Packet, addr: Addr) -> None:
        self._apply(self.table.on_leave(packet.sender, time.monotonic()))

    def _on_peerlist(self, packet: Packet, addr: Addr) -> None:
        refs = tuple((r.public_key, r.host, r.port) for r in packet.msg.peers)
        self._apply(self.table.on_peerlist(packet.sender, refs, addr, time.monotonic()))
        self._wakeup.poke()  # a new peer or candidate: maybe a nearer deadline

    def _on_any(self, packet: Packet, addr: Addr) -> None:
        self.table.on_packet(packet.sender, addr, time.monotonic())

    # -- outputs ------------------------------------------------------------------------------
    def _apply(self, outputs: list[Output]) -> None:
        t = self.transport
        for out in outputs:
            if isinstance(out, Event):
                self._emit(out)
            elif isinstance(out, Beat):
                t.send(Heartbeat(self.state, self.match_id, time.monotonic(), out.echo, out.echo_delay), out.addr)
            elif isinstance(out, Greet):
                t.send(padded(self._hello(True, out.cookie)), out.addr)
            elif isinstance(out, Challenge):
                data = t.encode(self._hello(True, out.cookie, out.echo))
                if len(data) <= out.limit:  # never more than the unproven address sent us
                    t.send_raw(data, out.addr)
                else:
                    t.stats["challenge_over_limit"] += 1
            elif isinstance(out, Answer):
                t.send(self._hello(False, out.cookie, out.echo, known=True), out.addr)
            elif isinstance(out, Share):
                self._share(out.peer_id, out.about)

    def _share(self, peer_id: str, about: str | None = None) -> None:
        refs = [PeerRef(k, h, p) for k, h, p in self.table.refs(exclude=peer_id, only=about)]
        for i in range(0, len(refs), PEERLIST_MAX):
            self.transport.send_peer(PeerList(tuple(refs[i:i + PEERLIST_MAX])), peer_id)

    def _emit(self, event: Event) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event.kind, event.peer)
            except Exception:  # noqa: BLE001 - a subscriber bug must not stop discovery
                log.exception("discovery subscriber failed")

    def _send_heartbeats_now(self) -> None:
        self._apply(self.table.beat_now(time.monotonic()))

    async def _tick_loop(self) -> None:
        """Deadlines, not polling: tick, then sleep until the table's next deadline or a poke."""
        while True:
            try:
                self._apply(self.table.tick(time.monotonic()))
                at = self.table.next_deadline(time.monotonic())
            except Exception:  # noqa: BLE001
                log.exception("discovery tick failed")
                at = time.monotonic() + TICK
            await self._wakeup.sleep_until(at)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
