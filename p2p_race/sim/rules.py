"""Race rules, player inputs, world geometry and physics constants.

Everything the simulation needs to be reproduced bit for bit on another machine lives here as
plain numbers. World units are metres and seconds. The road runs along +y. The carriageway has
LANES lanes in the driving direction: x = 0 is its left edge, x = ROAD_WIDTH its right edge,
lane i (0 = leftmost) is centred on `lane_center(i)`. Left of it lies one oncoming lane
(ONCOMING, x in [ROAD_LEFT, 0]) with traffic coming the other way. A soft shoulder (SHOULDER
wide) lies beyond each outer edge, bounded by guard rails.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

DT = 1.0 / 60.0  # fixed timestep (s); time is always computed as tick * DT
TICKS_PER_SECOND = 60

LANES = 4  # lanes in the driving direction (0 .. LANES - 1)
ONCOMING = -1  # the lane index of the oncoming lane, left of lane 0
LANE_WIDTH = 3.5
ROAD_WIDTH = LANES * LANE_WIDTH  # width of the carriageway in the driving direction (m)
ROAD_LEFT = ONCOMING * LANE_WIDTH  # left edge of the asphalt (the oncoming lane's edge)
SHOULDER = 1.1  # soft shoulder beyond each outer asphalt edge, up to the guard rail (m)
RAIL_LEFT = ROAD_LEFT - SHOULDER
RAIL_RIGHT = ROAD_WIDTH + SHOULDER

# The player's car (sprite-sized body; the hitbox is slightly smaller, see HITBOX_*).
CAR_W = 1.8
CAR_H = 4.4
HITBOX_W = 0.85  # hitbox = body scaled by these factors: grazing a mirror is not a crash
HITBOX_H = 0.92

# Longitudinal physics (m/s, m/s^2).
# The car can never fall back into the traffic: its speed stays above the traffic flow by a
# margin that grows during the race (rules.min_speed(t), the minimum pace). Early on braking
# nearly matches the traffic, which buys seconds to find a gap; later the pace forbids
# waiting, so passive play does not pay and every race ends. MIN_SPEED is the lowest value
# that floor takes over all difficulties and times (for gauges).
MIN_SPEED = 14.0
MAX_SPEED = 60.0
START_SPEED = 25.0
ACCEL = 10.0
BRAKE = 30.0
COAST_DRAG = 2.0

# Lateral physics: steering sets a target sideways speed (steer * LAT_SPEED); the car's
# sideways speed follows it at LAT_ACCEL (counter-steering) or LAT_RELEASE (letting go), so
# a lane change has a run-up and a drift at the end. Crossing one lane takes ~0.6 s.
LAT_SPEED = 9.0
LAT_ACCEL = 45.0
LAT_RELEASE = 30.0

# The shoulder is soft, not a wall: with any part of the body over an outer asphalt edge the
# car cannot accelerate and loses SHOULDER_DRAG m/s^2 (braking still brakes). The shoulder
# is too narrow to hide in: a car at a rail still overlaps the outer lane.
SHOULDER_DRAG = 7.0

# The sweeper: riding the minimum pace must not pay (a braking car reaches the dense traffic
# later and so outlasted the drivers who raced). A sweeper line starts SWEEPER_GAP metres
# behind the start line and moves at the minimum pace plus a margin that shrinks from
# SWEEPER_MARGIN to nothing over the pace ramp; a car it reaches is out (like a crash).
# A car that always brakes is caught after about a minute; anyone who drove faster than the
# floor early on is far ahead and only has the traffic to fear.
SWEEPER_GAP = 150.0
SWEEPER_MARGIN = 3.0

# Pickups (driven over, they act at once): a boost pushes the car up to BOOST_SPEED at
# BOOST_ACCEL for BOOST_S seconds (above MAX_SPEED it then bleeds OVERSPEED_DRAG); a shield
# absorbs the next collision within SHIELD_S seconds; a multiplier multiplies every point
# scored for MULT_S seconds by MULT.
BOOST_SPEED = 70.0
BOOST_ACCEL = 22.0
BOOST_S = 3.0
OVERSPEED_DRAG = 6.0
SHIELD_S = 12.0
MULT = 2
MULT_S = 10.0
PICKUP_R = 0.9  # pickup radius (m): collected when it touches the car's body

# Scoring: distance points plus bonuses for each traffic vehicle passed (overtake) and for
# passing one closely (near miss: lateral body gap under NEAR_MISS_GAP while alongside).
# A metre is worth POINTS_PER_METRE at MAX_SPEED and proportionally less when slower
# (points per second grow with the square of the speed): crawling does not pay.
POINTS_PER_METRE = 0.1
OVERTAKE_BONUS = 5
NEAR_MISS_BONUS = 20
NEAR_MISS_GAP = 0.7

DIFFICULTIES = ("easy", "normal", "hard")


@dataclass(frozen=True)
class Difficulty:
    """Traffic parameters of one difficulty level.

    Traffic flows at a common speed that ramps from `speed0` to `speed1` over `speed_ramp_s`
    seconds. Vehicles come in rows; the clear gap between rows shrinks from `gap0` to `gap1`
    at `density_ramp_m` (traffic frame) and on to `gap2` at `density_end_m`, while rows block
    more lanes (weights for 1, 2, 3 blocked lanes at 0, `density_ramp_m`, `density_end_m`).
    The minimum pace, how much faster than the traffic the car must go, rises from `pace0` to
    `pace1` m/s over `pace_ramp_s` seconds: the curve that ends every race. Oncoming vehicles
    are spaced `oncoming0` m apart at first, `oncoming1` m at `density_end_m`.
    """

    speed0: float
    speed1: float
    speed_ramp_s: float
    gap0: float
    gap1: float
    gap2: float
    density_ramp_m: float
    density_end_m: float
    blocked0: tuple[float, float, float]
    blocked1: tuple[float, float, float]
    blocked2: tuple[float, float, float]
    pace0: float
    pace1: float
    pace_ramp_s: float
    oncoming0: float
    oncoming1: float


DIFFICULTY = {
    "easy": Difficulty(12.0, 18.0, 150.0, 45.0, 26.0, 9.0, 6000.0, 16000.0,
                       (0.7, 0.3, 0.0), (0.35, 0.5, 0.15), (0.15, 0.45, 0.4),
                       2.0, 38.0, 300.0, 420.0, 110.0),
    "normal": Difficulty(14.0, 22.0, 120.0, 38.0, 20.0, 7.0, 4500.0, 12000.0,
                         (0.55, 0.4, 0.05), (0.2, 0.5, 0.3), (0.05, 0.4, 0.55),
                         2.0, 36.0, 240.0, 360.0, 80.0),
    "hard": Difficulty(16.0, 27.0, 90.0, 32.0, 16.0, 6.0, 3000.0, 9000.0,
                       (0.4, 0.45, 0.15), (0.1, 0.45, 0.45), (0.02, 0.3, 0.68),
                       2.5, 31.0, 180.0, 300.0, 60.0),
}


def lane_center(lane: int) -> float:
    """x of the centre line of `lane` (0 = leftmost)."""
    return (lane + 0.5) * LANE_WIDTH


def lane_of(x: float) -> int:
    """The lane whose strip contains x (clamped to the road; ONCOMING left of x = 0)."""
    return min(LANES - 1, max(ONCOMING, int(x // LANE_WIDTH)))


@dataclass(frozen=True)
class Inputs:
    """One tick of driver input: steer -1 left / 0 / 1 right; throttle -1 brake / 0 coast / 1 accel."""

    steer: int = 0
    throttle: int = 0


@dataclass(frozen=True)
class Rules:
    """What every peer of a match agrees on: the seed, the time limit and the difficulty."""

    seed: int
    time_limit: float = 180.0
    difficulty: str = "normal"

    def __post_init__(self) -> None:
        if self.difficulty not in DIFFICULTY:
            raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}")
        if not self.time_limit > 0:
            raise ValueError("time_limit must be positive")

    @property
    def limit_ticks(self) -> int:
        return int(round(self.time_limit * TICKS_PER_SECOND))

    @property
    def params(self) -> Difficulty:
        return DIFFICULTY[self.difficulty]

    def flow_speed(self, t: float) -> float:
        """The common traffic speed at time t (m/s): ramps linearly, then stays."""
        p = DIFFICULTY[self.difficulty]
        return _ramp(t, p.speed0, p.speed1, p.speed_ramp_s)

    def flow_offset(self, t: float) -> float:
        """How far the traffic moved since t = 0 (the integral of flow_speed)."""
        p = DIFFICULTY[self.difficulty]
        if t <= 0.0:
            return 0.0
        r = p.speed_ramp_s
        a = (p.speed1 - p.speed0) / r
        if t <= r:
            return p.speed0 * t + 0.5 * a * t * t
        return p.speed0 * r + 0.5 * a * r * r + p.speed1 * (t - r)

    def pace(self, t: float) -> float:
        """How much faster than the traffic the car must go at time t (m/s)."""
        p = DIFFICULTY[self.difficulty]
        return _ramp(t, p.pace0, p.pace1, p.pace_ramp_s)

    def min_speed(self, t: float) -> float:
        """The car's speed floor at time t (the minimum pace): faster than the traffic."""
        return self.flow_speed(t) + self.pace(t)

    def sweeper_y(self, t: float) -> float:
        """Where the sweeper line is at time t (road y): a car at or behind it is out.

        The integral of min_speed plus the shrinking margin, in closed form (+ - * / only)."""
        p = DIFFICULTY[self.difficulty]
        if t <= 0.0:
            return -SWEEPER_GAP
        r = p.pace_ramp_s
        if t <= r:
            lead = p.pace0 * t + 0.5 * (p.pace1 - p.pace0) / r * t * t
            lead += SWEEPER_MARGIN * (t - 0.5 * t * t / r)
        else:
            lead = (p.pace0 + p.pace1) * 0.5 * r + p.pace1 * (t - r) + SWEEPER_MARGIN * 0.5 * r
        return self.flow_offset(t) + lead - SWEEPER_GAP


@functools.lru_cache(maxsize=8)
def floor_table(rules: Rules) -> tuple[float, ...]:
    """`rules.min_speed(k * DT)` for every tick k of the race, computed once per rules and
    shared by every car (the same float operations: a replay stays bit-identical). A car's
    step reads its speed floor here instead of evaluating the ramps each tick."""
    return tuple(rules.min_speed(k * DT) for k in range(rules.limit_ticks + 1))


def _ramp(t: float, start: float, end: float, span: float) -> float:
    """`start` until t = 0, then linear to `end` at t = `span`, then `end` (the same float
    operations everywhere, so replays stay bit-identical)."""
    if t <= 0.0:
        return start
    if t >= span:
        return end
    return start + (end - start) * (t / span)
