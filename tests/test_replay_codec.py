"""Input codes, RLE windows and whole-race logs: round trips, bounds, and fuzzed decoders."""

from __future__ import annotations

import random

import pytest

from p2p_race.replay import codec
from p2p_race.sim.rules import Inputs


def test_every_input_has_its_own_code_and_signs_are_what_counts():
    codes = {codec.code_of(Inputs(s, t)) for s in (-1, 0, 1) for t in (-1, 0, 1)}
    assert codes == set(range(9))
    for c in range(9):
        assert codec.code_of(codec.inputs_of(c)) == c
    assert codec.code_of(Inputs(5, -7)) == codec.code_of(Inputs(1, -1))


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 300, 10_800])
def test_logs_and_runs_round_trip(n):
    rng = random.Random(n)
    for changes in (0.0, 0.05, 1.0):  # constant, human-like, changing every tick
        codes = bytearray()
        c = 4
        for _ in range(n):
            if rng.random() < changes:
                c = rng.randrange(9)
            codes.append(c)
        log = codec.encode_log(bytes(codes))
        assert codec.decode_log(log) == bytes(codes)
        assert codec.decode_runs(codec.encode_runs(bytes(codes))) == bytes(codes)
        assert len(log) <= codec.max_log_bytes(n)


def test_a_three_minute_race_fits_far_below_8_kb():
    rng = random.Random(1)
    codes = bytearray()
    c = 5
    for _ in range(180 * 60):  # an input change every ~0.3 s on average
        if rng.random() < 0.05:
            c = rng.randrange(9)
        codes.append(c)
    assert len(codec.encode_log(bytes(codes))) < 2_000
    worst = bytes(rng.randrange(9) for _ in range(180 * 60))  # a new input every tick
    assert len(codec.encode_log(worst)) <= 5_410


@pytest.mark.parametrize("bad", [
    b"", b"\x01", b"\x03\x01\x00",  # too short, unknown mode
    b"\x01\x05\x94",  # RLE: code 9 does not exist
    b"\x01\x05\x43",  # RLE: 4 ticks, not 5
    b"\x01\x02\x43",  # RLE: 4 ticks, not 2
    b"\x02\x03\x44",  # packed: 3 codes need 2 bytes
    b"\x02\x01\x94",  # packed: pad nibble not zero / bad code
    b"\x01\x80\x80\x80\x80\x01",  # varint too long
    b"\x01\x81\x00",  # non-canonical varint
    b"\x01\xff\xff\x7f\x4f\xff\xff\x7f",  # more ticks than an hour
])
def test_malformed_logs_are_refused_with_value_error(bad):
    with pytest.raises(ValueError):
        codec.decode_log(bad)


def test_logs_longer_than_the_race_are_refused():
    log = codec.encode_log(bytes(1000))
    assert codec.decode_log(log, max_ticks=1000) == bytes(1000)
    with pytest.raises(ValueError, match="more than 999"):
        codec.decode_log(log, max_ticks=999)
    with pytest.raises(ValueError):
        codec.decode_runs(codec.encode_runs(bytes(300)), max_ticks=240)


def test_decoders_fuzzed_100k_cases_raise_only_value_error():
    rng = random.Random(2026)
    seeds = [codec.encode_log(bytes(rng.randrange(9) for _ in range(rng.randrange(60)))) for _ in range(20)]
    seeds += [codec.encode_log(bytes([rng.randrange(9)]) * rng.randrange(400)) for _ in range(20)]
    ok = 0
    for k in range(100_000):
        if k % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                op = rng.randrange(3)
                if op == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif op == 1 and data:
                    del data[rng.randrange(len(data)):]
                else:
                    data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            data = bytes(data)
        for decode in (codec.decode_log, codec.decode_runs):
            try:
                out = decode(data, 1000)
            except ValueError:
                continue
            ok += 1
            assert isinstance(out, bytes) and len(out) <= 1000 and all(c < 9 for c in out)
    assert ok > 1000  # the fuzzer also reached valid inputs
