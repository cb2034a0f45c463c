"""Length-prefixed frames over TCP (chat service mesh, score sync), bounded before reading.

A frame is a 4-byte big-endian length and that many bytes. The length is checked against
the caller's limit before a single body byte is read, and nothing is ever allocated from
the announced length: memory grows only with the bytes that actually arrived, so a peer
that announces 4 MiB and sends 10 bytes costs 10 bytes. `FrameDecoder` is the sans-I/O
core (fuzzed); `FrameReader` drives it from an asyncio stream with an idle timeout
between frames, a deadline for finishing a frame once started, and an optional budget of
partial-frame bytes shared by all connections of a server. What the body means (JSON for
chat, sync messages for scores) is the caller's business.
"""

from __future__ import annotations

import asyncio
import struct

LENGTH = struct.Struct("!I")
CHUNK = 64 * 1024  # bytes read from a stream at a time


class FrameError(Exception):
    """The other side broke the framing (or sent garbage): drop the connection."""


def frame(body: bytes, max_size: int) -> bytes:
    if len(body) > max_size:
        raise FrameError(f"frame of {len(body)} bytes is too large")
    return LENGTH.pack(len(body)) + body


class FrameDecoder:
    """Bytes in, whole frame bodies out (sans-I/O). Raises FrameError on an oversize length."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete body, or None until more bytes arrive."""
        if len(self._buf) < LENGTH.size:
            return None
        n = self._check_length()
        end = LENGTH.size + n
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[LENGTH.size:end])
        del self._buf[:end]
        return body

    def _check_length(self) -> int:
        (n,) = LENGTH.unpack_from(self._buf)
        if n > self.max_size:
            raise FrameError(f"frame of {n} bytes exceeds {self.max_size}")
        return n


class ReadBudget:
    """Partial-frame bytes all connections of one server may hold at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class FrameReader:
    """Frames from one asyncio stream, bounded in size, time and (optionally) shared memory."""

    def __init__(self, reader: asyncio.StreamReader, max_size: int, *, idle_timeout: float | None = None,
                 frame_timeout: float | None = None, budget: ReadBudget | None = None) -> None:
        self.reader = reader
        self.decoder = FrameDecoder(max_size)
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.budget = budget
        self._held = 0
        self._started = 0.0

    def limit(self, max_size: int, *, idle_timeout: float | None, frame_timeout: float | None) -> None:
        """New bounds from the next frame on (after a hello), keeping what is buffered."""
        self.decoder.max_size = max_size
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout

    async def read(self) -> bytes | None:
        """The next frame body, or None on a clean end of stream between frames.

        Raises FrameError (garbage, truncation, budget) or TimeoutError (idle too long, or
        a frame not finished within `frame_timeout` of its first byte)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                body = self.decoder.next_frame()
                if body is not None:
                    self._account()
                    return body
                if self.decoder.buffered:
                    if not self._started:
                        self._started = loop.time()
                    timeout = (None if self.frame_timeout is None
                               else max(0.0, self._started + self.frame_timeout - loop.time()))
                else:
                    self._started = 0.0
                    timeout = self.idle_timeout
                data = await asyncio.wait_for(self.reader.read(CHUNK), timeout)
                if not data:
                    if self.decoder.buffered:
                        raise FrameError("truncated frame")
                    self.release()
                    return None
                self.decoder.feed(data)
                self._account()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give the held bytes back to the shared budget (the connection is done)."""
        if self.budget is not None:
            self.budget.used -= self._held
        self._held = 0

    def _account(self) -> None:
        if self.budget is None:
            return
        now = self.decoder.buffered
        self.budget.used += now - self._held
        self._held = now
        if self.budget.used > self.budget.limit:
            raise FrameError("too many partial frames buffered: shedding this connection")


async def read_frame(reader: asyncio.StreamReader, max_size: int, timeout: float | None = None) -> bytes | None:
    """One frame body, or None on a clean end of stream between frames (reads exactly one
    frame, for request/answer exchanges; long-lived connections use FrameReader)."""
    try:
        head = await asyncio.wait_for(reader.readexactly(LENGTH.size), timeout)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("truncated length") from None
        return None
    (n,) = LENGTH.unpack(head)
    if n > max_size:
        raise FrameError(f"frame of {n} bytes exceeds {max_size}")
    body = bytearray()
    try:
        while len(body) < n:
            body += await asyncio.wait_for(reader.readexactly(min(CHUNK, n - len(body))), timeout)
    except asyncio.IncompleteReadError:
        raise FrameError("truncated frame") from None
    return bytes(body)
