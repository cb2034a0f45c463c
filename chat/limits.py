"""Rate limits by the receiver's clock (sans-I/O): token buckets per key, bounded memory.

The log's own rule (chat.history) counts an author's lines by the author's clock, which the
author chooses; these buckets count by ours, so neither a back-dated flood nor a client
that reconnects can go faster than the budget. Keys are authors, connections and source
addresses; the table keeps at most `max_keys` (least recently used go first, and a
forgotten key comes back with a full bucket, which is what an idle key has anyway).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class KeyedBuckets:
    def __init__(self, burst: float, rate: float, max_keys: int = 4096) -> None:
        self.burst = burst
        self.rate = rate
        self.max_keys = max_keys
        self._b: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._b.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def allows(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        """True when `key` has `cost` tokens now (nothing is taken)."""
        return self._tokens(key, now) >= cost

    def take(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        """Take `cost` tokens from `key`'s bucket; False (and nothing taken) when short."""
        tokens = self._tokens(key, now)
        ok = tokens >= cost
        self._b[key] = (tokens - cost if ok else tokens, now)
        self._b.move_to_end(key)
        while len(self._b) > self.max_keys:
            self._b.popitem(last=False)
        return ok

    def forget(self, key: Hashable) -> None:
        self._b.pop(key, None)


class Limits:
    """Several buckets that must all allow an action (author, connection, address...)."""

    def __init__(self, **buckets: KeyedBuckets) -> None:
        self.buckets = buckets

    def take(self, now: float, **keys: Hashable) -> str | None:
        """Take one token from each named bucket; the name of the first that refused, or None."""
        for name, key in keys.items():
            if not self.buckets[name].allows(key, now):
                return name
        for name, key in keys.items():
            self.buckets[name].take(key, now)
        return None
