"""Length-prefixed JSON frames over TCP, bounded before anything is read.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (an object).
JSON, not pickle: frames come from other machines. A frame longer than MAX_FRAME, or
that is not a JSON object, ends the connection.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

MAX_FRAME = 4 * 1024 * 1024  # a full 5,000-message history answer fits
_LEN = struct.Struct("!I")


class FrameError(Exception):
    """The peer sent something that is not a valid frame: drop the connection."""


def encode_frame(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise FrameError(f"frame of {len(data)} bytes is too large")
    return _LEN.pack(len(data)) + data


def decode_body(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError("not JSON") from exc
    if not isinstance(obj, dict):
        raise FrameError("not a JSON object")
    return obj


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next frame, or None at a clean end of stream. Raises FrameError on garbage."""
    try:
        head = await reader.readexactly(_LEN.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("truncated length") from exc
        return None
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME:
        raise FrameError(f"frame length {n} over the limit")
    try:
        body = await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise FrameError("truncated frame") from exc
    return decode_body(body)


def write_frame(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(encode_frame(obj))
