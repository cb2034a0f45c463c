"""Compact, length-checked codecs for driver inputs: one tick is one of 9 codes.

An input code is `(steer + 1) * 3 + (throttle + 1)` (0..8) for `p2p_race.sim.rules.Inputs`.
A sequence of codes (one per tick, tick 1 first) is kept as `bytes`, one code per byte.

Two encodings, both self-delimiting and strictly checked on decode:
- a *log* (a whole race, stored beside the result and hashed into the racers' signatures):
  a mode byte, the tick count as a varint, then either run-length coded runs or, when that
  would be larger (input changing nearly every tick), two codes per byte. A 3-minute race
  is a few hundred bytes RLE and never more than ~5.4 KB packed.
- a *window* (the racer's last ticks, resent in every state datagram so a lost datagram
  loses nothing): the RLE runs alone; the datagram says which tick the window starts at.

A run byte is `code << 4 | n`: n < 15 means n + 1 ticks, n == 15 means 16 + a varint more.
Decoders raise ValueError (never anything else) on any malformed or oversized input.
"""

from __future__ import annotations

from p2p_race.sim.rules import Inputs

CODES = 9
MODE_RLE = 1
MODE_PACKED = 2
MAX_TICKS = 3600 * 60  # an hour at 60 Hz: no race is longer (replication.records.MAX_TIME_LIMIT)
_VARINT_MAX_BYTES = 4  # 2**28 > MAX_TICKS

_TO_INPUTS = tuple(Inputs(c // 3 - 1, c % 3 - 1) for c in range(CODES))
_LOW = bytes(b & 0x0F for b in range(256))
_HIGH = bytes(b >> 4 for b in range(256))
_RUNS = tuple(bytes((c,)) for c in range(CODES))
_VALID_PAIRS = bytes(b for b in range(256) if (b & 0x0F) < CODES and (b >> 4) < CODES)


def code_of(inputs: Inputs) -> int:
    """The code of one tick of input (steer and throttle reduced to their sign, as CarSim does)."""
    s, t = inputs.steer, inputs.throttle
    s = 1 if s > 0 else -1 if s < 0 else 0
    t = 1 if t > 0 else -1 if t < 0 else 0
    return (s + 1) * 3 + (t + 1)


def inputs_of(code: int) -> Inputs:
    return _TO_INPUTS[code]


# -- varints ------------------------------------------------------------------------------
def _put_varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _get_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    for k in range(_VARINT_MAX_BYTES):
        if i >= len(data):
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            if k and b == 0:
                raise ValueError("non-canonical varint")
            return n, i
        shift += 7
    raise ValueError("varint too long")


# -- run-length runs ------------------------------------------------------------------------
def encode_runs(codes: bytes) -> bytes:
    """The RLE runs of a code sequence (no header)."""
    out = bytearray()
    n = len(codes)
    i = 0
    while i < n:
        c = codes[i]
        j = i + 1
        while j < n and codes[j] == c:
            j += 1
        length = j - i
        if length <= 15:
            out.append(c << 4 | (length - 1))
        else:
            out.append(c << 4 | 15)
            _put_varint(out, length - 16)
        i = j
    return bytes(out)


def decode_runs(data: bytes, max_ticks: int = MAX_TICKS, start: int = 0, end: int | None = None) -> bytes:
    """Codes of the runs in data[start:end]; ValueError when malformed or longer than max_ticks."""
    end = len(data) if end is None else end
    parts = []
    total = 0
    i = start
    while i < end:
        b = data[i]
        i += 1
        c, n = b >> 4, b & 0x0F
        if c >= CODES:
            raise ValueError(f"bad input code {c}")
        if n == 15:
            extra, i = _get_varint(data, i)
            if i > end:
                raise ValueError("truncated run")
            n = 16 + extra
        else:
            n += 1
        total += n
        if total > max_ticks:
            raise ValueError(f"more than {max_ticks} ticks of input")
        parts.append(_RUNS[c] * n)
    return b"".join(parts)


# -- whole-race logs ----------------------------------------------------------------------------
def _packed(codes: bytes) -> bytes:
    out = bytearray((len(codes) + 1) // 2)
    for k, c in enumerate(codes):
        out[k >> 1] |= c << (4 * (k & 1))
    return bytes(out)


def encode_log(codes: bytes) -> bytes:
    """The stored form of a race's inputs: the smaller of RLE and two codes per byte."""
    if len(codes) > MAX_TICKS:
        raise ValueError(f"more than {MAX_TICKS} ticks of input")
    if any(c >= CODES for c in set(codes)):
        raise ValueError("input codes must be 0..8")
    head = bytearray()
    _put_varint(head, len(codes))
    runs = encode_runs(codes)
    packed_len = (len(codes) + 1) // 2
    if len(runs) <= packed_len:
        return bytes((MODE_RLE,)) + bytes(head) + runs
    return bytes((MODE_PACKED,)) + bytes(head) + _packed(codes)


def decode_log(data: bytes, max_ticks: int = MAX_TICKS) -> bytes:
    """The codes of a stored log; ValueError on any malformed, truncated or oversized log."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError("an input log must be bytes")
    if len(data) < 2:
        raise ValueError("input log too short")
    mode = data[0]
    n, i = _get_varint(data, 1)
    if n > max_ticks:
        raise ValueError(f"more than {max_ticks} ticks of input")
    if mode == MODE_RLE:
        codes = decode_runs(data, n, i)
        if len(codes) != n:
            raise ValueError("input log shorter than its tick count")
        return codes
    if mode == MODE_PACKED:
        body = bytes(data[i:])
        if len(body) != (n + 1) // 2:
            raise ValueError("packed input log has the wrong length")
        if body.translate(None, _VALID_PAIRS):  # some byte holds a nibble >= 9
            raise ValueError("bad input code in a packed log")
        out = bytearray(2 * len(body))
        out[0::2] = body.translate(_LOW)  # (C loops: this runs for every state datagram)
        out[1::2] = body.translate(_HIGH)
        if n & 1 and out[-1]:
            raise ValueError("packed input log has a non-zero pad nibble")
        return bytes(out[:n])
    raise ValueError(f"unknown input log mode {mode}")


def max_log_bytes(ticks: int) -> int:
    """The largest log `encode_log` makes for `ticks` ticks (a bound for stores and sync)."""
    return 1 + _VARINT_MAX_BYTES + (ticks + 1) // 2
