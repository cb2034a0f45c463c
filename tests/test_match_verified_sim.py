"""Match simulator with input-verified racing: real match cores (verify_inputs on), real
cars driven by bots, an in-memory network with loss. A client that streams states its
inputs do not produce, or a later crash time, is excluded by every peer; every honest peer
ends with the same result, whose record verifies in any store. Many seeds."""

from __future__ import annotations

import dataclasses
import random

import pytest

from p2p_race.bots import BotDriver
from p2p_race.identity import Identity, verify
from p2p_race.match import CarReport, MatchConfig, MatchCore, MatchRules
from p2p_race.match import messages as m
from p2p_race.match.events import (
    Broadcast,
    Diverged,
    Excluded,
    Rejected,
    RejectReason,
    ResultAdopted,
    Send,
    Started,
)
from p2p_race.replay.codec import code_of
from p2p_race.replay.verify import start_x
from p2p_race.schema import encode_fields
from p2p_race.sim import DT, CarSim, Inputs, Rules
from replication.evidence import accept_problem

DT_NET = 1 / 120  # simulation step (s)


def _more_points(rep: CarReport) -> CarReport:
    return dataclasses.replace(rep, score=rep.score + rep.tick // 30)


def _later_crash(rep: CarReport) -> CarReport:
    return dataclasses.replace(rep, crash_time=rep.crash_time + 3.0) if rep.crashed else rep


def _never_crashes(rep: CarReport) -> CarReport:
    return dataclasses.replace(rep, crashed=False, crash_time=-1.0)


class Peer:
    def __init__(self, i: int, seed: int, cheat=None) -> None:
        self.ident = Identity.from_seed(f"vsim-{seed}-{i}".encode())
        self.id = self.ident.peer_id
        cfg = MatchConfig(countdown=0.5, auto_start=None, verify_inputs=True)
        self.core = MatchCore(self.id, f"p{i}", sign=lambda r: r.signed(self.ident), keys=self.ident,
                              verify=verify, rng=random.Random(seed * 10 + i), config=cfg)
        self.cheat = cheat
        self.events: list = []
        self.car: CarSim | None = None
        self.bot: BotDriver | None = None
        self.start: float | None = None
        self.sent: list = []  # (time, to, message) of every datagram it sent


def _run(seed: int, cheat, loss: float = 0.1, blackout: tuple[float, float] | None = None, rig=None,
         kill_host_at: float | None = None, drop=None):
    """`blackout`: from..to (s), nothing of racer 2 reaches peer 1. `rig(peers)` may make
    any of them dishonest before the match. `kill_host_at`: the host (peer 0) dies then
    (seconds after its race started): it neither hears, ticks nor drives any more. `drop(src,
    dst, msg)`: True loses that datagram."""
    rng = random.Random(seed)
    peers = [Peer(i, seed, cheat if i == 2 else None) for i in range(3)]
    if rig is not None:
        rig(peers)
    by_id = {p.id: p for p in peers}
    queue: list[tuple[float, str, str, object]] = []
    now = 0.0

    def act(p: Peer, actions) -> None:
        for a in actions:
            if isinstance(a, Send):
                for dst in a.to:
                    p.sent.append((now, dst, a.msg))
                    if blackout and p is peers[2] and dst == peers[1].id and blackout[0] <= now < blackout[1]:
                        continue
                    if drop is not None and drop(p, dst, a.msg):
                        continue
                    if rng.random() >= loss:
                        queue.append((now + rng.uniform(0.001, 0.01), p.id, dst, a.msg))
            elif isinstance(a, Broadcast):
                for q in peers:
                    if q is not p:
                        queue.append((now + 0.002, p.id, q.id, a.msg))
            else:
                p.events.append(a)
                if isinstance(a, Started):
                    p.start = a.at

    host = peers[0]
    act(host, host.core.host(MatchRules(seed=seed, time_limit=10.0), now))
    mid = host.core.match.match_id
    joined = set()
    while now < 40.0:
        now += DT_NET
        due = [x for x in queue if x[0] <= now]
        queue[:] = [x for x in queue if x[0] > now]
        dead = kill_host_at is not None and peers[0].start is not None and now >= peers[0].start + kill_host_at
        live = peers[1:] if dead else peers
        for _t, src, dst, msg in due:
            if by_id[dst] in live:
                act(by_id[dst], by_id[dst].core.on_message(src, msg, now))
        for p in live:
            if p is not host and p.id not in joined and mid in p.core.listings:
                joined.add(p.id)
                act(p, p.core.join(mid, now))
                act(p, p.core.set_ready(True, now))
            act(p, p.core.tick(now))
        mt = host.core.match
        if mt is not None and mt.phase == m.PHASE_LOBBY and len(mt.racers) == 3 and all(r.ready for r in mt.racers.values()):
            act(host, host.core.start(now))
        for p in live:
            if p.start is None or now < p.start:
                continue
            mt = p.core.match
            if p.car is None:
                rules = Rules(mt.rules.seed, mt.rules.time_limit, mt.rules.difficulty)
                p.car, p.bot = CarSim(rules, p.id, start_x=start_x(p.id)), BotDriver(p.id, 0.6)
            due_tick = int((now - p.start) / DT)
            codes = bytearray()
            while p.car.tick < due_tick and not p.car.finished:
                # the cheater floors it down its lane: it meets the traffic (and claims otherwise)
                move = Inputs(0, 1) if p.cheat is not None else p.bot.decide(p.car, p.car.traffic)
                codes.append(code_of(move))
                p.car.step(move)
            if codes:
                st = p.car.state
                rep = CarReport(st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                                st.crash_time if st.crashed else -1.0, st.tick, bytes(codes))
                if p.cheat is not None:
                    rep = p.cheat(rep)
                act(p, p.core.local_state(rep, now))
        if all(p.core.match is not None and p.core.match.result is not None
               and p.core.match.result.has_evidence for p in (live[:2] if dead else peers[:2])) and not queue:
            break
    return peers


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("cheat", [_more_points, _later_crash, _never_crashes, None],
                         ids=["more-points", "later-crash", "never-crashes", "honest"])
def test_a_cheater_is_excluded_everywhere_and_the_honest_result_verifies(seed, cheat):
    peers = _run(seed, cheat)
    honest = peers[:2]
    results = [p.core.match.result for p in honest]
    assert all(r is not None for r in results)
    assert results[0] == results[1], "every honest peer holds the same record"
    assert accept_problem(results[0]) is None
    cheater = peers[2].id
    crashed = peers[2].car is not None and peers[2].car.state.crashed
    caught = cheat is _more_points or (cheat is not None and crashed)
    flagged = [[e.peer for e in p.events if isinstance(e, Diverged)] for p in honest]
    entry = results[0].racer(cheater)
    if not caught:
        assert flagged == [[], []]  # honest (or a lie this drive never needed) is never flagged
        assert entry is not None and entry.attestation
        return
    assert all(f in ([], [cheater]) for f in flagged) and [cheater] in flagged
    excluded = [e for e in honest[0].events if isinstance(e, Excluded)]
    if flagged[0]:  # the host caught it: out of the result, and the chat hears it once
        assert entry is None and len(excluded) == 1
    else:  # only a member saw the lie (its last datagram): the host has it abandoned, unsigned
        assert entry.abandoned and not entry.attestation
    assert any(isinstance(e, ResultAdopted) and e.result.has_evidence for e in honest[1].events)


@pytest.mark.parametrize("seed", range(4))
def test_a_failover_record_carries_the_chain_every_store_accepts(seed, data_dir):
    """The host dies mid-race: the survivors elect a host of term 2, and the record each of
    them stores carries the creator's sealed roster and the votes of a quorum of it
    (p2p_race.match.seal), so a store that never saw the match accepts it."""
    from replication.store import AddStatus, ResultStore

    peers = _run(seed, None, loss=0.05, kill_host_at=2.0)
    results = [p.core.match.result for p in peers[1:]]
    assert all(r is not None and r.term >= 2 and r.host_id != peers[0].id for r in results)
    assert len({r.outcome_hash() for r in results}) == 1, "one result"
    # a member that missed the dead host's last inputs cannot rebuild that evidence itself
    # (the full record reaches it through score sync); the new host always can
    full = [r for r in results if r.has_evidence]
    assert any(r.host_id == p.id for r, p in zip(results, peers[1:], strict=True) if r.has_evidence)
    for r in full:
        assert r.term_chain, "no sealed roster of term 1"
        assert accept_problem(r) is None
        assert r.racer(peers[0].id).abandoned  # the dead host: crashed at its last word
    store = ResultStore(data_dir)
    assert store.offer(full[0]) is AddStatus.NEW


@pytest.mark.parametrize("seed", [3, 5])  # seeds where the other survivor takes over
def test_a_member_that_missed_every_seal_gets_it_from_the_new_host(seed):
    """Peer 2 never receives the creator's RosterSeal; the host dies; whoever of the two
    survivors takes over relays the seal it holds (SealRelay, checked against the creator's
    key), so both survivors' records carry the term chain."""
    holder = {}

    def lose_seals(src, dst, msg) -> bool:
        return isinstance(msg, m.RosterSeal) and dst == holder.get("victim")

    def rig(peers):
        holder["victim"] = peers[2].id

    peers = _run(seed, None, loss=0.0, kill_host_at=2.0, rig=rig, drop=lose_seals)
    victim = peers[2].core.match
    results = [p.core.match.result for p in peers[1:]]
    assert all(r is not None and r.term >= 2 for r in results)
    assert results[0].host_id == peers[1].id, "the seed no longer makes peer 1 the new host"
    assert 1 in victim.seals and victim.seals[1].valid(peers[0].ident.public_key, verify)
    assert results[1].term_chain, "the member that missed every seal has none"
    if results[1].has_evidence:
        assert accept_problem(results[1]) is None


def test_the_crash_lies_are_exercised():
    """The straight-driving cheater does meet the traffic on these seeds (else the crash-time
    and never-crashes cases above would prove nothing)."""
    crashed = [_run(seed, _later_crash)[2].car.state.crashed for seed in range(5)]
    assert sum(crashed) >= 3, crashed


def test_the_lobby_shows_a_diverged_racer_as_a_toast(data_dir):
    """The UI side of 'never silently': the event becomes a toast over any screen."""
    from p2p_race.config import Config
    from p2p_race.ui.app import App
    from p2p_race.ui.lobby import LobbyScreen

    app = App(Config(), data_dir)
    try:
        lobby = LobbyScreen.__new__(LobbyScreen)  # only its event handling, no runtime
        lobby.app = app
        lobby._toast_for(Diverged("00" * 8, "Mallory", "drove through traffic: its inputs crash"))
        assert app.toasts and "Mallory is out of the result" in app.toasts[-1][0]
    finally:
        app.close()


@pytest.mark.parametrize("seed", range(2))
def test_inputs_lost_for_longer_than_the_window_are_asked_for_again(seed):
    """A member hears nothing of one racer for 5.5 s, more than the 4 s of inputs every state
    carries: it asks that racer for the ticks it lacks, verifies it again and ends with the
    full, checkable record, the same as the host's. The racer answers only members, at most
    one window per request and one answer per member every `input_request_every`, never
    more bytes than the (padded) request."""
    host, member, racer = _run(seed, None, blackout=(3.0, 8.5))
    mt = member.core.match
    assert not mt.verifier.unverifiable(racer.id)
    results = [host.core.match.result, mt.result]
    assert results[0] == results[1] and results[1].has_evidence and accept_problem(results[1]) is None
    asks = [(t, msg) for t, dst, msg in member.sent if isinstance(msg, m.InputRequest) and dst == racer.id]
    fills = [(t, msg) for t, dst, msg in racer.sent if isinstance(msg, m.InputFill) and dst == member.id]
    assert asks and 1 <= len(fills) <= len(asks)
    gaps = [b[0] - a[0] for a, b in zip(fills, fills[1:], strict=False)]
    assert all(g >= member.core.cfg.input_request_every - 1e-9 for g in gaps), gaps
    assert max(len(encode_fields(f)) for _t, f in fills) <= min(len(encode_fields(a)) for _t, a in asks)
    # a stranger gets nothing; a member's flood gets one answer
    later = 1000.0
    ask = m.InputRequest(mt.mid, 1)
    stranger = Identity.from_seed(b"not-in-this-match").peer_id
    out = racer.core.on_message(stranger, ask, later)
    assert not [a for a in out if isinstance(a, Send)] and [a for a in out if isinstance(a, Rejected)]
    answers = [a for _ in range(10) for a in racer.core.on_message(member.id, ask, later) if isinstance(a, Send)]
    assert len(answers) == 1 and isinstance(answers[0].msg, m.InputFill)


def _lower_racer_2(peers) -> None:
    """The host gives racer 2 one point less than the drive it signed."""
    core, victim = peers[0].core, peers[2].id
    honest = core._adjudicate_verified

    def lowered(mt, now):
        entries = mt.verifier.entries

        def cut(racers):
            out, logs = entries(racers)
            return [dataclasses.replace(e, score=max(0, e.score - 1)) if e.peer_id == victim else e
                    for e in out], logs

        mt.verifier.entries = cut
        return honest(mt, now)

    core._adjudicate_verified = lowered


def test_a_host_cannot_give_a_racer_less_than_it_signed():
    """Input-verified racing: the host's result gives an honest racer one point less than the
    drive it signed. The member and that racer hold its signature over its replayed outcome:
    both refuse the result (without the check they adopted it, just not its evidence)."""
    host, member, racer = _run(3, None, rig=_lower_racer_2)
    assert host.core.match.result.racer(racer.id).score + 1 == racer.car.state.score
    for p in (member, racer):
        assert not any(isinstance(e, ResultAdopted) and e.result.host_id == host.id for e in p.events)
        assert any(isinstance(e, Rejected) and e.reason is RejectReason.RESULT_BELOW_SIGNED for e in p.events)
