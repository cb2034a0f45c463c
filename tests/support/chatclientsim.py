"""The chat client's session core (chat.session) against simulated chat services.

Virtual time, a seeded RNG, no sockets. Services keep a real `History` (the real rules),
answer the client's frames like chat/service.py does (welcome, hist, submit -> ack, msg
pushes, peers), pass stored lines on to each other after a short delay, and misbehave on
a seeded schedule: crash (the connection resets; lines stored but not yet passed on die
with it unless the service comes back), hang (the connection stays open, nothing is
answered), refuse a line as `busy` (a budget), come back (and catch up from the others).
The client is driven like chat/client.py drives it: candidates in the session's order,
connect, welcome, ticks at the session's deadlines and after every frame.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chat.history import History
from chat.message import LOBBY, ChatMessage, content_id
from chat.session import ClientSession, Drop, StartLocal, SwitchLocal, Write
from p2p_race.identity import Identity

T0 = 1_800_000_000.0
WELCOME_TIMEOUT = 1.0  # as chat/client.py
LATENCY = (0.001, 0.02)


@dataclass
class SimService:
    name: str
    addr: tuple[str, int]
    state: str = "up"  # up | hung | down | gone (down for good: its lines never come back)
    history: History = field(default_factory=History)
    busy: float = 0.0  # chance to refuse a new line for budget
    unpassed: set[str] = field(default_factory=set)  # stored here, not yet passed on


class ChatClientSim:
    def __init__(self, seed: int, n_services: int = 3, busy: float = 0.15) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0.0
        self._q: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.services = [SimService(f"s{i}", (f"10.0.0.{i + 1}", 4780), busy=busy) for i in range(n_services)]
        self.by_addr = {s.addr: s for s in self.services}
        self.local = self.services[0]
        self.ident = Identity.from_seed(b"chat-client-sim-%d" % seed)
        self.session = ClientSession(self.ident, "sim")
        self.conn: tuple[int, SimService] | None = None  # (connection number, service)
        self._conn_ids = itertools.count(1)
        self._connecting = False
        self._tick_at: float | None = None
        self.texts: list[str] = []  # every line the user typed, in order
        self.log: list[tuple[float, str]] = []

    # -- the event queue ------------------------------------------------------------------
    def at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._q, (t, next(self._seq), fn))

    def run_until(self, t_end: float, stop: Callable[[], bool] | None = None) -> bool:
        while self._q and self._q[0][0] <= t_end:
            t, _s, fn = heapq.heappop(self._q)
            self.now = max(self.now, t)
            fn()
            if stop is not None and stop():
                return True
        self.now = max(self.now, t_end)
        return stop() if stop is not None else True

    def wall(self) -> float:
        return T0 + self.now

    def lat(self) -> float:
        return self.rng.uniform(*LATENCY)

    # -- the user -------------------------------------------------------------------------
    def type_line(self, text: str) -> None:
        self.texts.append(text)
        self.session.send(text, LOBBY, hold=True, wall=self.wall())  # over the rate: held
        self.wake()

    # -- the client adapter ---------------------------------------------------------------
    def wake(self) -> None:
        """What the adapter does when woken: connect if needed, else tick."""
        if self.conn is None:
            self.session.release_held(self.wall())
            if not self._connecting:
                self._connect()
            return
        self._tick()

    def _connect(self) -> None:
        running = self.local.state in ("up", "hung")
        others = [s.addr for s in self.services[1:]]
        for addr, is_local in self.session.candidates(self.local.addr if running else None, others, self.now):
            svc = self.by_addr[addr]
            if svc.state in ("down", "gone"):
                continue  # connection refused at once
            cid = next(self._conn_ids)
            self._connecting = True
            self.conn = (cid, svc)
            self.log.append((self.now, f"connect {svc.name}"))
            self.at(self.now + self.lat(), lambda cid=cid, svc=svc, loc=is_local: self._hello(cid, svc, loc))
            self.at(self.now + WELCOME_TIMEOUT, lambda cid=cid, svc=svc: self._welcome_timeout(cid, svc))
            return
        # nobody answers: try again soon (the adapter sleeps <= 0.1 s)
        self.at(self.now + 0.1, self.wake)

    def _hello(self, cid: int, svc: SimService, is_local: bool) -> None:
        if not self._live(cid) or svc.state != "up":
            return
        welcome = {"t": "welcome", "peers": [list(s.addr) for s in self.services if s is not svc and s.state == "up"],
                   "clock": svc.history.clock}
        self.at(self.now + self.lat(), lambda: self._welcomed(cid, svc, is_local, welcome))

    def _welcomed(self, cid: int, svc: SimService, is_local: bool, welcome: dict) -> None:
        if not self._live(cid):
            return
        self._connecting = False
        self._do(self.session.on_welcome(svc.addr, is_local, welcome, self.now))

    def _welcome_timeout(self, cid: int, svc: SimService) -> None:
        if self._live(cid) and self._connecting:
            self._lose(hung=True)

    def _live(self, cid: int) -> bool:
        return self.conn is not None and self.conn[0] == cid

    def _lose(self, hung: bool) -> None:
        assert self.conn is not None
        self.log.append((self.now, f"lost {self.conn[1].name} hung={hung}"))
        self.session.on_lost(self.conn[1].addr, hung, self.now)
        self.conn = None
        self._connecting = False
        self.wake()

    def _tick(self) -> None:
        if self.conn is None or self._connecting:
            return
        local = self.local.addr if self.local.state in ("up", "hung") else None
        self._do(self.session.tick(self.now, self.wall(), lambda: local))

    def _deadline(self) -> None:
        if self._tick_at is not None and self.now >= self._tick_at:
            self._tick_at = None
            self._tick()

    def _do(self, actions) -> None:
        assert self.conn is not None
        cid, svc = self.conn
        for a in actions:
            match a:
                case Write(frame):
                    self.at(self.now + self.lat(), lambda f=frame: self._serve(cid, svc, f))
                case Drop():
                    self._lose(hung=True)
                    return
                case SwitchLocal():
                    self.session.on_lost(svc.addr, False, self.now)
                    self.conn = None
                    self.wake()
                    return
                case StartLocal():
                    pass  # the local service comes back on the fault schedule
        if not self._connecting:
            self._tick_soon()

    def _tick_soon(self) -> None:
        t = self.session.next_deadline(self.now)
        if self._tick_at is None or t < self._tick_at or self._tick_at <= self.now:
            self._tick_at = t
            self.at(t, self._deadline)

    def _to_client(self, cid: int, frame: dict) -> None:
        def deliver() -> None:
            if self._live(cid):
                self.session.on_frame(frame, self.now, self.wall())
                self._tick()
        self.at(self.now + self.lat(), deliver)

    # -- the services -----------------------------------------------------------------------
    def _serve(self, cid: int, svc: SimService, frame: dict[str, Any]) -> None:
        if svc.state != "up" or not self._live(cid):
            return  # hung: read but never answered; down: the connection is gone
        kind = frame.get("t")
        if kind == "hist":
            self._to_client(cid, {"t": "hist", "m": [m.to_wire() for m in svc.history.messages()]})
        elif kind == "peers":
            self._to_client(cid, {"t": "peers", "peers": [list(s.addr) for s in self.services
                                                          if s is not svc and s.state == "up"]})
        elif kind == "submit":
            msg = ChatMessage.from_wire(frame["m"])
            msg_id = content_id(msg.content())
            if not svc.history.known(msg_id) and self.rng.random() < svc.busy:
                self._to_client(cid, {"t": "ack", "id": msg_id, "ok": False, "reason": "busy",
                                      "clock": svc.history.clock})
                return
            res = svc.history.add(msg, self.wall())
            if res.new is not None:
                svc.unpassed.add(msg_id)
                self.at(self.now + self.rng.uniform(0.05, 0.5), lambda: self._pass_on(svc, msg_id))
                self._to_client(cid, {"t": "msg", "m": res.new.to_wire()})
            ok = res.new is not None or res.duplicate
            self._to_client(cid, {"t": "ack", "id": msg_id, "ok": ok, "reason": res.reason,
                                  "clock": svc.history.clock})

    def _pass_on(self, svc: SimService, msg_id: str) -> None:
        if svc.state != "up" or msg_id not in svc.unpassed:
            return
        svc.unpassed.discard(msg_id)
        msg = svc.history.by_id.get(msg_id)
        if msg is None:
            return
        for other in self.services:
            if other is not svc and other.state == "up":
                other.history.add(msg, self.wall())

    def _catch_up(self, svc: SimService) -> None:
        """A service back up syncs both ways with every live one (the mesh's reconciliation)."""
        for other in self.services:
            if other is not svc and other.state == "up":
                for m in other.history.messages():
                    svc.history.add(m, self.wall())
                for m in svc.history.messages():
                    other.history.add(m, self.wall())
        svc.unpassed.clear()

    def set_state(self, svc: SimService, state: str) -> None:
        before = svc.state
        if before == "gone":
            return
        svc.state = state
        self.log.append((self.now, f"{svc.name} {before}->{state}"))
        if state == "gone":
            svc.history = History()  # its disk is lost with it
        if state == "up" and before != "up":
            self._catch_up(svc)
        if self.conn is not None and self.conn[1] is svc and state in ("down", "gone"):
            self._lose(hung=False)  # the process died: the connection resets

    # -- checks ----------------------------------------------------------------------------
    def live_texts(self) -> dict[str, list[str]]:
        """Per live service: the texts of the user's lines it holds (with repeats)."""
        mine = self.ident.peer_id
        return {s.name: sorted(m.text for m in s.history.messages() if m.author_id == mine)
                for s in self.services if s.state == "up"}

    def settled(self) -> bool:
        if self.session.pending() or self.session.held or self.session.reoffering():
            return False
        views = list(self.live_texts().values())
        return bool(views) and all(v == views[0] for v in views)
