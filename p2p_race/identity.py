"""A peer's identity: an Ed25519 key pair kept in the data dir.

The key is what identifies a peer; display names are only labels. The peer id is a short
fingerprint of the public key (8 bytes of SHA-256, shown as 16 hex digits), so an id can
never be claimed without the matching private key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from p2p_race.atomic import write_atomic
from p2p_race.errors import UserError
from p2p_race.text import valid_name

log = logging.getLogger(__name__)

KEY_FILE = "identity.key"
PIN_FILE = "pins.json"  # the old whole-file format, read once and carried over
PIN_LOG = "pins.jsonl"
MAX_PINS = 20_000
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


def key_mode_problem(path: Path) -> str | None:
    """Why the key file's permissions are unsafe (readable or writable by group or others,
    as ssh refuses), or None. Always None where POSIX modes do not apply."""
    if sys.platform == "win32":  # ACLs there; the bits Python reports mean nothing
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return (f"identity key {path} is accessible by other users (mode {mode:o}); "
                f"run `chmod 600 {path}` and try again")
    return None


def load_or_create(data_dir: Path) -> Identity:
    """Load the key pair, creating it (mode 0600) on first start.

    A key file that exists but cannot be read or parsed is an error, never silently replaced:
    replacing it would change this peer's id and break every pin other peers hold. A key
    others may read is refused until its mode is fixed (its secrecy is the identity).
    """
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        problem = key_mode_problem(path)
        if problem is not None:
            raise UserError(problem)
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
    try:
        write_atomic(path, pem, 0o600)
    except OSError as exc:
        raise UserError(f"cannot write identity key {path}: {exc.strerror}") from exc
    return identity


class PinResult(Enum):
    NEW = "new"  # first sight of this name: key pinned
    MATCH = "match"  # the pinned key
    CHANGED = "changed"  # a different key claims a pinned name: warn, do not trust


class PinStore:
    """Trust on first use: remembers which key first used each display name.

    On disk (`pins.jsonl`, shared by every command of the data dir) as one JSON record per
    new pin, appended: each new name costs one small write, whatever the number of pins,
    and processes sharing the file only ever add lines (the first record of a name wins;
    a `repin` record, written when the user accepts a new key, overrides). At most
    MAX_PINS names are kept: past that a new name is not pinned (an attacker minting names
    must not flush real pins out). The file is compacted (written anew atomically) when
    it holds many more records than names. A write that fails (full disk) keeps the pin in
    memory for this run and says so once. The old whole-file `pins.json` is read once and
    carried over.
    """

    def __init__(self, data_dir: Path, max_pins: int = 0) -> None:
        self.path = Path(data_dir) / PIN_LOG
        self.legacy = Path(data_dir) / PIN_FILE
        self.max_pins = max_pins or MAX_PINS
        self._pins: dict[str, str] = {}
        self._records = 0
        self._warned = False
        if self.path.exists():
            self._load()
        elif self.legacy.exists():
            self._load_legacy()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UserError(f"cannot read pin store {self.path}: {exc.strerror}") from exc
        for row in text.splitlines():
            if not row.strip():
                continue
            try:
                rec = json.loads(row)
                name, key = rec["n"], rec["k"]
            except (ValueError, KeyError, TypeError):
                continue  # a record cut short by a crash or a full disk
            self._records += 1
            if not isinstance(name, str) or not _is_key_hex(key) or not valid_name(name):
                continue
            if rec.get("r") or (name not in self._pins and len(self._pins) < self.max_pins):
                self._pins[name] = key

    def _load_legacy(self) -> None:
        try:
            data = json.loads(self.legacy.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"pin store {self.legacy} is corrupt ({exc}); fix or delete it") from exc
        if not isinstance(data, dict):
            raise UserError(f"pin store {self.legacy} has an unexpected shape; fix or delete it")
        for name, key in data.items():
            if valid_name(name) and _is_key_hex(key) and len(self._pins) < self.max_pins:
                self._pins[name] = key
        self._compact()

    def check(self, name: str, public_key: bytes) -> PinResult:
        hexkey = public_key.hex()
        pinned = self._pins.get(name)
        if pinned is None:
            if len(self._pins) < self.max_pins and valid_name(name):
                self._pins[name] = hexkey
                self._append({"n": name, "k": hexkey})
            return PinResult.NEW
        return PinResult.MATCH if pinned == hexkey else PinResult.CHANGED

    def pinned(self, name: str) -> bytes | None:
        value = self._pins.get(name)
        return bytes.fromhex(value) if value else None

    def __len__(self) -> int:
        return len(self._pins)

    def repin(self, name: str, public_key: bytes) -> None:
        """The user accepted a new key for `name`."""
        self._pins[name] = public_key.hex()
        self._append({"n": name, "k": public_key.hex(), "r": 1})

    def _append(self, rec: dict) -> None:
        # each record starts on a new line, so one cut short never swallows the next
        line = ("\n" + json.dumps(rec, ensure_ascii=True, separators=(",", ":"))).encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot write pin store %s (%s): new pins hold for this run only",
                            self.path, exc.strerror)
            return
        self._records += 1
        if self._records > 2 * len(self._pins) + 1000:
            self._compact()

    def _compact(self) -> None:
        body = "".join("\n" + json.dumps({"n": n, "k": k}, ensure_ascii=True, separators=(",", ":"))
                       for n, k in self._pins.items())
        try:
            write_atomic(self.path, body.encode(), 0o600)
        except OSError as exc:
            log.warning("cannot rewrite pin store %s (%s)", self.path, exc.strerror)
            return
        self._records = len(self._pins)


_KEY_HEX = re.compile(f"[0-9a-f]{{{2 * PUBLIC_KEY_BYTES}}}")


def _is_key_hex(value: object) -> bool:
    return isinstance(value, str) and _KEY_HEX.fullmatch(value) is not None
