"""Stateless address cookies (as QUIC's Retry tokens and netcode.io's challenge tokens).

A cookie is a keyed hash of an address and a time epoch: we hand one to an address in a
datagram, and a later datagram that echoes it proves its sender receives what we send to
that address. Nothing is stored per address, so a flood of spoofed sources costs no memory.
Sans-I/O: the caller passes `now`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

Addr = tuple[str, int]

COOKIE_BYTES = 8
EPOCH = 10.0  # a cookie is good for 10-20 s: enough for any LAN round trip, too short to hoard


class AddressCookies:
    def __init__(self, secret: bytes | None = None, epoch: float = EPOCH) -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self.epoch = epoch

    def _mac(self, addr: Addr, epoch: int) -> bytes:
        msg = f"{epoch}|{addr[0]}|{addr[1]}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).digest()[:COOKIE_BYTES]

    def make(self, addr: Addr, now: float) -> bytes:
        return self._mac(addr, int(now // self.epoch))

    def valid(self, addr: Addr, cookie: bytes, now: float) -> bool:
        """True when `cookie` is what `make(addr)` gave in this epoch or the previous one."""
        if len(cookie) != COOKIE_BYTES:
            return False
        epoch = int(now // self.epoch)
        return any(hmac.compare_digest(cookie, self._mac(addr, e)) for e in (epoch, epoch - 1))
