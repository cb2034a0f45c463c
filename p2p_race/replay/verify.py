"""Replay verification: a car's inputs plus the match rules reproduce its every state.

The simulation is deterministic (p2p_race.sim), so the outcome of a race is a pure function
of (seed, time limit, difficulty, the car's start lane, its input codes). This module runs
that function, in two forms:

- `CarReplay`: incremental, for live verification. Feed the inputs a racer streams and
  compare each state it claims with the replayed one (`matches`); any difference means the
  racer's states are not what its inputs drive.
- `replay` / `replay_all`: batch, for stored records; cached by (rules, car, log), so a
  record whose logs this process already replayed live verifies without a second replay.

Speed: the replay runs `CarSim` itself (so it can never drift from the simulation); what
makes verification cheap is the cache and one shared traffic model per rules.

Outcome of a log of n ticks: the car crashed at tick n (a log must end at its crash), or
n is the time limit, or the racer stopped streaming at tick n (abandoned: counted as a
crash at that time, as the match host does for a silent racer).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from p2p_race.replay.codec import inputs_of
from p2p_race.sim.car import CarSim, CarState
from p2p_race.sim.rules import CAR_H, DT, LANES, Rules, lane_center
from p2p_race.sim.traffic import Traffic

_HALF = CAR_H / 2
_MARGIN = 2.0  # metres of slack around a row: one tick of closing speed plus rounding
_INPUTS = tuple(inputs_of(c) for c in range(9))


def start_x(peer_id: str) -> float:
    """Where a racer's car starts: its lane is derived from its peer id (every peer agrees)."""
    return lane_center(int(peer_id, 16) % LANES)


class _QuietCar(CarSim):
    """The replayed car: exactly `CarSim` (its physics, traffic, pickups and scoring).

    (A faster variant that skipped the traffic scan between rows was exact only while the
    traffic never came towards the car; the road now has an oncoming lane and lane
    changers, so every tick runs the simulation's own code.)"""

    def __init__(self, rules: Rules, car_id: str, start: float, traffic: Traffic) -> None:
        super().__init__(rules, car_id, start_x=start, traffic=traffic)


@dataclass(frozen=True)
class Outcome:
    """What a replayed log produces. crash_time is -1 when the car did not crash."""

    ticks: int
    score: int
    distance: float
    crashed: bool
    crash_time: float
    abandoned: bool  # the log stops before a crash or the time limit
    state: CarState

    def to_json(self) -> dict:
        return {"ticks": self.ticks, "score": self.score, "distance": self.distance,
                "crashed": self.crashed, "crash_time": self.crash_time, "abandoned": self.abandoned}


class CarReplay:
    """One racer's car re-simulated from its inputs, tick by tick (live verification)."""

    def __init__(self, rules: Rules, peer_id: str, traffic: Traffic | None = None, start: float | None = None) -> None:
        self.rules = rules
        self.peer_id = peer_id
        x = start_x(peer_id) if start is None else start
        self.car = _QuietCar(rules, peer_id, x, traffic or shared_traffic(rules))
        self.codes = bytearray()
        self.error: str | None = None  # why the log cannot be a valid drive (then frozen)

    @property
    def tick(self) -> int:
        return self.car.tick

    @property
    def state(self) -> CarState:
        return self.car.state

    @property
    def finished(self) -> bool:
        return self.car.finished

    def feed(self, codes: bytes) -> None:
        """Step the car once per code. Inputs past the car's crash or the limit are an error."""
        if self.error is not None:
            return
        car = self.car
        step = car.step
        for c in codes:
            if car.finished:
                self.error = "inputs after the end of the drive"
                return
            if c > 8:
                self.error = "bad input code"
                return
            step(_INPUTS[c])
            self.codes.append(c)

    def feed_window(self, first_tick: int, codes: bytes, upto: int | None = None) -> bool:
        """Apply a window of inputs for ticks first_tick.. (tick k is the input of step k),
        up to tick `upto`. False when the window starts after our next tick (a gap)."""
        nxt = self.car.tick + 1
        if first_tick > nxt:
            return False
        skip = nxt - first_tick
        end = len(codes) if upto is None else max(0, min(len(codes), upto - first_tick + 1))
        if skip < end:
            self.feed(codes[skip:end])
        return True

    def matches(self, tick: int, x: float, y: float, speed: float, score: int, distance: float,
                crashed: bool, crash_time: float) -> bool:
        """True when the replay at `tick` is exactly this claimed state (crash_time -1 = none)."""
        st = self.car.state
        if self.error is not None or st.tick != tick:
            return False
        ct = -1.0 if st.crash_time is None else st.crash_time
        return (st.x == x and st.y == y and st.speed == speed and st.score == score
                and st.distance == distance and st.crashed == bool(crashed) and ct == crash_time)

    def outcome(self) -> Outcome:
        return _outcome(self.car, self.rules)

    def log_hash(self) -> bytes:
        return log_hash_of(bytes(self.codes))


def _outcome(car: CarSim, rules: Rules) -> Outcome:
    st = car.state
    crashed = st.crashed
    abandoned = not crashed and st.tick < rules.limit_ticks
    ct = st.crash_time if crashed else (st.tick * DT if abandoned else -1.0)
    return Outcome(st.tick, st.score, st.distance, crashed or abandoned, float(ct), abandoned, st)


def log_hash_of(codes: bytes) -> bytes:
    """Hash of a drive's input codes (what racers sign; independent of the log encoding)."""
    return hashlib.sha256(b"p2p-race/inputs/v1\x00" + bytes(codes)).digest()


@functools.lru_cache(maxsize=8)
def shared_traffic(rules: Rules) -> Traffic:
    """One traffic model per rules, shared by every car replayed in this process (the rows
    are generated once and only read afterwards)."""
    return Traffic(rules)


_CACHE: OrderedDict[tuple[Rules, str, bytes], Outcome | str] = OrderedDict()
_CACHE_SIZE = 4096


def _cache_put(key: tuple[Rules, str, bytes], value: Outcome | str) -> None:
    _CACHE[key] = value
    _CACHE.move_to_end(key)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)


def _run(rules: Rules, peer_id: str, codes: bytes) -> Outcome | str:
    car = _QuietCar(rules, peer_id, start_x(peer_id), shared_traffic(rules))
    step = car.step
    for k, c in enumerate(codes):
        if car.finished:
            return f"{len(codes) - k} inputs after the end of the drive"
        step(_INPUTS[c])
    return _outcome(car, rules)


def replay(rules: Rules, peer_id: str, codes: bytes) -> Outcome:
    """The outcome of one car's drive; ValueError when the codes cannot be a drive."""
    codes = bytes(codes)
    if any(c > 8 for c in set(codes)):
        raise ValueError("bad input code")
    if len(codes) > rules.limit_ticks:
        raise ValueError("more inputs than the time limit has ticks")
    key = (rules, peer_id, log_hash_of(codes))
    got = _CACHE.get(key)
    if got is None:
        got = _run(rules, peer_id, codes)
        _cache_put(key, got)
    if isinstance(got, str):
        raise ValueError(got)
    return got


def replay_all(rules: Rules, drives: dict[str, bytes]) -> dict[str, Outcome]:
    """Outcomes of several cars of one match (one shared traffic model)."""
    return {pid: replay(rules, pid, codes) for pid, codes in drives.items()}


def remember(replayed: CarReplay) -> None:
    """Keep a drive verified live, so the batch check of its record needs no second replay."""
    if replayed.error is None:
        _cache_put((replayed.rules, replayed.peer_id, replayed.log_hash()), replayed.outcome())


def clear_cache() -> None:
    """Forget every cached replay (benchmarks measure cold verification)."""
    _CACHE.clear()
