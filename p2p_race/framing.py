"""Length-prefixed frames over TCP (chat service mesh, score sync), bounded before reading.

A frame is a 4-byte big-endian length and that many bytes. The length is checked against
the caller's limit before a single body byte is read, so a hostile peer cannot make us
buffer more than the limit. What the body means (JSON for chat, sync messages for scores)
is the caller's business.
"""

from __future__ import annotations

import asyncio
import struct

LENGTH = struct.Struct("!I")


class FrameError(Exception):
    """The other side broke the framing (or sent garbage): drop the connection."""


def frame(body: bytes, max_size: int) -> bytes:
    if len(body) > max_size:
        raise FrameError(f"frame of {len(body)} bytes is too large")
    return LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_size: int, timeout: float | None = None) -> bytes | None:
    """One frame body, or None on a clean end of stream between frames."""
    try:
        head = await asyncio.wait_for(reader.readexactly(LENGTH.size), timeout)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("truncated length") from None
        return None
    (n,) = LENGTH.unpack(head)
    if n > max_size:
        raise FrameError(f"frame of {n} bytes exceeds {max_size}")
    try:
        return await asyncio.wait_for(reader.readexactly(n), timeout)
    except asyncio.IncompleteReadError:
        raise FrameError("truncated frame") from None
