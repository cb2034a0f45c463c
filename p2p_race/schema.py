"""Binary field types for wire messages: explicit, bounded, length-checked.

A message is a frozen dataclass whose fields are annotated with a field type, e.g.
`name: Annotated[str, Str(32)]`. Encoding writes the fields in declaration order;
decoding checks every length against the remaining buffer *before* reading it and
raises `DecodeError` (never anything else) on bad input. No pickle, no eval.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import typing
from typing import Any


class DecodeError(ValueError):
    """The bytes are not a valid encoding of the expected message."""


class EncodeError(ValueError):
    """The value cannot be encoded within the field's bounds."""


class FieldType:
    def pack(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        raise NotImplementedError


class _Num(FieldType):
    def __init__(self, fmt: str, kind: type) -> None:
        self.st = struct.Struct("!" + fmt)
        self.kind = kind

    def pack(self, value: Any, out: bytearray) -> None:
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EncodeError(f"expected a number, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"expected an int, got {value!r}")
        try:
            out += self.st.pack(value)
        except (struct.error, OverflowError) as exc:
            raise EncodeError(str(exc)) from exc

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + self.st.size
        if end > len(buf):
            raise DecodeError("truncated number")
        (value,) = self.st.unpack_from(buf, pos)
        if self.kind is float and not math.isfinite(value):
            raise DecodeError("non-finite float")
        return value, end


U8 = _Num("B", int)
U16 = _Num("H", int)
U32 = _Num("I", int)
U64 = _Num("Q", int)
I16 = _Num("h", int)
I32 = _Num("i", int)
I64 = _Num("q", int)
F32 = _Num("f", float)
F64 = _Num("d", float)


class _Bool(FieldType):
    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise EncodeError(f"expected a bool, got {value!r}")
        out.append(1 if value else 0)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        if pos >= len(buf):
            raise DecodeError("truncated bool")
        byte = buf[pos]
        if byte > 1:
            raise DecodeError("bool out of range")
        return byte == 1, pos + 1


BOOL = _Bool()


class Fixed(FieldType):
    """Exactly n raw bytes (keys, ids, signatures)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) != self.n:
            raise EncodeError(f"expected {self.n} bytes")
        out += value

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        end = pos + self.n
        if end > len(buf):
            raise DecodeError("truncated fixed bytes")
        return bytes(buf[pos:end]), end


class Bytes(FieldType):
    """Up to max_len raw bytes with a u16 length prefix."""

    def __init__(self, max_len: int) -> None:
        self.max_len = min(max_len, 0xFFFF)

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) > self.max_len:
            raise EncodeError(f"expected at most {self.max_len} bytes")
        out += struct.pack("!H", len(value))
        out += value

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        if pos + 2 > len(buf):
            raise DecodeError("truncated length")
        (n,) = struct.unpack_from("!H", buf, pos)
        if n > self.max_len:
            raise DecodeError("bytes too long")
        end = pos + 2 + n
        if end > len(buf):
            raise DecodeError("truncated bytes")
        return bytes(buf[pos + 2 : end]), end


class Str(FieldType):
    """UTF-8 text of at most max_bytes encoded bytes (u16 length prefix), strictly decoded."""

    def __init__(self, max_bytes: int) -> None:
        self.raw = Bytes(max_bytes)

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise EncodeError(f"expected str, got {value!r}")
        self.raw.pack(value.encode("utf-8"), out)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        raw, end = self.raw.unpack(buf, pos)
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError as exc:
            raise DecodeError("invalid utf-8") from exc


class ListOf(FieldType):
    """At most max_items items of one field type (u16 count prefix); decoded as a tuple."""

    def __init__(self, item: FieldType | type, max_items: int) -> None:
        self.item = Nested(item) if isinstance(item, type) else item
        self.max_items = max_items

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)) or len(value) > self.max_items:
            raise EncodeError(f"expected at most {self.max_items} items")
        out += struct.pack("!H", len(value))
        for item in value:
            self.item.pack(item, out)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        if pos + 2 > len(buf):
            raise DecodeError("truncated count")
        (n,) = struct.unpack_from("!H", buf, pos)
        if n > self.max_items:
            raise DecodeError("too many items")
        pos += 2
        items = []
        for _ in range(n):
            item, pos = self.item.unpack(buf, pos)
            items.append(item)
        return tuple(items), pos


class Nested(FieldType):
    """A dataclass with annotated fields, encoded inline."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.fields = fields_of(cls)

    def pack(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, self.cls):
            raise EncodeError(f"expected {self.cls.__name__}")
        for name, ftype in self.fields:
            ftype.pack(getattr(value, name), out)

    def unpack(self, buf: bytes, pos: int) -> tuple[Any, int]:
        values = {}
        for name, ftype in self.fields:
            values[name], pos = ftype.unpack(buf, pos)
        try:
            return self.cls(**values), pos
        except (TypeError, ValueError) as exc:  # a __post_init__ validation refused it
            raise DecodeError(f"invalid {self.cls.__name__}: {exc}") from exc


_FIELDS_CACHE: dict[type, tuple[tuple[str, FieldType], ...]] = {}


def fields_of(cls: type) -> tuple[tuple[str, FieldType], ...]:
    """The (name, field type) pairs of an annotated dataclass, in declaration order."""
    cached = _FIELDS_CACHE.get(cls)
    if cached is not None:
        return cached
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
    result = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        meta = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, (FieldType, type))]
        if not meta:
            raise TypeError(f"{cls.__name__}.{f.name} needs Annotated[..., FieldType]")
        ftype = meta[0]
        result.append((f.name, Nested(ftype) if isinstance(ftype, type) else ftype))
    out = tuple(result)
    _FIELDS_CACHE[cls] = out
    return out


def encode_fields(value: Any) -> bytes:
    out = bytearray()
    Nested(type(value)).pack(value, out)
    return bytes(out)


class _Plan:
    """How to decode one message class fast: each run of fixed-size fields (numbers,
    bools, fixed bytes) is read by one precompiled struct, then checked exactly as the
    field types check (finite floats, bools 0 or 1); other fields use their own unpack.
    The same bytes give the same value or the same DecodeError as `Nested.unpack` (the
    fuzz tests compare them); this is the per-datagram hot path."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        steps: list[tuple[struct.Struct, tuple[int, ...], tuple[int, ...]] | FieldType] = []
        fmt, floats, bools = "", [], []
        n = 0
        for _name, ftype in fields_of(cls):
            code = _fixed_code(ftype)
            if code is None:
                if fmt:
                    steps.append((struct.Struct("!" + fmt), tuple(floats), tuple(bools)))
                    fmt, floats, bools, n = "", [], [], 0
                steps.append(ftype)
                continue
            if isinstance(ftype, _Num) and ftype.kind is float:
                floats.append(n)
            elif ftype is BOOL:
                bools.append(n)
            fmt += code
            n += 1
        if fmt:
            steps.append((struct.Struct("!" + fmt), tuple(floats), tuple(bools)))
        self.steps = tuple(steps)

    def decode(self, buf: bytes) -> Any:
        values: list[Any] = []
        pos = 0
        size = len(buf)
        for step in self.steps:
            if isinstance(step, FieldType):
                value, pos = step.unpack(buf, pos)
                values.append(value)
                continue
            st, floats, bools = step
            if pos + st.size > size:
                raise DecodeError("truncated fields")
            run = list(st.unpack_from(buf, pos))
            pos += st.size
            for i in floats:
                if not math.isfinite(run[i]):
                    raise DecodeError("non-finite float")
            for i in bools:
                if run[i] > 1:
                    raise DecodeError("bool out of range")
                run[i] = run[i] == 1
            values += run
        if pos != size:
            raise DecodeError("trailing bytes")
        try:
            return self.cls(*values)
        except (TypeError, ValueError) as exc:  # a __post_init__ validation refused it
            raise DecodeError(f"invalid {self.cls.__name__}: {exc}") from exc


def _fixed_code(ftype: FieldType) -> str | None:
    """The struct code of a fixed-size field type, None for variable-size ones."""
    if isinstance(ftype, _Num):
        return ftype.st.format.lstrip("!")
    if ftype is BOOL:
        return "B"
    if isinstance(ftype, Fixed):
        return f"{ftype.n}s"
    return None


_PLANS: dict[type, _Plan] = {}


def decode_fields(cls: type, buf: bytes) -> Any:
    """Decode exactly `buf` as `cls`; trailing bytes are an error."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _Plan(cls)
    return plan.decode(buf)
