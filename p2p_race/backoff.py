"""One backoff rule for every retry: exponential, capped, optionally jittered.

Used by the MongoDB outbox (one sink, jittered so peers do not retry in step), the chat
service's dials and the chat client's choice of service (one entry per address, no jitter:
the order of tries stays deterministic). Pure: the caller passes `now` and an RNG, so tests
and simulations replay exactly.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """The delay after `failures` failures in a row (1 -> base, 2 -> 2 * base, ... <= cap)."""
    return min(cap, base * 2 ** min(max(failures - 1, 0), 30))


class Backoff:
    """One thing retried: `fail()` says how long to wait, `reset()` after a success.

    With `jitter` ("equal jitter"), half the delay is fixed and half random, so many peers
    that failed together do not all come back in the same instant."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None,
                 jitter: bool = True) -> None:
        self.base, self.cap, self.jitter = base, cap, jitter
        self.rng = rng or random.Random()
        self.failures = 0

    def fail(self) -> float:
        self.failures += 1
        d = backoff_delay(self.failures, self.base, self.cap)
        return d / 2 + self.rng.random() * d / 2 if self.jitter else d

    def reset(self) -> None:
        self.failures = 0


class BackoffMap(Generic[K]):
    """Many things retried (addresses): each failure pushes that key's next try further out;
    a success forgets it."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap = base, cap
        self.failures: dict[K, int] = {}
        self.due: dict[K, float] = {}

    def fail(self, key: K, now: float, at_least: float = 0.0) -> float:
        """Count a failure of `key`; returns when it may be tried again."""
        n = self.failures.get(key, 0) + 1
        self.failures[key] = n
        self.due[key] = now + max(backoff_delay(n, self.base, self.cap), at_least)
        return self.due[key]

    def hold(self, key: K, until: float) -> None:
        """Do not try `key` before `until` (not a failure: e.g. a link that just closed)."""
        self.due[key] = max(self.due.get(key, 0.0), until)

    def waiting(self, key: K, now: float) -> bool:
        """True while `key` must not be tried yet."""
        return now < self.due.get(key, 0.0)

    def ok(self, key: K) -> None:
        self.failures.pop(key, None)
        self.due.pop(key, None)

    forget = ok
