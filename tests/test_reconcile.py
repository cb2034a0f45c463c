"""The one set-reconciliation mechanism (p2p_race.reconcile) that chat and score sync share."""

from __future__ import annotations

import hashlib
import random

import pytest

from chat.history import BUCKETS as CHAT_BUCKETS
from chat.history import bucket_of as chat_bucket
from p2p_race.reconcile import BucketSums, bucket_of, differing
from replication.store import BUCKETS as SCORE_BUCKETS
from replication.store import bucket_of as score_bucket


def test_both_protocols_bucket_ids_through_the_same_rule() -> None:
    rng = random.Random(5)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(200)] + [f"match-{i}" for i in range(200)]
    for i in ids:
        assert chat_bucket(i) == bucket_of(i, CHAT_BUCKETS)
        assert score_bucket(i) == bucket_of(i, SCORE_BUCKETS)
        assert bucket_of(i, 256) == hashlib.sha256(i.encode()).digest()[0]  # stable across versions
    # spread: ids that all start alike still fill the buckets
    same_prefix = {bucket_of(f"aaaa{i}", 64) for i in range(2000)}
    assert len(same_prefix) == 64
    with pytest.raises(ValueError):
        bucket_of("x", 257)


def test_sums_add_and_remove_symmetrically_and_only_changed_buckets_differ() -> None:
    a, b = BucketSums(64), BucketSums(64)
    items = {f"{i:032x}": i * 7919 for i in range(1, 300)}
    for k, h in items.items():
        a.flip(k, h, 1)
        b.flip(k, h, 1)
    assert (a.total, a.total_xor) == (b.total, b.total_xor) and a.xor == b.xor
    extra = f"{999_999:032x}"
    b.flip(extra, 12345, 1)
    assert differing(a.digest(), b.digest()) == [bucket_of(extra, 64)]
    b.flip(extra, 12345, -1)
    assert differing(a.digest(), b.digest()) == [] and b.total == a.total and b.total_xor == a.total_xor


def test_a_bucket_missing_on_one_side_counts_as_empty() -> None:
    assert differing({1: (5, 1), 2: (7, 1)}, {2: (7, 1), 3: (9, 2)}) == [1, 3]
    assert differing({}, {}) == []
