"""The signed datagram codec: round trips, tampering, fuzzing, replay and reordering."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2p_race.identity import Identity
from p2p_race.schema import DecodeError, EncodeError, decode_fields, encode_fields
from p2p_race.wire import HEADER_SIZE, MAX_DATAGRAM, Codec, ReplayWindow, SourceGate
from tests.wire_samples import Point, SampleHello, SampleMixed, SampleState

ALICE = Identity.from_seed(b"alice")
BOB = Identity.from_seed(b"bob")
MALLORY = Identity.from_seed(b"mallory")
KEYS = {ALICE.peer_id: ALICE.public_key, BOB.peer_id: BOB.public_key}


def pair(**kw) -> tuple[Codec, Codec]:
    return Codec(ALICE, initial_seq=1000, **kw), Codec(BOB, key_lookup=KEYS.get, **kw)


def state(tick: int = 1) -> SampleState:
    return SampleState(tick=tick, x=1.5, y=1234.25, speed=33.0, score=420, crashed=False, lane=2)


finite = st.floats(allow_nan=False, allow_infinity=False)
f32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
states = st.builds(
    SampleState, tick=st.integers(0, 2**64 - 1), x=f32, y=finite, speed=f32,
    score=st.integers(-(2**31), 2**31 - 1), crashed=st.booleans(), lane=st.integers(0, 255),
)
mixed = st.builds(
    SampleMixed,
    text=st.text(max_size=50),
    blob=st.binary(max_size=100),
    points=st.lists(st.builds(Point, finite, finite), max_size=20).map(tuple),
    flags=st.lists(st.booleans(), max_size=16).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(msg=states)
def test_state_round_trip(msg):
    tx, rx = pair()
    pkt = rx.decode(tx.encode(msg, 1_700_000_000.0))
    assert pkt is not None and pkt.msg == msg
    assert pkt.sender == ALICE.peer_id and pkt.sender_key == ALICE.public_key


@settings(max_examples=300, deadline=None)
@given(msg=mixed)
def test_nested_and_lists_round_trip(msg):
    assert decode_fields(SampleMixed, encode_fields(msg)) == msg
    tx, rx = pair()
    pkt = rx.decode(tx.encode(msg, 1.0))
    assert pkt is not None and pkt.msg == msg


def test_self_certifying_hello_from_a_stranger():
    tx = Codec(MALLORY)
    rx = Codec(BOB)  # knows nobody
    pkt = rx.decode(tx.encode(SampleHello(MALLORY.public_key, "m", 47800), 5.0))
    assert pkt is not None and pkt.sender == MALLORY.peer_id


def test_hello_claiming_someone_elses_key_is_rejected():
    tx = Codec(MALLORY)
    rx = Codec(BOB)
    # Mallory puts Alice's key in the hello: the key does not hash to Mallory's sender id
    assert rx.decode(tx.encode(SampleHello(ALICE.public_key, "alice", 1), 5.0)) is None
    assert rx.drops["bad_key"] == 1


def test_unknown_sender_and_forged_signature_rejected():
    rx = Codec(BOB, key_lookup=KEYS.get)
    assert rx.decode(Codec(MALLORY).encode(state(), 1.0)) is None
    assert rx.drops["unknown_sender"] == 1
    # Mallory signs but writes Alice's id in the header: Alice's key does not verify it
    forged = bytearray(Codec(MALLORY).encode(state(), 1.0))
    forged[7:15] = ALICE.peer_id_bytes
    assert rx.decode(bytes(forged)) is None
    assert rx.drops["bad_signature"] == 1


def test_every_single_bit_flip_is_rejected():
    tx, rx = pair()
    good = tx.encode(SampleMixed("hi there", b"\x00\x01", (Point(1.0, 2.0),), (True,)), 10.0)
    for i in range(len(good) * 8):
        bad = bytearray(good)
        bad[i // 8] ^= 1 << (i % 8)
        assert rx.decode(bytes(bad)) is None, f"bit {i} flip accepted"
    assert rx.accepted == 0
    assert rx.decode(good) is not None  # the original still verifies (window untouched)


def test_replay_and_duplicate_rejected():
    tx, rx = pair()
    d1, d2 = tx.encode(state(1), 1.0), tx.encode(state(2), 1.1)
    assert rx.decode(d1) is not None
    assert rx.decode(d1) is None and rx.drops["replay"] == 1
    assert rx.decode(d2) is not None
    assert rx.decode(d1) is None and rx.decode(d2) is None
    assert rx.drops["replay"] == 3


def test_reordering_within_window_accepted_once():
    tx, rx = pair()
    grams = [tx.encode(state(i), 1.0 + i / 60) for i in range(50)]
    order = list(range(50))
    random.Random(7).shuffle(order)
    accepted = [i for i in order if rx.decode(grams[i]) is not None]
    assert sorted(accepted) == list(range(50))
    assert all(rx.decode(g) is None for g in grams)


def test_too_old_beyond_window_rejected():
    tx, rx = pair(window=64)
    old = tx.encode(state(0), 1.0)
    for i in range(100):
        rx.decode(tx.encode(state(i), 1.0))
    assert rx.decode(old) is None and rx.drops["too_old"] == 1


def test_stale_timestamp_rejected():
    tx, rx = pair(max_age=5.0)
    old = tx.encode(state(1), 100.0)  # sent earlier but delayed in the network
    assert rx.decode(tx.encode(state(2), 200.0)) is not None
    assert rx.decode(old) is None and rx.drops["stale"] == 1


def test_restarted_sender_is_not_a_replay():
    rx = Codec(BOB, key_lookup=KEYS.get)
    first = Codec(ALICE)  # sequence starts at the wall clock in microseconds
    assert rx.decode(first.encode(state(1), 1.0)) is not None
    restarted = Codec(ALICE)
    assert restarted.seq >= first.seq
    assert rx.decode(restarted.encode(state(1), 2.0)) is not None


def test_each_stream_is_accepted_only_where_it_listens():
    """A chat-stream datagram replayed to the game socket is refused before any key lookup,
    so it can neither refresh a peer nor move its address there."""
    game_rx = Codec(BOB, key_lookup=KEYS.get)
    chat_rx = Codec(BOB, stream=1, key_lookup=KEYS.get)
    game = Codec(ALICE, stream=0, initial_seq=10)
    chat = Codec(ALICE, stream=1, initial_seq=10)  # same seq: the two never collide
    chat_dgram = chat.encode(state(), 1.0)
    assert game_rx.decode(chat_dgram) is None and game_rx.drops["wrong_stream"] == 1
    assert game_rx.decode(game.encode(state(), 1.0)) is not None
    assert chat_rx.decode(chat_dgram) is not None
    assert chat_rx.decode(game.encode(state(2), 1.0)) is None and chat_rx.drops["wrong_stream"] == 1


def test_a_flood_of_fresh_identities_never_reopens_a_live_peers_window():
    """The codec used to clear every window past 10,000 senders: then an old signed Leave of
    a live peer replayed. Now only the least recently heard unprotected sender is evicted."""
    live = {ALICE.peer_id}
    rx = Codec(BOB, key_lookup=KEYS.get, max_windows=50, protect=live.__contains__)
    alice = Codec(ALICE, initial_seq=1000)
    old = alice.encode(state(1), 1.0)
    assert rx.decode(old) is not None
    assert rx.decode(alice.encode(state(2), 2.0)) is not None
    sybils = [Identity.from_seed(b"s%d" % i) for i in range(120)]
    for i, ident in enumerate(sybils):
        assert rx.decode(Codec(ident).encode(SampleHello(ident.public_key, "s", i), 3.0)) is not None
        assert rx.windows() <= 50
    assert rx.drops["window_evicted"] == 120 - 49
    assert rx.decode(old) is None and rx.drops["replay"] == 1  # the live peer's window held
    # an unprotected sender's window is evicted least-recently-heard first: the newest stay
    newest = sybils[-1]
    again = Codec(newest).encode(SampleHello(newest.public_key, "s", 119), 3.0)
    assert rx.decode(again) is not None  # fresh seq from the same sender: still its window
    first = Codec(sybils[0], initial_seq=0).encode(SampleHello(sybils[0].public_key, "s", 0), 3.0)
    assert rx.decode(first) is not None  # its window was evicted, so a low seq is new again


def test_every_window_protected_refuses_new_senders_rather_than_clearing():
    protected = {ALICE.peer_id, BOB.peer_id}
    rx = Codec(MALLORY, key_lookup=KEYS.get, max_windows=2, protect=protected.__contains__)
    assert rx.decode(Codec(ALICE).encode(state(), 1.0)) is not None
    assert rx.decode(Codec(BOB).encode(state(), 1.0)) is not None
    stranger = Identity.from_seed(b"x")
    assert rx.decode(Codec(stranger).encode(SampleHello(stranger.public_key, "x", 1), 1.0)) is None
    assert rx.drops["windows_full"] == 1 and rx.windows() == 2


def test_datagrams_not_from_their_senders_home_are_rate_gated_per_source():
    """Fresh identities, forged signatures under a peer's id and relayed copies from one
    source cost at most the gate's rate of signature checks; another source and a peer at
    its own address are not held up."""
    now = [0.0]
    gate = SourceGate(rate=10.0, burst=20.0, total_rate=1000.0)
    home = {(ALICE.peer_id, "10.0.0.1")}
    rx = Codec(BOB, key_lookup=KEYS.get, gate=gate, clock=lambda: now[0], home=lambda p, s: (p, s) in home)
    sent = [Identity.from_seed(b"g%d" % i) for i in range(60)]
    hellos = [Codec(i).encode(SampleHello(i.public_key, "g", 1), 1.0) for i in sent]
    ok = sum(rx.decode(h, "10.0.0.66") is not None for h in hellos[:40])
    assert ok == 20 and rx.drops["rate_limited"] == 20
    forged = Codec(ALICE).encode(state(), 1.0)
    forged = forged[:-1] + bytes([forged[-1] ^ 1])
    assert rx.decode(forged, "10.0.0.66") is None and rx.drops["rate_limited"] == 21  # no signature check
    assert rx.decode(hellos[40], "10.0.0.7") is not None  # another source has its own bucket
    assert rx.decode(Codec(ALICE).encode(state(), 1.0), "10.0.0.1") is not None  # a peer at home
    now[0] = 1.0  # ten more tokens a second later
    assert sum(rx.decode(h, "10.0.0.66") is not None for h in hellos[41:60]) == 10



def test_own_datagrams_are_ignored():
    me = Codec(ALICE, key_lookup=KEYS.get)
    assert me.decode(me.encode(state(), 1.0)) is None and me.drops["own"] == 1


def test_size_limits():
    tx, rx = pair()
    assert len(tx.encode(state(), 1.0)) <= MAX_DATAGRAM
    with pytest.raises(ValueError):
        Codec(ALICE, max_size=120).encode(SampleMixed("x" * 150, b"", (), ()), 1.0)
    assert rx.decode(b"\x00" * (MAX_DATAGRAM + 1)) is None and rx.drops["too_long"] == 1
    assert rx.decode(b"P2RC") is None and rx.drops["too_short"] == 1


def test_bad_values_refused_at_encode():
    with pytest.raises(EncodeError):
        encode_fields(SampleState(tick=-1, x=0.0, y=0.0, speed=0.0, score=0, crashed=False, lane=0))
    with pytest.raises(EncodeError):
        encode_fields(SampleMixed("x" * 300, b"", (), ()))
    with pytest.raises(EncodeError):
        encode_fields(SampleMixed("", b"", (), (1,)))  # type: ignore[arg-type]


def test_decoder_rejects_nonfinite_and_trailing_bytes():
    raw = bytearray(encode_fields(state()))
    with pytest.raises(DecodeError):
        decode_fields(SampleState, bytes(raw) + b"\x00")
    struct.pack_into("!d", raw, 12, float("nan"))  # y
    with pytest.raises(DecodeError):
        decode_fields(SampleState, bytes(raw))


@pytest.mark.slow
def test_fuzz_100k_never_raises():
    """>= 100,000 generated datagrams: random, truncated, extended and mutated."""
    rng = random.Random(20261124)
    tx, rx = pair()
    seeds = [tx.encode(state(i), 1.0) for i in range(20)]
    seeds += [tx.encode(SampleMixed("abc" * i, bytes(i), (Point(i, -i),) * (i % 5), (True,) * (i % 3)), 2.0) for i in range(20)]
    seeds += [Codec(MALLORY).encode(SampleHello(MALLORY.public_key, "m" * i, i), 3.0) for i in range(10)]
    cases = 0
    for _ in range(25_000):
        rx.decode(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200))))
        base = rng.choice(seeds)
        rx.decode(base[: rng.randrange(len(base))])
        rx.decode(base + bytes(rng.randrange(1, 40)))
        m = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            m[rng.randrange(len(m))] = rng.getrandbits(8)
        # mutate the header's type/length fields in particular, which steer the decoder
        if rng.random() < 0.3:
            struct.pack_into("!H", m, HEADER_SIZE - 2, rng.randrange(0, 2000))
        out = rx.decode(bytes(m))
        assert out is None or bytes(m) == base
        cases += 4
    assert cases >= 100_000
    assert rx.accepted <= len(seeds)  # only untouched originals can ever pass
    assert sum(rx.drops.values()) >= cases - len(seeds)


@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=1300))
def test_property_arbitrary_bytes_never_raise(data):
    _, rx = pair()
    assert rx.decode(data) is None


def test_replay_window_unit():
    w = ReplayWindow(8)
    for s in (5, 3, 9, 4):
        assert w.check(s) is None
        w.record(s)
    assert w.check(5) == "replay" and w.check(9) == "replay"
    assert w.check(1) == "too_old"  # 9 - 1 >= 8
    assert w.check(2) is None
    w.record(100)
    assert w.check(9) == "too_old" and w.check(99) is None


def test_the_runtime_subscribes_to_every_match_message() -> None:
    """Every message type in the match range (0x10-0x2F) reaches the match core: a message
    missing from the runtime's list (KickList once) was dropped by every real peer while the
    simulator, which hands messages straight to the core, never noticed."""
    from p2p_race import wire
    from p2p_race.runtime import MATCH_MESSAGES

    registered = {cls for tid, cls in wire._REGISTRY.items() if 0x10 <= tid <= 0x2F}
    assert set(MATCH_MESSAGES) == registered
    assert len(MATCH_MESSAGES) == len(registered) >= 21


def _random_value(ftype, rng: random.Random):
    """A random value a field type accepts (the generic generator of the fast decoder's
    differential test)."""
    from p2p_race import schema

    if isinstance(ftype, schema._Num):
        if ftype.kind is float:
            return rng.choice([0.0, -1.0, rng.uniform(-1e6, 1e6), 1e300])
        code = ftype.st.format[-1]
        bits = {"B": 8, "H": 16, "I": 32, "Q": 64, "h": 16, "i": 32, "q": 64}[code]
        lo, hi = (0, 2**bits - 1) if code.isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return rng.choice([lo, hi, rng.randint(lo, hi)])
    if ftype is schema.BOOL:
        return rng.random() < 0.5
    if isinstance(ftype, schema.Fixed):
        return rng.randbytes(ftype.n)
    if isinstance(ftype, schema.Str):
        return "é" * rng.randrange(0, min(8, ftype.raw.max_len // 2) + 1)
    if isinstance(ftype, schema.Bytes):
        return rng.randbytes(rng.randrange(0, min(40, ftype.max_len) + 1))
    if isinstance(ftype, schema.ListOf):
        return tuple(_random_value(ftype.item, rng) for _ in range(rng.randrange(0, min(3, ftype.max_items) + 1)))
    if isinstance(ftype, schema.Nested):
        return ftype.cls(*(_random_value(t, rng) for _n, t in ftype.fields))
    raise AssertionError(ftype)


def test_the_fast_decoder_agrees_with_the_field_types_on_every_message():
    """`decode_fields` reads runs of fixed fields with one struct (the hot path); for every
    registered message type, random valid values and mutations of their encodings decode
    to the same value, or fail with DecodeError, exactly where the field types' own
    `unpack` (the reference) does."""
    import chat.disco  # noqa: F401 - registers its types
    import discovery.messages  # noqa: F401
    import p2p_race.match.messages  # noqa: F401
    from p2p_race import schema, wire

    def reference(cls, buf):
        try:
            value, end = schema.Nested(cls).unpack(buf, 0)
        except DecodeError:
            return "error"
        return value if end == len(buf) else "error"

    def fast(cls, buf):
        try:
            return decode_fields(cls, buf)
        except DecodeError:
            return "error"

    rng = random.Random(7)
    checked = decoded = 0
    for cls in wire.registered_types().values():
        for _ in range(60):
            try:
                base = encode_fields(schema.Nested(cls).cls(*(_random_value(t, rng) for _n, t in schema.fields_of(cls))))
            except (EncodeError, TypeError, ValueError):
                continue
            for _ in range(8):
                m = bytearray(base)
                op = rng.random()
                if op < 0.4 and m:
                    for _ in range(rng.randrange(1, 4)):
                        m[rng.randrange(len(m))] = rng.choice([0, 1, 2, 0xFF, 0x7F, rng.getrandbits(8)])
                elif op < 0.6:
                    m = m[: rng.randrange(len(m) + 1)]
                elif op < 0.7:
                    m += bytes(rng.randrange(1, 4))
                elif op < 0.8 and len(m) >= 8:  # a NaN or infinity wherever a float may sit
                    at = rng.randrange(len(m) - 7)
                    m[at:at + 8] = struct.pack("!d", rng.choice([float("nan"), float("inf")]))
                want, got = reference(cls, bytes(m)), fast(cls, bytes(m))
                assert got == want, (cls.__name__, bytes(m).hex())
                checked += 1
                decoded += got != "error"
    assert checked > 5000 and decoded > 1000  # both outcomes were exercised
