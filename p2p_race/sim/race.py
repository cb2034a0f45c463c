"""Several cars in lock-step against one shared traffic (practice, tests, benchmarks)."""

from __future__ import annotations

from p2p_race.sim.car import CarSim
from p2p_race.sim.rules import DT, LANES, Inputs, Rules, lane_center
from p2p_race.sim.traffic import Traffic

_NO_INPUT = Inputs()


class Race:
    """Cars start side by side (lane i % LANES) on the start line; they are ghosts to each other."""

    def __init__(self, rules: Rules, car_ids: list[str]) -> None:
        if len(set(car_ids)) != len(car_ids):
            raise ValueError("car ids must be unique")
        self.rules = rules
        self.traffic = Traffic(rules)
        self.cars: dict[str, CarSim] = {
            cid: CarSim(rules, cid, start_x=lane_center(i % LANES), traffic=self.traffic)
            for i, cid in enumerate(car_ids)
        }
        self._tick = 0

    @property
    def tick(self) -> int:
        return self._tick

    @property
    def time(self) -> float:
        return self._tick * DT

    @property
    def finished(self) -> bool:
        """The time limit passed or every car crashed."""
        return self._tick >= self.rules.limit_ticks or all(c.finished for c in self.cars.values())

    def step(self, inputs: dict[str, Inputs] | None = None) -> None:
        if self.finished:
            return
        inputs = inputs or {}
        for cid, car in self.cars.items():
            car.step(inputs.get(cid, _NO_INPUT))
        self._tick += 1

    def states(self) -> dict[str, object]:
        return {cid: car.state for cid, car in self.cars.items()}
