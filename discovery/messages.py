"""Discovery's signed wire messages (type ids 0x01-0x0F).

Hello is self-certifying (the sender's public key is its first field and must hash to the
sender id), so a stranger can introduce itself; everything else is verified with the key
a hello taught us. Field bounds keep every message inside one 1200-byte datagram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from p2p_race.schema import BOOL, F32, F64, U16, Fixed, ListOf, Str
from p2p_race.wire import message

MAX_NAME_BYTES = 64
MAX_STATE_BYTES = 16
MAX_MATCH_ID_BYTES = 40
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
    """Introduces the sender; `reply=True` asks the receiver to answer with its own hello."""

    public_key: Annotated[bytes, Fixed(32)]
    service: Annotated[str, Str(64)]  # DNS-SD service type: game and chat discovery never mix
    name: Annotated[str, Str(MAX_NAME_BYTES)]
    game_port: Annotated[int, U16]
    chat_port: Annotated[int, U16]
    state: Annotated[str, Str(MAX_STATE_BYTES)]
    match_id: Annotated[str, Str(MAX_MATCH_ID_BYTES)]
    reply: Annotated[bool, BOOL]
    known: Annotated[tuple[PeerRef, ...], ListOf(PeerRef, HELLO_KNOWN)] = ()


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
