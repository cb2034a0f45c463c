"""The peer table: a sans-I/O core fed verified messages, DNS-SD hints and the clock.

Every method takes `now` (seconds of a monotonic clock) and returns outputs for the adapter:
`Event` (added / updated / removed, for subscribers), `Greet` (send a padded hello asking
for one back), `Challenge` (send a small hello that carries a cookie, within a byte limit),
`Answer` (send a hello back), `Share` (send our peer list), `Beat` (send a heartbeat). No
sockets, no sleeps: tests drive it with a fake clock.

No amplification (README, "Security: the threat model"): an address is *proven* once a hello
signed by a peer echoes the cookie we sent there (discovery/cookies.py). To an unproven
address we send only a `Challenge` no larger than the datagram it sent us (greetings are
padded so an honest one always gets its answer), and we list a peer, move its address or
count its traffic for liveness only from a proven address. Shared peer candidates are
capped per source address, greeted once at a rate bounded per source, then forgotten.
Bounded state: the table evicts the newest peer of the address holding the most entries
when full, so identities minted from a few addresses cannot keep a newcomer out.

Trust: only signed messages put a peer in the table. DNS-SD records, `--peer` addresses
and shared peer lists are *candidates*: addresses to greet until a signed hello answers.
So a spoofed mDNS record or a dead peer's stale record never shows up as a live player.
Liveness: any verified datagram refreshes a peer; silence for `timeout` removes it; a
`Leave` removes it at once. TOFU: the first key seen under a name is pinned; a different
key under that name is listed with `key_changed=True` and the pin is not moved.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import accumulate
from typing import Protocol

from discovery.cookies import AddressCookies
from p2p_race.backoff import backoff_delay
from p2p_race.identity import PinResult, peer_id_of
from p2p_race.text import valid_name

Addr = tuple[str, int]

HEARTBEAT_INTERVAL = 0.25  # 4 beats/s of ~150 bytes: ~600 B/s per direction per pair
TIMEOUT = 1.1  # > 4 beats: tolerates 3 lost in a row; SIGKILL detected in ~0.85-1.15 s
# greet times after a candidate appears: at once, then p2p_race.backoff's rule (0.1 s doubling,
# capped at 1.5 s): 0, 0.1, 0.3, 0.7, 1.5, 3.0; after the last step every REGREET seconds
GREET_BACKOFF = (0.0, *(round(t, 6) for t in accumulate(backoff_delay(n, 0.1, 1.5) for n in range(1, 6))))
REGREET = 5.0
STATIC_REGREET = 1.0  # --peer addresses: retried every second until they answer
SHARED_TTL = 3.0  # a candidate from someone's peer list gets ONE greeting, and is dropped this
SHARED_WAIT = 10.0  # long after it; one not greeted yet (its source's rate) after this
SHARED_PER_SOURCE = 16  # pending shared candidates per source address
SHARED_MAX = 64  # pending shared candidates in all
SHARED_BURST = 8.0  # greetings to shared candidates per source address: burst ...
SHARED_RATE = 4.0  # ... and per second (a greeting is ~350 B; a PeerList ~900 B)
SHARED_FORGET = 5.0  # a shared candidate that did not answer is not greeted again for this
# A DNS-SD record is an unsigned hint anyone on the link can multicast: its addresses get
# at most MDNS_GREETS greetings each (MDNS_ADDRS of them, ours-subnet first), rate-limited
# over all records, and are dropped when nobody answers; the same record re-arms them no
# sooner than MDNS_REGREET later. A goodbye never removes a peer that still speaks.
MDNS_ADDRS = 2
MDNS_GREETS = (0.0, 0.5)  # greeting times after the record appears
MDNS_REGREET = 15.0
MDNS_BURST, MDNS_RATE = 32.0, 8.0  # greetings to DNS-SD candidates, over all records
MDNS_RECORDS = 1024  # DNS-SD records remembered (LRU)
GOODBYE_GRACE = 0.6  # a listed peer silent this long after its goodbye is gone (> 2 beats)
PROVEN_TTL = 60.0  # how long a (peer, address) proof is remembered after its last datagram
MEMORY = 1024  # entries in each per-address memory (LRU)
GOSSIP_INTERVAL = 10.0
INTRODUCE = 8  # peers told about a newcomer the moment it is listed
STALL = 0.4  # woken this much past our deadline means *we* were frozen, not the peers
IDLE_WAKE = 1.0  # the longest the adapter sleeps between ticks when nothing is due
BEAT_COALESCE = 0.025  # heartbeats due within this of the first one go out in the same tick
BEAT_EARLY = 0.1  # ... and those due within this after it go out early with it
_AFTER = 1e-3  # timers that fire once a span is *exceeded* are asked for just after it


def _unicast_ipv4(host: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return not (ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"))


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def _shareable(host: str, source: str) -> bool:
    """May a peer at `source` point us at `host`? LAN addresses (private, link-local, CGNAT),
    loopback only from loopback, and a public address only inside the source's own /24: a
    peer list never aims our greetings at the Internet."""
    ip = ipaddress.IPv4Address(host)
    try:
        src = ipaddress.IPv4Address(source)
    except ValueError:
        return False
    if ip.is_loopback:
        return src.is_loopback
    if ip.is_private or ip.is_link_local or ip in _CGNAT:
        return True
    return ipaddress.IPv4Network(f"{source}/24", strict=False) == ipaddress.IPv4Network(f"{host}/24", strict=False)


def _loopback(host: str) -> bool:
    return host.startswith("127.")


def _remember(memory: OrderedDict, key, value, cap: int = MEMORY) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > cap:
        memory.popitem(last=False)


def _due(memory: OrderedDict, key, now: float, interval: float) -> bool:
    """Rate limit per key: True (and remembered) when `interval` passed since the last time."""
    last = memory.get(key)
    if last is not None and now - last < interval:
        return False
    _remember(memory, key, now)
    return True


class Pins(Protocol):
    def check(self, name: str, public_key: bytes) -> PinResult: ...


class MemoryPins:
    """In-memory TOFU pins (tests, or a peer with no data dir)."""

    def __init__(self) -> None:
        self.pins: dict[str, bytes] = {}

    def check(self, name: str, public_key: bytes) -> PinResult:
        pinned = self.pins.get(name)
        if pinned is None:
            self.pins[name] = public_key
            return PinResult.NEW
        return PinResult.MATCH if pinned == public_key else PinResult.CHANGED


@dataclass
class Peer:
    id: str
    name: str
    public_key: bytes
    addresses: list[str]  # where it proved to be (signed hellos from there), the current one first
    game_port: int
    chat_port: int
    state: str
    match_id: str
    last_seen: float  # unix seconds (monotonic + the table's wall offset)
    rtt: float | None = None  # seconds, from heartbeat echoes
    key_changed: bool = False
    addr: Addr | None = None  # where to send: its proven address (moves only after a new proof)
    last_heard: float = 0.0  # monotonic
    since: float = 0.0  # monotonic: when it was listed
    unconfirmed: bytes | None = None  # its cookie while it may not list us yet (answer again)
    # What DNS-SD records claim for it: unsigned (anyone on the link can multicast one), so
    # shown but never trusted (chat does not dial them, nor trust clients from them).
    advertised: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "addresses": list(self.addresses),
            "advertised": list(self.advertised),
            "game_port": self.game_port, "chat_port": self.chat_port, "state": self.state,
            "match_id": self.match_id, "last_seen": round(self.last_seen, 3),
            "rtt_ms": None if self.rtt is None else round(self.rtt * 1000, 3),
            "key_changed": self.key_changed,
        }

    def snapshot(self) -> Peer:
        return dataclasses.replace(self, addresses=list(self.addresses), advertised=list(self.advertised))


class PeerChange(StrEnum):
    """What happened to a listed peer (a str, so subscribers may compare with "added")."""

    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"


@dataclass(frozen=True)
class Event:
    kind: PeerChange
    peer: Peer
    reason: str = ""  # removed: "timeout", "leave", "goodbye" (mDNS) or "evicted"


@dataclass(frozen=True)
class Greet:
    """A padded hello asking for one back; `cookie` is for the receiver to echo."""

    addr: Addr
    cookie: bytes = b""


@dataclass(frozen=True)
class Challenge:
    """To an unproven address: our hello (no peer list) echoing its `echo` cookie and
    carrying ours; sent only if it encodes to at most `limit` bytes (what it sent us)."""

    addr: Addr
    echo: bytes
    cookie: bytes
    limit: int


@dataclass(frozen=True)
class Answer:
    """To a proven address: our full hello (with peers it may not know)."""

    addr: Addr
    echo: bytes = b""
    cookie: bytes = b""


@dataclass(frozen=True)
class Share:
    """Send `peer_id` our peer list, or only the peer `about` (introducing a newcomer)."""

    peer_id: str
    about: str | None = None


@dataclass(frozen=True)
class Beat:
    peer_id: str
    addr: Addr
    echo: float
    echo_delay: float


Output = Event | Greet | Challenge | Answer | Share | Beat


@dataclass
class HelloInfo:
    """The fields of a verified hello the table needs (decoupled from the wire class)."""

    public_key: bytes
    name: str
    game_port: int
    chat_port: int
    state: str
    match_id: str
    reply: bool
    known: tuple = ()  # of (public_key, host, port)
    cookie: bytes = b""  # the sender's cookie for our address: echo it back
    echo: bytes = b""  # our cookie for the sender's address, if it got one from us
    size: int = 0  # bytes of the datagram it came in


@dataclass
class _Candidate:
    addr: Addr
    source: str  # "static" | "mdns" | "shared" | "lost" (a peer we timed out)
    peer_id: str | None
    since: float
    next_try: float
    tries: int = 0
    mdns_addrs: list[str] = field(default_factory=list)
    via: str = ""  # shared: the source address (host) of the peer list that named it


class PeerTable:
    def __init__(
        self,
        self_id: str,
        *,
        pins: Pins | None = None,
        timeout: float = TIMEOUT,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        wall_offset: float = 0.0,
        max_keys: int = 4096,
        max_peers: int = 256,
        cookies: AddressCookies | None = None,
    ) -> None:
        self.self_id = self_id
        self.pins = pins if pins is not None else MemoryPins()
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.wall_offset = wall_offset
        self.max_keys = max_keys
        self.max_peers = max_peers
        self.cookies = cookies if cookies is not None else AddressCookies()
        self.refused = 0  # hellos / shared addresses ignored (full table, bad address, caps)
        self.stats: Counter[str] = Counter()  # why things were refused, evicted, challenged
        self.peers: dict[str, Peer] = {}
        self.keys: OrderedDict[str, bytes] = OrderedDict()  # verified keys, also of peers gone since
        self._candidates: dict[Addr, _Candidate] = {}
        self._mdns: OrderedDict[str, tuple[str, list[Addr]]] = OrderedDict()  # instance -> (peer, addrs)
        self._mdns_armed: OrderedDict[str, float] = OrderedDict()  # instance -> candidates made at
        self._mdns_tokens = (MDNS_BURST, 0.0)
        self._goodbye: dict[str, float] = {}  # listed peer -> when its DNS-SD goodbye came
        self.local_addrs: list[str] = []  # our own IPv4 addresses (the adapter sets them)
        self._echo: dict[str, tuple[float, float]] = {}  # peer -> (its sent, our receive time)
        self._next_beat: dict[str, float] = {}
        self._answered: OrderedDict[Addr, float] = OrderedDict()
        self._challenged: OrderedDict[Addr, float] = OrderedDict()
        self._greeted_unknown: OrderedDict[Addr, float] = OrderedDict()
        self._proven: OrderedDict[tuple[str, Addr], float] = OrderedDict()  # (peer, addr) -> last heard
        self._share_tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host -> (tokens, t)
        self._share_failed: OrderedDict[Addr, float] = OrderedDict()
        self._left: OrderedDict[str, float] = OrderedDict()
        self._last_tick: float | None = None
        self._wake_at: float | None = None  # the deadline we last reported (next_deadline)
        self._no_expiry_until = 0.0
        self._next_gossip = 0.0

    # -- queries ----------------------------------------------------------------------------
    def key_of(self, peer_id: str) -> bytes | None:
        return self.keys.get(peer_id)

    def address_of(self, peer_id: str) -> Addr | None:
        peer = self.peers.get(peer_id)
        return peer.addr if peer else None

    def list(self) -> list[Peer]:
        return [p.snapshot() for p in sorted(self.peers.values(), key=lambda p: (p.name, p.id))]

    def refs(self, exclude: str | None = None, limit: int | None = None,
             only: str | None = None) -> list[tuple[bytes, str, int]]:
        """(key, host, port) of live peers (or just of `only`), for table sharing."""
        out = [(p.public_key, p.addr[0], p.addr[1]) for p in self.peers.values()
               if p.addr is not None and p.id != exclude and (only is None or p.id == only)]
        return out[:limit] if limit is not None else out

    def silent(self) -> list[tuple[str | None, Addr]]:
        """(peer id, address) of DNS-SD records whose address never answered a hello:
        usually a firewall dropping the game port, or a peer on an unreachable subnet."""
        return [(c.peer_id, c.addr) for c in self._candidates.values()
                if c.source == "mdns" and c.tries > 0 and c.peer_id not in self.peers]

    def candidate_count(self, source: str | None = None) -> int:
        return sum(1 for c in self._candidates.values() if source is None or c.source == source)

    def proven(self, peer_id: str, addr: Addr, now: float) -> bool:
        """Has `peer_id` proven (by echoing our cookie) that it receives what we send `addr`?"""
        peer = self.peers.get(peer_id)
        if peer is not None and peer.addr == addr:
            return True
        t = self._proven.get((peer_id, addr))
        return t is not None and now - t <= PROVEN_TTL

    # -- inputs -------------------------------------------------------------------------------
    def on_hello(self, peer_id: str, hello: HelloInfo, addr: Addr, now: float) -> list[Output]:
        """A verified hello (the codec checked that the key hashes to `peer_id`)."""
        if peer_id == self.self_id:
            return []
        if not valid_name(hello.name):
            self.refused += 1  # the one name rule (p2p_race.text): no escapes reach a terminal
            return []
        if self.cookies.valid(addr, hello.echo, now):
            _remember(self._proven, (peer_id, addr), now)
        elif not self.proven(peer_id, addr, now):
            return self._challenge(addr, hello, now)
        out: list[Output] = []
        peer = self.peers.get(peer_id)
        added = peer is None
        if peer is None:
            if len(self.peers) >= self.max_peers:
                evicted = self._make_room(addr[0])
                if evicted is None:
                    self.refused += 1  # keys are free to make: never let a flood grow us unbounded
                    self.stats["table_full"] += 1
                    return []
                out.append(evicted)
            self._remember_key(peer_id, hello.public_key)
            self._left.pop(peer_id, None)
            changed = self.pins.check(hello.name, hello.public_key) is PinResult.CHANGED
            peer = Peer(
                id=peer_id, name=hello.name, public_key=hello.public_key, addresses=[addr[0]],
                game_port=hello.game_port, chat_port=hello.chat_port, state=hello.state,
                match_id=hello.match_id, last_seen=now + self.wall_offset, key_changed=changed,
                addr=addr, last_heard=now, since=now,
            )
            self._merge_mdns_addresses(peer)
            self.peers[peer_id] = peer
            self._next_beat[peer_id] = now  # beat at once: starts the RTT echo
            out.append(Event(PeerChange.ADDED, peer.snapshot()))
        else:
            before = self._visible(peer)
            if hello.name != peer.name:
                peer.key_changed = self.pins.check(hello.name, hello.public_key) is PinResult.CHANGED
            peer.name, peer.game_port, peer.chat_port = hello.name, hello.game_port, hello.chat_port
            peer.state, peer.match_id = hello.state, hello.match_id
            if addr != peer.addr:
                self.stats["moved"] += 1  # proven just now: the peer really is there
                peer.addr = addr
                if addr[0] in peer.addresses:
                    peer.addresses.remove(addr[0])
                peer.addresses.insert(0, addr[0])
            self._heard(peer, now)
            if self._visible(peer) != before:
                out.append(Event(PeerChange.UPDATED, peer.snapshot()))
        self._drop_candidates_for(peer)
        if hello.reply:
            # until its first heartbeat, our answer may have been lost: it goes with each beat
            peer.unconfirmed = hello.cookie
            if _due(self._answered, addr, now, 0.05):
                out.append(Answer(addr, hello.cookie, self.cookies.make(addr, now)))
        elif hello.echo:
            peer.unconfirmed = None  # it echoed our cookie, so it has our hello: it lists us
        if added and len(self.peers) > 1:
            # after the answer: a newcomer takes a peer list only from a peer in its table,
            # so a list that overtook our answer would be dropped (and wait for the gossip)
            out.append(Share(peer_id))
            # and a few peers hear of it at once (the rest at the next gossip round)
            recent = sorted((p for p in self.peers.values() if p.id != peer_id),
                            key=lambda p: p.last_heard, reverse=True)[:INTRODUCE]
            out.extend(Share(p.id, about=peer_id) for p in recent)
        for key, host, port in hello.known:
            self.add_shared(key, host, port, now, via=addr[0])
        return out

    def on_heartbeat(self, peer_id: str, state: str, match_id: str, sent: float, echo: float,
                     echo_delay: float, addr: Addr, now: float) -> list[Output]:
        peer = self.peers.get(peer_id)
        if peer is None:
            # a peer we timed out (or evicted) is still beating: re-greet it, but only at an
            # address it proved, since a greeting is larger than a heartbeat
            if peer_id in self._left or not self.proven(peer_id, addr, now):
                return []
            if not _due(self._greeted_unknown, addr, now, 0.5):
                return []
            return [Greet(addr, self.cookies.make(addr, now))]
        if addr != peer.addr:
            self.stats["unproven_source"] += 1  # a copy relayed from elsewhere proves nothing
            return []
        before = self._visible(peer)
        peer.state, peer.match_id = state, match_id
        peer.unconfirmed = None
        self._heard(peer, now)
        self._echo[peer_id] = (sent, now)
        if echo > 0:
            rtt = now - echo - echo_delay
            if 0 <= rtt < 10:
                peer.rtt = rtt if peer.rtt is None else 0.8 * peer.rtt + 0.2 * rtt
        if self._visible(peer) != before:
            return [Event(PeerChange.UPDATED, peer.snapshot())]
        return []

    def on_packet(self, peer_id: str, addr: Addr, now: float) -> None:
        """Any verified datagram from a peer's proven address proves it alive (game traffic
        counts too); from anywhere else it counts for nothing."""
        peer = self.peers.get(peer_id)
        if peer is not None and peer.addr == addr:
            self._heard(peer, now)

    def on_leave(self, peer_id: str, now: float) -> list[Output]:
        _remember(self._left, peer_id, now)
        peer = self.peers.get(peer_id)
        if peer is None:
            return []
        # a peer that left is not greeted again from its stale DNS-SD record
        for cand in list(self._candidates.values()):
            if cand.peer_id == peer_id and cand.source != "static":
                del self._candidates[cand.addr]
        return [self._remove(peer_id, "leave")]

    def on_peerlist(self, peer_id: str, refs: tuple, addr: Addr, now: float) -> list[Output]:
        """Another peer's table, `refs` of (public_key, host, port): only a listed peer at its
        proven address may point us at others."""
        peer = self.peers.get(peer_id)
        if peer is None or peer.addr != addr:
            self.stats["peerlist_refused"] += 1
            return []
        for key, host, port in refs:
            self.add_shared(key, host, port, now, via=addr[0])
        return self.tick(now, expire=False)

    def add_static(self, addr: Addr, now: float) -> list[Output]:
        """A `--peer HOST:PORT`: greeted now and every second while nobody answers there."""
        self._candidates[addr] = _Candidate(addr, "static", None, now, now)
        return self.tick(now, expire=False)

    def add_shared(self, public_key: bytes, host: str, port: int, now: float, via: str = "") -> None:
        """A peer another peer (at host `via`) told us about: greeted once, when that source's
        rate allows, then forgotten (and not greeted again for SHARED_FORGET) unless it answers."""
        pid = peer_id_of(public_key)
        addr = (host, port)
        if pid == self.self_id or pid in self.peers or addr in self._candidates or port == 0:
            return
        if not _unicast_ipv4(host) or not _shareable(host, via or host):
            self.refused += 1  # never a hostname (blocking DNS), a multicast target or the Internet
            self.stats["shared_address"] += 1
            return
        failed = self._share_failed.get(addr)
        if failed is not None and now - failed < SHARED_FORGET:
            self.stats["shared_recent"] += 1
            return
        shared = [c for c in self._candidates.values() if c.source == "shared"]
        local = _loopback(via)  # peers on this machine point only at this machine: no per-source cap
        if len(shared) >= SHARED_MAX or not local and sum(1 for c in shared if c.via == via) >= SHARED_PER_SOURCE:
            self.refused += 1
            self.stats["shared_cap"] += 1
            return
        self._candidates[addr] = _Candidate(addr, "shared", pid, now, now, via=via)

    def mdns_seen(self, instance: str, peer_id: str, addrs: list[str], port: int, now: float) -> list[Output]:
        """A DNS-SD record (already TXT-validated) for `peer_id` at `addrs`:`port`."""
        if peer_id == self.self_id:
            return []
        usable = sorted((a for a in addrs if _unicast_ipv4(a)), key=lambda a: not self._on_our_subnet(a))
        refused = len(addrs) - len(usable[:MDNS_ADDRS])
        if refused:
            self.stats["mdns_address"] += refused
        targets = [(a, port) for a in usable[:MDNS_ADDRS]]
        _remember(self._mdns, instance, (peer_id, targets), MDNS_RECORDS)
        out: list[Output] = []
        peer = self.peers.get(peer_id)
        if peer is not None:
            before = self._visible(peer)
            self._merge_mdns_addresses(peer)
            if self._visible(peer) != before:
                out.append(Event(PeerChange.UPDATED, peer.snapshot()))
            return out
        armed = self._mdns_armed.get(instance)
        if armed is not None and now - armed < MDNS_REGREET:
            self.stats["mdns_rearm"] += 1
            return out  # greeted lately: the same hint again is no reason to greet again
        self._left.pop(peer_id, None)  # a fresh registration after a leave: it is back
        made = False
        for addr in targets:
            if addr not in self._candidates:
                self._candidates[addr] = _Candidate(addr, "mdns", peer_id, now, now,
                                                    mdns_addrs=[a for a, _p in targets])
                made = True
        if made:
            _remember(self._mdns_armed, instance, now, MDNS_RECORDS)
        return out + self.tick(now, expire=False)

    def _on_our_subnet(self, host: str) -> bool:
        return any(host.rsplit(".", 1)[0] == mine.rsplit(".", 1)[0] for mine in self.local_addrs)

    def mdns_removed(self, instance: str, now: float) -> list[Output]:
        """A DNS-SD goodbye: the peer says it withdrew its service. Unsigned, so anyone can
        send one: a listed peer is removed only if it then stays silent GOODBYE_GRACE (a
        leaving peer also sends a signed Leave, which removes it at once)."""
        entry = self._mdns.pop(instance, None)
        if entry is None:
            return []
        peer_id, targets = entry
        for addr in targets:
            cand = self._candidates.get(addr)
            if cand is not None and cand.source == "mdns":
                del self._candidates[addr]
        if peer_id in self.peers:
            self._goodbye[peer_id] = now
        return []

    def beat_now(self, now: float) -> list[Output]:
        """Heartbeats to everyone at once (our state changed: tell them without waiting)."""
        for pid in self.peers:
            self._next_beat[pid] = now
        return self.tick(now)

    def tick(self, now: float, expire: bool = True) -> list[Output]:
        """Timers: expiry, heartbeats due, greetings due, periodic table sharing."""
        out: list[Output] = []
        if expire:
            # woken long past the deadline we asked for (or, for a caller that never asks,
            # long after the last tick): we were frozen (CPU starved, suspended), not the
            # peers; queued datagrams are still to be read, so judge nobody until they had a
            # moment to arrive
            since = self._wake_at if self._wake_at is not None else self._last_tick
            if since is not None and now - since > STALL:
                self._no_expiry_until = now + 0.25
            self._last_tick = now
            if now >= self._no_expiry_until:
                for pid, peer in list(self.peers.items()):
                    if now - peer.last_heard > self.timeout:
                        out.append(self._remove(pid, "timeout"))
                        self._greet_lost(peer, now)
                for pid, at in list(self._goodbye.items()):
                    peer = self.peers.get(pid)
                    if peer is None or peer.last_heard > at:
                        del self._goodbye[pid]  # gone already, or it spoke since: not leaving
                        if peer is not None:
                            self.stats["goodbye_refuted"] += 1
                    elif now - at >= GOODBYE_GRACE:
                        del self._goodbye[pid]
                        _remember(self._left, pid, now)
                        out.append(self._remove(pid, "goodbye"))
            self._forget_old(now)
            # when any beat is due, the beats due within BEAT_EARLY go with it: peers met at
            # different times fall into one round, so the adapter wakes ~4 times a second
            nb = self._next_beat
            first = min((nb.get(pid, 0.0) for pid, p in self.peers.items() if p.addr is not None), default=now + 1)
            horizon = now + BEAT_EARLY if first <= now else now
            for pid, peer in self.peers.items():
                if peer.addr is not None and horizon >= nb.get(pid, 0.0):
                    self._next_beat[pid] = now + self.heartbeat_interval
                    sent, received = self._echo.get(pid, (0.0, now))
                    out.append(Beat(pid, peer.addr, sent, now - received if sent else 0.0))
                    if peer.unconfirmed is not None:
                        out.append(Answer(peer.addr, peer.unconfirmed, self.cookies.make(peer.addr, now)))
            if self.peers and now >= self._next_gossip:
                self._next_gossip = now + GOSSIP_INTERVAL
                out.extend(Share(pid) for pid in self.peers)
        live_addrs = {p.addr for p in self.peers.values()}
        for addr, cand in list(self._candidates.items()):
            if cand.source == "lost" and now - cand.since > SHARED_TTL:
                del self._candidates[addr]
                continue
            if cand.source == "shared":
                # one greeting, never a retry: a dead or spoofed address named in peer lists
                # costs one hello per SHARED_FORGET; a real peer answers it, or greets us
                # (the sharer tells both sides), so only a loss both ways waits for gossip
                gone = (now - cand.next_try > SHARED_TTL) if cand.tries else now - cand.since > SHARED_WAIT
                if gone:
                    del self._candidates[addr]
                    _remember(self._share_failed, addr, now)
                    continue
                if cand.tries or not (_loopback(cand.via) or self._share_token(cand.via, now)):
                    continue
                out.append(Greet(addr, self.cookies.make(addr, now)))
                self.stats["greeted_shared"] += 1
                cand.tries, cand.next_try = 1, now
                continue
            if cand.source == "mdns" and cand.tries >= len(MDNS_GREETS):
                if now - cand.next_try >= SHARED_TTL:  # greeted enough: nobody answered
                    del self._candidates[addr]
                continue
            if now < cand.next_try:
                continue
            if addr in live_addrs or (cand.peer_id and cand.peer_id in self.peers):
                cand.next_try = now + (STATIC_REGREET if cand.source == "static" else REGREET)
                continue
            if cand.source == "mdns" and not self._mdns_token(now):
                self.stats["mdns_rate"] += 1
                cand.next_try = now + 1.0 / MDNS_RATE
                continue
            out.append(Greet(addr, self.cookies.make(addr, now)))
            cand.tries += 1
            if cand.source == "static":
                cand.next_try = now + min(STATIC_REGREET, GREET_BACKOFF[min(cand.tries, len(GREET_BACKOFF) - 1)] or 0.1)
            elif cand.source == "mdns":
                cand.next_try = cand.since + MDNS_GREETS[cand.tries] if cand.tries < len(MDNS_GREETS) else now
            elif cand.tries < len(GREET_BACKOFF):
                cand.next_try = cand.since + GREET_BACKOFF[cand.tries]
            else:
                cand.next_try = now + REGREET
        return out

    def next_deadline(self, now: float) -> float:
        """When `tick` must next run (our clock): the first expiry, heartbeat, gossip round,
        greeting or forgetting due, at most IDLE_WAKE away. Heartbeats due within
        BEAT_COALESCE of the first one share its wake-up (sent that much late, never early),
        so a full table costs a few wake-ups a second, not one per peer. Inputs can only
        bring this nearer through a new peer or candidate (the adapter wakes then)."""
        at = now + IDLE_WAKE
        if self.peers:
            at = min(at, self._next_gossip)
            if self._no_expiry_until > now:
                at = min(at, self._no_expiry_until)
            beat = at
            for pid, peer in self.peers.items():
                at = min(at, peer.last_heard + self.timeout + _AFTER)
                if peer.addr is not None:
                    beat = min(beat, self._next_beat.get(pid, 0.0))
            at = min(at, beat + BEAT_COALESCE)
        for cand in self._candidates.values():
            if cand.source == "lost":
                at = min(at, cand.since + SHARED_TTL + _AFTER)
            elif cand.source == "shared":
                # greeted: dropped SHARED_TTL later; waiting for its source's greeting rate
                at = min(at, cand.next_try + SHARED_TTL + _AFTER if cand.tries else now + 1.0 / SHARED_RATE)
            elif cand.source == "mdns" and cand.tries >= len(MDNS_GREETS):
                at = min(at, cand.next_try + SHARED_TTL + _AFTER)
            else:
                at = min(at, cand.next_try)
        for at_goodbye in self._goodbye.values():
            at = min(at, at_goodbye + GOODBYE_GRACE + _AFTER)
        if self._left:
            at = min(at, next(iter(self._left.values())) + 3.0 + _AFTER)
        at = max(at, now + _AFTER)  # never a busy loop, whatever is due
        self._wake_at = at
        return at

    # -- internals ------------------------------------------------------------------------------
    def _challenge(self, addr: Addr, hello: HelloInfo, now: float) -> list[Output]:
        """An unproven address: no state, no listing; at most one small reply per 50 ms."""
        if not _due(self._challenged, addr, now, 0.05):
            self.stats["challenge_rate"] += 1
            return []
        self.stats["challenged"] += 1
        return [Challenge(addr, hello.cookie, self.cookies.make(addr, now), hello.size)]

    def _mdns_token(self, now: float) -> bool:
        tokens, last = self._mdns_tokens
        tokens = min(MDNS_BURST, tokens + max(0.0, now - last) * MDNS_RATE)
        ok = tokens >= 1.0
        self._mdns_tokens = (tokens - 1.0 if ok else tokens, now)
        return ok

    def _share_token(self, via: str, now: float) -> bool:
        tokens, last = self._share_tokens.get(via, (SHARED_BURST, now))
        tokens = min(SHARED_BURST, tokens + (now - last) * SHARED_RATE)
        ok = tokens >= 1.0
        _remember(self._share_tokens, via, (tokens - 1.0 if ok else tokens, now))
        return ok

    def _make_room(self, host: str) -> Event | None:
        """Table full: evict the newest peer of the address holding the most entries, if
        that is more than `host` would hold with the newcomer; else refuse the newcomer."""
        groups = Counter(p.addr[0] for p in self.peers.values() if p.addr is not None)
        big, n = max(groups.items(), key=lambda kv: kv[1])
        if n <= groups.get(host, 0) + 1:
            return None
        victim = max((p for p in self.peers.values() if p.addr is not None and p.addr[0] == big),
                     key=lambda p: p.since)
        self.stats["evicted"] += 1
        return self._remove(victim.id, "evicted")

    @staticmethod
    def _visible(peer: Peer) -> tuple:
        return (peer.name, tuple(peer.addresses), peer.game_port, peer.chat_port, peer.state,
                peer.match_id, peer.key_changed)  # not `advertised`: an unsigned record is no news

    def _heard(self, peer: Peer, now: float) -> None:
        peer.last_heard = now
        peer.last_seen = now + self.wall_offset

    def _merge_mdns_addresses(self, peer: Peer) -> None:
        """What DNS-SD says of a listed peer: `advertised`, apart from where it proved to be."""
        for pid, targets in self._mdns.values():
            if pid == peer.id:
                for host, _port in targets:
                    if host not in peer.advertised and len(peer.advertised) < MDNS_ADDRS:
                        peer.advertised.append(host)

    def _drop_candidates_for(self, peer: Peer) -> None:
        self._share_failed.pop(peer.addr, None)  # it proved itself there: a later list may name it
        for inst, (pid, _targets) in self._mdns.items():  # it answered: a later record may re-arm
            if pid == peer.id:
                self._mdns_armed.pop(inst, None)
        for addr, cand in list(self._candidates.items()):
            if cand.source in ("shared", "lost") and (cand.peer_id == peer.id or addr == peer.addr):
                del self._candidates[addr]

    def _greet_lost(self, peer: Peer, now: float) -> None:
        """Greet a peer we timed out a few times: when both sides timed each other out (loss,
        a starved CPU) nobody beats any more, and without this only the gossip, every
        GOSSIP_INTERVAL, would bring them back together. A dead peer costs a few hellos."""
        if peer.addr is not None and peer.addr not in self._candidates:
            self._candidates[peer.addr] = _Candidate(peer.addr, "lost", peer.id, now, now)

    def _remember_key(self, peer_id: str, key: bytes) -> None:
        """Keys of peers gone since stay (their heartbeats still verify after a timeout);
        when full, the least recently listed non-peer key goes, one at a time."""
        if peer_id not in self.keys and len(self.keys) >= self.max_keys:
            for pid in self.keys:
                if pid not in self.peers:
                    del self.keys[pid]
                    break
        self.keys[peer_id] = key
        self.keys.move_to_end(peer_id)

    def _remove(self, peer_id: str, reason: str) -> Event:
        peer = self.peers.pop(peer_id)
        self._next_beat.pop(peer_id, None)
        self._echo.pop(peer_id, None)
        if peer.addr is not None and reason not in ("leave", "goodbye", "evicted"):
            _remember(self._proven, (peer_id, peer.addr), peer.last_heard)
        return Event(PeerChange.REMOVED, peer.snapshot(), reason)

    def _forget_old(self, now: float) -> None:
        while self._left and now - next(iter(self._left.values())) > 3.0:
            self._left.popitem(last=False)
