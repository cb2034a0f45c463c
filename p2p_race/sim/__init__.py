"""The deterministic race simulation (pure Python, no pygame): docs/ARCHITECTURE.md section 1.

Fixed 60 Hz step; traffic, oncoming vehicles, pickups and the road theme are pure functions
of (seed, difficulty, time / distance); same seed and same inputs give the same states on
every machine. Renderers interpolate with `lerp_state`.
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
    ONCOMING,
    RAIL_LEFT,
    RAIL_RIGHT,
    ROAD_LEFT,
    ROAD_WIDTH,
    SHOULDER,
    START_SPEED,
    TICKS_PER_SECOND,
    Inputs,
    Rules,
    lane_center,
    lane_of,
)
from p2p_race.sim.themes import THEMES, theme_at
from p2p_race.sim.traffic import KINDS, PICKUP_KINDS, VARIANTS, Pickup, Traffic, TrafficCar
from p2p_race.sim.util import state_digest

__all__ = [
    "CAR_H", "CAR_W", "DIFFICULTIES", "DT", "KINDS", "LANES", "LANE_WIDTH", "MAX_SPEED",
    "MIN_SPEED", "ONCOMING", "PICKUP_KINDS", "RAIL_LEFT", "RAIL_RIGHT", "ROAD_LEFT",
    "ROAD_WIDTH", "SHOULDER", "START_SPEED", "THEMES", "TICKS_PER_SECOND", "VARIANTS", "CarSim",
    "CarState", "Inputs", "Pickup", "Race", "Rules", "Traffic", "TrafficCar", "hitboxes_overlap",
    "lane_center", "lane_of", "lerp_state", "max_score_rate", "plausible", "state_digest",
    "theme_at",
]
