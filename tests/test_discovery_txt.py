"""DNS-SD TXT records: round trip, strict rejection of inconsistent or malformed records,
unique label-safe instance names, and the discovery messages' wire round trip."""

from __future__ import annotations

import base64
import random

import pytest

from discovery.messages import Heartbeat, Hello, Leave, PeerList, PeerRef
from discovery.txt import SERVICE_TYPE, build_txt, instance_name, parse_txt
from p2p_race.identity import Identity
from p2p_race.wire import MAX_DATAGRAM, Codec

A = Identity.from_seed(b"alice")
B = Identity.from_seed(b"bob")


def test_round_trip_and_bytes_values() -> None:
    txt = build_txt(A.public_key, "Älice", 47800, 47801, "racing", "m-1", {"x": "1", "id": "evil"})
    assert set(txt) >= {"v", "id", "pk", "name", "gp", "cp", "st", "mid", "x"}
    assert txt["id"] == A.peer_id  # extras never override the protocol keys
    rec = parse_txt({k.encode(): v.encode() for k, v in txt.items()})  # as zeroconf hands it over
    assert rec is not None
    assert (rec.peer_id, rec.public_key, rec.name, rec.game_port, rec.chat_port, rec.state, rec.match_id) == (
        A.peer_id, A.public_key, "Älice", 47800, 47801, "racing", "m-1")
    hex_pk = dict(txt, pk=A.public_key.hex())  # hex keys are accepted too
    assert parse_txt(hex_pk).public_key == A.public_key


@pytest.mark.parametrize("change", [
    {"pk": base64.b64encode(B.public_key).decode()},  # key does not hash to the id
    {"id": "zz" * 8}, {"id": A.peer_id[:-1]}, {"pk": "!!notbase64"}, {"pk": base64.b64encode(b"x" * 31).decode()},
    {"gp": "70000"}, {"gp": "-1"}, {"gp": "abc"}, {"cp": "99999"}, {"v": "x"},
    {"name": "n" * 65}, {"st": "s" * 17}, {"mid": "m" * 41},
])
def test_inconsistent_or_malformed_records_are_rejected(change: dict) -> None:
    txt = build_txt(A.public_key, "alice", 47800, 0, "lobby", "")
    txt.update(change)
    assert parse_txt(txt) is None


@pytest.mark.parametrize("missing", ["v", "id", "pk", "gp"])
def test_missing_keys_are_rejected(missing: str) -> None:
    txt = build_txt(A.public_key, "alice", 47800, 0, "lobby", "")
    del txt[missing]
    assert parse_txt(txt) is None


def test_random_garbage_never_raises() -> None:
    rng = random.Random(7)
    keys = ["v", "id", "pk", "name", "gp", "cp", "st", "mid"]
    base = build_txt(A.public_key, "alice", 47800, 0, "lobby", "")
    for _ in range(2000):
        props = {k.encode(): (bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
                              if rng.random() < 0.5 else base[k].encode()) for k in keys if rng.random() < 0.9}
        parse_txt(props)  # must not raise; validity is checked above


def test_instance_names_are_unique_and_label_safe() -> None:
    a = instance_name("alice", A.peer_id)
    b = instance_name("alice", B.peer_id)
    assert a != b and a.endswith("." + SERVICE_TYPE)
    weird = instance_name("a.b\\c\x00" + "é" * 40, A.peer_id)
    label = weird[: -len("." + SERVICE_TYPE)]
    assert "." not in label and "\\" not in label and len(label.encode()) <= 63
    assert instance_name("", A.peer_id).startswith("peer-")


def test_messages_round_trip_and_fit_one_datagram() -> None:
    enc, dec = Codec(A), Codec(B)
    refs = tuple(PeerRef(Identity.from_seed(bytes([i])).public_key, "255.255.255.255", 65535) for i in range(16))
    big = Hello(A.public_key, SERVICE_TYPE, "n" * 64, 65535, 65535, "s" * 16, "m" * 40, True, refs[:8])
    for msg in (big, PeerList(refs), Leave("bye")):
        data = enc.encode(msg, 1.0)
        assert len(data) <= MAX_DATAGRAM
    packet = dec.decode(enc.encode(big, 2.0))
    assert packet is not None and packet.msg == big and packet.sender == A.peer_id
    dec.key_lookup = {A.peer_id: A.public_key}.get
    hb = Heartbeat("racing", "m1", 12.5, 3.25, 0.001)
    assert dec.decode(enc.encode(hb, 3.0)).msg.sent == 12.5
