"""The signed datagram codec (sans-I/O): bytes in, typed messages out, and back.

Layout (network byte order), docs/ARCHITECTURE.md section 2:

    magic  "P2RC"       4
    version             1
    type                1   message type id (see `message`)
    stream              1   which protocol instance sent it (game, chat, ...): a codec
                            accepts only its own stream, so two processes of one peer never
                            collide on sequence numbers and no stream's datagrams count
                            where another one listens
    sender id           8   fingerprint of the sender's Ed25519 public key
    sequence            8   strictly increasing per (sender, stream); starts at the sender's
                            wall clock in microseconds so a restarted peer is not a "replay"
    timestamp           8   sender's wall clock, microseconds since the epoch
    payload length      2
    payload             n   the message's fields (p2p_race.schema)
    signature          64   Ed25519 over every byte before it

The decoder never raises on bad input: it returns None and counts the reason in `drops`.
Order of checks, cheapest first: structure (a datagram of another stream is refused here:
each stream is accepted only on the socket where it listens), the key lookup (unknown
senders end here), a per-source rate gate for datagrams not from their sender's home
address, a replay pre-check, payload decoding, the signature, and only then the replay
window is moved, so a forged datagram can never move a window.

Replay state is bounded and never cleared wholesale: when `max_windows` senders are held,
the least recently heard sender that `protect` does not vouch for (the peer table's live
peers) loses its window, so a flood of fresh identities cannot reopen a live peer's window
to replays (README, "Security: the threat model").
"""

from __future__ import annotations

import struct
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from p2p_race import PROTOCOL_VERSION
from p2p_race.identity import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Identity,
    Verifier,
    peer_id_bytes,
)
from p2p_race.schema import DecodeError, decode_fields, encode_fields

MAGIC = b"P2RC"
HEADER = struct.Struct("!4sBBB8sQQH")
HEADER_SIZE = HEADER.size  # 33
OVERHEAD = HEADER_SIZE + SIGNATURE_BYTES
MAX_DATAGRAM = 1200  # fits any LAN MTU with IPv6 + UDP headers; never fragmented
MAX_PAYLOAD = MAX_DATAGRAM - OVERHEAD

STREAM_GAME = 0
STREAM_CHAT = 1
STREAM_SCORES = 2
STREAM_TEST = 255

_REGISTRY: dict[int, type] = {}


def message(type_id: int, *, self_certifying: bool = False) -> Callable[[type], type]:
    """Register a dataclass as wire message `type_id`.

    A self-certifying message carries the sender's public key as its first field
    (`public_key: Annotated[bytes, Fixed(32)]`); the decoder checks that the key hashes to
    the sender id and verifies with it, so a stranger can introduce itself (hello).
    """

    def wrap(cls: type) -> type:
        if not 0 < type_id < 256:
            raise ValueError("type id must be 1..255")
        if type_id in _REGISTRY and _REGISTRY[type_id] is not cls:
            raise ValueError(f"type id {type_id:#x} already used by {_REGISTRY[type_id].__name__}")
        cls.TYPE_ID = type_id
        cls.SELF_CERTIFYING = self_certifying
        _REGISTRY[type_id] = cls
        return cls

    return wrap


def registered_types() -> dict[int, type]:
    return dict(_REGISTRY)


@dataclass(frozen=True, slots=True)
class Packet:
    """A verified, fresh datagram."""

    sender: str  # peer id, hex
    sender_key: bytes
    stream: int
    seq: int
    timestamp: float  # sender's wall clock, seconds
    msg: Any
    size: int = 0  # bytes of the datagram: what an unproven address may get back at most


class ReplayWindow:
    """Sliding window over sequence numbers (as in IPsec / DTLS): accept each seq once.

    Sequences more than `size` below the highest seen are too old to judge and rejected.
    """

    __slots__ = ("bits", "highest", "newest_ts", "size")

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.highest = -1
        self.bits = 0  # bit i set: highest - i was seen
        self.newest_ts = 0  # newest sender timestamp accepted, microseconds

    def check(self, seq: int) -> str | None:
        """The reason to reject `seq`, or None if it is new (does not record it)."""
        if seq > self.highest:
            return None
        offset = self.highest - seq
        if offset >= self.size:
            return "too_old"
        if (self.bits >> offset) & 1:
            return "replay"
        return None

    def record(self, seq: int) -> None:
        if seq > self.highest:
            shift = seq - self.highest
            self.bits = ((self.bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.highest = seq
        else:
            self.bits |= 1 << (self.highest - seq)


class SourceGate:
    """Token buckets per source address (and one for all) for the expensive work strangers
    can ask for: verifying a self-certifying signature. Sans-I/O: `now` comes from the
    caller. Bounded: the least recently seen sources are forgotten first."""

    def __init__(self, rate: float = 32.0, burst: float = 64.0, total_rate: float = 2000.0,
                 max_sources: int = 4096) -> None:
        self.rate, self.burst, self.total_rate = rate, burst, total_rate
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._total = (total_rate, 0.0)

    def admit(self, source: str, now: float) -> bool:
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        total, total_last = self._total
        total = min(self.total_rate, total + (now - total_last) * self.total_rate)
        ok = tokens >= 1.0 and total >= 1.0
        if ok:
            tokens -= 1.0
            total -= 1.0
        self._total = (total, now)
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return ok


class Codec:
    """Encodes and signs outgoing messages; decodes, verifies and de-duplicates incoming ones.

    `key_lookup(sender_id_hex)` returns the public key this peer trusts for a sender (from
    the peer table), or None. Self-certifying messages (hello) need no prior key.
    `max_age` rejects a datagram older than the newest one seen from the same sender and
    stream by more than that many seconds of the sender's own clock (no cross-host clock
    agreement needed). `protect(sender_id_hex)` says whose replay window must never be
    evicted; `home(sender_id_hex, source_ip)` whether a datagram comes from where that
    sender lives; everything else passes `gate` before its signature is checked.
    """

    stream_default: ClassVar[int] = STREAM_GAME

    def __init__(
        self,
        identity: Identity,
        *,
        stream: int = STREAM_GAME,
        key_lookup: Callable[[str], bytes | None] | None = None,
        max_size: int = MAX_DATAGRAM,
        window: int = 1024,
        max_age: float = 10.0,
        initial_seq: int | None = None,
        max_windows: int = 10_000,
        protect: Callable[[str], bool] | None = None,
        home: Callable[[str, str], bool] | None = None,
        gate: SourceGate | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.stream = stream
        self.key_lookup = key_lookup or (lambda _peer: None)
        self.max_size = max_size
        self.window_size = window
        self.max_age = max_age
        self.seq = initial_seq if initial_seq is not None else time.time_ns() // 1000
        self.drops: Counter[str] = Counter()
        self.accepted = 0
        self.max_windows = max_windows
        self.protect = protect or (lambda _peer: False)
        self.home = home or (lambda _peer, _source: False)
        self.gate = gate if gate is not None else SourceGate()
        self.clock = clock
        self._windows: OrderedDict[bytes, ReplayWindow] = OrderedDict()
        self._verifier = Verifier()
        self._sender = identity.peer_id_bytes

    # -- outgoing ---------------------------------------------------------------------
    def encode(self, msg: Any, now: float) -> bytes:
        """Sign `msg` with a fresh sequence number; `now` is the wall clock in seconds."""
        payload = encode_fields(msg)
        if len(payload) > self.max_size - OVERHEAD:
            raise ValueError(f"{type(msg).__name__} payload of {len(payload)} bytes is too large")
        self.seq += 1
        head = HEADER.pack(
            MAGIC, PROTOCOL_VERSION, msg.TYPE_ID, self.stream, self._sender,
            self.seq, int(now * 1_000_000), len(payload),
        )
        body = head + payload
        return body + self.identity.sign(body)

    # -- incoming ---------------------------------------------------------------------
    def decode(self, data: bytes, source: str | None = None) -> Packet | None:
        """The verified packet, or None (and `drops[reason] += 1`). Never raises on input.

        With `source` (the sender's IP address), a datagram from anywhere but its sender's
        home (a stranger's hello, a forged or relayed copy of a peer's datagram) is only
        verified while that source is within its rate (`gate`): junk costs signature checks
        at a bounded rate, and peers at their own addresses never wait.
        """
        reason_or_packet = self._decode(data, source)
        if isinstance(reason_or_packet, str):
            self.drops[reason_or_packet] += 1
            return None
        self.accepted += 1
        return reason_or_packet

    def windows(self) -> int:
        """How many senders' replay windows are held (bounded by `max_windows`)."""
        return len(self._windows)

    def _window(self, sender: bytes) -> ReplayWindow | None:
        """The sender's window, made (evicting the least recently heard unprotected
        sender when full) if new; None when every held window is protected."""
        window = self._windows.get(sender)
        if window is not None:
            return window
        if len(self._windows) >= self.max_windows:
            for _ in range(len(self._windows)):
                oldest, _w = next(iter(self._windows.items()))
                if not self.protect(oldest.hex()):
                    del self._windows[oldest]
                    self.drops["window_evicted"] += 1
                    break
                self._windows.move_to_end(oldest)
            else:
                return None
        window = self._windows[sender] = ReplayWindow(self.window_size)
        return window

    def _decode(self, data: bytes, source: str | None) -> Packet | str:
        n = len(data)
        if n < OVERHEAD:
            return "too_short"
        if n > self.max_size:
            return "too_long"
        magic, version, type_id, stream, sender, seq, ts_us, plen = HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            return "bad_magic"
        if version != PROTOCOL_VERSION:
            return "bad_version"
        if stream != self.stream:
            return "wrong_stream"
        if HEADER_SIZE + plen + SIGNATURE_BYTES != n:
            return "length_mismatch"
        cls = _REGISTRY.get(type_id)
        if cls is None:
            return "unknown_type"
        body_end = HEADER_SIZE + plen
        sender_hex = sender.hex()
        if cls.SELF_CERTIFYING:  # its first field is the key: read it without decoding the rest
            if plen < PUBLIC_KEY_BYTES:
                return "malformed"
            key = bytes(data[HEADER_SIZE:HEADER_SIZE + PUBLIC_KEY_BYTES])
            if peer_id_bytes(key) != sender:
                return "bad_key"
        else:
            key = self.key_lookup(sender_hex)
            if key is None:
                return "unknown_sender"
        if sender == self._sender and key == self.identity.public_key and stream == self.stream:
            return "own"
        if source is not None and not self.home(sender_hex, source) and not self.gate.admit(source, self.clock()):
            return "rate_limited"
        held = self._windows.get(sender)
        if held is not None and (early := held.check(seq)):
            return early  # a replay costs no decoding and no signature check
        try:
            msg = decode_fields(cls, bytes(data[HEADER_SIZE:body_end]))
        except DecodeError:
            return "malformed"
        signature = bytes(data[body_end:])
        if not self._verifier.verify(key, signature, bytes(data[:body_end])):
            return "bad_signature"
        window = self._window(sender)
        if window is None:
            return "windows_full"
        reason = window.check(seq)
        if reason:
            return reason
        if ts_us + int(self.max_age * 1_000_000) < window.newest_ts:
            return "stale"
        window.record(seq)
        self._windows.move_to_end(sender)
        if ts_us > window.newest_ts:
            window.newest_ts = ts_us
        return Packet(sender_hex, key, stream, seq, ts_us / 1_000_000, msg, n)
