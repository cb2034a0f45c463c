"""The match-core simulation harness: racers and spectators of one match on a SimNet.

`SimMatch` builds a match of racers and spectators (peer 0 hosts), `run_seed` plays one
seeded fault scenario (the host crashing in some phase, partitions, pauses, two hosts
dying), and `check` asserts the invariants every scenario must keep. Used by
tests/test_match_sim.py and bench/bench_match.py (simulated failover times).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from p2p_race.identity import Identity
from p2p_race.match import CarReport, MatchConfig, MatchCore, MatchRules
from p2p_race.match import messages as m
from p2p_race.match.events import (
    Broadcast,
    Event,
    HostChanged,
    Joined,
    ResultAdopted,
    Send,
    Started,
)
from p2p_race.schema import decode_fields, encode_fields
from tests.support.simnet import Faults, SimNet

WALL = 1_800_000_000.0
_IDS: dict[int, Identity] = {}


def identity(i: int) -> Identity:
    if i not in _IDS:
        _IDS[i] = Identity.from_seed(b"match-sim-%d" % i)
    return _IDS[i]


@dataclass
class FakeCar:
    """A deterministic car: 35 m/s, crashes at `crash_at` seconds of race time (or never).
    Its reports pass `p2p_race.sim.plausible` like a real CarSim's."""

    crash_at: float | None

    def report(self, t: float, limit_ticks: int) -> CarReport:
        tick = min(int(t * 60), limit_ticks)
        crashed = self.crash_at is not None and tick >= int(self.crash_at * 60)
        if crashed:
            tick = int(self.crash_at * 60)
        rt = tick / 60
        dist = 35.0 * rt
        return CarReport(tick, 5.0, dist, 0.0 if crashed else 35.0, int(dist * 0.1), dist, crashed,
                         rt if crashed else -1.0, tick)


@dataclass
class SimPeer:
    sim: SimMatch
    pid: str
    index: int
    role: int
    offset: float  # this peer's clock minus true time
    car: FakeCar | None
    core: MatchCore = field(init=False)
    events: list[tuple[float, Event]] = field(default_factory=list)
    start_true: float | None = None
    sent_final: CarReport | None = None
    tick_n: int = 0

    def __post_init__(self) -> None:
        ident = identity(self.index)
        self.core = MatchCore(self.pid, f"p{self.index}", sign=lambda r: r.signed(ident), keys=ident,
                              rng=random.Random(self.sim.seed * 1000 + self.index), config=self.sim.cfg,
                              wall_offset=WALL - self.offset)

    def local(self, now: float) -> float:
        return now + self.offset

    def on_message(self, src: str, payload, now: float) -> None:
        self.do(self.core.on_message(src, payload, self.local(now)), now)

    def on_tick(self, now: float) -> None:
        t = self.local(now)
        core = self.core
        if core.match is None and self.role is not None:
            mid = self.sim.match_id
            if mid is not None and mid in core.listings:
                self.do(core.join(mid, t, self.role), now)
                if self.role == m.ROLE_RACER:
                    self.do(core.set_ready(True, t), now)
        self.do(core.tick(t), now)
        due = core.get_timer()  # (also arms the stall guard, as the runtime does)
        assert due is None or due > t, f"seed {self.sim.seed}: timer {due} not after the tick at {t}"
        mt = core.match
        self.tick_n += 1
        if (mt is not None and mt.started and self.car is not None and mt.member == m.ROLE_RACER
                and mt.start_local is not None and self.tick_n % 2 == 0):
            rep = self.car.report(t - mt.start_local, mt.rules.limit_ticks)
            if self.sent_final is None:
                if rep.crashed or rep.tick >= mt.rules.limit_ticks:
                    self.sent_final = rep
                self.do(core.local_state(rep, t), now)

    def do(self, actions, now: float) -> None:
        net = self.sim.net
        for a in actions:
            if isinstance(a, Send):
                for dst in a.to:
                    self.sim.send(self.pid, dst, a.msg)
            elif isinstance(a, Broadcast):
                for dst in net.nodes:
                    if dst != self.pid:
                        self.sim.send(self.pid, dst, a.msg)
            elif isinstance(a, Event):
                self.events.append((now, a))
                match a:
                    case HostChanged(host=host, term=term, match_id=mid) if host == self.pid:
                        self.sim.hosts.setdefault(term, set()).add(self.pid)
                        self.sim.host_changes.append((now, self.pid, term))
                        if self.sim.match_id is None:
                            self.sim.match_id = mid
                    case Started(at=at):
                        self.start_true = at - self.offset
                    case ResultAdopted(result=result):
                        self.sim.results_made.add(result.outcome_hash())

    def joined(self) -> bool:
        return any(isinstance(e, Joined) for _t, e in self.events)


class SimMatch:
    """One match over a SimNet: peer 0 hosts; the others join as racers or spectators."""

    def __init__(self, seed: int, n_racers: int, n_spectators: int, faults: Faults, cfg: MatchConfig,
                 time_limit: float, crash_times: list[float | None], asym: float = 0.0,
                 clock_spread: float = 5.0, wishes: list[int] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.net = SimNet(seed, faults, tick=1 / 40)
        self.cfg = cfg
        self.asym = asym
        self.hosts: dict[int, set[str]] = {}
        self.host_changes: list[tuple[float, str, int]] = []
        self.results_made: set[bytes] = set()
        self.match_id: str | None = None
        self.clock_spread = clock_spread
        self.wishes = wishes or []  # colour wish of peer i (p2p_race.match.colors), if given
        self.peers: dict[str, SimPeer] = {}
        n = n_racers + n_spectators
        for i in range(n):
            self.add_peer(m.ROLE_RACER if i < n_racers else m.ROLE_SPECTATOR,
                          FakeCar(crash_times[i]) if i < n_racers else None)
        self.host_pid = identity(0).peer_id
        host = self.peers[self.host_pid]
        host.role = None  # hosts instead of joining
        rules = MatchRules(seed=seed, time_limit=time_limit, max_racers=16, max_spectators=32)
        host.do(host.core.host(rules, host.local(0.0)), 0.0)

    def add_peer(self, role: int, car: FakeCar | None) -> SimPeer:
        i = len(self.peers)
        pid = identity(i).peer_id
        peer = SimPeer(self, pid, i, role, self.rng.uniform(-self.clock_spread, self.clock_spread), car)
        if i < len(self.wishes):
            peer.core.color = self.wishes[i]
        self.peers[pid] = peer
        self.net.add(pid, peer)
        return peer

    def send(self, src: str, dst: str, msg) -> None:
        msg = decode_fields(type(msg), encode_fields(msg))  # what the wire would deliver (f32 etc.)
        if self.asym and dst == self.host_pid:
            # asymmetric path: the way to the host is slower and more jittery than the way back
            extra = self.asym * (0.5 + self.net.rng.random())
            self.net.call_at(self.net.now + extra, lambda: self.net.send(src, dst, msg))
        else:
            self.net.send(src, dst, msg)

    def alive(self) -> list[SimPeer]:
        return [p for p in self.peers.values() if p.pid not in self.net.crashed]

    def done(self) -> bool:
        """Every surviving member holds a result, and the same one. (Two hosts on two sides
        of a partition, or a paused host, may each adjudicate; `records.preferred` then makes
        everyone converge on one record, which takes a few more messages.)"""
        sigs = set()
        for p in self.alive():
            if p.core.match is None and not p.joined():
                continue  # refused (the race had started): not a member
            mt = p.core.match
            if mt is None or mt.result is None:
                return False
            sigs.add(mt.result.signature)
        return len(sigs) <= 1

    def phase_of_host(self) -> int | None:
        for p in self.alive():
            if p.core.is_host:
                return p.core.match.phase
        return None

    def current_host(self) -> SimPeer | None:
        best = None
        for p in self.alive():
            if p.core.is_host and (best is None or p.core.match.term > best.core.match.term):
                best = p
        return best


def check(sim: SimMatch) -> dict:
    """The invariants; returns numbers for the caller to aggregate."""
    for term, hosts in sim.hosts.items():
        assert len(hosts) <= 1, f"seed {sim.seed}: term {term} had hosts {hosts}"
    alive = [p for p in sim.alive() if p.joined()]
    if not alive:  # every member died (the harness's last survivor had not joined yet)
        return {"skew": 0.0, "records_made": len(sim.results_made)}
    results = [p.core.match.result if p.core.match else None for p in alive]
    assert all(r is not None for r in results), f"seed {sim.seed}: a surviving member has no result"
    sigs = {r.signature for r in results}
    assert len(sigs) == 1, f"seed {sim.seed}: survivors hold {len(sigs)} different result records"
    result = results[0]
    assert result.verify()
    assert len({r.outcome_hash() for r in results}) == 1
    mid = sim.match_id
    assert result.match_id == mid
    # each surviving racer's own final report is what the result says about it
    for p in alive:
        if p.car is None or p.sent_final is None:
            continue
        rr = result.racer(p.pid)
        assert rr is not None, f"seed {sim.seed}: racer {p.pid} missing from the result"
        f = p.sent_final
        if rr.crashed and not f.crashed:
            # abandoned: only when the racer was silent (paused) long enough
            continue
        assert rr.score == f.score and rr.crashed == f.crashed, f"seed {sim.seed}: {rr} != {f}"
    starts = [p.start_true for p in alive if p.start_true is not None and p.car is not None]
    skew = max(starts) - min(starts) if len(starts) > 1 else 0.0
    return {"skew": skew, "records_made": len(sim.results_made)}


FAULTS = ("none", "crash_lobby", "crash_countdown", "crash_racing", "crash_finished", "partition", "pause",
          "member_partition", "two_hosts_die")


def run_seed(seed: int, cfg: MatchConfig | None = None) -> tuple[SimMatch, str]:
    rng = random.Random(seed ^ 0x5EED)
    n_racers = rng.randint(2, 5)
    n_spec = rng.randint(0, 2)
    faults = Faults(loss=rng.uniform(0, 0.2), duplicate=rng.uniform(0, 0.05), delay=0.0005,
                    jitter=rng.uniform(0.001, 0.03))
    time_limit = float(rng.choice((2.0, 3.0, 4.0)))
    crash_times = [rng.choice((None, None, rng.uniform(0.2, time_limit - 0.1))) for _ in range(n_racers)]
    crash_times += [None] * n_spec
    cfg = cfg or MatchConfig(countdown=0.6, disconnect_after=1.0, abandon_after=2.0, result_linger=1.5,
                             auto_start=n_racers)
    sim = SimMatch(seed, n_racers, n_spec, faults, cfg, time_limit, crash_times)
    fault = FAULTS[seed % len(FAULTS)]
    net = sim.net
    want = {"crash_lobby": m.PHASE_LOBBY, "crash_countdown": m.PHASE_COUNTDOWN,
            "crash_racing": m.PHASE_RACING, "crash_finished": m.PHASE_FINISHED}.get(fault)
    if fault == "crash_lobby":
        # everybody joined, then the host dies before the countdown
        net.run_for(5.0, stop=lambda: all(p.core.match is not None and p.core.match.joined for p in sim.peers.values()))
        host = sim.current_host()
        if host is not None and host.core.match.phase == m.PHASE_LOBBY:
            net.crash(host.pid)
            # the lobby waits for its racer count: a newcomer joins through the new host
            net.run_for(rng.uniform(0.1, 1.0))
            sim.add_peer(m.ROLE_RACER, FakeCar(None))
    elif want is not None:
        net.run_for(15.0, stop=lambda: sim.phase_of_host() == want)
        net.run_for(rng.uniform(0, 0.3))
        host = sim.current_host()
        if host is not None:
            net.crash(host.pid)
    elif fault in ("partition", "pause"):
        net.run_for(15.0, stop=lambda: sim.phase_of_host() in (m.PHASE_COUNTDOWN, m.PHASE_RACING))
        net.run_for(rng.uniform(0, 0.5))
        host = sim.current_host()
        if host is not None:
            if fault == "partition":
                net.partition([host.pid], [p for p in sim.peers if p != host.pid])
                net.run_for(rng.uniform(0.3, 1.2))
                net.heal()
            else:
                net.crash(host.pid)
                net.run_for(rng.uniform(0.3, 1.5))
                net.restart(host.pid, host)
    elif fault == "member_partition":
        # some members (not the host) are cut off for a moment mid-race, then come back
        net.run_for(15.0, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
        net.run_for(rng.uniform(0, 0.5))
        others = [p for p in sim.peers if p != sim.host_pid]
        cut = rng.sample(others, rng.randint(1, max(1, len(others) // 2)))
        net.partition(cut, [p for p in sim.peers if p not in cut])
        net.run_for(rng.uniform(0.3, 1.5))
        net.heal()
    elif fault == "two_hosts_die":
        # the host dies mid-race; soon after, its successor dies too
        net.run_for(15.0, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
        first = sim.current_host()
        if first is not None:
            net.crash(first.pid)
        net.run_for(rng.uniform(0.6, cfg.disconnect_after + 1.0))  # also before the 2nd is marked gone
        second = sim.current_host()
        if second is not None and len(sim.alive()) >= 2:
            net.crash(second.pid)
    net.run_for(40.0, stop=sim.done)
    return sim, fault
