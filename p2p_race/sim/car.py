"""One car against the shared traffic: fixed-step physics, collisions, scoring.

CarSim is the authority for its own car only; cars never collide with each other (each peer
simulates its own car, others are drawn as ghosts). Its `state` (CarState) is the plain-number
snapshot the network streams and the renderer interpolates with `lerp_state`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from p2p_race.sim.rules import (
    ACCEL,
    BOOST_ACCEL,
    BOOST_S,
    BOOST_SPEED,
    BRAKE,
    CAR_H,
    CAR_W,
    COAST_DRAG,
    DT,
    HITBOX_H,
    HITBOX_W,
    LAT_ACCEL,
    LAT_RELEASE,
    LAT_SPEED,
    MAX_SPEED,
    MULT,
    MULT_S,
    NEAR_MISS_BONUS,
    NEAR_MISS_GAP,
    ONCOMING,
    OVERSPEED_DRAG,
    OVERTAKE_BONUS,
    PICKUP_R,
    POINTS_PER_METRE,
    RAIL_LEFT,
    RAIL_RIGHT,
    ROAD_LEFT,
    ROAD_WIDTH,
    SHIELD_S,
    SHOULDER_DRAG,
    START_SPEED,
    SWEEPER_MARGIN,
    TICKS_PER_SECOND,
    Inputs,
    Rules,
    floor_table,
    lane_center,
)
from p2p_race.sim.traffic import KINDS, MAX_HALF_LEN, Traffic

X_MIN = RAIL_LEFT + CAR_W / 2  # the guard rails stop the body, not the centre
X_MAX = RAIL_RIGHT - CAR_W / 2
_HALF_HW = CAR_W * HITBOX_W / 2
_HALF_HH = CAR_H * HITBOX_H / 2
_SCAN = CAR_H / 2 + MAX_HALF_LEN + 2.0  # how far around the car traffic is checked each tick
_NO_INPUT = Inputs()
_LAT_UP = LAT_ACCEL * DT
_LAT_DOWN = LAT_RELEASE * DT
_PICK_Y = CAR_H / 2 + PICKUP_R
_PICK_X = CAR_W / 2 + PICKUP_R
# Distance points per tick at speed v: POINTS_PER_METRE per metre at top speed, less per
# metre the slower the car goes (points per second grow with the square of the speed).
_POINTS_K = DT * POINTS_PER_METRE / MAX_SPEED
_SHOULDER_L = ROAD_LEFT + CAR_W / 2  # centre positions beyond which the body is on a shoulder
_SHOULDER_R = ROAD_WIDTH - CAR_W / 2
# Oncoming vehicles (centred within 0.2 m of their lane's centre) can only touch a car whose
# centre is left of this.
_ONCOMING_REACH = (lane_center(ONCOMING) + 0.2 + _HALF_HW + max(w for w, _ in KINDS.values()) * HITBOX_W / 2
                   + 0.05)
_SWEEP_TICKS_PER_M = TICKS_PER_SECOND / (SWEEPER_MARGIN + 1.0)  # ticks the sweeper needs per metre of gap, at least
_EFFECT_TICKS = {"boost": int(BOOST_S * TICKS_PER_SECOND), "shield": int(SHIELD_S * TICKS_PER_SECOND),
                 "multiplier": int(MULT_S * TICKS_PER_SECOND)}


@dataclass(frozen=True)
class CarState:
    """A car at one tick: what is streamed to peers and drawn. y = distance along the road."""

    x: float
    y: float
    speed: float
    crashed: bool
    crash_time: float | None
    score: int
    distance: float
    tick: int

    @property
    def time(self) -> float:
        return self.tick * DT

    def to_json(self) -> dict:
        return {"x": self.x, "y": self.y, "speed": self.speed, "crashed": self.crashed,
                "crash_time": self.crash_time, "score": self.score, "distance": self.distance,
                "tick": self.tick}


def lerp_state(a: CarState, b: CarState, alpha: float) -> CarState:
    """The state between two ticks for drawing (alpha in [0, 1]); discrete fields come from b."""
    alpha = min(1.0, max(0.0, alpha))

    def mix(p: float, q: float) -> float:
        return p + (q - p) * alpha

    return CarState(mix(a.x, b.x), mix(a.y, b.y), mix(a.speed, b.speed), b.crashed, b.crash_time,
                    b.score, mix(a.distance, b.distance), b.tick)


def hitboxes_overlap(x: float, y: float, vx: float, vy: float, vw: float, vh: float) -> bool:
    """Car at (x, y) vs a traffic body centred at (vx, vy) of size vw x vh, both hitboxes shrunk."""
    return abs(x - vx) < _HALF_HW + vw * HITBOX_W / 2 and abs(y - vy) < _HALF_HH + vh * HITBOX_H / 2


class CarSim:
    """One car driven by Inputs at a fixed 60 Hz step against the (seed, time) road.

    Besides its CarState it keeps what the state does not stream: the sideways speed
    (`vx`), the active pickup effects (`effects()`) and counters the HUD shows."""

    def __init__(self, rules: Rules, car_id: str, start_x: float | None = None,
                 traffic: Traffic | None = None) -> None:
        self.rules = rules
        self.car_id = car_id
        self.traffic = traffic if traffic is not None else Traffic(rules)
        self._limit = rules.limit_ticks
        x = lane_center(1) if start_x is None else float(start_x)
        self._x = min(X_MAX, max(X_MIN, x))
        self._vx = 0.0
        self._y = 0.0
        self._speed = START_SPEED
        self._tick = 0
        self._crashed = False
        self._crash_time: float | None = None
        self._bonus = 0
        self._points = 0.0  # distance points (speed-weighted, multiplied), not yet floored
        self.overtakes = 0
        self.near_misses = 0
        self.pickups_taken: list[str] = []  # kinds, in the order collected
        self.collected: list[int] = []  # their ids (a renderer hides them for this car)
        self.shield_saves = 0
        self.caught = False  # the sweeper ended the race (a crash otherwise)
        self._sweeper = rules.sweeper_y
        self._sweep_next = 0  # the next tick the sweeper could have reached the car
        self._boost_until = 0  # ticks: each effect lasts while tick < until
        self._shield_until = 0
        self._mult_until = 0
        self._ghosts: set[int] = set()  # vehicles a shield let us through
        # The road's queries, bound once (a scripted road in tests may offer only `near`).
        tr = self.traffic
        self._near = tr.near
        self._near_oncoming = getattr(tr, "near_oncoming", None)
        self._floors = floor_table(rules)  # the speed floor of each tick (rules.min_speed)
        self._has_pickups = hasattr(tr, "pickup")
        self._pick_i = 0  # next pickup along the road not yet behind the car
        self._load_pickup()
        self._closest: dict[int, float] = {}  # vehicle id -> smallest lateral gap while alongside
        self._passed: set[int] = set()
        self._state: CarState | None = None

    # -- read side -------------------------------------------------------------------------
    @property
    def tick(self) -> int:
        return self._tick

    @property
    def time(self) -> float:
        return self._tick * DT

    @property
    def vx(self) -> float:
        """Sideways speed (m/s, + = right)."""
        return self._vx

    @property
    def finished(self) -> bool:
        """Crashed or out of time: further steps change nothing but the clock (until the limit)."""
        return self._crashed or self._tick >= self._limit

    @property
    def offroad(self) -> bool:
        """On the soft shoulder: part of the body beyond an outer asphalt edge."""
        return self._x < _SHOULDER_L or self._x > _SHOULDER_R

    @property
    def multiplier(self) -> int:
        return MULT if self._tick < self._mult_until else 1

    def effects(self) -> dict[str, float]:
        """Active pickup effects -> seconds left (for the HUD and the renderer)."""
        out = {}
        for name, until in (("boost", self._boost_until), ("shield", self._shield_until),
                            ("multiplier", self._mult_until)):
            if self._tick < until and not self._crashed:
                out[name] = (until - self._tick) * DT
        return out

    @property
    def score(self) -> int:
        return int(self._points) + self._bonus

    @property
    def distance_points(self) -> int:
        """The part of the score earned by driving (without overtake and near-miss bonuses)."""
        return int(self._points)

    @property
    def state(self) -> CarState:
        st = self._state
        if st is None or st.tick != self._tick:
            st = CarState(self._x, self._y, self._speed, self._crashed, self._crash_time,
                          self.score, self._y, self._tick)
            self._state = st
        return st

    # -- write side ------------------------------------------------------------------------
    def step(self, inputs: Inputs = _NO_INPUT) -> None:
        """Advance one tick of DT. A crashed car's clock still runs (up to the time limit)."""
        if self._tick >= self._limit:
            return
        self._tick += 1
        if self._crashed:
            return
        tick = self._tick
        steer = 1 if inputs.steer > 0 else -1 if inputs.steer < 0 else 0
        throttle = 1 if inputs.throttle > 0 else -1 if inputs.throttle < 0 else 0
        v = self._speed
        x = self._x
        if throttle < 0:
            v -= BRAKE * DT
        elif tick < self._boost_until:
            v = min(BOOST_SPEED, v + BOOST_ACCEL * DT)
        elif v > MAX_SPEED:
            v = max(MAX_SPEED, v - OVERSPEED_DRAG * DT)
        elif x < _SHOULDER_L or x > _SHOULDER_R:
            v -= SHOULDER_DRAG * DT
        elif throttle > 0:
            v = min(MAX_SPEED, v + ACCEL * DT)
        else:
            v -= COAST_DRAG * DT
        floor = self._floors[tick]
        if v < floor:
            v = floor
        self._speed = v
        vx = self._vx
        if steer:
            target = steer * LAT_SPEED
            if vx != target:
                vx = min(target, vx + _LAT_UP) if vx < target else max(target, vx - _LAT_UP)
        elif vx > 0.0:
            vx = max(0.0, vx - _LAT_DOWN)
        elif vx < 0.0:
            vx = min(0.0, vx + _LAT_DOWN)
        if vx:
            x += vx * DT
            if x < X_MIN:
                x, vx = X_MIN, 0.0
            elif x > X_MAX:
                x, vx = X_MAX, 0.0
            self._x = x
        self._vx = vx
        y = self._y + v * DT
        self._y = y
        if tick < self._mult_until:
            self._points += v * v * _POINTS_K * MULT
        else:
            self._points += v * v * _POINTS_K
        if self._pick_y - y < _PICK_Y:
            self._check_pickup()
        t = tick * DT
        self._check_traffic(t)
        if tick >= self._sweep_next and not self._crashed:
            gap = y - CAR_H / 2 - self._sweeper(t)
            if gap <= 0.0:
                self._crash(t)
                self.caught = True
            else:  # the car never goes slower than the floor, the sweeper gains at most its margin
                self._sweep_next = tick + int(gap * _SWEEP_TICKS_PER_M)

    def _check_pickup(self) -> None:
        """The car reached the next pickup's row: collect it if it touches, then look on."""
        if abs(self._pick_x - self._x) < _PICK_X:
            kind = self._pick_kind
            self.pickups_taken.append(kind)
            self.collected.append(self._pick_i)
            until = self._tick + _EFFECT_TICKS[kind]
            if kind == "boost":
                self._boost_until = until
            elif kind == "shield":
                self._shield_until = until
            else:
                self._mult_until = until
        elif self._pick_y > self._y - _PICK_Y:
            return  # still alongside: it may yet touch
        self._pick_i += 1
        self._load_pickup()

    def _load_pickup(self) -> None:
        if self._has_pickups:
            p = self.traffic.pickup(self._pick_i)
            self._pick_x, self._pick_y, self._pick_kind = p.x, p.y, p.kind
        else:
            self._pick_x, self._pick_y, self._pick_kind = 0.0, math.inf, ""

    def _crash(self, t: float) -> None:
        self._crashed = True
        self._crash_time = t
        self._speed = 0.0
        self._vx = 0.0

    def _check_traffic(self, t: float) -> None:
        x, y = self._x, self._y
        rear, front = y - CAR_H / 2, y + CAR_H / 2
        closest = self._closest
        near = self._near(t, y - _SCAN, y + _SCAN)
        if x < _ONCOMING_REACH and self._near_oncoming is not None:
            near += self._near_oncoming(t, y - _SCAN, y + _SCAN)
        for vid, _lane, vx, vy, vw, vh in near:
            if self._ghosts and vid in self._ghosts:
                continue
            if hitboxes_overlap(x, y, vx, vy, vw, vh):
                if self._tick < self._shield_until:
                    self._shield_until = 0
                    self._ghosts.add(vid)
                    self.shield_saves += 1
                    closest.pop(vid, None)
                    continue
                self._crash(t)
                return
            if vid < 0:  # oncoming: no overtake to score
                continue
            half = vh / 2
            if vy - half < front and vy + half > rear:  # alongside: track the closest lateral gap
                gap = abs(x - vx) - (CAR_W + vw) / 2
                if gap < closest.get(vid, 1e9):
                    closest[vid] = gap
            elif vy + half <= rear:  # fully behind the car: passed
                if vid in closest and vid not in self._passed:
                    self._passed.add(vid)
                    m = MULT if self._tick < self._mult_until else 1
                    self._bonus += OVERTAKE_BONUS * m
                    self.overtakes += 1
                    if closest.pop(vid) < NEAR_MISS_GAP:
                        self._bonus += NEAR_MISS_BONUS * m
                        self.near_misses += 1
            else:  # fully ahead again (it overtook us): forget it until it is alongside again
                closest.pop(vid, None)
