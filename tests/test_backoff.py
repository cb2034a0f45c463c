"""The one backoff rule (p2p_race.backoff): per-key due times for dials and services."""

from __future__ import annotations

from p2p_race.backoff import Backoff, BackoffMap, backoff_delay


def test_delay_doubles_from_base_and_caps() -> None:
    assert [backoff_delay(n, 1.0, 30.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_delay(10_000, 1.0, 30.0) == 30.0  # no overflow after days of failures


def test_without_jitter_the_delays_are_exact() -> None:
    b = Backoff(base=0.5, cap=4.0, jitter=False)
    assert [b.fail() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    b.reset()
    assert b.fail() == 0.5


def test_map_keeps_one_schedule_per_key_and_forgets_on_success() -> None:
    m: BackoffMap[str] = BackoffMap(1.0, 8.0)
    assert not m.waiting("a", 0.0)
    assert m.fail("a", 10.0) == 11.0 and m.fail("a", 11.0) == 13.0
    assert m.waiting("a", 12.9) and not m.waiting("a", 13.0)
    assert not m.waiting("b", 10.0)  # another key is not held back
    assert m.fail("b", 10.0, at_least=30.0) == 40.0  # "not before" wins over a short delay
    m.ok("a")
    assert not m.waiting("a", 11.5) and m.fail("a", 20.0) == 21.0  # starts over
    m.hold("c", 5.0)
    assert m.waiting("c", 4.0) and "c" not in m.failures  # held, not failed
