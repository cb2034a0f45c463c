"""Message types used only by the foundation's codec tests and benchmark (ids 0xF0-0xFF)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from p2p_race.schema import BOOL, F32, F64, I32, U8, U16, U64, Bytes, Fixed, ListOf, Str
from p2p_race.wire import message


@dataclass(frozen=True)
class Point:
    x: Annotated[float, F64]
    y: Annotated[float, F64]


@message(0xF0, self_certifying=True)
@dataclass(frozen=True)
class SampleHello:
    public_key: Annotated[bytes, Fixed(32)]
    name: Annotated[str, Str(64)]
    port: Annotated[int, U16]


@message(0xF1)
@dataclass(frozen=True)
class SampleState:
    """Shaped like a racer's 60 Hz state update."""

    tick: Annotated[int, U64]
    x: Annotated[float, F32]
    y: Annotated[float, F64]
    speed: Annotated[float, F32]
    score: Annotated[int, I32]
    crashed: Annotated[bool, BOOL]
    lane: Annotated[int, U8]


@message(0xF2)
@dataclass(frozen=True)
class SampleMixed:
    text: Annotated[str, Str(200)]
    blob: Annotated[bytes, Bytes(100)]
    points: Annotated[tuple[Point, ...], ListOf(Point, 20)]
    flags: Annotated[tuple[bool, ...], ListOf(BOOL, 16)]
