"""The peer runtime: one UDP transport, discovery and the match core on an asyncio loop.

Two ways to run it:
- headless (bot, spectate CLI): `await rt.open()` inside your own loop, drive it from
  coroutines there (`rt.call(...)`), `await rt.close()`;
- under the pygame UI: `rt.start_thread()` runs the loop in a background thread; the UI
  polls `snapshot()` and posts intents (`host`, `join`, `ready`, `post_state`, ...), which
  are thread-safe. The UI never blocks on the network.

The core is sans-I/O: this module only turns its actions into datagrams, timers and
events. Results are stored through `replication.ScoreService` (SQLite, plus MongoDB when
configured), which also syncs them with other peers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat.message import match_channel
from p2p_race.errors import UserError
from p2p_race.identity import Identity, Verifier
from p2p_race.match import messages as m
from p2p_race.match.colors import racer_colors, wish_index
from p2p_race.match.core import MatchCore
from p2p_race.match.events import (
    Announcement,
    Broadcast,
    Event,
    Excluded,
    HostChanged,
    Joined,
    Left,
    ResultAdopted,
    Send,
    Started,
    StateAccepted,
    TookOver,
    Won,
)
from p2p_race.match.state import CarReport, MatchConfig, MatchRules
from p2p_race.ranking import ranked
from p2p_race.transport import UdpTransport
from p2p_race.wakeup import DeadlineTimer

log = logging.getLogger(__name__)

MATCH_MESSAGES = m.ALL  # every match message goes to the core, which authorizes each
PEERS_EVERY = 0.5  # refresh the UI's copy of the peer table (pings change without events)
HISTORY = 32  # remote snapshots kept per racer for interpolation


@dataclass
class RacerView:
    peer_id: str
    name: str
    ready: bool
    connected: bool
    status: str
    state: CarReport | None
    history: list[tuple[float, CarReport]]  # (local arrival time, report), oldest first
    color: str = "red"  # the same on every peer (p2p_race.match.colors)


@dataclass
class MatchSnapshot:
    """What the UI draws: a copy, safe to read in another thread."""

    match_id: str
    role: str
    phase: str
    host: str | None
    host_name: str
    term: int
    is_host: bool
    rules: MatchRules
    racers: list[RacerView]
    spectators: list[str]
    start_local: float | None  # monotonic clock of this process
    result: Any | None
    ranking: list[tuple[str, str, int, bool]]
    disconnected: set[str]
    auto_start_at: float | None = None  # host: when its auto-start counts down (monotonic)


@dataclass
class Snapshot:
    peer_id: str
    name: str
    now: float
    peers: list[Any] = field(default_factory=list)  # discovery.Peer
    listings: list[Any] = field(default_factory=list)  # match.core.Listing
    match: MatchSnapshot | None = None


class PeerRuntime:
    def __init__(
        self,
        identity: Identity,
        name: str,
        *,
        data_dir: Path | str | None = None,
        host: str = "0.0.0.0",
        port: int = 0,
        interface: str | None = None,
        peers: Iterable[str] = (),
        mdns: bool = True,
        mdns_interfaces: list[str] | None = None,
        config: MatchConfig | None = None,
        mongodb_uri: str | None = None,
        plausible: Callable | None = None,
        store_results: bool = True,
        serve_scores: bool = True,
        notify: Callable[[str, str], None] | None = None,
        chat_port: int = 0,
    ) -> None:
        self.identity = identity
        self.name = name
        self.data_dir = data_dir
        self.cfg = config or MatchConfig()
        self.transport = UdpTransport(identity, host=host, port=port)
        self._discovery_args = dict(interface=interface, peers=list(peers), mdns=mdns,
                                    mdns_interfaces=mdns_interfaces, chat_port=chat_port)
        if data_dir is not None:  # pins persist for every command that meets peers
            from p2p_race.identity import PinStore

            self._discovery_args["pins"] = PinStore(Path(data_dir))
        self.mongodb_uri = mongodb_uri
        self.store_results = store_results and data_dir is not None
        self.scores: Any = None
        self.serve_scores = serve_scores
        self.notify = notify  # posts a chat system notice: notify(text, channel)
        self.sync_port: int | None = None
        kw = {"plausible": plausible} if plausible is not None else {}
        # Every real peer replays every racer from its inputs (p2p_race.match.replays).
        self.core = MatchCore(identity.peer_id, name, sign=lambda r: r.signed(identity), keys=identity,
                              verify=Verifier().verify, rng=random.Random(),
                              config=dataclasses.replace(self.cfg, verify_inputs=True),
                              wall_offset=time.time() - time.monotonic(), origin=self._origin, **kw)
        self.discovery: Any = None
        self.lock = threading.RLock()  # guards the core against the UI thread
        self.events: queue.Queue[Event] = queue.Queue()
        self.listeners: list[Callable[[Event], None]] = []  # called in the loop thread
        self.history: dict[str, deque[tuple[float, CarReport]]] = {}
        self.samples: dict[str, list[int]] = {}  # racer -> score at each whole second of the race
        self._peers: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: DeadlineTimer | None = None  # armed at the core's next deadline
        self._peer_refresh: asyncio.TimerHandle | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = {"state_in": 0, "state_out": 0}
        self._own_addresses: set[str] | None = None  # this machine's IPs (see `_origin`)

    def _origin(self, peer_id: str) -> str | None:
        """The IP address discovery proved for a peer: what the host bounds racers by
        (`MatchConfig.racers_per_address`). None for this machine's own addresses: other
        processes here are ours (two windows to try the game, bots), not sybils."""
        addr = self.transport.address_of(peer_id)
        if addr is None:
            return None
        if self._own_addresses is None:
            from p2p_race.netinfo import interfaces

            try:
                self._own_addresses = {a for i in interfaces() for a in (*i.ipv4, *i.ipv6)}
            except OSError:
                self._own_addresses = set()
        return None if addr[0] in self._own_addresses else addr[0]

    # ================================================================ life cycle
    async def open(self) -> PeerRuntime:
        from discovery import Discovery

        self.loop = asyncio.get_running_loop()
        await self.transport.start()
        for cls in MATCH_MESSAGES:
            self.transport.on(cls, self._on_packet)
        self.discovery = Discovery(self.identity, self.transport, self.name, **self._discovery_args)
        self.discovery.subscribe(self._on_peer)
        await self.discovery.start()
        if self.store_results:
            try:
                from replication.service import ScoreService

                self.scores = ScoreService(self.data_dir, self.mongodb_uri)
            except UserError as exc:  # e.g. a corrupt score file: one line saying what to do
                log.error("results will not be kept: %s", exc)
            except Exception:  # noqa: BLE001 - scores are a bonus: the match goes on without them
                log.exception("score store unavailable; results will not be kept")
        if self.scores is not None and self.serve_scores:
            # Score sync over TCP on the same port number as our UDP game port: peers find it
            # without another advertisement (TCP and UDP ports are separate name spaces).
            try:
                self.sync_port = await self.scores.serve(self.transport.host, self.transport.port,
                                                         peers=self._sync_peers)
            except Exception as exc:  # noqa: BLE001 - e.g. that TCP port is taken: sync is optional
                log.info("score sync not hosted: %s", exc)
        self._refresh_peers_soon()
        self._arm()
        return self

    def _sync_peers(self) -> list[tuple[str, int]]:
        out = []
        for p in self._peers:
            addr = getattr(p, "addr", None) or ((p.addresses[0], p.game_port) if p.addresses else None)
            if addr is not None:
                out.append((addr[0], addr[1]))
        return out

    async def close(self) -> None:
        with self.lock:
            acts = self.core.leave(time.monotonic()) if self.core.match is not None else []
        self._apply(acts)
        if self._timer is not None:
            self._timer.cancel()
        if self._peer_refresh is not None:
            self._peer_refresh.cancel()
        self._peer_refresh = None
        self._closed = True
        if self.discovery is not None:
            await self.discovery.stop()
        self.transport.close()
        if self.scores is not None:
            if self.sync_port:
                try:
                    await self.scores.stop_serving()
                except Exception:  # noqa: BLE001
                    log.exception("stopping score sync failed")
            self.scores.close()

    def start_thread(self, timeout: float = 10.0) -> PeerRuntime:
        """Run the loop in a daemon thread (for the pygame UI)."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.open())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._thread = threading.Thread(target=main, name="p2p-race-runtime", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if errors:
            raise errors[0]
        return self

    def stop_thread(self, timeout: float = 3.0) -> None:
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    # ================================================================ intents (any thread)
    def call(self, fn: Callable[[float], list], *args: Any) -> None:
        """Run `core.fn(*args, now)` on the loop and carry out its actions."""
        if self.loop is None:
            raise RuntimeError("runtime not open")
        if _in_loop(self.loop):
            self._run(fn, *args)
        else:
            self.loop.call_soon_threadsafe(self._run, fn, *args)

    def _run(self, fn: Callable, *args: Any) -> None:
        with self.lock:
            acts = fn(*args, time.monotonic())
        self._apply(acts)
        self._arm()

    def host(self, rules: MatchRules, role: int = m.ROLE_RACER) -> None:
        self.call(lambda now: self.core.host(rules, now, role))

    def set_color(self, color: str | None) -> None:
        """Our car colour wish (settings), sent with the next join or host."""
        with self.lock:
            self.core.color = wish_index(color)

    def join(self, match_id: str, role: int = m.ROLE_RACER) -> None:
        self.call(lambda now: self.core.join(match_id, now, role))

    def leave(self) -> None:
        self.call(self.core.leave)

    def ready(self, ready: bool = True) -> None:
        self.call(lambda now: self.core.set_ready(ready, now))

    def start_match(self) -> None:
        self.call(self.core.start)

    def kick(self, peer_id: str) -> None:
        """Host, in the lobby: remove a member from the match."""
        self.call(lambda now: self.core.kick(peer_id, now))

    def rematch(self) -> None:
        """Host of a finished match: host the next one; the group follows."""
        self.call(self.core.rematch)

    def post_state(self, rep: CarReport) -> None:
        self.call(lambda now: self.core.local_state(rep, now))

    def _sample(self, peer_id: str, tick: int, score: int) -> None:
        """Score once per race second, for the score-over-time chart of the leaderboard."""
        second = min(int(tick) // 60, 3599)
        row = self.samples.setdefault(peer_id, [])
        if second >= len(row):
            row.extend([row[-1] if row else 0] * (second + 1 - len(row)))
        row[second] = max(row[second], int(score))

    # ================================================================ views
    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        with self.lock:
            snap = Snapshot(self.identity.peer_id, self.name, now, list(self._peers),
                            list(self.core.listings.values()))
            mt = self.core.match
            if mt is not None:
                colors = racer_colors((r.peer_id, r.color) for r in mt.racers.values())
                racers = [
                    RacerView(r.peer_id, r.name, r.ready, r.connected, m.ST_NAMES[r.status],
                              r.final or r.last, list(self.history.get(r.peer_id, ())), colors[r.peer_id])
                    for r in sorted(mt.racers.values(), key=lambda r: r.peer_id)
                ]
                snap.match = MatchSnapshot(
                    mt.match_id, mt.member.label, mt.phase.label,
                    mt.host, mt.host_name, mt.term, self.core.is_host, mt.rules, racers, sorted(mt.spectators),
                    self.core.start_time(),
                    mt.result, self.core.ranking(), self.core.disconnected(now), mt.auto_start_at)
        return snap

    # ================================================================ plumbing
    def _on_packet(self, packet: Any, addr: Any) -> None:
        msg = packet.msg
        with self.lock:
            if isinstance(msg, m.RacerState):
                self.stats["state_in"] += 1
            acts = self.core.on_message(packet.sender, msg, time.monotonic())
        if acts:
            self._apply(acts)
        self._arm()

    def _accepted(self, ev: StateAccepted) -> None:
        """Only states the core accepted are drawn (interpolation) and sampled (charts)."""
        with self.lock:
            h = self.history.get(ev.peer)
            if h is None:
                h = self.history[ev.peer] = deque(maxlen=HISTORY)
            h.append((time.monotonic(), ev.report))
            self._sample(ev.peer, ev.report.tick, ev.report.score)

    def _refresh_peers(self) -> None:
        """Copy the peer table in the loop thread (the UI thread reads the copy)."""
        if self.discovery is not None:
            peers = self.discovery.peers()
            with self.lock:
                self._peers = peers

    def _on_peer(self, event: str, peer: Any) -> None:
        """A newcomer hears about our match at once, not at the next announcement."""
        self._refresh_peers()
        if event != "added":
            return
        with self.lock:
            msg = self.core.announcement()
        if msg is not None:
            self.transport.send_peer(msg, peer.id)

    def _refresh_peers_soon(self) -> None:
        self._refresh_peers()
        if self.loop is not None and not self._closed:
            self._peer_refresh = self.loop.call_later(PEERS_EVERY, self._refresh_peers_soon)

    def _arm(self) -> None:
        """Arm one timer at the core's next deadline (aioquic's get_timer / handle_timer)."""
        loop = self.loop
        if loop is None or self._closed:
            return
        with self.lock:
            at = self.core.get_timer()
        if self._timer is None:
            self._timer = DeadlineTimer(loop, self._on_timer)
        self._timer.arm(at)

    def _on_timer(self) -> None:
        try:
            with self.lock:
                acts = self.core.handle_timer(time.monotonic())
            if acts:
                self._apply(acts)
        except Exception:  # noqa: BLE001 - a bug in one tick must not stop the peer
            log.exception("match timer failed")
        self._arm()

    def _apply(self, actions: list) -> None:
        t = self.transport
        for a in actions:
            match a:
                case Send(to=to, msg=msg):
                    if to:
                        if isinstance(msg, m.RacerState):
                            self.stats["state_out"] += 1
                        t.broadcast(msg, to)
                case Broadcast(msg=msg):
                    if self.discovery is not None:
                        ids = [p.id for p in self.discovery.peers()]
                        if ids:
                            t.broadcast(msg, ids)
                case StateAccepted():
                    self._accepted(a)
                case Event():
                    self._on_event(a)

    def _on_event(self, ev: Event) -> None:
        match ev:
            case ResultAdopted(result=result) if self.scores is not None and not result.has_evidence:
                # we could not rebuild its evidence (joined late, lost too much of a stream):
                # the full record reaches this store through score sync, checked like any
                log.info("result %s kept for display; its full record comes through score sync",
                         result.match_id)
            case ResultAdopted(result=result) if self.scores is not None:
                try:
                    self.scores.add(result)
                    with self.lock:
                        seen = {pid: list(row) for pid, row in self.samples.items()}
                    self.scores.store.set_samples(result.match_id, seen)
                except Exception:  # noqa: BLE001
                    log.exception("could not store the result")
        if isinstance(ev, (Joined, HostChanged, Started, Left)) and self.discovery is not None:
            mt = self.core.match
            if mt is None:
                self.discovery.set_state("lobby", "")
            elif self.core.is_host:
                self.discovery.set_state("hosting", mt.match_id)
            elif mt.member == m.ROLE_SPECTATOR:
                self.discovery.set_state("spectating", mt.match_id)
            else:
                self.discovery.set_state("racing", mt.match_id)
        if isinstance(ev, (Joined, Left)):
            with self.lock:
                self.history.clear()
                self.samples.clear()
        if isinstance(ev, Announcement) and self.notify is not None:
            self._post_notice(ev)
        self.events.put(ev)
        for cb in list(self.listeners):
            try:
                cb(ev)
            except Exception:  # noqa: BLE001
                log.exception("event listener failed")

    def _post_notice(self, ev: Announcement) -> None:
        """The core decided to announce this (only the peer in charge, once); the words
        are this adapter's. Posted to the match's chat channel as a system notice."""
        try:
            self.notify(announcement_text(ev), match_channel(ev.match_id))
        except Exception as exc:  # noqa: BLE001 - chat is independent of the match: never stop it
            log.info("chat notice not posted: %s", exc)


def announcement_text(ev: Announcement) -> str:
    match ev:
        case TookOver(host_name=name, term=term):
            return f"{name} took over as host (term {term})"
        case Won(result=result):
            scores = ", ".join(f"{r.name} {r.score}" for r in ranked(result.racers))
            return f"{result.winner_name} wins the match ({scores})"
        case Excluded(racer=racer, reason=reason):
            return f"{racer} is out of the result: {reason}"
    return ""


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def from_args(args: Any, config: MatchConfig | None = None, default_port: int | None = None) -> PeerRuntime:
    """A runtime from the common CLI flags (--name, --data-dir, --interface, --peer, --port)."""
    import socket

    from discovery import bind_host
    from p2p_race import netinfo
    from p2p_race.config import Config
    from p2p_race.errors import UserError
    from p2p_race.identity import load_or_create
    from p2p_race.paths import resolve_data_dir
    from p2p_race.text import name_problem

    data_dir = resolve_data_dir(args.data_dir)
    cfg = Config.load(data_dir)
    identity = load_or_create(data_dir)
    name = args.name or cfg.name or socket.gethostname()
    problem = name_problem(name)  # the one name rule (p2p_race.text)
    if problem:
        raise UserError(f"--name {problem}")
    interface = args.interface or cfg.interface or None
    port = getattr(args, "port", None)
    if port is None:
        port = cfg.game_port or (default_port if default_port is not None else netinfo.DEFAULT_GAME_PORT)
    if not 0 <= port < 65536:
        raise UserError("--port must be 0-65535")
    from p2p_race.sim import plausible

    return PeerRuntime(identity, name, data_dir=data_dir, host=bind_host(interface), port=port,
                       interface=interface, peers=[*args.peer, *cfg.peers],
                       mdns=not getattr(args, "no_mdns", False), config=config,
                       mongodb_uri=args.mongodb_uri or cfg.mongodb_uri or None, plausible=plausible)
