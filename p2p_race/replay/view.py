"""A stored match, replayed: every racer's car driven again by its input log.

`MatchReplay` is the race screen's `RaceView` over a result record (no pygame here): all
cars restart on the match's road and step through their logs together, one tick per
`step`; `follow` picks which car the camera (and the HUD) follows. `outcome()` is the
replayed result, which `p2p-race replay --headless --json` prints and compares with the
stored record. `Ghost` is one past drive (your best run) shown beside a practice race.
"""

from __future__ import annotations

from p2p_race.match.colors import NO_WISH, racer_colors
from p2p_race.replay.codec import decode_log
from p2p_race.replay.verify import CarReplay, shared_traffic
from p2p_race.sim.car import CarSim, CarState
from p2p_race.sim.rules import DT, Inputs, Rules
from p2p_race.sim.traffic import TrafficCar
from replication.records import MatchResult


class MatchReplay:
    """`RaceView` of a stored match: every car re-driven by its stored inputs."""

    def __init__(self, record: MatchResult) -> None:
        if not record.has_evidence:
            raise ValueError(f"match {record.match_id} has no input logs to replay")
        self.record = record
        self.rules = Rules(record.seed, record.time_limit, record.difficulty)
        self.traffic_model = shared_traffic(self.rules)
        self.names = {r.peer_id: r.name for r in record.racers}
        self.order = [r.peer_id for r in record.racers]
        self.codes = {r.peer_id: decode_log(lg, self.rules.limit_ticks)
                      for r, lg in zip(record.racers, record.logs, strict=True)}
        self.colors = racer_colors((pid, NO_WISH) for pid in self.order)  # (the wishes are not on record)
        self.cars = {pid: CarReplay(self.rules, pid, self.traffic_model) for pid in self.order}
        self._tick = 0
        self.followed = record.winner_id

    # -- control -----------------------------------------------------------------------------
    def follow(self, peer_id: str) -> None:
        if peer_id in self.cars:
            self.followed = peer_id

    def follow_next(self, step: int = 1) -> str:
        i = self.order.index(self.followed)
        self.followed = self.order[(i + step) % len(self.order)]
        return self.followed

    @property
    def local_name(self) -> str:
        return self.names[self.followed]

    @property
    def local_color(self) -> str:
        return self.colors[self.followed]

    # -- RaceView ------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return self._tick * DT

    @property
    def tick(self) -> int:
        return self._tick

    @property
    def finished(self) -> bool:
        return self._tick >= self.end_tick

    @property
    def end_tick(self) -> int:
        return max((len(c) for c in self.codes.values()), default=0)

    def countdown_remaining(self) -> float | None:
        return None  # a replay starts at GO

    def step(self, inputs: Inputs | None = None) -> None:
        """One tick for every car (the viewer's inputs are ignored)."""
        if self.finished:
            return
        k = self._tick
        for pid, car in self.cars.items():
            codes = self.codes[pid]
            if k < len(codes):
                car.feed(codes[k:k + 1])
        self._tick += 1

    @property
    def local_sim(self) -> CarSim:
        return self.cars[self.followed].car

    def local_car(self) -> CarState | None:
        return self.cars[self.followed].state

    def remote_cars(self) -> list[tuple[str, str, CarState, bool]]:
        return [(self.names[pid], self.colors[pid], self.cars[pid].state, True)
                for pid in self.order if pid != self.followed]

    def traffic(self, t: float, y0: float | None = None, y1: float | None = None) -> list[TrafficCar]:
        if y0 is None or y1 is None:
            y = self.cars[self.followed].state.y
            y0, y1 = y - 40.0, y + 80.0
        return self.traffic_model.vehicles_between(t, y0, y1)

    # -- outcome -------------------------------------------------------------------------------
    def run_to_end(self) -> None:
        while not self.finished:
            self.step()

    def outcome(self) -> dict:
        """The replayed result (run to the end first), in the stored record's terms."""
        racers = []
        for r in self.record.racers:
            out = self.cars[r.peer_id].outcome()
            racers.append({"peer_id": r.peer_id, "name": r.name, "score": out.score, "distance": out.distance,
                           "crashed": out.crashed, "crash_time": out.crash_time, "abandoned": out.abandoned})
        best = min(racers, key=lambda x: (-x["score"], -(x["crash_time"] if x["crashed"] else float("inf")),
                                          x["peer_id"]))
        return {"match_id": self.record.match_id, "seed": self.record.seed, "difficulty": self.record.difficulty,
                "time_limit": self.record.time_limit, "winner_id": best["peer_id"], "winner": best["name"],
                "racers": racers}


def stored_outcome(record: MatchResult) -> dict:
    """The same shape as `MatchReplay.outcome()`, from what the record says."""
    racers = [{"peer_id": r.peer_id, "name": r.name, "score": r.score, "distance": r.distance,
               "crashed": r.crashed, "crash_time": r.crash_time, "abandoned": r.abandoned} for r in record.racers]
    return {"match_id": record.match_id, "seed": record.seed, "difficulty": record.difficulty,
            "time_limit": record.time_limit, "winner_id": record.winner_id, "winner": record.winner_name,
            "racers": racers}


class Ghost:
    """A past drive replayed beside a live race (practice: your best run on that road)."""

    def __init__(self, rules: Rules, peer_id: str, codes: bytes, name: str = "ghost") -> None:
        self.name = name
        self.codes = codes
        self.rules, self.peer_id = rules, peer_id
        self.car = CarReplay(rules, peer_id, shared_traffic(rules), start=0.0)

    def place(self, x: float) -> None:
        """Start where the racing car starts (before the first tick)."""
        self.car = CarReplay(self.rules, self.peer_id, shared_traffic(self.rules), start=x)

    def advance_to(self, tick: int) -> CarState:
        k = self.car.tick
        if tick > k:
            self.car.feed(self.codes[k:tick])
        return self.car.state
