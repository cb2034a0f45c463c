"""BotDriver: an AI that drives a CarSim through the traffic (practice, `p2p-race bot`).

Why it works: the traffic flows at one common speed, so in the traffic frame (road y minus
the flow offset) every vehicle stands still apart from a small bounded wobble, and oncoming
vehicles close in at a known speed. The bot turns each nearby vehicle into a box there
(`Traffic.frame_boxes`: a lane changer that signals covers both its lanes) and evaluates a
handful of plans (target lane x throttle): the car's sideways motion (accelerating and
counter-steering, as the car's lateral inertia demands) gives the time window in which it
overlaps a box sideways, its forward motion (monotonic relative to every box, the car is
always faster than the traffic) the window in which it overlaps lengthwise; both windows
intersecting within the horizon is a predicted collision. It picks the collision-free plan
with the best value, else the plan that collides latest (and re-plans).

Personalities: each bot derives from its car id a preferred line (lane and offset in it),
an aggression (cruise speed, margins, use of the oncoming lane, appetite for pickups) and a
reaction time, so two bots of one skill never drive alike. Seeded from the id (a string
seed is hashed with SHA-512, not hash()): the same id gives the same driver everywhere.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from p2p_race.sim import DT, LANES, Inputs, Traffic, lane_center
from p2p_race.sim.car import CarSim
from p2p_race.sim.rules import (
    ACCEL,
    BOOST_ACCEL,
    BOOST_SPEED,
    BRAKE,
    CAR_H,
    CAR_W,
    COAST_DRAG,
    HITBOX_H,
    HITBOX_W,
    LANE_WIDTH,
    LAT_ACCEL,
    LAT_SPEED,
    MAX_SPEED,
    ONCOMING,
    OVERSPEED_DRAG,
)

PLAN_STEP = 0.05  # s, resolution of the forward trajectories
_INF = float("inf")
_LANES = tuple(range(ONCOMING, LANES))

BOT_NAMES = ("Ada", "Blaze", "Comet", "Dash", "Echo", "Flint", "Gale", "Hex", "Ivy", "Jet",
             "Kite", "Lux", "Moss", "Nova", "Onyx")
DEFAULT_SKILL = {"easy": 0.55, "normal": 0.8, "hard": 1.0}


def practice_skills(difficulty: str, n: int) -> list[float]:
    """Skills of `n` practice bots: around the difficulty's default, slightly different so the
    bots do not drive in formation."""
    base = DEFAULT_SKILL.get(difficulty, 0.8)
    return [round(max(0.05, base - 0.04 * (i % 4)), 2) for i in range(n)]


@dataclass(frozen=True)
class Personality:
    """How one bot likes to drive, independent of how well (skill).

    `lane` is its favourite lane and `offset` where in a lane it sits (m from the centre);
    `aggression` in [0, 1] raises the cruise speed and the appetite for the oncoming lane
    and pickups and lowers the safety margins; `reaction` in [0, 1] slows its re-planning."""

    lane: int
    offset: float
    line_weight: float
    aggression: float
    reaction: float

    @classmethod
    def of(cls, car_id: str) -> Personality:
        rng = random.Random(f"p2p-race/bot-personality/{car_id}")
        return cls(lane=int(rng.random() * LANES), offset=round((rng.random() - 0.5) * 0.6, 3),
                   line_weight=0.5 + 2.5 * rng.random(), aggression=rng.random(),
                   reaction=rng.random())


class BotDriver:
    """Decides Inputs for one car each tick. `skill` in (0, 1]: 1 plays well; lower values
    look less far ahead, react less often, keep smaller margins and cruise slower."""

    def __init__(self, car_id: str, skill: float = 1.0, personality: Personality | None = None) -> None:
        self.car_id = car_id
        self.skill = skill = min(1.0, max(0.05, float(skill)))
        self.personality = pers = personality or Personality.of(car_id)
        agg = pers.aggression
        self.horizon = 1.2 + 2.0 * skill
        self.hold_steps = 10  # plans hold their throttle this many PLAN_STEPs (0.5 s), then brake
        self.replan_ticks = 2 + int(round(5 * (1.0 - skill) + 2.0 * pers.reaction))
        self.cruise = min(MAX_SPEED, 38.0 + (MAX_SPEED - 38.0) * skill - 7.0 * (1.0 - agg))
        k = 1.25 - 0.5 * agg
        self.margin_y = (0.4 + 1.2 * skill) * k
        self.margin_x = (0.05 + 0.25 * skill) * k
        self.oncoming_penalty = 6.0 + 40.0 * (1.0 - agg)
        self.lane_penalty = 2.0 + 4.0 * (1.0 - agg)
        self.pickup_value = 4.0 + 26.0 * agg
        self.target_lane: int | None = None
        self.throttle = 1
        self._next_plan_tick = 0
        # Lapses of attention (skill < 1): now and then the bot keeps its plan for a while.
        self._rng = random.Random(f"p2p-race/bot/{car_id}")
        self.lapse_chance = 0.03 * (1.0 - skill)

    # -- public ------------------------------------------------------------------------------
    def decide(self, sim: CarSim, traffic: Traffic) -> Inputs:
        st = sim.state
        if st.crashed:
            return Inputs()
        if self.target_lane is None or sim.tick >= self._next_plan_tick:
            self._plan(sim, traffic)
            self._next_plan_tick = sim.tick + self.replan_ticks
            if self.lapse_chance and self._rng.random() < self.lapse_chance:
                self._next_plan_tick += int(60 + 120 * self._rng.random())
        steer = self._steer(st.x, sim.vx, self._target_x(self.target_lane))
        throttle = self.throttle
        if throttle > 0 and st.speed >= self.cruise:
            throttle = 0
        return Inputs(steer=steer, throttle=throttle)

    def _target_x(self, lane: int) -> float:
        return lane_center(lane) + (self.personality.offset if lane >= 0 else 0.0)

    @staticmethod
    def _steer(x: float, vx: float, tx: float) -> int:
        """Steer toward tx and counter-steer in time to stop there (lateral inertia)."""
        dx = tx - x
        if abs(dx) < 0.1 and abs(vx) < 1.5:
            return 0
        if dx * vx > 0 and abs(dx) <= vx * vx / (2.0 * LAT_ACCEL) + abs(vx) * DT:
            return -1 if vx > 0 else 1
        return 1 if dx > 0 else -1

    # -- planning ------------------------------------------------------------------------------
    def _trajectory(self, v0: float, floor: float, lead: float, throttle: int, n: int,
                    hold: int, boost: float) -> list[float]:
        """Car position gained on the traffic at each PLAN_STEP (index 0 = now): `throttle` for
        `hold` steps, then braking (the escape the bot keeps in reserve). `lead` is how much
        faster than the traffic the speed floor is; `boost` the seconds of boost left."""
        out = [0.0]
        y = 0.0
        v = v0
        base = lead - floor
        cap = max(self.cruise, v0) if v0 <= MAX_SPEED else MAX_SPEED
        up = ACCEL * PLAN_STEP
        coast = COAST_DRAG * PLAN_STEP
        brake = BRAKE * PLAN_STEP
        for i in range(n):
            if i >= hold or throttle < 0:
                v -= brake
            elif i * PLAN_STEP < boost:
                v = min(BOOST_SPEED, v + BOOST_ACCEL * PLAN_STEP)
            elif v > MAX_SPEED:
                v = max(MAX_SPEED, v - OVERSPEED_DRAG * PLAN_STEP)
            elif throttle > 0:
                v = min(cap, v + up)
            else:
                v -= coast
            if v < floor:
                v = floor
            y += (v + base) * PLAN_STEP
            out.append(y)
        return out

    @staticmethod
    def _lateral(x0: float, v0: float, tx: float, n: int) -> list[float]:
        """The car's x at each PLAN_STEP while it steers to tx from x0 moving at v0 sideways:
        first stop any drift away, then accelerate, cruise at LAT_SPEED and counter-steer."""
        d = tx - x0
        s = 1.0 if d >= 0 else -1.0
        u0 = v0 * s
        a = LAT_ACCEL
        if abs(d) < 1e-9 and abs(v0) < 1e-9:
            return [x0] * (n + 1)
        t0 = -u0 / a if u0 < 0 else 0.0
        p0 = -u0 * u0 / (2 * a) if u0 < 0 else 0.0
        u = max(u0, 0.0)
        rem = abs(d) - p0
        if u * u / (2 * a) >= rem:  # already drifting at least that far: brake all the way
            vp, t1, d1 = u, 0.0, 0.0
            t2 = 0.0
        else:
            vp = min(LAT_SPEED, math.sqrt((2 * a * rem + u * u) / 2))
            t1 = (vp - u) / a
            d1 = (vp * vp - u * u) / (2 * a)
            d2 = rem - d1 - vp * vp / (2 * a)
            t2 = d2 / vp if vp > 0 else 0.0
        t3 = vp / a
        t_end = t0 + t1 + t2 + t3
        out = []
        for i in range(n + 1):
            t = i * PLAN_STEP
            if t >= t_end and out:  # arrived: the car stays where the last phase ends
                q = p0 + d1 + vp * t2 + (vp * t3 - 0.5 * a * t3 * t3)
                out.extend([x0 + s * q] * (n + 1 - i))
                break
            if t < t0:
                q = u0 * t + 0.5 * a * t * t  # drifting away, slowing down
            else:
                tau = t - t0
                q = p0
                if tau < t1:
                    q += u * tau + 0.5 * a * tau * tau
                else:
                    q += d1
                    tau -= t1
                    if tau < t2:
                        q += vp * tau
                    else:
                        q += vp * t2
                        tau = min(tau - t2, t3)
                        q += vp * tau - 0.5 * a * tau * tau
            out.append(x0 + s * q)
        return out

    def _plan(self, sim: CarSim, traffic: Traffic) -> None:
        st = sim.state
        t = sim.time
        rules = sim.rules
        floor = rules.min_speed(t)
        flow = rules.flow_speed(t)
        n = int(self.horizon / PLAN_STEP)
        yf = st.y - traffic.offset(t)  # the car in the traffic frame
        reach = (BOOST_SPEED - flow) * self.horizon + 60.0
        boxes = traffic.frame_boxes(t, yf - 20.0, yf + reach, self.horizon)
        boost = sim.effects().get("boost", 0.0)
        trajs = {thr: self._trajectory(st.speed, floor, floor - flow, thr, n, self.hold_steps, boost)
                 for thr in (1, 0, -1)}
        cur_lane = min(LANES - 1, max(ONCOMING, int(st.x // LANE_WIDTH)))
        lats = {lane: self._lateral(st.x, sim.vx, self._target_x(lane), n) for lane in _LANES}
        picks = self._pickups(traffic, st.y, st.y + reach * 0.5)
        pers = self.personality
        # With the safety margins first; when nothing is clear, with the bare hitboxes (the
        # margins must not make a tight but real escape look like a crash).
        for my, mx in ((self.margin_y, self.margin_x), (0.05, 0.02)):
            hits = self._hits(lats, yf, trajs, boxes, CAR_H * HITBOX_H / 2 + my,
                              CAR_W * HITBOX_W / 2 + mx, n, cur_lane)
            best = None
            for (lane, thr), hit in hits.items():
                if hit != _INF:
                    continue
                end = yf + trajs[thr][-1]
                free = self._free_ahead(lane, end, boxes)
                value = (end + 0.4 * min(free, 150.0) - self.lane_penalty * abs(lane - cur_lane)
                         - pers.line_weight * abs(lane - pers.lane))
                if lane == ONCOMING:
                    value -= self.oncoming_penalty
                if lane in picks:
                    value += self.pickup_value
                if best is None or value > best[0]:
                    best = (value, lane, thr)
            if best is not None:
                _, self.target_lane, self.throttle = best
                return
        # Boxed in: delay the crash as long as possible (the next plans may find a way out);
        # on equal times keep the lane already aimed at, and brake.
        prev = self.target_lane if self.target_lane is not None else cur_lane
        self.target_lane, self.throttle = max(hits, key=lambda k: (hits[k], k[0] == prev, -k[1]))

    @staticmethod
    def _pickups(traffic: Traffic, y0: float, y1: float) -> set[int]:
        between = getattr(traffic, "pickups_between", None)
        if between is None:
            return set()
        return {min(LANES - 1, max(ONCOMING, int(p.x // LANE_WIDTH))) for p in between(y0, y1)}

    def _hits(self, lats: dict, yf: float, trajs: dict, boxes, half_len: float, half_w: float,
              n: int, cur_lane: int) -> dict[tuple[int, int], float]:
        """(target lane, throttle) -> earliest predicted collision time (inf when clear)."""
        horizon = n * PLAN_STEP
        moved: dict[tuple[int, float], list[float]] = {}
        lon = {}
        for thr, traj in trajs.items():
            row = []
            for box in boxes:
                vel = box[7]
                tr = traj
                if vel:
                    tr = moved.get((thr, vel))
                    if tr is None:
                        tr = [y - vel * i * PLAN_STEP for i, y in enumerate(traj)]
                        moved[(thr, vel)] = tr
                row.append(self._lon_window(tr, yf, box, half_len, n))
            lon[thr] = row
        hits = {}
        relevant = [k for k in range(len(boxes)) if lon[1][k] is not None or lon[0][k] is not None
                    or lon[-1][k] is not None]
        for lane in self._lane_order(cur_lane):
            xs = lats[lane]
            lo_x, hi_x = min(xs), max(xs)
            lat: list = [None] * len(boxes)
            for k in relevant:  # only boxes met lengthwise, and within the path's sideways span
                box = boxes[k]
                r = half_w + box[4] * HITBOX_W / 2
                if box[2] + r > lo_x and box[2] - r < hi_x:
                    lat[k] = self._lat_window(xs, box, half_w)
            for thr in (1, 0, -1):
                hit = _INF
                for lw, tw, box in zip(lat, lon[thr], boxes, strict=True):
                    if lw is None or tw is None:
                        continue
                    start = max(lw[0], tw[0], box[8])
                    if start < hit and start <= horizon and start < min(lw[1], tw[1]):
                        hit = start
                hits[(lane, thr)] = hit
        return hits

    @staticmethod
    def _lane_order(cur: int) -> list[int]:
        """Current lane first, then neighbours outward: ties go to the smaller move."""
        order = [cur]
        for d in range(1, LANES + 1):
            for lane in (cur - d, cur + d):
                if ONCOMING <= lane < LANES:
                    order.append(lane)
        return order

    @staticmethod
    def _free_ahead(lane: int, y: float, boxes) -> float:
        best = _INF
        for _vid, vlane, _x, vy, _w, h, amp, vel, _t_from in boxes:
            if vlane == lane:
                lo = vy - h / 2 - amp
                if vel:  # oncoming: it closes in, the lane ahead is worth much less
                    lo = y + (lo - y) / 3.0
                if lo > y and lo - y < best:
                    best = lo - y
        return best

    @staticmethod
    def _lat_window(xs: list[float], box, half_w: float) -> tuple[float, float] | None:
        """When the car (at xs[i] at step i, then staying) overlaps the box sideways."""
        vx, vw = box[2], box[4]
        r = half_w + vw * HITBOX_W / 2
        lo, hi = vx - r, vx + r
        first = -1
        last = -1
        for i, x in enumerate(xs):
            if lo < x < hi:
                if first < 0:
                    first = i
                last = i
        if first < 0:
            return None
        end = _INF if last == len(xs) - 1 else (last + 1) * PLAN_STEP
        return max(0.0, (first - 1) * PLAN_STEP) if first else 0.0, end

    @staticmethod
    def _lon_window(traj: list[float], yf: float, box, half_len: float, n: int) -> tuple[float, float] | None:
        """When the car (monotonic relative to the box) overlaps the box lengthwise."""
        vy, vh, amp = box[3], box[5], box[6]
        ext = vh * HITBOX_H / 2 + amp + half_len
        lo, hi = vy - ext - yf, vy + ext - yf
        if traj[-1] <= lo or traj[0] >= hi:
            return None
        i_in = bisect.bisect_right(traj, lo)  # first step with the car past lo
        i_out = bisect.bisect_left(traj, hi)  # first step with the car at/after hi
        if i_in == 0:
            t_in = 0.0
        else:  # interpolate between the steps around the entry
            y0, y1 = traj[i_in - 1], traj[i_in]  # i_in <= n: the car gets past lo
            t_in = (i_in - 1 + ((lo - y0) / (y1 - y0) if y1 > y0 else 0.0)) * PLAN_STEP
        t_out = i_out * PLAN_STEP if i_out <= n else _INF
        return t_in, t_out


class PassiveDriver(BotDriver):
    """Steers like a full-skill bot but always brakes: the passive play the rules must not
    reward (tests and `make bench` race it against the bot on the same seeds)."""

    def decide(self, sim: CarSim, traffic: Traffic) -> Inputs:
        return Inputs(super().decide(sim, traffic).steer, -1)
