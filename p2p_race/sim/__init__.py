"""The deterministic race simulation (pure Python, no pygame): docs/ARCHITECTURE.md section 1.

Fixed 60 Hz step; traffic is a pure function of (seed, difficulty, time); same seed and same
inputs give the same states on every machine. Renderers interpolate with `lerp_state`.
"""

from p2p_race.sim.car import CarSim, CarState, hitboxes_overlap, lerp_state
from p2p_race.sim.plausible import max_score_rate, plausible
from p2p_race.sim.race import Race
from p2p_race.sim.rules import (
    CAR_H,
    CAR_W,
    DIFFICULTIES,
    DT,
    LANE_WIDTH,
    LANES,
    MAX_SPEED,
    MIN_SPEED,
    RAIL_LEFT,
    RAIL_RIGHT,
    ROAD_WIDTH,
    SHOULDER,
    START_SPEED,
    TICKS_PER_SECOND,
    Inputs,
    Rules,
    lane_center,
    lane_of,
)
from p2p_race.sim.traffic import KINDS, VARIANTS, Traffic, TrafficCar
from p2p_race.sim.util import state_digest

__all__ = [
    "CAR_H", "CAR_W", "DIFFICULTIES", "DT", "KINDS", "LANES", "LANE_WIDTH", "MAX_SPEED",
    "MIN_SPEED", "RAIL_LEFT", "RAIL_RIGHT", "ROAD_WIDTH", "SHOULDER", "START_SPEED",
    "TICKS_PER_SECOND", "VARIANTS", "CarSim", "CarState", "Inputs", "Race", "Rules", "Traffic",
    "TrafficCar", "hitboxes_overlap", "lane_center", "lane_of", "lerp_state", "max_score_rate",
    "plausible", "state_digest",
]
