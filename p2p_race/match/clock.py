"""NTP-style clock offset estimation between a member and the match host.

A member sends Ping(t0, own clock); the host answers Pong(t0, t1 = host clock on arrival);
the member receives it at t3. Assuming the two legs take equally long,
`offset = t1 - (t0 + t3) / 2` (host clock minus ours) and `rtt = t3 - t0`. Queueing makes
legs unequal, and the error of a sample is at most rtt/2; so, like NTP's clock filter, we
keep a window of recent samples and trust the one with the smallest round trip.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClockSample:
    offset: float
    rtt: float
    at: float


class ClockSync:
    def __init__(self, window: int = 24) -> None:
        self.samples: deque[ClockSample] = deque(maxlen=window)

    def reset(self) -> None:
        """A new host means a new reference clock: forget the old one's samples."""
        self.samples.clear()

    def add(self, t0: float, t1: float, t3: float) -> ClockSample | None:
        rtt = t3 - t0
        if rtt < 0 or rtt > 2.0:  # impossible or hopelessly stale answer
            return None
        sample = ClockSample(offset=t1 - (t0 + t3) / 2.0, rtt=rtt, at=t3)
        self.samples.append(sample)
        return sample

    @property
    def synced(self) -> bool:
        return bool(self.samples)

    def best(self) -> ClockSample | None:
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: s.rtt)

    @property
    def offset(self) -> float:
        """Host clock minus local clock (0 until the first sample)."""
        best = self.best()
        return best.offset if best else 0.0

    @property
    def rtt(self) -> float | None:
        best = self.best()
        return best.rtt if best else None

    def to_local(self, host_time: float) -> float:
        return host_time - self.offset

    def to_host(self, local_time: float) -> float:
        return local_time + self.offset
