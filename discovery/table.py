"""The peer table: a sans-I/O core fed verified messages, DNS-SD hints and the clock.

Every method takes `now` (seconds of a monotonic clock) and returns outputs for the adapter:
`Event` (added / updated / removed, for subscribers), `Greet` (send a hello asking for one
back), `Answer` (send a hello back), `Share` (send our peer list), `Beat` (send a
heartbeat). No sockets, no sleeps: tests drive it with a fake clock.

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
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol

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
SHARED_TTL = 3.0  # a candidate from someone's peer list is dropped after this
GOSSIP_INTERVAL = 10.0
STALL = 0.4  # a gap this long between ticks means *we* were frozen, not the peers


def _unicast_ipv4(host: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return not (ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"))


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
    addresses: list[str]
    game_port: int
    chat_port: int
    state: str
    match_id: str
    last_seen: float  # unix seconds (monotonic + the table's wall offset)
    rtt: float | None = None  # seconds, from heartbeat echoes
    key_changed: bool = False
    addr: Addr | None = None  # where to send: the source of its newest verified datagram
    last_heard: float = 0.0  # monotonic

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "addresses": list(self.addresses),
            "game_port": self.game_port, "chat_port": self.chat_port, "state": self.state,
            "match_id": self.match_id, "last_seen": round(self.last_seen, 3),
            "rtt_ms": None if self.rtt is None else round(self.rtt * 1000, 3),
            "key_changed": self.key_changed,
        }

    def snapshot(self) -> Peer:
        return dataclasses.replace(self, addresses=list(self.addresses))


@dataclass(frozen=True)
class Event:
    kind: str  # "added" | "updated" | "removed"
    peer: Peer
    reason: str = ""


@dataclass(frozen=True)
class Greet:
    addr: Addr


@dataclass(frozen=True)
class Answer:
    addr: Addr


@dataclass(frozen=True)
class Share:
    peer_id: str


@dataclass(frozen=True)
class Beat:
    peer_id: str
    addr: Addr
    echo: float
    echo_delay: float


Output = Event | Greet | Answer | Share | Beat


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


@dataclass
class _Candidate:
    addr: Addr
    source: str  # "static" | "mdns" | "shared" | "lost" (a peer we timed out)
    peer_id: str | None
    since: float
    next_try: float
    tries: int = 0
    mdns_addrs: list[str] = field(default_factory=list)


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
    ) -> None:
        self.self_id = self_id
        self.pins = pins if pins is not None else MemoryPins()
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self.wall_offset = wall_offset
        self.max_keys = max_keys
        self.max_peers = max_peers
        self.refused = 0  # hellos ignored because the table was full (a key flood)
        self.peers: dict[str, Peer] = {}
        self.keys: dict[str, bytes] = {}  # every verified key, also of peers gone since
        self._candidates: dict[Addr, _Candidate] = {}
        self._mdns: dict[str, tuple[str, list[Addr]]] = {}  # instance -> (peer id, addrs)
        self._echo: dict[str, tuple[float, float]] = {}  # peer -> (its sent, our receive time)
        self._next_beat: dict[str, float] = {}
        self._answered: dict[Addr, float] = {}
        self._greeted_unknown: dict[Addr, float] = {}
        self._left: dict[str, float] = {}
        self._last_tick: float | None = None
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

    def refs(self, exclude: str | None = None, limit: int | None = None) -> list[tuple[bytes, str, int]]:
        """(key, host, port) of live peers, for table sharing."""
        out = [(p.public_key, p.addr[0], p.addr[1]) for p in self.peers.values()
               if p.addr is not None and p.id != exclude]
        return out[:limit] if limit is not None else out

    def silent(self) -> list[tuple[str | None, Addr]]:
        """(peer id, address) of DNS-SD records whose address never answered a hello:
        usually a firewall dropping the game port, or a peer on an unreachable subnet."""
        return [(c.peer_id, c.addr) for c in self._candidates.values()
                if c.source == "mdns" and c.tries > 0 and c.peer_id not in self.peers]

    def candidate_count(self, source: str | None = None) -> int:
        return sum(1 for c in self._candidates.values() if source is None or c.source == source)

    # -- inputs -------------------------------------------------------------------------------
    def on_hello(self, peer_id: str, hello: HelloInfo, addr: Addr, now: float) -> list[Output]:
        """A verified hello (the codec checked that the key hashes to `peer_id`)."""
        if peer_id == self.self_id:
            return []
        if not valid_name(hello.name):
            self.refused += 1  # the one name rule (p2p_race.text): no escapes reach a terminal
            return []
        if peer_id not in self.peers and len(self.peers) >= self.max_peers:
            self.refused += 1  # keys are free to make: never let a flood grow us unbounded
            return []
        out: list[Output] = []
        self._remember_key(peer_id, hello.public_key)
        self._left.pop(peer_id, None)
        peer = self.peers.get(peer_id)
        added = peer is None
        if peer is None:
            changed = self.pins.check(hello.name, hello.public_key) is PinResult.CHANGED
            peer = Peer(
                id=peer_id, name=hello.name, public_key=hello.public_key, addresses=[addr[0]],
                game_port=hello.game_port, chat_port=hello.chat_port, state=hello.state,
                match_id=hello.match_id, last_seen=now + self.wall_offset, key_changed=changed,
                addr=addr, last_heard=now,
            )
            self._merge_mdns_addresses(peer)
            self.peers[peer_id] = peer
            self._next_beat[peer_id] = now  # beat at once: starts the RTT echo
            out.append(Event("added", peer.snapshot()))
        else:
            before = self._visible(peer)
            if hello.name != peer.name:
                peer.key_changed = self.pins.check(hello.name, hello.public_key) is PinResult.CHANGED
            peer.name, peer.game_port, peer.chat_port = hello.name, hello.game_port, hello.chat_port
            peer.state, peer.match_id = hello.state, hello.match_id
            self._heard(peer, addr, now)
            if self._visible(peer) != before:
                out.append(Event("updated", peer.snapshot()))
        self._drop_candidates_for(peer)
        if hello.reply and now - self._answered.get(addr, -1e9) >= 0.05:
            self._answered[addr] = now
            out.append(Answer(addr))
        if added and len(self.peers) > 1:
            # after the answer: a newcomer takes a peer list only from a peer in its table,
            # so a list that overtook our answer would be dropped (and wait for the gossip)
            out.append(Share(peer_id))
        for key, host, port in hello.known:
            self.add_shared(key, host, port, now)
        return out

    def on_heartbeat(self, peer_id: str, state: str, match_id: str, sent: float, echo: float,
                     echo_delay: float, addr: Addr, now: float) -> list[Output]:
        peer = self.peers.get(peer_id)
        if peer is None:
            # a peer we timed out (or that never greeted us) is still beating: re-greet it
            if peer_id in self._left or now - self._greeted_unknown.get(addr, -1e9) < 0.5:
                return []
            self._greeted_unknown[addr] = now
            return [Greet(addr)]
        before = self._visible(peer)
        peer.state, peer.match_id = state, match_id
        self._heard(peer, addr, now)
        self._echo[peer_id] = (sent, now)
        if echo > 0:
            rtt = now - echo - echo_delay
            if 0 <= rtt < 10:
                peer.rtt = rtt if peer.rtt is None else 0.8 * peer.rtt + 0.2 * rtt
        if self._visible(peer) != before:
            return [Event("updated", peer.snapshot())]
        return []

    def on_packet(self, peer_id: str, addr: Addr, now: float) -> None:
        """Any verified datagram from a peer proves it alive (game traffic counts too)."""
        peer = self.peers.get(peer_id)
        if peer is not None:
            peer.last_heard = now
            peer.last_seen = now + self.wall_offset

    def on_leave(self, peer_id: str, now: float) -> list[Output]:
        self._left[peer_id] = now
        peer = self.peers.get(peer_id)
        if peer is None:
            return []
        # a peer that left is not greeted again from its stale DNS-SD record
        for cand in list(self._candidates.values()):
            if cand.peer_id == peer_id and cand.source != "static":
                del self._candidates[cand.addr]
        return [self._remove(peer_id, "leave")]

    def add_static(self, addr: Addr, now: float) -> list[Output]:
        """A `--peer HOST:PORT`: greeted now and every second while nobody answers there."""
        self._candidates[addr] = _Candidate(addr, "static", None, now, now)
        return self.tick(now, expire=False)

    def add_shared(self, public_key: bytes, host: str, port: int, now: float) -> None:
        """A peer another peer told us about: greet it a few times, then forget it."""
        pid = peer_id_of(public_key)
        addr = (host, port)
        if pid == self.self_id or pid in self.peers or addr in self._candidates or port == 0:
            return
        if not _unicast_ipv4(host):
            self.refused += 1  # never a hostname (blocking DNS) nor a multicast/broadcast target
            return
        self._candidates[addr] = _Candidate(addr, "shared", pid, now, now)

    def mdns_seen(self, instance: str, peer_id: str, addrs: list[str], port: int, now: float) -> list[Output]:
        """A DNS-SD record (already TXT-validated) for `peer_id` at `addrs`:`port`."""
        if peer_id == self.self_id:
            return []
        targets = [(a, port) for a in addrs]
        self._mdns[instance] = (peer_id, targets)
        out: list[Output] = []
        peer = self.peers.get(peer_id)
        if peer is not None:
            before = self._visible(peer)
            self._merge_mdns_addresses(peer)
            if self._visible(peer) != before:
                out.append(Event("updated", peer.snapshot()))
            return out
        if peer_id in self._left:
            del self._left[peer_id]  # a fresh registration after a leave: it is back
        for addr in targets:
            if addr not in self._candidates:
                self._candidates[addr] = _Candidate(addr, "mdns", peer_id, now, now, mdns_addrs=list(addrs))
        return out + self.tick(now, expire=False)

    def mdns_removed(self, instance: str, now: float) -> list[Output]:
        """A DNS-SD goodbye: the peer withdrew its service, so it is leaving."""
        entry = self._mdns.pop(instance, None)
        if entry is None:
            return []
        peer_id, targets = entry
        for addr in targets:
            cand = self._candidates.get(addr)
            if cand is not None and cand.source == "mdns":
                del self._candidates[addr]
        if peer_id in self.peers:
            self._left[peer_id] = now
            return [self._remove(peer_id, "goodbye")]
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
            if self._last_tick is not None and now - self._last_tick > STALL:
                # we were frozen (CPU starved, suspended): queued datagrams are still to be
                # read, so judge nobody until they had a moment to arrive
                self._no_expiry_until = now + 0.25
            self._last_tick = now
            if now >= self._no_expiry_until:
                for pid, peer in list(self.peers.items()):
                    if now - peer.last_heard > self.timeout:
                        out.append(self._remove(pid, "timeout"))
                        self._greet_lost(peer, now)
            self._forget_old(now)
            for pid, peer in self.peers.items():
                if peer.addr is not None and now >= self._next_beat.get(pid, 0.0):
                    self._next_beat[pid] = now + self.heartbeat_interval
                    sent, received = self._echo.get(pid, (0.0, now))
                    out.append(Beat(pid, peer.addr, sent, now - received if sent else 0.0))
            if self.peers and now >= self._next_gossip:
                self._next_gossip = now + GOSSIP_INTERVAL
                out.extend(Share(pid) for pid in self.peers)
        live_addrs = {p.addr for p in self.peers.values()}
        for addr, cand in list(self._candidates.items()):
            if cand.source in ("shared", "lost") and now - cand.since > SHARED_TTL:
                del self._candidates[addr]
                continue
            if now < cand.next_try:
                continue
            if addr in live_addrs or (cand.peer_id and cand.peer_id in self.peers):
                cand.next_try = now + (STATIC_REGREET if cand.source == "static" else REGREET)
                continue
            out.append(Greet(addr))
            cand.tries += 1
            if cand.source == "static":
                cand.next_try = now + min(STATIC_REGREET, GREET_BACKOFF[min(cand.tries, len(GREET_BACKOFF) - 1)] or 0.1)
            elif cand.tries < len(GREET_BACKOFF):
                cand.next_try = cand.since + GREET_BACKOFF[cand.tries]
            else:
                cand.next_try = now + REGREET
        return out

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _visible(peer: Peer) -> tuple:
        return (peer.name, tuple(peer.addresses), peer.game_port, peer.chat_port, peer.state,
                peer.match_id, peer.key_changed)

    def _heard(self, peer: Peer, addr: Addr, now: float) -> None:
        peer.last_heard = now
        peer.last_seen = now + self.wall_offset
        if addr != peer.addr:
            peer.addr = addr
            if addr[0] in peer.addresses:
                peer.addresses.remove(addr[0])
            peer.addresses.insert(0, addr[0])

    def _merge_mdns_addresses(self, peer: Peer) -> None:
        for pid, targets in self._mdns.values():
            if pid == peer.id:
                for host, _port in targets:
                    if host not in peer.addresses:
                        peer.addresses.append(host)

    def _drop_candidates_for(self, peer: Peer) -> None:
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
        if peer_id not in self.keys and len(self.keys) >= self.max_keys:
            gone = [pid for pid in self.keys if pid not in self.peers]
            for pid in gone[: max(1, len(gone) // 2)]:
                del self.keys[pid]
        self.keys[peer_id] = key

    def _remove(self, peer_id: str, reason: str) -> Event:
        peer = self.peers.pop(peer_id)
        self._next_beat.pop(peer_id, None)
        self._echo.pop(peer_id, None)
        return Event("removed", peer.snapshot(), reason)

    def _forget_old(self, now: float) -> None:
        for table in (self._answered, self._greeted_unknown):
            if len(table) > 256:
                for key, t in list(table.items()):
                    if now - t > 5:
                        del table[key]
        for pid, t in list(self._left.items()):
            if now - t > 3.0:
                del self._left[pid]
