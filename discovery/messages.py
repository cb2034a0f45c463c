"""Discovery's signed wire messages (type ids 0x01-0x0F).

Hello is self-certifying (the sender's public key is its first field and must hash to the
sender id), so a stranger can introduce itself; everything else is verified with the key
a hello taught us. Field bounds keep every message inside one 1200-byte datagram.

A greeting (a hello to an address that has not proven itself yet) is padded to
`GREETING_SIZE`, the largest challenge any peer can answer with, because an unproven
address never gets more bytes back than it sent (discovery/table.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

from discovery.cookies import COOKIE_BYTES
from p2p_race.schema import BOOL, F32, F64, U16, Bytes, Fixed, ListOf, Str, encode_fields
from p2p_race.wire import OVERHEAD, message

MAX_NAME_BYTES = 64
MAX_STATE_BYTES = 16
MAX_MATCH_ID_BYTES = 40
MAX_SERVICE_BYTES = 64
MAX_PAD = 512
HELLO_KNOWN = 8  # peers shared inside a hello
PEERLIST_MAX = 16  # peers per PeerList datagram


@dataclass(frozen=True)
class PeerRef:
    """Where another peer was last heard: enough to greet it (its key proves the answer)."""

    public_key: Annotated[bytes, Fixed(32)]
    host: Annotated[str, Str(45)]
    port: Annotated[int, U16]


@message(0x01, self_certifying=True)
@dataclass(frozen=True)
class Hello:
    """Introduces the sender; `reply=True` asks the receiver to answer with its own hello.
    `cookie` is the sender's cookie for the receiver's address (echo it back), `echo` the
    receiver's cookie for the sender's address, which proves the sender receives there."""

    public_key: Annotated[bytes, Fixed(32)]
    service: Annotated[str, Str(MAX_SERVICE_BYTES)]  # DNS-SD service type: game and chat discovery never mix
    name: Annotated[str, Str(MAX_NAME_BYTES)]
    game_port: Annotated[int, U16]
    chat_port: Annotated[int, U16]
    state: Annotated[str, Str(MAX_STATE_BYTES)]
    match_id: Annotated[str, Str(MAX_MATCH_ID_BYTES)]
    reply: Annotated[bool, BOOL]
    known: Annotated[tuple[PeerRef, ...], ListOf(PeerRef, HELLO_KNOWN)] = ()
    cookie: Annotated[bytes, Bytes(COOKIE_BYTES)] = b""
    echo: Annotated[bytes, Bytes(COOKIE_BYTES)] = b""
    pad: Annotated[bytes, Bytes(MAX_PAD)] = b""


@message(0x02)
@dataclass(frozen=True)
class Heartbeat:
    """Liveness plus the current state (so a lost update heals within one beat) and an
    NTP-style echo for the round-trip time: `echo` is the receiver's own `sent` value from
    its newest heartbeat to us, held for `echo_delay` seconds here."""

    state: Annotated[str, Str(MAX_STATE_BYTES)]
    match_id: Annotated[str, Str(MAX_MATCH_ID_BYTES)]
    sent: Annotated[float, F64]
    echo: Annotated[float, F64]
    echo_delay: Annotated[float, F32]


@message(0x03)
@dataclass(frozen=True)
class Leave:
    """A clean exit: receivers drop the sender at once."""

    reason: Annotated[str, Str(32)] = ""


@message(0x04)
@dataclass(frozen=True)
class PeerList:
    """Table sharing: one reachable address is enough to find every other peer."""

    peers: Annotated[tuple[PeerRef, ...], ListOf(PeerRef, PEERLIST_MAX)]


def _largest_challenge() -> int:
    cookie = bytes(COOKIE_BYTES)
    big = Hello(bytes(32), "s" * MAX_SERVICE_BYTES, "n" * MAX_NAME_BYTES, 65535, 65535,
                "s" * MAX_STATE_BYTES, "m" * MAX_MATCH_ID_BYTES, True, (), cookie, cookie)
    return OVERHEAD + len(encode_fields(big))


GREETING_SIZE = _largest_challenge()  # bytes: every greeting is at least this long


def padded(hello: Hello) -> Hello:
    """`hello` with padding up to GREETING_SIZE bytes on the wire."""
    size = OVERHEAD + len(encode_fields(hello))
    return dataclasses.replace(hello, pad=bytes(max(0, GREETING_SIZE - size)))
