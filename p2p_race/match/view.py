"""NetworkRaceView: the race screen's `RaceView` over a running match (no pygame here).

The local racer's car is a CarSim stepped to the match clock (tick = (now - start) / DT, so
a late frame catches up instead of slowing the race) and streamed through the runtime.
Remote cars are drawn by snapshot interpolation: we render `INTERP_DELAY` behind the
newest tick and blend the two received states around that tick, so 5 % loss or 30 ms of
jitter do not show; past the newest state a car is extrapolated briefly at its speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from p2p_race.match.core import CarReport
from p2p_race.replay.codec import code_of
from p2p_race.replay.verify import start_x
from p2p_race.sim import DT, CarSim, CarState, Inputs, Rules, Traffic, TrafficCar, lane_center

INTERP_DELAY = 0.1  # s behind the match clock: covers jitter and a lost datagram or two
MAX_EXTRAPOLATE = 0.25  # s past the newest state before a car freezes in place


def to_state(rep: CarReport) -> CarState:
    return CarState(rep.x, rep.y, rep.speed, rep.crashed, rep.crash_time if rep.crashed else None, rep.score,
                    rep.distance, rep.tick)


def interpolate(history: list[tuple[float, CarReport]], render_tick: float) -> CarState | None:
    """The car at fractional tick `render_tick` from received reports (any arrival order)."""
    if not history:
        return None
    reps = sorted((r for _t, r in history), key=lambda r: r.tick)
    before = None
    after = None
    for r in reps:
        if r.tick <= render_tick:
            before = r
        elif after is None:
            after = r
            break
    if before is None:
        return to_state(reps[0])
    if before.crashed or after is None:
        ahead = min(render_tick - before.tick, MAX_EXTRAPOLATE / DT) * DT
        if before.crashed or ahead <= 0:
            return to_state(before)
        y = before.y + before.speed * ahead
        return CarState(before.x, y, before.speed, False, None, before.score, before.distance + before.speed * ahead,
                        before.tick)
    a = (render_tick - before.tick) / (after.tick - before.tick)

    def mix(p: float, q: float) -> float:
        return p + (q - p) * a

    return CarState(mix(before.x, after.x), mix(before.y, after.y), mix(before.speed, after.speed), False, None,
                    before.score, mix(before.distance, after.distance), before.tick)


class NetworkRaceView:
    """`RaceView` of the match the runtime is in (racer or spectator)."""

    def __init__(self, runtime: Any, *, local_name: str | None = None, local_color: str = "red",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rt = runtime
        self.clock = clock
        self.snap = runtime.snapshot()
        ms = self.snap.match
        if ms is None:
            raise ValueError("not in a match")
        self.match_id = ms.match_id
        self.rules = Rules(ms.rules.seed, ms.rules.time_limit, ms.rules.difficulty)
        self.my_id = runtime.identity.peer_id
        self.local_name = local_name or runtime.name
        self.racing = ms.role == "racer"
        self.sim: CarSim | None = None
        if self.racing:
            self.sim = CarSim(self.rules, self.my_id, start_x=start_x(self.my_id))
        self._traffic = self.sim.traffic if self.sim is not None else Traffic(self.rules)
        self._wish = local_color  # shown until the roster names our colour (spectators have none)
        self._final_sent = False

    # -- colours: the roster's, the same on every peer (p2p_race.match.colors) -------------
    def color_of(self, peer_id: str) -> str:
        ms = self.snap.match
        rv = next((r for r in ms.racers if r.peer_id == peer_id), None) if ms is not None else None
        return rv.color if rv is not None else "white"

    @property
    def local_color(self) -> str:
        ms = self.snap.match
        mine = any(r.peer_id == self.my_id for r in ms.racers) if ms is not None else False
        return self.color_of(self.my_id) if mine else self._wish

    # -- clock ----------------------------------------------------------------------------
    def _refresh(self) -> None:
        self.snap = self.rt.snapshot()

    @property
    def start(self) -> float | None:
        ms = self.snap.match
        return ms.start_local if ms is not None else None

    def countdown_remaining(self) -> float | None:
        self._refresh()
        start = self.start
        if start is None:
            return 9.0  # no start time yet: keep counting down
        rem = start - self.clock()
        return rem if rem > 0 else None

    def race_tick(self) -> float:
        start = self.start
        return 0.0 if start is None else max(0.0, (self.clock() - start) / DT)

    @property
    def time(self) -> float:
        """The race clock: our car's sim while it drives, then the match clock (after a
        crash the race goes on for the others, and the screen must follow it)."""
        if self.sim is not None and not self.sim.finished:
            return self.sim.time
        return min(self.race_tick() * DT, self.rules.time_limit)

    @property
    def finished(self) -> bool:
        ms = self.snap.match
        return ms is not None and ms.result is not None

    @property
    def result(self) -> Any:
        ms = self.snap.match
        return ms.result if ms is not None else None

    @property
    def local_sim(self) -> CarSim | None:
        return self.sim

    # -- RaceView ---------------------------------------------------------------------------
    def step(self, inputs: Inputs) -> None:
        self._refresh()
        sim = self.sim
        if sim is None or self.start is None or self._final_sent:
            return
        due = int(self.race_tick())
        before = sim.tick
        while sim.tick < due and not sim.finished:
            sim.step(inputs)
        if sim.tick != before:
            st = sim.state
            code = bytes((code_of(inputs),)) * (sim.tick - before)  # every peer replays these
            self.rt.post_state(CarReport(st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                                         st.crash_time if st.crashed else -1.0, st.tick, code))
            self._final_sent = sim.finished

    def local_car(self) -> CarState | None:
        return self.sim.state if self.sim is not None else None

    def remote_cars(self) -> list[tuple[str, str, CarState, bool]]:
        ms = self.snap.match
        if ms is None:
            return []
        render = self.race_tick() - INTERP_DELAY / DT
        out = []
        for r in ms.racers:
            if r.peer_id == self.my_id:
                continue
            if r.status != "racing" and r.state is not None:
                st: CarState | None = to_state(r.state)
            else:
                st = interpolate(r.history, render)
                if st is None and r.state is not None:
                    st = to_state(r.state)
            if st is None:
                st = CarState(lane_center(int(r.peer_id, 16) % 4), 0.0, 0.0, False, None, 0, 0.0, 0)
            connected = r.connected and r.peer_id not in ms.disconnected
            out.append((r.name, r.color, st, connected))
        return out

    def traffic(self, t: float, y0: float | None = None, y1: float | None = None) -> list[TrafficCar]:
        if y0 is None or y1 is None:
            car = self.local_car()
            y = car.y if car is not None else max((c[2].y for c in self.remote_cars()), default=0.0)
            y0, y1 = y - 40.0, y + 80.0
        return self._traffic.vehicles_between(t, y0, y1)
