"""A chat service and a game peer under mixed hostile traffic (bench/soak_hostile.py) keep
serving honest peers and stay within +20 MB RSS. Short by default; the issue's 10-minute
run with P2P_RACE_LONG_TESTS=1 (`make test` runs `slow` tests too), or
`python -m bench.soak_hostile 600` for the figures."""

from __future__ import annotations

import os

import pytest

from bench.soak_hostile import run

pytestmark = pytest.mark.lan


def check(res: dict) -> None:
    assert res["alive"] == {"chat": True, "game": True}
    h = res["honest"]
    for kind in ("chat", "sync", "listed"):
        ok, fail = h[f"{kind}_ok"], h[f"{kind}_fail"]
        assert ok >= 2 and fail <= max(1, ok // 5), (kind, h)
    for who in ("chat", "game"):
        assert res[f"{who}_rss_mib"]["growth"] <= 20, res
    ops = res["hostile_ops"]
    assert ops.get("udp_junk", 0) > 10 and ops.get("sybil_lines", 0) > 10 and ops.get("half_frame", 0) > 5
    assert res["chat_drops"].get("clock_ahead", 0) > 0


def test_soak_short(tmp_path) -> None:
    check(run(12.0, tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(900)  # the suite's 300 s default would cut the 600 s run short
@pytest.mark.skipif(not os.environ.get("P2P_RACE_LONG_TESTS"), reason="10 minutes: P2P_RACE_LONG_TESTS=1")
def test_soak_ten_minutes(tmp_path) -> None:
    check(run(600.0, tmp_path))
