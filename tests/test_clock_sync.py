"""Clock-offset estimation (NTP-style, min-RTT filter) and the synchronized start it gives."""

from __future__ import annotations

import random

import pytest

from p2p_race.match.clock import ClockSync
from p2p_race.match.core import MatchConfig
from tests.support.matchsim import SimMatch
from tests.support.simnet import Faults


def test_offset_exact_with_symmetric_delay():
    c = ClockSync()
    # host clock = ours + 100; 5 ms each way
    c.add(t0=10.0, t1=110.005, t3=10.010)
    assert abs(c.offset - 100.0) < 1e-9
    assert abs(c.rtt - 0.010) < 1e-9
    assert abs(c.to_local(200.0) - 100.0) < 1e-9


def test_min_rtt_sample_wins_under_asymmetric_jitter():
    rng = random.Random(1)
    true_offset = -3.25
    c = ClockSync()
    errors_single = []
    t = 0.0
    for _ in range(24):
        up = 0.0005 + rng.random() * 0.030  # to the host: queues, up to 30 ms
        down = 0.0005 + rng.random() * 0.002  # back: nearly idle
        t0 = t
        t1 = t0 + up + true_offset
        t3 = t0 + up + down
        s = c.add(t0, t1, t3)
        errors_single.append(abs(s.offset - true_offset))
        t += 0.1
    assert abs(c.offset - true_offset) < 0.003
    assert abs(c.offset - true_offset) < sum(errors_single) / len(errors_single) / 3
    assert max(errors_single) > 0.005  # single samples would have been off


def test_rejects_impossible_samples():
    c = ClockSync()
    assert c.add(5.0, 1.0, 4.0) is None  # answer before the question
    assert c.add(0.0, 1.0, 10.0) is None  # far too stale
    assert not c.synced


@pytest.mark.slow
def test_start_skew_within_10ms_with_asymmetric_jitter():
    """Racers with clocks up to 5 s apart start within 10 ms of each other (true time),
    although the path to the host jitters by up to 20 ms more than the way back."""
    worst = 0.0
    for seed in range(20):
        cfg = MatchConfig(auto_start=5, countdown=1.5)
        sim = SimMatch(seed, 5, 0, Faults(loss=0.05, delay=0.0005, jitter=0.004), cfg, 2.0,
                       [None] * 5, asym=0.010)
        sim.net.run_for(30, stop=sim.done)
        starts = [p.start_true for p in sim.peers.values()]
        assert all(s is not None for s in starts)
        worst = max(worst, max(starts) - min(starts))
    assert worst <= 0.010, f"start skew {worst * 1000:.1f} ms"
