"""The chat client's session rules, sans-I/O: acks, resends and the choice of service.

`ClientSession` is fed what the connection brings (frames, a lost connection) and the clock,
and answers with frames to write and decisions for the adapter (`Write`, `Drop`); it never
opens a socket, reads a file or sleeps. `chat.client.ChatClient` is its adapter: a
background thread with an event loop, TCP connections and the local service's info file.
tests/test_chat_client_sim.py drives it against simulated services that crash, hang and
refuse, over many seeds.

The rules (docs/ARCHITECTURE.md section 5):
- A line is signed here, so any service may take it. It stays *pending* until a service
  acks it. A refusal is final, except two: `rate_limited` (the per-author rule, which
  refuses that id everywhere: the line is written again with a fresh stamp, so the
  user's words are not lost) and `busy` (that service's budget: the same line is offered
  again after a backoff; a fresh stamp could make it appear twice, as another service may
  have stored it before dying).
- On every (re)connection everything pending and the recent lines are submitted again:
  a service may have acked and died before passing a line on (a recent line refused as
  `busy` then is offered again too). Ids are content hashes, so services deduplicate:
  nothing is lost, nothing is stored twice.
- A service that keeps a line waiting longer than `ack_timeout` while sending nothing at
  all is hung: the connection is dropped and that service goes to the back of the list
  for a while (BackoffMap: 3 s, doubling while it keeps failing). A reset connection (the
  service died) costs no penalty: its address is simply not there any more.
- Order of services: the local one, then the one last used, then the others in the order
  they were learned; penalized ones last. While on another peer's service, the local one
  is checked every second and taken back as soon as it runs again.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chat.history import History
from chat.message import KIND_TEXT, ChatMessage, InvalidMessage, content_id
from p2p_race.backoff import BackoffMap, backoff_delay
from p2p_race.identity import Identity, Verifier

Addr = tuple[str, int]
ACK_TIMEOUT = 0.6
RECENT = 200
LOCAL_RECHECK = 1.0
PEERS_EVERY = 2.0  # ask the service for the other live services this often
PENALTY = 3.0  # a service that hung goes to the back of the list this long (doubling)
PENALTY_MAX = 30.0
HELD_RETRY = 0.1  # a line held by the rate rule is tried again this often
BUSY_RETRY = 0.5  # a line a busy service refused: offered again after this (doubling)
STALL = 0.3  # woken this much past our deadline: *we* were frozen, not the service
STALL_GRACE = 0.2  # then the service's frames waiting in our socket get this long to be read


class RateLimited(Exception):
    """Sending now would exceed the per-author rate: the message was not sent."""


@dataclass(frozen=True, slots=True)
class Write:
    """Write this frame on the current connection."""

    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the current connection (and try the next service)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SwitchLocal:
    """The local service runs again: leave the peer's service for it."""


@dataclass(frozen=True, slots=True)
class StartLocal:
    """No local service runs: start one (when this client may)."""


Action = Write | Drop | SwitchLocal | StartLocal


@dataclass
class _Pending:
    msg: ChatMessage
    sent_at: float = 0.0  # when written on the current connection (0: not yet)
    retry_at: float = 0.0  # a `busy` service: not before then
    busy: int = 0  # `busy` refusals so far


class ClientSession:
    def __init__(self, identity: Identity, name: str, *, channel: str | None = None,
                 ack_timeout: float = ACK_TIMEOUT, use_local: bool = True) -> None:
        self.identity = identity
        self.name = name
        self.channel = channel  # subscription: None = every channel
        self.ack_timeout = ack_timeout
        self.use_local = use_local
        self.view = History()
        self.known_services: list[Addr] = []
        self.acked: dict[str, Addr] = {}
        self.failed: dict[str, str] = {}  # id -> reason a service refused it
        self.addr: Addr | None = None  # the service of the current connection
        self.local = False
        self.synced = False
        self.inbox: deque[ChatMessage] = deque(maxlen=5000)
        self.held: deque[tuple[str, str, int]] = deque(maxlen=1000)
        self.penalty: BackoffMap[Addr] = BackoffMap(PENALTY, PENALTY_MAX)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._recent: deque[ChatMessage] = deque(maxlen=RECENT)
        self._reoffer: dict[str, _Pending] = {}  # acked lines a busy service did not take again
        self._server_clock = 0
        self._last_addr: Addr | None = None
        self._last_rx = 0.0
        self._wake_at: float | None = None  # the deadline we last reported (stall guard)
        self._judge_after = 0.0  # no service is judged hung before this (after our own stall)
        self._next_peers = 0.0
        self._next_local = 0.0
        self._verifier = Verifier()

    # -- lines ----------------------------------------------------------------------------
    def send(self, text: str, channel: str, kind: int = KIND_TEXT, *, hold: bool = False,
             wall: float | None = None) -> ChatMessage | None:
        """Sign and queue a line. Raises InvalidMessage (empty, too long, bad channel); over
        the per-author rate RateLimited, or with `hold` keeps it for later (returns None)."""
        wall = time.time() if wall is None else wall
        if hold and self.held:
            ChatMessage.create(self.identity, name="x", channel=channel, text=text, clock=1, t=0.0,
                               kind=kind)  # a line that could never be sent fails now
            self.held.append((text, channel, kind))
            return None
        try:
            return self._create(text, channel, kind, wall)
        except RateLimited:
            if not hold:
                raise
            self.held.append((text, channel, kind))
            return None

    def _create(self, text: str, channel: str, kind: int, wall: float) -> ChatMessage:
        clock = max(self.view.clock, self._server_clock) + 1
        # the rate window needs only author, kind and time: ask before signing (a held
        # line is asked about every HELD_RETRY)
        probe = ChatMessage(self.identity.public_key, self.name, channel, kind, clock, int(wall * 1000), text, b"")
        if self.view.would_rate_limit(probe):
            raise RateLimited("slow down: at most 5 messages per 5 seconds")
        msg = ChatMessage.create(self.identity, name=self.name, channel=channel, text=text,
                                 clock=clock, t=wall, kind=kind)
        res = self.view.add(msg, wall, trusted=True)
        self._pending[msg.id] = _Pending(msg)
        self._recent.append(msg)
        if res.new is not None:
            self.inbox.append(res.new)
        return msg

    def release_held(self, wall: float) -> None:
        """Send held lines as far as the rate allows."""
        while self.held:
            text, channel, kind = self.held[0]
            try:
                self._create(text, channel, kind, wall)
            except RateLimited:
                return
            except InvalidMessage:
                pass
            self.held.popleft()

    def pending(self) -> list[str]:
        return list(self._pending)

    def reoffering(self) -> list[str]:
        """Acked lines offered again after a `busy` refusal (not pending: one service has them)."""
        return list(self._reoffer)

    # -- choosing a service -----------------------------------------------------------------
    def candidates(self, local: Addr | None, others: Iterable[Addr], now: float) -> list[tuple[Addr, bool]]:
        """(address, is local) in the order to try them."""
        out: list[tuple[Addr, bool]] = [(local, True)] if local is not None else []
        rest = [*others, *self.known_services]
        if self._last_addr in rest:  # the service we last used first (it was alive)
            rest.remove(self._last_addr)
            rest.insert(0, self._last_addr)
        seen = {a for a, _ in out}
        for a in rest:
            if a not in seen:
                seen.add(a)
                out.append((a, False))
        out.sort(key=lambda c: self.penalty.waiting(c[0], now))  # stable: penalized last
        return out

    # -- one connection ----------------------------------------------------------------------
    def on_welcome(self, addr: Addr, local: bool, frame: dict[str, Any], now: float) -> list[Action]:
        """The service greeted us: subscribe, fetch the history, offer everything unacked
        and the recent lines again. Anything but a welcome drops the connection."""
        if frame.get("t") != "welcome":
            return [Drop("no welcome")]
        self._last_rx = now
        self._take_services(frame.get("peers"))
        clock = frame.get("clock")
        if isinstance(clock, int):
            self._server_clock = max(self._server_clock, clock)
        self.addr, self.local, self._last_addr = addr, local, addr
        self._next_peers = now + PEERS_EVERY
        self._next_local = now + LOCAL_RECHECK
        resend = {m.id: m for m in self._recent}
        self._reoffer.clear()
        for msg_id, p in self._pending.items():
            resend[msg_id] = p.msg
            p.sent_at, p.retry_at = now, 0.0
        out: list[Action] = [Write({"t": "sub", "channel": self.channel}),
                             Write({"t": "hist", "channel": self.channel})]
        out += [Write({"t": "submit", "m": m.to_wire()}) for m in sorted(resend.values(), key=lambda m: m.key)]
        return out

    def on_lost(self, addr: Addr, hung: bool, now: float) -> None:
        """The connection to `addr` ended (also before its welcome); `hung`: the service was
        alive but did not answer."""
        if hung:
            self.penalty.fail(addr, now)
        self.addr, self.local, self.synced = None, False, False
        for p in self._pending.values():
            p.sent_at = 0.0

    def decode(self, frame: dict[str, Any]) -> list[ChatMessage]:
        """The new, verified messages of a msg/hist frame. Pure CPU and reads only ids, so
        the adapter may run it outside its lock (checking a 5,000-line history takes a
        few hundred ms; a game frame must not wait for it)."""
        items = frame.get("m")
        items = [items] if frame.get("t") == "msg" else items if isinstance(items, list) else []
        out = []
        for item in items:
            try:
                msg = ChatMessage.from_wire(item)
                if content_id(msg.content()) in self.view.by_id:
                    continue
                out.append(msg.verified(self._verifier))
            except InvalidMessage:
                continue
        return out

    def on_frame(self, frame: dict[str, Any], now: float, wall: float,
                 decoded: list[ChatMessage] | None = None) -> list[Action]:
        """A frame from the service (`decoded`: `decode(frame)`, when done outside a lock)."""
        self._last_rx = now
        kind = frame.get("t")
        if kind in ("msg", "hist"):
            for msg in self.decode(frame) if decoded is None else decoded:
                res = self.view.add(msg, wall, trusted=True)
                if res.new is not None:
                    self.inbox.append(res.new)
            if kind == "hist":
                self.synced = True
        elif kind == "ack":
            self._take_ack(frame, now)
        elif kind == "gone":
            ids = frame.get("ids")
            self.view.forget(i for i in (ids if isinstance(ids, list) else []) if isinstance(i, str))
        elif kind == "peers":
            self._take_services(frame.get("peers"))
        return []

    def tick(self, now: float, wall: float, local: Callable[[], Addr | None] | None = None) -> list[Action]:
        """Timers: new lines to write, the ack timeout, the peers query, the local check.
        `local` tells where this machine's service runs now (None: none); called at most
        once a second, only while connected to another peer's service."""
        self.release_held(wall)
        if self.addr is None:
            return []
        out: list[Action] = []
        for p in self._pending.values():
            if not p.sent_at and now >= p.retry_at:
                p.sent_at = now
                out.append(Write({"t": "submit", "m": p.msg.to_wire()}))
        for p in self._reoffer.values():
            if not p.sent_at and now >= p.retry_at:
                p.sent_at = now
                out.append(Write({"t": "submit", "m": p.msg.to_wire()}))
        # stall guard: a wake-up long past the deadline we reported means this process did
        # not run (starved, suspended); the service's ack may sit unread in our socket, so
        # the silence is not judged until it had a moment to arrive
        if self._wake_at is not None and now - self._wake_at > STALL:
            self._judge_after = now + STALL_GRACE
        self._wake_at = None
        oldest = min((p.sent_at for p in self._pending.values()), default=None)
        if (oldest is not None and now - oldest > self.ack_timeout and now - self._last_rx > self.ack_timeout
                and now >= self._judge_after):
            return out + [Drop("no ack within the ack timeout")]  # nothing heard at all: hung or gone
        if now >= self._next_peers:
            self._next_peers = now + PEERS_EVERY
            out.append(Write({"t": "peers"}))
        if not self.local and self.use_local and local is not None and now >= self._next_local:
            self._next_local = now + LOCAL_RECHECK
            where = local()
            if where is None:
                out.append(StartLocal())  # we use a peer's service meanwhile
            elif not self.penalty.waiting(where, now):
                out.append(SwitchLocal())
        return out

    def next_deadline(self, now: float) -> float:
        """When `tick` has something to do next (the adapter also ticks on every wake-up)."""
        if self.addr is None:
            return now + HELD_RETRY if self.held else now + 1.0
        times = [self._next_peers]
        if self.use_local and not self.local:
            times.append(self._next_local)
        if self.held:
            times.append(now + HELD_RETRY)
        times += [p.retry_at for p in (*self._pending.values(), *self._reoffer.values()) if not p.sent_at]
        sent = [p.sent_at for p in self._pending.values() if p.sent_at]
        if sent:
            times.append(max(min(sent), self._last_rx, self._judge_after - self.ack_timeout)
                         + self.ack_timeout + 1e-3)
        self._wake_at = at = max(now, min(times))
        return at

    # -- internals ------------------------------------------------------------------------
    def _take_ack(self, frame: dict[str, Any], now: float) -> None:
        msg_id = frame.get("id")
        if not isinstance(msg_id, str):
            return
        clock = frame.get("clock")
        if isinstance(clock, int):
            self._server_clock = max(self._server_clock, clock)
        p = self._pending.pop(msg_id, None)
        again = self._reoffer.pop(msg_id, None)
        if frame.get("ok"):
            if self.addr is not None:
                self.acked[msg_id] = self.addr
                self.penalty.ok(self.addr)  # it works again: a later hang starts at PENALTY
            return
        reason = str(frame.get("reason") or "refused")
        if p is None:
            msg = again.msg if again is not None else next((m for m in self._recent if m.id == msg_id), None)
            if reason == "busy" and msg is not None:
                # an acked line offered again (its service may have died before passing it
                # on) and refused for budget: offer it again later, it may exist nowhere else
                again = again or _Pending(msg)
                again.busy += 1
                again.sent_at, again.retry_at = 0.0, now + backoff_delay(again.busy, BUSY_RETRY, PENALTY_MAX)
                self._reoffer[msg_id] = again
            return
        if reason == "rate_limited":
            # the service knew more of our recent lines than we did (another client of this
            # peer, or we had not synced yet): the rule refuses it everywhere, so write it
            # again later with a fresh stamp instead of losing it
            self.view.forget([msg_id])
            self.held.appendleft((p.msg.text, p.msg.channel, p.msg.kind))
        elif reason == "busy":
            # that service's budget, not the rule: the same line again later (another
            # service may have stored it already; a fresh stamp would show it twice)
            p.busy += 1
            p.sent_at, p.retry_at = 0.0, now + backoff_delay(p.busy, BUSY_RETRY, PENALTY_MAX)
            self._pending[msg_id] = p
        else:
            self.failed[msg_id] = reason

    def _take_services(self, peers: Any) -> None:
        if not isinstance(peers, list):
            return
        out = [(p[0], p[1]) for p in peers[:256]
               if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)]
        merged = [a for a in self.known_services if a not in out] + out
        self.known_services = merged[-64:]
