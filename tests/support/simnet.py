"""A deterministic network simulator for sans-I/O cores.

Virtual time, a seeded RNG, and a priority queue of deliveries and timers. Faults: loss,
duplication, delay with jitter (hence reordering), partitions that heal, node crashes and
restarts. Nothing sleeps; `run_until` jumps from event to event, so thousands of seeds run
in seconds and a failing seed replays exactly.

A node is anything with `on_message(src, payload, now)` and `on_tick(now)`; it sends by
calling `net.send(src, dst, payload)` (usually from a small wrapper that turns a core's
actions into sends). Payloads are opaque to the network (bytes or objects).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class SimNode(Protocol):
    def on_message(self, src: str, payload: Any, now: float) -> None: ...

    def on_tick(self, now: float) -> None: ...


@dataclass
class Faults:
    loss: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.001
    jitter: float = 0.004


@dataclass(order=True)
class _Event:
    t: float
    n: int
    fn: Callable[[], None] = field(compare=False)


class SimNet:
    def __init__(self, seed: int, faults: Faults | None = None, tick: float = 1 / 60) -> None:
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.tick = tick
        self.now = 0.0
        self.nodes: dict[str, SimNode] = {}
        self.crashed: set[str] = set()
        self._groups: dict[str, int] | None = None  # partition: node -> group
        self._queue: list[_Event] = []
        self._n = itertools.count()
        self.stats: Counter[str] = Counter()

    # -- topology -------------------------------------------------------------------
    def add(self, node_id: str, node: SimNode, tick: bool = True) -> None:
        self.nodes[node_id] = node
        self.crashed.discard(node_id)
        if tick:
            self._schedule_tick(node_id, node, self.now + self.rng.random() * self.tick)

    def crash(self, node_id: str) -> None:
        """The node stops: no ticks, nothing delivered to it, nothing it had queued is lost
        in flight (datagrams already sent still arrive, as on a real network)."""
        self.crashed.add(node_id)

    def restart(self, node_id: str, node: SimNode) -> None:
        self.add(node_id, node)

    def partition(self, *groups: Iterable[str]) -> None:
        self._groups = {n: i for i, g in enumerate(groups) for n in g}

    def heal(self) -> None:
        self._groups = None

    def connected(self, a: str, b: str) -> bool:
        if self._groups is None:
            return True
        return self._groups.get(a, -1) == self._groups.get(b, -1)

    def alive(self) -> list[str]:
        return [n for n in self.nodes if n not in self.crashed]

    # -- traffic --------------------------------------------------------------------
    def send(self, src: str, dst: str, payload: Any) -> None:
        self.stats["sent"] += 1
        f = self.faults
        if src in self.crashed or not self.connected(src, dst):
            self.stats["cut"] += 1
            return
        if self.rng.random() < f.loss:
            self.stats["lost"] += 1
            return
        copies = 2 if self.rng.random() < f.duplicate else 1
        for _ in range(copies):
            delay = f.delay + self.rng.random() * f.jitter
            self.call_at(self.now + delay, lambda p=payload: self._deliver(src, dst, p))

    def broadcast(self, src: str, payload: Any) -> None:
        for dst in self.nodes:
            if dst != src:
                self.send(src, dst, payload)

    def _deliver(self, src: str, dst: str, payload: Any) -> None:
        node = self.nodes.get(dst)
        if node is None or dst in self.crashed or not self.connected(src, dst):
            self.stats["undelivered"] += 1
            return
        self.stats["delivered"] += 1
        node.on_message(src, payload, self.now)

    # -- time -----------------------------------------------------------------------
    def call_at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, _Event(max(t, self.now), next(self._n), fn))

    def _schedule_tick(self, node_id: str, node: SimNode, t: float) -> None:
        def fire() -> None:
            if self.nodes.get(node_id) is not node or node_id in self.crashed:
                return  # crashed or replaced by a restart: this tick chain ends
            node.on_tick(self.now)
            self._schedule_tick(node_id, node, self.now + self.tick)

        self.call_at(t, fire)

    def run_until(self, t: float, stop: Callable[[], bool] | None = None) -> bool:
        """Process events up to virtual time t; True if `stop()` became true first."""
        while self._queue and self._queue[0].t <= t:
            ev = heapq.heappop(self._queue)
            self.now = ev.t
            ev.fn()
            if stop is not None and stop():
                return True
        self.now = max(self.now, t)
        return False

    def run_for(self, seconds: float, stop: Callable[[], bool] | None = None) -> bool:
        return self.run_until(self.now + seconds, stop)
