"""What the race screen draws from: a `RaceView`. Practice implements it over a local
`Race` with bots; the networked match implements it over the peers' streamed states, so
the same screen, HUD and renderer serve both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from p2p_race.sim import CarSim, CarState, Inputs, Race, Rules, TrafficCar

LOCAL_ID = "you"


@runtime_checkable
class RaceView(Protocol):
    """The race as the screen sees it.

    `time` is the race clock (tick * DT); `step(inputs)` advances one fixed tick with the
    local player's inputs (a spectator view ignores them). `traffic(t, y0, y1)` returns the
    traffic at time t overlapping road span [y0, y1] (defaults: around the local car).
    `remote_cars()` gives (name, colour name, state, connected) for every other car.
    Optional extras the screen uses when present: `local_name`, `local_color`,
    `countdown_remaining() -> float | None` (network start time), `local_sim` (CarSim:
    overtake / near-miss counters), `fast_forward(ticks) -> None` (practice only).
    """

    rules: Rules

    @property
    def time(self) -> float: ...

    @property
    def finished(self) -> bool: ...

    def local_car(self) -> CarState | None: ...

    def remote_cars(self) -> list[tuple[str, str, CarState, bool]]: ...

    def traffic(self, t: float, y0: float | None = None, y1: float | None = None) -> list[TrafficCar]: ...

    def step(self, inputs: Inputs) -> None: ...


def bot_colors(player_color: str, n: int) -> list[str]:
    """Colours of the first `n` practice bots (BOT_NAMES order). Each bot owns a colour by
    its name, the same on every screen and in every race whatever the player picked; a bot
    whose colour the player drives takes the first colour nobody uses."""
    from assets.sprites import CAR_COLORS

    palette = list(CAR_COLORS)
    own = [palette[(i + 1) % len(palette)] for i in range(n)]  # Ada blue, Blaze green, ...
    out = []
    for i, c in enumerate(own):
        if c == player_color:
            taken = {player_color, *own[:i], *own[i + 1:], *out}
            c = next((x for x in palette if x not in taken), palette[(i + 2) % len(palette)])
        out.append(c)
    return out


class PracticeView:
    """A local race: the player's car plus `bots` BotDriver cars, all in one `Race`."""

    def __init__(self, rules: Rules, player_name: str = "You", player_color: str = "red",
                 bots: int = 3, bot_skill: float | None = None, autopilot: bool = False,
                 ghost=None, on_run_end=None) -> None:
        from p2p_race.bots import BotDriver, practice_skills

        if not 0 <= bots <= 15:
            raise ValueError("bots must be 0..15")
        self.rules = rules
        self.local_name = player_name
        self.local_color = player_color
        skills = [bot_skill] * bots if bot_skill is not None else practice_skills(rules.difficulty, bots)
        self.bot_ids = [f"bot{i + 1}" for i in range(bots)]
        from p2p_race.bots import BOT_NAMES

        self.names = {}
        for i, bid in enumerate(self.bot_ids):
            n = BOT_NAMES[i % len(BOT_NAMES)]
            self.names[bid] = n if n != player_name else f"{n} (bot)"
        self.colors = dict(zip(self.bot_ids, bot_colors(player_color, bots), strict=True))
        self.race = Race(rules, [LOCAL_ID, *self.bot_ids])
        self.drivers = {bid: BotDriver(bid, skills[i]) for i, bid in enumerate(self.bot_ids)}
        self.autopilot = BotDriver(LOCAL_ID, 1.0) if autopilot else None
        # Ghost of the best run on this road (p2p_race.replay.ghosts): the player's inputs are
        # recorded and handed to `on_run_end(codes, score)` when the car's drive ends.
        self.ghost = ghost
        if ghost is not None:
            ghost.place(self.race.cars[LOCAL_ID].state.x)
        self.on_run_end = on_run_end
        self.codes = bytearray()

    @property
    def time(self) -> float:
        return self.race.time

    @property
    def finished(self) -> bool:
        return self.race.finished

    @property
    def local_sim(self) -> CarSim:
        return self.race.cars[LOCAL_ID]

    def local_car(self) -> CarState | None:
        return self.race.cars[LOCAL_ID].state

    def remote_cars(self) -> list[tuple[str, str, CarState, bool]]:
        cars = [(self.names[b], self.colors[b], self.race.cars[b].state, True) for b in self.bot_ids]
        if self.ghost is not None:
            cars.append((self.ghost.name, "white", self.ghost.advance_to(self.race.tick), True))
        return cars

    def traffic(self, t: float, y0: float | None = None, y1: float | None = None) -> list[TrafficCar]:
        if y0 is None or y1 is None:
            y = self.race.cars[LOCAL_ID].state.y
            y0, y1 = y - 40.0, y + 80.0
        return self.race.traffic.vehicles_between(t, y0, y1)

    def step(self, inputs: Inputs) -> None:
        cars = self.race.cars
        tr = self.race.traffic
        moves = {bid: d.decide(cars[bid], tr) for bid, d in self.drivers.items() if not cars[bid].finished}
        if self.autopilot is not None:
            inputs = self.autopilot.decide(cars[LOCAL_ID], tr)
        moves[LOCAL_ID] = inputs
        me = cars[LOCAL_ID]
        was_done = me.finished
        self.race.step(moves)
        if not was_done and self.on_run_end is not None:
            from p2p_race.replay.codec import code_of

            self.codes.append(code_of(inputs))
            if me.finished:
                self.on_run_end(bytes(self.codes), me.state.score)

    def fast_forward(self, ticks: int) -> None:
        """Advance up to `ticks` ticks with the player's car idle (after it crashed)."""
        for _ in range(ticks):
            if self.race.finished:
                return
            self.step(Inputs())
