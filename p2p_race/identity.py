"""A peer's identity: an Ed25519 key pair kept in the data dir.

The key is what identifies a peer; display names are only labels. The peer id is a short
fingerprint of the public key (8 bytes of SHA-256, shown as 16 hex digits), so an id can
never be claimed without the matching private key.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from p2p_race.errors import UserError

KEY_FILE = "identity.key"
PIN_FILE = "pins.json"
PEER_ID_BYTES = 8
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def peer_id_bytes(public_key: bytes) -> bytes:
    """The 8-byte fingerprint that stands for a peer on the wire."""
    return hashlib.sha256(public_key).digest()[:PEER_ID_BYTES]


def peer_id_of(public_key: bytes) -> str:
    """The peer id as users and JSON see it: 16 lowercase hex digits."""
    return peer_id_bytes(public_key).hex()


def verify(public_key: bytes, signature: bytes, data: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `data` by `public_key`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class Verifier:
    """Caches parsed public keys: parsing costs about as much as a verify on the hot path."""

    def __init__(self) -> None:
        self._keys: dict[bytes, Ed25519PublicKey] = {}

    def verify(self, public_key: bytes, signature: bytes, data: bytes) -> bool:
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = Ed25519PublicKey.from_public_bytes(public_key)
            except ValueError:
                return False
            if len(self._keys) > 4096:
                self._keys.clear()
            self._keys[public_key] = key
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Identity:
    private_key: Ed25519PrivateKey
    public_key: bytes

    @classmethod
    def generate(cls) -> Identity:
        key = Ed25519PrivateKey.generate()
        return cls(key, _raw_public(key))

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """Deterministic identity (tests, simulations, load generators)."""
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed).digest())
        return cls(key, _raw_public(key))

    @property
    def peer_id(self) -> str:
        return peer_id_of(self.public_key)

    @property
    def peer_id_bytes(self) -> bytes:
        return peer_id_bytes(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_or_create(data_dir: Path) -> Identity:
    """Load the key pair, creating it (mode 0600) on first start.

    A key file that exists but cannot be read or parsed is an error, never silently replaced:
    replacing it would change this peer's id and break every pin other peers hold.
    """
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read identity key {path}: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"identity key {path} is corrupt; restore it from a backup, or move it away "
                "to create a new identity (other peers will see a new key)"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise UserError(f"identity key {path} is not an Ed25519 key")
        return Identity(key, _raw_public(key))
    identity = Identity.generate()
    pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
    os.replace(tmp, path)
    return identity


class PinResult(Enum):
    NEW = "new"  # first sight of this name: key pinned
    MATCH = "match"  # the pinned key
    CHANGED = "changed"  # a different key claims a pinned name: warn, do not trust


class PinStore:
    """Trust on first use: remembers which key first used each display name."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / PIN_FILE
        self._pins: dict[str, str] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"pin store {self.path} is corrupt ({exc}); fix or delete it") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise UserError(f"pin store {self.path} has an unexpected shape; fix or delete it")
            self._pins = data

    def check(self, name: str, public_key: bytes) -> PinResult:
        hexkey = public_key.hex()
        pinned = self._pins.get(name)
        if pinned is None:
            self._pins[name] = hexkey
            self._save()
            return PinResult.NEW
        return PinResult.MATCH if pinned == hexkey else PinResult.CHANGED

    def pinned(self, name: str) -> bytes | None:
        value = self._pins.get(name)
        return bytes.fromhex(value) if value else None

    def repin(self, name: str, public_key: bytes) -> None:
        """The user accepted a new key for `name`."""
        self._pins[name] = public_key.hex()
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._pins, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
