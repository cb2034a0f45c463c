"""Replay verification reproduces the simulation exactly and catches every made-up state."""

from __future__ import annotations

import random

import pytest

from p2p_race.bots import BotDriver
from p2p_race.replay import codec
from p2p_race.replay.verify import CarReplay, replay, start_x
from p2p_race.sim import DIFFICULTIES, CarSim, Rules, state_digest
from replication.fixtures import scripted_drive


def _drive(rules: Rules, pid: str, seed: int, bot: bool) -> tuple[bytes, str]:
    """Inputs and the per-tick state digest of a drive on the plain CarSim."""
    car = CarSim(rules, pid, start_x=start_x(pid))
    drv = BotDriver(pid, 0.9) if bot else None
    rng = random.Random(seed)
    codes = bytearray()
    digest = state_digest()
    code = 5
    while not car.finished:
        if drv is not None:
            code = codec.code_of(drv.decide(car, car.traffic))
        elif car.tick % 20 == 0:
            code = rng.randrange(9)
        car.step(codec.inputs_of(code))
        codes.append(code)
        digest.add(car.state)
    return bytes(codes), digest.hexdigest()


@pytest.mark.parametrize("seed", range(24))
def test_replay_reproduces_every_state_of_the_simulation(seed):
    """Property over many seeds: the verifier's car (which skips traffic scans while no row
    is in reach) goes through exactly the plain simulation's states, tick by tick."""
    rules = Rules(seed * 7919, 25.0 if seed % 3 else 40.0, DIFFICULTIES[seed % 3])
    pid = f"{seed * 2654435761 % 2**64:016x}"
    codes, want = _drive(rules, pid, seed, bot=seed % 4 == 0)
    rp = CarReplay(rules, pid)
    got = state_digest()
    for c in codes:
        rp.feed(bytes([c]))
        got.add(rp.state)
    assert got.hexdigest() == want
    out = replay(rules, pid, codes)
    assert out.state == rp.state and out.ticks == len(codes)
    assert out.crashed == rp.state.crashed or out.abandoned is False


def _honest_stream(rules, pid, codes):
    """(first_tick, window codes, state) of each tick, as a racer streams them."""
    car = CarSim(rules, pid, start_x=start_x(pid))
    for k, c in enumerate(codes, start=1):
        car.step(codec.inputs_of(c))
        first = max(1, k - 239)
        yield first, codes[first - 1:k], car.state


def _claim(st, **change):
    d = dict(tick=st.tick, x=st.x, y=st.y, speed=st.speed, score=st.score, distance=st.distance,
             crashed=st.crashed, crash_time=-1.0 if st.crash_time is None else st.crash_time)
    d.update(change)
    return d


def test_live_replay_accepts_an_honest_stream_even_with_most_datagrams_lost():
    rules = Rules(11, 20.0)
    pid = "00000000000000a1"
    codes = scripted_drive(rules, pid, 3)
    rp = CarReplay(rules, pid)
    rng = random.Random(4)
    for first, window, st in _honest_stream(rules, pid, codes):
        if rng.random() < 0.8 and st.tick != len(codes):  # 80 % loss, the last one arrives
            continue
        assert rp.feed_window(first, window)
        assert rp.matches(**_claim(st))
    assert rp.finished and rp.tick == len(codes)


@pytest.mark.parametrize("change", [
    {"score": 1}, {"y": 0.5}, {"speed": -0.25}, {"x": 1e-9}, {"distance": 3.0},
])
def test_a_state_the_inputs_do_not_produce_is_caught(change):
    rules = Rules(12, 20.0)
    pid = "00000000000000b2"
    codes = scripted_drive(rules, pid, 5)
    for _first, _window, st in _honest_stream(rules, pid, codes):
        if st.tick == 300:
            rp = CarReplay(rules, pid)
            rp.feed(codes[:300])
            bad = _claim(st)
            for k, v in change.items():
                bad[k] = bad[k] + v
            assert not rp.matches(**bad)
            assert rp.matches(**_claim(st))
            return
    pytest.fail("drive too short")


def test_driving_through_traffic_crashes_in_the_replay():
    """A cheat that never crashes: the replay crashes at the first vehicle in its lane, and
    inputs after that crash are refused."""
    rules = Rules(13, 60.0)
    pid = "00000000000000c3"
    straight = bytes([5]) * rules.limit_ticks  # full throttle, no steering
    rp = CarReplay(rules, pid)
    rp.feed(straight)
    assert rp.state.crashed and rp.error == "inputs after the end of the drive"
    with pytest.raises(ValueError, match="after the end"):
        replay(rules, pid, straight)
    out = replay(rules, pid, straight[: rp.tick])
    assert out.crashed and not out.abandoned and out.crash_time == rp.state.crash_time


def test_a_window_that_starts_after_a_gap_is_reported():
    rules = Rules(14, 20.0)
    rp = CarReplay(rules, "00000000000000d4")
    assert rp.feed_window(1, bytes([4]) * 10)
    assert not rp.feed_window(20, bytes([4]) * 5)  # ticks 11..19 never arrived
    assert rp.tick == 10


def test_a_drive_that_stops_early_is_abandoned_at_its_last_tick():
    rules = Rules(15, 20.0)
    pid = "00000000000000e5"
    codes = scripted_drive(rules, pid, 9)[:200]
    out = replay(rules, pid, codes)
    assert not out.state.crashed  # (this drive crashes later)
    assert out.abandoned and out.crashed and out.ticks == 200 and out.crash_time == out.state.time
