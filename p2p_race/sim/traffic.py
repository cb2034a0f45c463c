"""Traffic: a pure function of (seed, difficulty, time), identical on every peer.

Why this shape: networked peers simulate only their own car, so the traffic must not depend
on any car. All vehicles flow at one common speed (ramping up with time) and come in *rows*
laid out once from a seeded RNG in the "traffic frame" (position at t = 0). Each row blocks
at most LANES - 1 lanes and consecutive rows are separated by a clear gap that never drops
below the difficulty's minimum, so the road is passable by construction: a car that matches
the traffic speed can always move to the free lane of the next row. Each vehicle wobbles a
little back and forth around its slot (bounded, smooth) so the pattern looks alive without
breaking that guarantee. Only + - * / and floor are used (no libm), so every machine computes
the same bits.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from p2p_race.sim.rules import LANES, Rules, lane_center

# kind -> (width, length) of the body in metres, and the weight of the kind in the mix.
KINDS: dict[str, tuple[float, float]] = {
    "sedan": (1.8, 4.5),
    "hatchback": (1.7, 3.9),
    "van": (2.0, 5.2),
    "truck": (2.5, 10.0),
    "bus": (2.5, 12.0),
    "motorbike": (0.8, 2.2),
}
KIND_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("sedan", 0.34), ("hatchback", 0.2), ("van", 0.14), ("truck", 0.12), ("bus", 0.06),
    ("motorbike", 0.14),
)
VARIANTS = 8  # colour variants a renderer may pick from with TrafficCar.variant

FIRST_ROW_Y = 150.0  # the road is empty for this far ahead of the start line at t = 0
ROW_STAGGER = 3.0  # vehicles of one row start up to this far apart
WOBBLE_MAX = 1.2  # max back-and-forth amplitude of a vehicle around its slot (m)
MAX_HALF_LEN = max(h for _, h in KINDS.values()) / 2 + WOBBLE_MAX
MAX_TRAFFIC_Y = 2_000_000.0  # nothing is generated beyond this (a 180 s race covers ~11 km)


@dataclass(frozen=True)
class TrafficCar:
    """One traffic vehicle at one instant; (x, y) is the centre of its body, w x h its size."""

    id: int
    lane: int
    x: float
    y: float
    w: float
    h: float
    speed: float
    kind: str
    variant: int = 0


def _wave(p: float) -> tuple[float, float]:
    """A smooth periodic wave in [-1, 1] and its derivative, from arithmetic only."""
    q = p - math.floor(p)
    if q < 0.5:
        tri, dtri = 4.0 * q - 1.0, 4.0
    else:
        tri, dtri = 3.0 - 4.0 * q, -4.0
    return tri * (1.5 - 0.5 * tri * tri), (1.5 - 1.5 * tri * tri) * dtri


class Traffic:
    """The shared traffic of one match; rows are generated lazily and cached.

    `vehicles_between(t, y0, y1)` is the public query; `near(t, y0, y1)` is the fast
    tuple form the simulation and bots use.
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        p = rules.params
        self._p = p
        self._rng = random.Random(f"p2p-race/traffic/v1/{rules.seed}/{rules.difficulty}")
        # Parallel arrays sorted by slot position Y (traffic frame).
        self._Y: list[float] = []
        # (id, lane, x, w, h, kind, variant, amp, freq, phase)
        self._veh: list[tuple] = []
        self._rows: list[tuple[float, float, tuple[int, ...]]] = []  # (lo, hi, blocked lanes)
        self._next_lo = FIRST_ROW_Y
        self._next_id = 1

    # -- flow ------------------------------------------------------------------------------
    def flow_speed(self, t: float) -> float:
        """The common traffic speed at time t (m/s)."""
        return self.rules.flow_speed(t)

    def offset(self, t: float) -> float:
        """How far the traffic has moved since t = 0: traffic-frame Y -> road y = Y + offset."""
        return self.rules.flow_offset(t)

    # -- generation ------------------------------------------------------------------------
    def _gap(self, y: float) -> float:
        p = self._p
        f = min(y / p.density_ramp_m, 1.0)
        return p.gap0 + (p.gap1 - p.gap0) * f

    def _blocked_count(self, y: float) -> int:
        p = self._p
        f = min(y / p.density_ramp_m, 1.0)
        w = [a + (b - a) * f for a, b in zip(p.blocked0, p.blocked1, strict=True)]
        r = self._rng.random() * sum(w)
        for n, wi in enumerate(w, start=1):
            if r < wi:
                return n
            r -= wi
        return len(w)

    def _pick_kind(self) -> str:
        r = self._rng.random()
        for kind, weight in KIND_WEIGHTS:
            if r < weight:
                return kind
            r -= weight
        return KIND_WEIGHTS[0][0]

    def _gen_row(self) -> None:
        rng = self._rng
        lo = self._next_lo
        n = min(self._blocked_count(lo), LANES - 1)
        lanes = list(range(LANES))
        for i in range(LANES - 1, 0, -1):  # Fisher-Yates with random() only (stable across versions)
            j = int(rng.random() * (i + 1))
            lanes[i], lanes[j] = lanes[j], lanes[i]
        chosen = sorted(lanes[:n])
        hi = lo
        row = []
        for lane in chosen:
            kind = self._pick_kind()
            w, h = KINDS[kind]
            amp = WOBBLE_MAX * rng.random()
            freq = 1.0 / (4.0 + 6.0 * rng.random())
            phase = rng.random()
            dx = (rng.random() - 0.5) * 0.4
            back = lo + ROW_STAGGER * rng.random()
            y_slot = back + amp + h / 2
            hi = max(hi, y_slot + h / 2 + amp)
            variant = int(rng.random() * VARIANTS)
            row.append((y_slot, (self._next_id, lane, lane_center(lane) + dx, w, h, kind, variant, amp, freq, phase)))
            self._next_id += 1
        row.sort(key=lambda item: item[0])
        for y_slot, v in row:
            self._Y.append(y_slot)
            self._veh.append(v)
        self._rows.append((lo, hi, tuple(chosen)))
        self._next_lo = hi + self._gap(hi) * (1.0 + 0.6 * rng.random())

    def _ensure(self, y_frame: float) -> None:
        y_frame = min(y_frame, MAX_TRAFFIC_Y)
        while self._next_lo <= y_frame + MAX_HALF_LEN:
            self._gen_row()

    def rows_between(self, y0: float, y1: float) -> list[tuple[float, float, tuple[int, ...]]]:
        """Rows `(lo, hi, blocked_lanes)` in the traffic frame overlapping [y0, y1] (wobble included)."""
        self._ensure(y1)
        out = []
        for lo, hi, lanes in self._rows:
            if hi >= y0 and lo <= y1:
                out.append((lo, hi, lanes))
            elif lo > y1:
                break
        return out

    # -- queries ---------------------------------------------------------------------------
    def frame_vehicles(self, f0: float, f1: float) -> list[tuple[int, int, float, float, float, float, float]]:
        """Vehicles in the traffic frame whose slot (wobble included) overlaps [f0, f1], as
        (id, lane, x, slot_y, w, h, wobble_amplitude). A vehicle's road y at time t is
        slot_y + offset(t) +- amplitude: the bots plan in this frame, where traffic stands still."""
        self._ensure(f1)
        Y = self._Y
        i = bisect.bisect_left(Y, f0 - MAX_HALF_LEN)
        j = bisect.bisect_right(Y, f1 + MAX_HALF_LEN, lo=i)
        out = []
        for k in range(i, j):
            vid, lane, x, w, h, _kind, _variant, amp, _freq, _phase = self._veh[k]
            ext = h / 2 + amp
            if Y[k] + ext >= f0 and Y[k] - ext <= f1:
                out.append((vid, lane, x, Y[k], w, h, amp))
        return out

    def near(self, t: float, y0: float, y1: float) -> list[tuple[int, int, float, float, float, float]]:
        """Vehicles whose body overlaps road span [y0, y1] at time t, as tuples
        (id, lane, x, y, w, h) — the allocation-light form for the simulation and bots."""
        s = self.offset(t)
        f0 = y0 - s - MAX_HALF_LEN
        f1 = y1 - s + MAX_HALF_LEN
        self._ensure(f1)
        Y = self._Y
        i = bisect.bisect_left(Y, f0)
        j = bisect.bisect_right(Y, f1, lo=i)
        out = []
        veh = self._veh
        for k in range(i, j):
            vid, lane, x, w, h, _kind, _variant, amp, freq, phase = veh[k]
            y = Y[k] + s
            if amp:
                y += amp * _wave(t * freq + phase)[0]
            half = h / 2
            if y + half >= y0 and y - half <= y1:
                out.append((vid, lane, x, y, w, h))
        return out

    def vehicles_between(self, t: float, y0: float, y1: float) -> list[TrafficCar]:
        """Every traffic vehicle whose body overlaps road span [y0, y1] at time t."""
        s = self.offset(t)
        v_flow = self.flow_speed(t)
        f0 = y0 - s - MAX_HALF_LEN
        f1 = y1 - s + MAX_HALF_LEN
        self._ensure(f1)
        i = bisect.bisect_left(self._Y, f0)
        j = bisect.bisect_right(self._Y, f1, lo=i)
        out = []
        for k in range(i, j):
            vid, lane, x, w, h, kind, variant, amp, freq, phase = self._veh[k]
            wv, dwv = _wave(t * freq + phase)
            y = self._Y[k] + s + amp * wv
            if y + h / 2 >= y0 and y - h / 2 <= y1:
                out.append(TrafficCar(vid, lane, x, y, w, h, v_flow + amp * dwv * freq, kind, variant))
        return out
