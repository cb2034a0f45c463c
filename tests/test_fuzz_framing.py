"""Fuzzing the chat and score-sync framings: mutated frame streams through the decoder,
the body decoders and the cores raise nothing but the framings' own errors (0 crashes).
A short run by default; the full 100k cases each with P2P_RACE_LONG_TESTS=1 (or
`python -m tests.support.framefuzz 100000`)."""

from __future__ import annotations

import os

import pytest

from tests.support.framefuzz import fuzz_chat, fuzz_sync


@pytest.mark.parametrize("fuzz", [fuzz_chat, fuzz_sync])
def test_framing_fuzz_short(fuzz) -> None:
    res = fuzz(3000, seed=1)
    assert res["crashes"] == 0, res["first_crashes"]
    assert res["frames"] > 500 and res.get("frame_error", 0) > 50  # both paths were exercised
    assert res.get("foreign_records", 0) == 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("P2P_RACE_LONG_TESTS"), reason="minutes: P2P_RACE_LONG_TESTS=1")
@pytest.mark.parametrize("fuzz", [fuzz_chat, fuzz_sync])
def test_framing_fuzz_100k(fuzz) -> None:
    res = fuzz(100_000, seed=2)
    assert res["crashes"] == 0, res["first_crashes"]
    assert res.get("foreign_records", 0) == 0
