"""Identity: key creation, persistence, file mode, corruption handling, TOFU pins."""

from __future__ import annotations

import stat

import pytest

from p2p_race.errors import UserError
from p2p_race.identity import (
    KEY_FILE,
    Identity,
    PinResult,
    PinStore,
    load_or_create,
    peer_id_of,
    verify,
)


def test_created_once_then_loaded(data_dir):
    first = load_or_create(data_dir)
    second = load_or_create(data_dir)
    assert first.public_key == second.public_key
    assert first.peer_id == second.peer_id == peer_id_of(first.public_key)
    assert len(first.peer_id) == 16 and int(first.peer_id, 16) >= 0


def test_private_key_file_mode_0600(data_dir):
    load_or_create(data_dir)
    mode = stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_distinct_dirs_distinct_peers(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert load_or_create(tmp_path / "a").peer_id != load_or_create(tmp_path / "b").peer_id


def test_corrupt_key_is_an_error_and_not_replaced(data_dir):
    path = data_dir / KEY_FILE
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)
    before = path.read_bytes()
    with pytest.raises(UserError, match="corrupt"):
        load_or_create(data_dir)
    assert path.read_bytes() == before


def test_wrong_key_type_is_an_error(data_dir):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (data_dir / KEY_FILE).write_bytes(pem)
    (data_dir / KEY_FILE).chmod(0o600)
    with pytest.raises(UserError, match="Ed25519"):
        load_or_create(data_dir)


def test_sign_and_verify():
    ident = Identity.from_seed(b"x")
    sig = ident.sign(b"hello")
    assert verify(ident.public_key, sig, b"hello")
    assert not verify(ident.public_key, sig, b"hellO")
    assert not verify(Identity.from_seed(b"y").public_key, sig, b"hello")
    assert not verify(b"short", sig, b"hello")


def test_pin_store_trust_on_first_use(data_dir):
    pins = PinStore(data_dir)
    a, b = Identity.from_seed(b"a"), Identity.from_seed(b"b")
    assert pins.check("alice", a.public_key) is PinResult.NEW
    assert pins.check("alice", a.public_key) is PinResult.MATCH
    assert pins.check("alice", b.public_key) is PinResult.CHANGED
    # persisted: a new store (a restart) still remembers the first key
    again = PinStore(data_dir)
    assert again.check("alice", b.public_key) is PinResult.CHANGED
    assert again.pinned("alice") == a.public_key
    again.repin("alice", b.public_key)
    assert PinStore(data_dir).check("alice", b.public_key) is PinResult.MATCH


def test_corrupt_pin_store_is_an_error(data_dir):
    (data_dir / "pins.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt"):
        PinStore(data_dir)
