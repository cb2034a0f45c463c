"""Length-prefixed JSON frames over TCP, bounded before anything is read.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (an object).
JSON, not pickle: frames come from other machines. A frame longer than MAX_FRAME, or
that is not a JSON object, ends the connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from p2p_race.framing import FrameDecoder, FrameError, FrameReader, ReadBudget, frame
from p2p_race.framing import read_frame as read_body

__all__ = ["MAX_FRAME", "FrameDecoder", "FrameError", "FrameReader", "ReadBudget", "decode_body",
           "encode_frame", "read_frame", "write_frame"]

MAX_FRAME = 4 * 1024 * 1024  # a full 5,000-message history answer fits


def encode_frame(obj: dict[str, Any]) -> bytes:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return frame(data, MAX_FRAME)


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
    body = await read_body(reader, MAX_FRAME)
    return None if body is None else decode_body(body)


def write_frame(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(encode_frame(obj))
