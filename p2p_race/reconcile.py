"""Set reconciliation by bucketed XOR digests: the one mechanism of chat sync and score sync.

Each side spreads its items over `buckets` buckets by a hash of the item's id and keeps,
per bucket, the XOR of the items' hashes and their count. Two sides compare digests;
for each bucket that differs they list the ids in it, and each side fetches what it lacks.
Equal digests mean, with overwhelming odds, equal sets, so peers already in sync exchange
one digest and nothing else; one changed item costs the ids of one bucket, not the set.

Chat history sync (chat/core.py: 64 buckets of message ids, a total digest first) and
score sync (replication/sync.py: 256 buckets of match results, SQLite-backed sums that
change in the same transaction as the result) both use it; the frames are theirs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from typing import TypeVar

V = TypeVar("V", bound=Hashable)


def bucket_of(item_id: str, buckets: int) -> int:
    """The bucket of an id: the first byte of its SHA-256 (uniform whatever the ids look like)."""
    if not 0 < buckets <= 256:
        raise ValueError("1..256 buckets")
    return hashlib.sha256(item_id.encode("utf-8")).digest()[0] % buckets


def differing(mine: Mapping[int, V], theirs: Mapping[int, V]) -> list[int]:
    """The buckets whose digests differ; a bucket missing on one side counts as empty there."""
    return sorted(b for b in set(mine) | set(theirs) if mine.get(b) != theirs.get(b))


class BucketSums:
    """In-memory per-bucket (XOR, count), plus the same over all items (the total digest)."""

    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self.xor = [0] * buckets
        self.count = [0] * buckets
        self.total_xor = 0
        self.total = 0

    def flip(self, item_id: str, item_hash: int, delta: int) -> None:
        """Add (`delta=1`) or remove (`-1`) one item; XOR makes both the same operation."""
        b = bucket_of(item_id, self.buckets)
        self.xor[b] ^= item_hash
        self.count[b] += delta
        self.total_xor ^= item_hash
        self.total += delta

    def digest(self) -> dict[int, tuple[int, int]]:
        """bucket -> (xor, count) of the non-empty buckets (what `differing` compares)."""
        return {b: (x, n) for b, (x, n) in enumerate(zip(self.xor, self.count, strict=True)) if n}
