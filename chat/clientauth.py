"""A client's signed hello: who may keep a chat service slot when many addresses flood it.

Per-address caps do not help against a flood from hundreds of addresses, and fresh
identities are free, so a signature alone proves nothing. What a signature does prove is
that the client holds a key the service already trusts: its own (the owner: the game,
`p2p-race chat` and notices on this machine use the data dir's identity, which is the
service's) or one that discovery listed at the client's address (a real LAN host, proven
by a cookie echo). Those clients are admitted ahead of anonymous ones (chat/service.py,
docs/ARCHITECTURE.md "Threat model").

The hello signs the address the client dialed and its wall clock: no extra round trip,
and a hello is good only at that service, for `SKEW` seconds, once (`SeenProofs`).
Sans-I/O: callers pass the clock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from p2p_race.identity import Identity, peer_id_of, verify

Addr = tuple[str, int]

CONTEXT = b"p2p-race chat client hello v1\n"
SKEW = 120.0  # seconds a proof is good for either way (clocks of LAN hosts may differ)
SEEN_MAX = 4096  # proofs remembered against replay (only trusted keys' proofs are stored)


def _signed_bytes(service: Addr, at_ms: int) -> bytes:
    return CONTEXT + f"{service[0]}|{service[1]}|{at_ms}".encode()


def signed_hello(identity: Identity, service: Addr, wall: float) -> dict[str, Any]:
    """The client hello, proving `identity` to the service at `service` (as dialed)."""
    at_ms = int(wall * 1000)
    return {"t": "hello", "role": "client", "id": identity.peer_id, "key": identity.public_key.hex(),
            "at": at_ms, "sig": identity.sign(_signed_bytes(service, at_ms)).hex()}


class SeenProofs:
    """Signatures already used, for SKEW x 2 seconds (bounded; oldest forgotten first)."""

    def __init__(self, cap: int = SEEN_MAX) -> None:
        self.cap = cap
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def first_use(self, sig: bytes, now: float) -> bool:
        while self._seen and now - next(iter(self._seen.values())) > 2 * SKEW:
            self._seen.popitem(last=False)
        if sig in self._seen:
            return False
        self._seen[sig] = now
        while len(self._seen) > self.cap:
            self._seen.popitem(last=False)
        return True


def proven_id(hello: dict[str, Any], service: Addr, wall: float, trusted, seen: SeenProofs) -> str | None:
    """The client's peer id when `hello` proves it and `trusted(peer_id)` says we trust that
    key; else None (an anonymous client). Untrusted ids are not verified at all, so a flood
    of fresh identities costs no signature checks and no memory."""
    pid, key, at, sig = (hello.get(k) for k in ("id", "key", "at", "sig"))
    if not (isinstance(pid, str) and isinstance(key, str) and isinstance(sig, str)
            and isinstance(at, int) and not isinstance(at, bool)):
        return None
    if not trusted(pid) or abs(at / 1000 - wall) > SKEW or len(key) != 64 or len(sig) != 128:
        return None
    try:
        key_b, sig_b = bytes.fromhex(key), bytes.fromhex(sig)
    except ValueError:
        return None
    if peer_id_of(key_b) != pid or not verify(key_b, sig_b, _signed_bytes(service, at)):
        return None
    return pid if seen.first_use(sig_b, wall) else None
