"""Helpers to compare simulations bit for bit (tests, benchmarks, debugging desyncs)."""

from __future__ import annotations

import hashlib
import struct

from p2p_race.sim.car import CarState


def state_bytes(st: CarState) -> bytes:
    """Exact binary form of a state (floats as IEEE-754 doubles): equal bytes <=> equal state."""
    ct = -1.0 if st.crash_time is None else st.crash_time
    return struct.pack("<ddd?dqdq", st.x, st.y, st.speed, st.crashed, ct, st.score, st.distance, st.tick)


class state_digest:  # noqa: N801 - used like hashlib constructors
    """Running SHA-256 over a sequence of states: `d = state_digest(); d.add(st); d.hexdigest()`."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, st: CarState) -> None:
        self._h.update(state_bytes(st))

    def hexdigest(self) -> str:
        return self._h.hexdigest()
