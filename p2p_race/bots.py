"""BotDriver: an AI that drives a CarSim through the traffic (practice, `p2p-race bot`).

Why it works: the traffic flows at one common speed, so in the traffic frame (road y minus
the flow offset) every vehicle stands still apart from a small bounded wobble. The bot turns
each nearby vehicle into a fixed box there, and evaluates a handful of plans (target lane x
throttle) in closed form: the car's lateral motion gives the time window in which it overlaps
a box sideways, its forward motion (monotonic, the car is always faster than the traffic)
the window in which it overlaps lengthwise; both windows intersecting within the horizon is
a predicted collision. It picks the collision-free plan that makes the most progress with
free road ahead, else the plan that collides latest (and re-plans). Pure arithmetic, no
randomness: the same inputs give the same decisions on every machine.
"""

from __future__ import annotations

import bisect
import random

from p2p_race.sim import DT, LANES, Inputs, Traffic, lane_center
from p2p_race.sim.car import CarSim
from p2p_race.sim.rules import (
    ACCEL,
    BRAKE,
    CAR_H,
    CAR_W,
    COAST_DRAG,
    HITBOX_H,
    HITBOX_W,
    LANE_WIDTH,
    LAT_SPEED,
    MAX_SPEED,
)

PLAN_STEP = 0.05  # s, resolution of the forward trajectories
_INF = float("inf")

BOT_NAMES = ("Ada", "Blaze", "Comet", "Dash", "Echo", "Flint", "Gale", "Hex", "Ivy", "Jet",
             "Kite", "Lux", "Moss", "Nova", "Onyx")
DEFAULT_SKILL = {"easy": 0.55, "normal": 0.8, "hard": 1.0}


def practice_skills(difficulty: str, n: int) -> list[float]:
    """Skills of `n` practice bots: around the difficulty's default, slightly different so the
    bots do not drive in formation."""
    base = DEFAULT_SKILL.get(difficulty, 0.8)
    return [round(max(0.05, base - 0.04 * (i % 4)), 2) for i in range(n)]


class BotDriver:
    """Decides Inputs for one car each tick. `skill` in (0, 1]: 1 plays well; lower values
    look less far ahead, react less often, keep smaller margins and cruise slower."""

    def __init__(self, car_id: str, skill: float = 1.0) -> None:
        self.car_id = car_id
        self.skill = skill = min(1.0, max(0.05, float(skill)))
        self.horizon = 1.0 + 2.0 * skill
        self.hold_steps = 10  # plans hold their throttle this many PLAN_STEPs (0.5 s), then brake
        self.replan_ticks = 2 + int(round(5 * (1.0 - skill)))
        self.cruise = 38.0 + (MAX_SPEED - 38.0) * skill
        self.margin_y = 0.4 + 1.2 * skill
        self.margin_x = 0.05 + 0.25 * skill
        self.target_lane: int | None = None
        self.throttle = 1
        self._next_plan_tick = 0
        # Lapses of attention (skill < 1): now and then the bot keeps its plan for a while.
        # Seeded from the car id (a string seed is hashed with SHA-512, not hash()).
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
        tx = lane_center(self.target_lane)
        dx = tx - st.x
        steer = 0 if abs(dx) <= LAT_SPEED * DT / 2 else (1 if dx > 0 else -1)
        throttle = self.throttle
        if throttle > 0 and st.speed >= self.cruise:
            throttle = 0
        return Inputs(steer=steer, throttle=throttle)

    # -- planning ------------------------------------------------------------------------------
    def _trajectory(self, v0: float, floor: float, lead: float, throttle: int, n: int,
                    hold: int) -> list[float]:
        """Car position gained on the traffic at each PLAN_STEP (index 0 = now): `throttle` for
        `hold` steps, then braking (the escape the bot keeps in reserve). `lead` is how much
        faster than the traffic the speed floor is."""
        out = [0.0]
        y = 0.0
        v = v0
        base = lead - floor
        cap = max(self.cruise, v0)
        up = ACCEL * PLAN_STEP
        coast = COAST_DRAG * PLAN_STEP
        brake = BRAKE * PLAN_STEP
        for i in range(n):
            if i < hold and throttle >= 0:
                if throttle > 0:
                    v += up
                    if v > cap:
                        v = cap
                else:
                    v -= coast
            else:
                v -= brake
            if v < floor:
                v = floor
            y += (v + base) * PLAN_STEP
            out.append(y)
        return out

    def _plan(self, sim: CarSim, traffic: Traffic) -> None:
        st = sim.state
        t = sim.time
        rules = sim.rules
        floor = rules.min_speed(t)
        flow = rules.flow_speed(t)
        n = int(self.horizon / PLAN_STEP)
        yf = st.y - rules.flow_offset(t)  # the car in the traffic frame
        reach = (MAX_SPEED - flow) * self.horizon + 60.0
        boxes = traffic.frame_vehicles(yf - 20.0, yf + reach)
        trajs = {thr: self._trajectory(st.speed, floor, floor - flow, thr, n, self.hold_steps)
                 for thr in (1, 0, -1)}
        cur_lane = min(LANES - 1, max(0, int(st.x // LANE_WIDTH)))
        # With the safety margins first; when nothing is clear, with the bare hitboxes (the
        # margins must not make a tight but real escape look like a crash).
        for my, mx in ((self.margin_y, self.margin_x), (0.05, 0.02)):
            hits = self._hits(st.x, yf, trajs, boxes, CAR_H * HITBOX_H / 2 + my,
                              CAR_W * HITBOX_W / 2 + mx, n, cur_lane)
            best = None
            for (lane, thr), hit in hits.items():
                if hit != _INF:
                    continue
                end = yf + trajs[thr][-1]
                free = self._free_ahead(lane, end, boxes)
                value = end + 0.4 * min(free, 150.0) - 4.0 * abs(lane - cur_lane)
                if best is None or value > best[0]:
                    best = (value, lane, thr)
            if best is not None:
                _, self.target_lane, self.throttle = best
                return
        # Boxed in: delay the crash as long as possible (the next plans may find a way out);
        # on equal times keep the lane already aimed at, and brake.
        prev = self.target_lane if self.target_lane is not None else cur_lane
        self.target_lane, self.throttle = max(hits, key=lambda k: (hits[k], k[0] == prev, -k[1]))

    def _hits(self, x0: float, yf: float, trajs: dict, boxes, half_len: float, half_w: float,
              n: int, cur_lane: int) -> dict[tuple[int, int], float]:
        """(target lane, throttle) -> earliest predicted collision time (inf when clear)."""
        horizon = n * PLAN_STEP
        lon = {thr: [self._lon_window(traj, yf, box, half_len, n) for box in boxes]
               for thr, traj in trajs.items()}
        hits = {}
        for lane in self._lane_order(cur_lane):
            lat = [self._lat_window(x0, lane_center(lane), box, half_w) for box in boxes]
            for thr in (1, 0, -1):
                hit = _INF
                for lw, tw in zip(lat, lon[thr], strict=True):
                    if lw is None or tw is None:
                        continue
                    start = lw[0] if lw[0] > tw[0] else tw[0]
                    if start < hit and start <= horizon and start < min(lw[1], tw[1]):
                        hit = start
                hits[(lane, thr)] = hit
        return hits

    @staticmethod
    def _lane_order(cur: int) -> list[int]:
        """Current lane first, then neighbours outward: ties go to the smaller move."""
        order = [cur]
        for d in range(1, LANES):
            for lane in (cur - d, cur + d):
                if 0 <= lane < LANES:
                    order.append(lane)
        return order

    @staticmethod
    def _free_ahead(lane: int, y: float, boxes) -> float:
        best = _INF
        for _vid, vlane, _x, vy, _w, h, amp in boxes:
            if vlane == lane:
                lo = vy - h / 2 - amp
                if lo > y and lo - y < best:
                    best = lo - y
        return best

    @staticmethod
    def _lat_window(x0: float, tx: float, box, half_w: float) -> tuple[float, float] | None:
        """When the car (moving straight to tx at LAT_SPEED, then staying) overlaps the box sideways."""
        vx, vw = box[2], box[4]
        r = half_w + vw * HITBOX_W / 2
        if tx == x0:
            return (0.0, _INF) if abs(x0 - vx) < r else None
        t_lat = abs(tx - x0) / LAT_SPEED
        sgn = 1.0 if tx >= x0 else -1.0
        e1 = (vx - r - x0) * sgn / LAT_SPEED
        e2 = (vx + r - x0) * sgn / LAT_SPEED
        lo_t, hi_t = (e1, e2) if e1 <= e2 else (e2, e1)
        ta = max(0.0, lo_t)
        tb = _INF if abs(tx - vx) < r else min(hi_t, t_lat)
        if ta > tb or ta > t_lat:
            return None
        return ta, tb

    @staticmethod
    def _lon_window(traj: list[float], yf: float, box, half_len: float, n: int) -> tuple[float, float] | None:
        """When the car (monotonic: always faster than the traffic) overlaps the box lengthwise."""
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
