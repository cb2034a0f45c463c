"""Traffic, oncoming vehicles and pickups: a pure function of (seed, difficulty, time).

Why this shape: networked peers simulate only their own car, so the road must not depend on
any car. Vehicles in the driving direction flow at one common speed (ramping up with time)
and come in *rows* laid out once from a seeded RNG in the "traffic frame" (position at
t = 0). Each row blocks at most LANES - 1 lanes and consecutive rows are separated by a
clear gap that shrinks with distance, so at every instant every row leaves a lane free.
Each vehicle wobbles a little back and forth around its slot, and in some rows with a free
lane beside it one vehicle changes lanes now and then, signalling first: it moves only
between its own lane and a lane its row leaves free, so the row keeps a free lane even
mid-move. Oncoming vehicles use the oncoming lane (ONCOMING) only, at the flow speed the
other way. Pickups lie still on the road. Only + - * / and floor are used (no libm), so
every machine computes the same bits.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from p2p_race.sim.rules import (
    LANE_WIDTH,
    LANES,
    ONCOMING,
    Difficulty,
    Rules,
    lane_center,
)

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
ONCOMING_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("sedan", 0.4), ("hatchback", 0.25), ("van", 0.15), ("truck", 0.1), ("motorbike", 0.1),
)
VARIANTS = 8  # colour variants a renderer may pick from with TrafficCar.variant

FIRST_ROW_Y = 150.0  # the road is empty for this far ahead of the start line at t = 0
FIRST_ONCOMING_Y = 700.0  # oncoming frame: the first oncoming vehicle meets the start ~20 s in
ROW_STAGGER = 3.0  # vehicles of one row start up to this far apart
WOBBLE_MAX = 1.2  # max back-and-forth amplitude of a vehicle around its slot (m)
MAX_HALF_LEN = max(h for _, h in KINDS.values()) / 2 + WOBBLE_MAX
MAX_TRAFFIC_Y = 2_000_000.0  # nothing is generated beyond this (a 300 s race covers ~18 km)

# Lane changes: a changer spends half a cycle in each of its two lanes; it signals for
# SIGNAL_S before moving, then takes MOVE_S to cross.
CHANGER_SHARE = 0.45  # of the rows that can have one
SIGNAL_S = 1.4
MOVE_S = 1.6
HALF_CYCLE = (3.6, 7.5)  # s, range of a changer's half cycle

PICKUP_KINDS = ("boost", "shield", "multiplier")
PICKUP_WEIGHTS = (0.4, 0.3, 0.3)
FIRST_PICKUP_Y = 320.0
PICKUP_SPACING = (170.0, 420.0)


@dataclass(frozen=True)
class TrafficCar:
    """One vehicle at one instant; (x, y) is the centre of its body, w x h its size.

    `speed` is along the road (negative for oncoming vehicles); `signal` is -1 / 1 while the
    vehicle indicates (or makes) a move to the left / right, else 0."""

    id: int
    lane: int
    x: float
    y: float
    w: float
    h: float
    speed: float
    kind: str
    variant: int = 0
    signal: int = 0
    oncoming: bool = False


@dataclass(frozen=True)
class Pickup:
    """A pickup lying on the road at (x, y); `id` is its index along the road."""

    id: int
    x: float
    y: float
    kind: str


def _wave(p: float) -> tuple[float, float]:
    """A smooth periodic wave in [-1, 1] and its derivative, from arithmetic only."""
    q = p - math.floor(p)
    if q < 0.5:
        tri, dtri = 4.0 * q - 1.0, 4.0
    else:
        tri, dtri = 3.0 - 4.0 * q, -4.0
    return tri * (1.5 - 0.5 * tri * tri), (1.5 - 1.5 * tri * tri) * dtri


def lane_change_x(xa: float, xb: float, half: float, phase: float, t: float) -> tuple[float, int]:
    """A changer's centre x at time t and its signal (-1 left, 0, 1 right).

    Half cycle h (of `half` seconds) is spent moving to, then staying in, lane A (h even)
    or B (h odd); the last SIGNAL_S seconds of each half signal the next move."""
    u = t / half + phase
    h = math.floor(u)
    tau = (u - h) * half
    if h - 2.0 * math.floor(h * 0.5) == 0.0:
        to, frm = xa, xb
    else:
        to, frm = xb, xa
    if tau < MOVE_S:
        k = tau / MOVE_S
        return frm + (to - frm) * (k * k * (3.0 - 2.0 * k)), (1 if to > frm else -1)
    if tau > half - SIGNAL_S:
        return to, (1 if frm > to else -1)
    return to, 0


def _ramp(d: Difficulty, y: float) -> tuple[int, float]:
    """Which density segment y lies in (0: start->ramp, 1: ramp->end, 2: beyond) and how far."""
    if y <= d.density_ramp_m:
        return 0, max(0.0, y) / d.density_ramp_m
    if y <= d.density_end_m:
        return 1, (y - d.density_ramp_m) / (d.density_end_m - d.density_ramp_m)
    return 2, 1.0


def _pick(rng: random.Random, weights) -> str:
    r = rng.random()
    for kind, weight in weights:
        if r < weight:
            return kind
        r -= weight
    return weights[0][0]


class Traffic:
    """The shared road content of one match; generated lazily and cached.

    `vehicles_between(t, y0, y1)` and `pickups_between(y0, y1)` are the public queries;
    `near(t, y0, y1)` is the fast tuple form the simulation uses, `frame_boxes` the form the
    bots plan with.
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        p = rules.params
        self._p = p
        tag = f"{rules.seed}/{rules.difficulty}"
        self._rng = random.Random(f"p2p-race/traffic/v2/{tag}")
        self._orng = random.Random(f"p2p-race/oncoming/v2/{tag}")
        self._prng = random.Random(f"p2p-race/pickups/v2/{tag}")
        # Rows: parallel arrays sorted by slot position Y (traffic frame).
        self._Y: list[float] = []
        # (id, lane, x, w, h, kind, variant, amp, freq, phase, changer) with changer None or
        # (x_b, half_cycle, phase)
        self._veh: list[tuple] = []
        self._rows: list[tuple[float, float, tuple[int, ...]]] = []  # (lo, hi, lanes ever used)
        self._next_lo = FIRST_ROW_Y
        self._next_id = 1
        # Oncoming: sorted by position OY in the oncoming frame (road y = OY - offset(t)).
        self._OY: list[float] = []
        self._onc: list[tuple] = []  # (id, x, w, h, kind, variant)
        self._next_oy = FIRST_ONCOMING_Y
        # Pickups, sorted by road y.
        self.pickups: list[Pickup] = []
        self._next_py = FIRST_PICKUP_Y
        self._memo_t = -1.0
        self._memo_s = 0.0
        self._memo_ft = -1.0
        self._memo_f = 0.0

    # -- flow ------------------------------------------------------------------------------
    def flow_speed(self, t: float) -> float:
        """The common traffic speed at time t (m/s)."""
        return self.rules.flow_speed(t)

    def offset(self, t: float) -> float:
        """How far the traffic has moved since t = 0: traffic-frame Y -> road y = Y + offset
        (and oncoming-frame OY -> road y = OY - offset). Memoised: all cars ask for one t."""
        if t != self._memo_t:
            self._memo_s = self.rules.flow_offset(t)
            self._memo_t = t
        return self._memo_s

    # -- generation ------------------------------------------------------------------------
    def _gap(self, y: float) -> float:
        p = self._p
        seg, f = _ramp(p, y)
        if seg == 0:
            return p.gap0 + (p.gap1 - p.gap0) * f
        return p.gap1 + (p.gap2 - p.gap1) * f

    def _blocked_count(self, y: float) -> int:
        p = self._p
        seg, f = _ramp(p, y)
        a, b = (p.blocked0, p.blocked1) if seg == 0 else (p.blocked1, p.blocked2)
        w = [wa + (wb - wa) * f for wa, wb in zip(a, b, strict=True)]
        r = self._rng.random() * sum(w)
        for n, wi in enumerate(w, start=1):
            if r < wi:
                return n
            r -= wi
        return len(w)

    def _gen_row(self) -> None:
        rng = self._rng
        lo = self._next_lo
        n = min(self._blocked_count(lo), LANES - 1)
        lanes = list(range(LANES))
        for i in range(LANES - 1, 0, -1):  # Fisher-Yates with random() only (stable across versions)
            j = int(rng.random() * (i + 1))
            lanes[i], lanes[j] = lanes[j], lanes[i]
        chosen = sorted(lanes[:n])
        # One vehicle of a row with two free lanes or more may change into a free neighbour.
        changer_lane, other = -1, -1
        if n <= LANES - 2 and rng.random() < CHANGER_SHARE:
            k = chosen[int(rng.random() * n)]
            free = [m for m in (k - 1, k + 1) if 0 <= m < LANES and m not in chosen]
            if free:
                changer_lane, other = k, free[int(rng.random() * len(free))]
        hi = lo
        row = []
        for lane in chosen:
            kind = _pick(rng, KIND_WEIGHTS)
            w, h = KINDS[kind]
            amp = WOBBLE_MAX * rng.random()
            freq = 1.0 / (4.0 + 6.0 * rng.random())
            phase = rng.random()
            dx = (rng.random() - 0.5) * 0.4
            back = lo + ROW_STAGGER * rng.random()
            y_slot = back + amp + h / 2
            hi = max(hi, y_slot + h / 2 + amp)
            variant = int(rng.random() * VARIANTS)
            changer = None
            if lane == changer_lane:
                half = HALF_CYCLE[0] + (HALF_CYCLE[1] - HALF_CYCLE[0]) * rng.random()
                changer = (lane_center(other) + dx, half, rng.random())
            row.append((y_slot, (self._next_id, lane, lane_center(lane) + dx, w, h, kind, variant,
                                 amp, freq, phase, changer)))
            self._next_id += 1
        row.sort(key=lambda item: item[0])
        for y_slot, v in row:
            self._Y.append(y_slot)
            self._veh.append(v)
        used = tuple(sorted(chosen + ([other] if other >= 0 else [])))
        self._rows.append((lo, hi, used))
        self._next_lo = hi + self._gap(hi) * (1.0 + 0.6 * rng.random())

    def _ensure(self, y_frame: float) -> None:
        y_frame = min(y_frame, MAX_TRAFFIC_Y)
        while self._next_lo <= y_frame + MAX_HALF_LEN:
            self._gen_row()

    def _oncoming_spacing(self, oy: float) -> float:
        """Oncoming vehicles get closer together with distance (the car meets OY = y + offset)."""
        p = self._p
        f = min(1.0, max(0.0, oy) / (2.0 * p.density_end_m))
        return p.oncoming0 + (p.oncoming1 - p.oncoming0) * f

    def _ensure_oncoming(self, oy: float) -> None:
        oy = min(oy, 2.0 * MAX_TRAFFIC_Y)
        rng = self._orng
        while self._next_oy <= oy + MAX_HALF_LEN:
            kind = _pick(rng, ONCOMING_WEIGHTS)
            w, h = KINDS[kind]
            x = lane_center(ONCOMING) + (rng.random() - 0.5) * 0.4
            y = self._next_oy + h / 2
            self._OY.append(y)
            self._onc.append((-len(self._OY), x, w, h, kind, int(rng.random() * VARIANTS)))
            self._next_oy = y + h / 2 + self._oncoming_spacing(y) * (0.5 + rng.random())

    def _ensure_pickups(self, y: float) -> None:
        rng = self._prng
        y = min(y, MAX_TRAFFIC_Y)
        while self._next_py <= y:
            r = rng.random()
            kind = PICKUP_KINDS[-1]
            for k, wk in zip(PICKUP_KINDS, PICKUP_WEIGHTS, strict=True):
                if r < wk:
                    kind = k
                    break
                r -= wk
            lane = ONCOMING + int(rng.random() * (LANES + 1))
            self.pickups.append(Pickup(len(self.pickups), lane_center(lane), self._next_py, kind))
            lo, hi = PICKUP_SPACING
            self._next_py += lo + (hi - lo) * rng.random()

    def rows_between(self, y0: float, y1: float) -> list[tuple[float, float, tuple[int, ...]]]:
        """Rows `(lo, hi, lanes)` in the traffic frame overlapping [y0, y1] (wobble included);
        `lanes` are every lane a vehicle of the row can occupy (changers in both)."""
        self._ensure(y1)
        out = []
        for lo, hi, lanes in self._rows:
            if hi >= y0 and lo <= y1:
                out.append((lo, hi, lanes))
            elif lo > y1:
                break
        return out

    def pickup(self, i: int) -> Pickup:
        """The i-th pickup along the road (generated on demand)."""
        while len(self.pickups) <= i:
            if self._next_py > MAX_TRAFFIC_Y:  # the end of the generated road
                return Pickup(i, 0.0, math.inf, PICKUP_KINDS[0])
            self._ensure_pickups(self._next_py)
        return self.pickups[i]

    def pickups_between(self, y0: float, y1: float) -> list[Pickup]:
        self._ensure_pickups(y1)
        out = []
        for p in self.pickups[self._pickup_index(y0):]:
            if p.y > y1:
                break
            out.append(p)
        return out

    def _pickup_index(self, y: float) -> int:
        lo, hi = 0, len(self.pickups)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.pickups[mid].y < y:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- queries ---------------------------------------------------------------------------
    def min_speed(self, t: float) -> float:
        """rules.min_speed(t), memoised: every car of a race asks for the same t."""
        if t != self._memo_ft:
            self._memo_f = self.rules.min_speed(t)
            self._memo_ft = t
        return self._memo_f

    def near(self, t: float, y0: float, y1: float) -> list[tuple[int, int, float, float, float, float]]:
        """Vehicles in the driving direction whose body overlaps road span [y0, y1] at time t,
        as tuples (id, lane, x, y, w, h) — the allocation-light form for the simulation."""
        s = self._memo_s if t == self._memo_t else self.offset(t)
        f1 = y1 - s + MAX_HALF_LEN
        if self._next_lo <= f1 + MAX_HALF_LEN:
            self._ensure(f1)
        Y = self._Y
        i = bisect.bisect_left(Y, y0 - s - MAX_HALF_LEN)
        j = bisect.bisect_right(Y, f1, lo=i)
        out = []
        veh = self._veh
        for k in range(i, j):
            vid, lane, x, w, h, _kind, _variant, amp, freq, phase, changer = veh[k]
            y = Y[k] + s
            if amp:  # _wave inlined: this is the hot loop of every car's step
                q = t * freq + phase
                q -= math.floor(q)
                tri = 4.0 * q - 1.0 if q < 0.5 else 3.0 - 4.0 * q
                y += amp * (tri * (1.5 - 0.5 * tri * tri))
            half = h / 2
            if y + half >= y0 and y - half <= y1:
                if changer is not None:
                    x = lane_change_x(x, changer[0], changer[1], changer[2], t)[0]
                out.append((vid, lane, x, y, w, h))
        return out

    def near_oncoming(self, t: float, y0: float, y1: float) -> list[tuple[int, int, float, float, float, float]]:
        """Oncoming vehicles overlapping road span [y0, y1] at time t, in near()'s form."""
        s = self._memo_s if t == self._memo_t else self.offset(t)
        o1 = y1 + s + MAX_HALF_LEN
        if self._next_oy <= o1 + MAX_HALF_LEN:
            self._ensure_oncoming(o1)
        OY = self._OY
        i = bisect.bisect_left(OY, y0 + s - MAX_HALF_LEN)
        j = bisect.bisect_right(OY, o1, lo=i)
        out = []
        for k in range(i, j):
            vid, x, w, h, _kind, _variant = self._onc[k]
            y = OY[k] - s
            if y + h / 2 >= y0 and y - h / 2 <= y1:
                out.append((vid, ONCOMING, x, y, w, h))
        return out

    def vehicles_between(self, t: float, y0: float, y1: float) -> list[TrafficCar]:
        """Every vehicle whose body overlaps road span [y0, y1] at time t."""
        s = self.offset(t)
        v_flow = self.flow_speed(t)
        f0 = y0 - s - MAX_HALF_LEN
        f1 = y1 - s + MAX_HALF_LEN
        self._ensure(f1)
        i = bisect.bisect_left(self._Y, f0)
        j = bisect.bisect_right(self._Y, f1, lo=i)
        out = []
        for k in range(i, j):
            vid, lane, x, w, h, kind, variant, amp, freq, phase, changer = self._veh[k]
            wv, dwv = _wave(t * freq + phase)
            y = self._Y[k] + s + amp * wv
            if y + h / 2 >= y0 and y - h / 2 <= y1:
                signal = 0
                if changer is not None:
                    x, signal = lane_change_x(x, changer[0], changer[1], changer[2], t)
                    lane = lane_of_x(x)
                out.append(TrafficCar(vid, lane, x, y, w, h, v_flow + amp * dwv * freq, kind, variant,
                                      signal))
        o0, o1 = y0 + s - MAX_HALF_LEN, y1 + s + MAX_HALF_LEN
        self._ensure_oncoming(o1)
        i = bisect.bisect_left(self._OY, o0)
        j = bisect.bisect_right(self._OY, o1, lo=i)
        for k in range(i, j):
            vid, x, w, h, kind, variant = self._onc[k]
            y = self._OY[k] - s
            if y + h / 2 >= y0 and y - h / 2 <= y1:
                out.append(TrafficCar(vid, ONCOMING, x, y, w, h, -v_flow, kind, variant, 0, True))
        return out

    def frame_boxes(self, t: float, f0: float, f1: float, horizon: float) -> list[tuple]:
        """What a bot plans against over [t, t + horizon], in the traffic frame (road y minus
        offset(t)), as (id, lane, x, Y, w, h, amp, vel, t_from): a box of width w centred on
        x and length h at Y (+- amp), moving at vel along the frame, there from t_from
        seconds on. Rows stand still (vel 0). A lane changer is a box in its lane plus, from
        the moment its next move starts (the signal tells a driver when), one in the lane it
        moves to; mid-move it covers both. Oncoming vehicles close in at twice the flow."""
        self._ensure(f1)
        s = self.offset(t)
        Y = self._Y
        i = bisect.bisect_left(Y, f0 - MAX_HALF_LEN)
        j = bisect.bisect_right(Y, f1 + MAX_HALF_LEN, lo=i)
        out = []
        for k in range(i, j):
            vid, lane, x, w, h, _kind, _variant, amp, _freq, _phase, changer = self._veh[k]
            ext = h / 2 + amp
            if Y[k] + ext < f0 or Y[k] - ext > f1:
                continue
            if changer is None:
                out.append((vid, lane, x, Y[k], w, h, amp, 0.0, 0.0))
                continue
            xb, half, ph = changer
            u = t / half + ph
            tau = (u - math.floor(u)) * half
            x_now = lane_change_x(x, xb, half, ph, t)[0]
            if tau < MOVE_S:  # mid-move: both lanes
                lo_x, hi_x = min(x, xb), max(x, xb)
                out.append((vid, lane_of_x(x_now), (lo_x + hi_x) / 2, Y[k], w + hi_x - lo_x, h, amp, 0.0, 0.0))
                continue
            out.append((vid, lane_of_x(x_now), x_now, Y[k], w, h, amp, 0.0, 0.0))
            if half - tau <= horizon:
                x_next = xb if x_now == x else x
                out.append((vid, lane_of_x(x_next), x_next, Y[k], w, h, amp, 0.0, max(0.0, half - tau - 0.1)))
        vel = -2.0 * self.flow_speed(t)
        reach = f1 - vel * horizon
        self._ensure_oncoming(reach + 2.0 * s)
        OY = self._OY
        i = bisect.bisect_left(OY, f0 + 2.0 * s - MAX_HALF_LEN)
        j = bisect.bisect_right(OY, reach + 2.0 * s + MAX_HALF_LEN, lo=i)
        for k in range(i, j):
            vid, x, w, h, _kind, _variant = self._onc[k]
            out.append((vid, ONCOMING, x, OY[k] - 2.0 * s, w, h, 0.0, vel, 0.0))
        return out


def lane_of_x(x: float) -> int:
    """The driving-direction lane containing x (clamped)."""
    return min(LANES - 1, max(0, int(x // LANE_WIDTH)))
