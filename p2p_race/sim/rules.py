"""Race rules, player inputs, world geometry and physics constants.

Everything the simulation needs to be reproduced bit for bit on another machine lives here as
plain numbers. World units are metres and seconds. The road runs along +y; x = 0 is the left
edge of the asphalt and x = ROAD_WIDTH the right edge. Lane i is centred on `lane_center(i)`.
A narrow gravel shoulder (SHOULDER wide) lies beyond each edge, bounded by guard rails.
"""

from __future__ import annotations

from dataclasses import dataclass

DT = 1.0 / 60.0  # fixed timestep (s); time is always computed as tick * DT
TICKS_PER_SECOND = 60

LANES = 4
LANE_WIDTH = 3.5
ROAD_WIDTH = LANES * LANE_WIDTH  # asphalt width (m)
SHOULDER = 0.6  # gravel beyond each asphalt edge, up to the guard rail (m)
RAIL_LEFT = -SHOULDER
RAIL_RIGHT = ROAD_WIDTH + SHOULDER

# The player's car (sprite-sized body; the hitbox is slightly smaller, see HITBOX_*).
CAR_W = 1.8
CAR_H = 4.4
HITBOX_W = 0.85  # hitbox = body scaled by these factors: grazing a mirror is not a crash
HITBOX_H = 0.92

# Longitudinal physics (m/s, m/s^2).
# The car can never fall back into the traffic: its speed stays at least MIN_REL_SPEED above
# the traffic flow (rules.min_speed(t)). So traffic never comes from behind, every vehicle is
# passed, and slowing down buys time to change lanes but never stops the race. MIN_SPEED is
# the lowest value that floor takes over all difficulties and times (for gauges).
MIN_REL_SPEED = 4.0
MIN_SPEED = 16.0
MAX_SPEED = 60.0
START_SPEED = 25.0
ACCEL = 10.0
BRAKE = 28.0
COAST_DRAG = 2.0
LAT_SPEED = 8.0  # lateral speed while steering (m/s); crossing a lane takes ~0.44 s

# Leaving the asphalt (any part of the body over the edge, onto the gravel) is not a crash
# but a heavy slowdown: the car cannot accelerate and loses OFFROAD_DRAG m/s^2 down to its
# speed floor. The shoulder is too narrow to hide in: a car at the rail still overlaps lane 0.
OFFROAD_DRAG = 25.0

# Scoring: distance points plus bonuses for each traffic vehicle passed (overtake) and for
# passing one closely (near miss: lateral body gap under NEAR_MISS_GAP while alongside).
POINTS_PER_METRE = 0.1
OVERTAKE_BONUS = 5
NEAR_MISS_BONUS = 20
NEAR_MISS_GAP = 0.7

DIFFICULTIES = ("easy", "normal", "hard")


@dataclass(frozen=True)
class Difficulty:
    """Traffic parameters of one difficulty level.

    Traffic flows at a common speed that ramps from `speed0` to `speed1` over `speed_ramp_s`
    seconds (time-based difficulty). Vehicles come in rows; the clear gap between rows shrinks
    from `gap0` to `gap1` and rows block more lanes as the road goes on (distance-based
    difficulty, reaching full density at `density_ramp_m`).
    """

    speed0: float
    speed1: float
    speed_ramp_s: float
    gap0: float
    gap1: float
    density_ramp_m: float
    # Probability weights for a row blocking 1, 2, 3 lanes at the start and at full density.
    blocked0: tuple[float, float, float]
    blocked1: tuple[float, float, float]


DIFFICULTY = {
    "easy": Difficulty(12.0, 18.0, 150.0, 45.0, 26.0, 6000.0, (0.7, 0.3, 0.0), (0.35, 0.5, 0.15)),
    "normal": Difficulty(14.0, 22.0, 120.0, 38.0, 20.0, 4500.0, (0.55, 0.4, 0.05), (0.2, 0.5, 0.3)),
    "hard": Difficulty(16.0, 27.0, 90.0, 32.0, 16.0, 3000.0, (0.4, 0.45, 0.15), (0.1, 0.45, 0.45)),
}


def lane_center(lane: int) -> float:
    """x of the centre line of `lane` (0 = leftmost)."""
    return (lane + 0.5) * LANE_WIDTH


def lane_of(x: float) -> int:
    """The lane whose strip contains x (clamped to the road)."""
    return min(LANES - 1, max(0, int(x // LANE_WIDTH)))


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
        if t <= 0.0:
            return p.speed0
        if t >= p.speed_ramp_s:
            return p.speed1
        return p.speed0 + (p.speed1 - p.speed0) * (t / p.speed_ramp_s)

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

    def min_speed(self, t: float) -> float:
        """The car's speed floor at time t: just faster than the traffic."""
        return self.flow_speed(t) + MIN_REL_SPEED
