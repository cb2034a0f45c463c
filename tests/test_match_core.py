"""Unit tests of the match core: wire sizes, decoding hostile bytes, votes and terms,
rejection of implausible or foreign reports, spectators, leaving hosts."""

from __future__ import annotations

import random
from dataclasses import fields

import pytest

from p2p_race.identity import Identity
from p2p_race.match import CarReport, MatchConfig, MatchCore, MatchRules
from p2p_race.match import messages as m
from p2p_race.match.events import (
    Event,
    HostChanged,
    Refused,
    Rejected,
    ResultAdopted,
    Send,
    TookOver,
    Won,
)
from p2p_race.match.machine import Role
from p2p_race.match.state import result_from_wire, result_to_wire
from p2p_race.schema import DecodeError, decode_fields
from p2p_race.wire import MAX_DATAGRAM, Codec
from replication.records import RacerResult, adjudicate
from tests.support.matchsim import FakeCar, SimMatch, check, identity
from tests.support.simnet import Faults

MATCH_TYPES = [c for c in vars(m).values() if isinstance(c, type) and hasattr(c, "TYPE_ID")]


def make_core(i: int, **cfg) -> MatchCore:
    ident = identity(i)
    return MatchCore(ident.peer_id, f"p{i}", sign=lambda r: r.signed(ident), keys=ident, rng=random.Random(i),
                     config=MatchConfig(**cfg))


def sends(actions, cls=None):
    return [a for a in actions if isinstance(a, Send) and (cls is None or isinstance(a.msg, cls))]


def events(actions, cls):
    return [a for a in actions if isinstance(a, Event) and isinstance(a, cls)]


def test_type_ids_in_match_range():
    assert MATCH_TYPES
    assert all(0x10 <= c.TYPE_ID <= 0x2F for c in MATCH_TYPES)
    assert len({c.TYPE_ID for c in MATCH_TYPES}) == len(MATCH_TYPES)


def _full_roster() -> m.Roster:
    racers = tuple(m.RosterRacer(bytes([i]) * 8, "é" * 8, 3, 1, 2**32 - 1, 1e6, 179.9) for i in range(16))
    return m.Roster(b"\x01" * 8, 2**32 - 1, 7, m.WireRules(2**64 - 1, 180.0, "normal", 16, 32), 2, 1e9, 1.8e9,
                    racers, tuple(bytes([100 + i]) * 8 for i in range(32)))


def test_largest_messages_fit_one_datagram():
    ident = Identity.from_seed(b"size")
    codec = Codec(ident)
    assert len(codec.encode(_full_roster(), 1.0)) <= MAX_DATAGRAM
    kicks = m.KickList(b"\x01" * 8, 2**32 - 1, tuple(bytes([i]) * 8 for i in range(m.MAX_KICKS)))
    assert len(codec.encode(kicks, 1.0)) <= MAX_DATAGRAM
    racers = [RacerResult(f"{i:016x}", "ü" * 8, 10_000 + i, 1234.5, True, 12.5) for i in range(16)]
    res = adjudicate("ab" * 8, 1, 180.0, ident.peer_id, 3, 1.8e9, 1.8e9 + 100, racers).signed(ident)
    assert len(codec.encode(result_to_wire(res), 1.0)) <= MAX_DATAGRAM
    state = m.RacerState(b"\x01" * 8, 240, 1, 1.0, 2.0, 3.0, 4, 5.0, False, -1.0, 1, bytes(m.INPUT_WINDOW_BYTES))
    assert len(codec.encode(state, 1.0)) <= 300  # the state stream stays small, 4 s of inputs included
    final = m.FinalReport(b"\x01" * 8, 240, 1, 1.0, 2.0, 3.0, 4, 5.0, True, 4.0, 1, bytes(m.INPUT_WINDOW_BYTES),
                          bytes(32), bytes(64))
    assert len(codec.encode(final, 1.0)) <= MAX_DATAGRAM


def test_messages_round_trip_through_the_signed_codec():
    a, b = Identity.from_seed(b"a"), Identity.from_seed(b"b")
    enc = Codec(a)
    dec = Codec(b, key_lookup=lambda pid: a.public_key if pid == a.peer_id else None)
    samples = [_full_roster(), m.Join(b"\x02" * 8, m.ROLE_SPECTATOR, "zoë"),
               m.VoteRequest(b"\x02" * 8, 5, 4, 9, True), m.Heartbeat(b"\x02" * 8, 5, 2, 9, -12.5, False),
               m.Ping(b"\x02" * 8, 1, -3.0), m.KickList(b"\x02" * 8, 3, (b"\x05" * 8, b"\x06" * 8)), m.FinalReport(b"\x02" * 8, 600, 7, 3.0, 300.25, 0.0, 50, 300.25, True, 9.5)]
    for i, msg in enumerate(samples):
        pkt = dec.decode(enc.encode(msg, 100.0 + i))
        assert pkt is not None and pkt.msg == msg and pkt.sender == a.peer_id


def test_signed_result_survives_the_wire_and_forgery_is_refused():
    host = identity(1)
    racers = [RacerResult(identity(i).peer_id, f"p{i}", 10 * i, 5.0 * i, i != 2, 3.0 if i != 2 else -1.0)
              for i in range(1, 4)]
    res = adjudicate("cd" * 8, 9, 60.0, host.peer_id, 2, 1.8e9, 1.8e9 + 30, racers).signed(host)
    back = result_from_wire(result_to_wire(res))
    assert back == res
    w = result_to_wire(res)
    forged = m.Result(**{f.name: getattr(w, f.name) for f in fields(w)} | {"term": 3})
    assert result_from_wire(forged) is None  # signature covers the term
    other = identity(2)
    resigned = m.Result(**{f.name: getattr(w, f.name) for f in fields(w)} | {"signer_key": other.public_key})
    assert result_from_wire(resigned) is None


@pytest.mark.parametrize("cls", MATCH_TYPES, ids=lambda c: c.__name__)
def test_hostile_payloads_only_raise_decode_error(cls):
    rng = random.Random(cls.TYPE_ID)
    ident = Identity.from_seed(b"fuzz")
    good = {
        m.Roster: _full_roster(),
        m.Result: result_to_wire(adjudicate("ab" * 8, 1, 60.0, ident.peer_id, 1, 1.8e9, 1.8e9 + 1,
                                            [RacerResult(ident.peer_id, "x", 1, 1.0, False, -1.0)]).signed(ident)),
    }.get(cls)
    from p2p_race.schema import encode_fields
    base = encode_fields(good) if good is not None else bytes(rng.randrange(256) for _ in range(64))
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.4 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.7:
                data = data[: rng.randrange(len(data) + 1)]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        try:
            decode_fields(cls, bytes(data))
        except DecodeError:
            pass


def _in_match(n_racers: int = 3, **cfg):
    """A finished lobby: n racers all joined (no faults), returns the sim."""
    cfg.setdefault("auto_start", n_racers)
    sim = SimMatch(11, n_racers, 0, Faults(jitter=0.001), MatchConfig(countdown=0.5, **cfg), 3.0, [None] * n_racers)
    return sim


def test_full_match_without_faults_and_result_content():
    sim = SimMatch(3, 3, 1, Faults(jitter=0.001), MatchConfig(auto_start=3, countdown=0.5), 3.0, [1.0, None, 2.0, None])
    sim.net.run_for(30, stop=sim.done)
    check(sim)
    res = sim.alive()[0].core.match.result
    by_name = {r.name: r for r in res.racers}
    assert by_name["p0"].crashed and abs(by_name["p0"].crash_time - 1.0) < 0.02
    assert not by_name["p1"].crashed and by_name["p1"].crash_time == -1
    assert res.winner_name == "p1"  # survived to the limit: most distance, most points
    assert set(res.scores) == {"p0", "p1", "p2"}  # the spectator is not a racer
    assert res.finished_at - res.started_at == pytest.approx(3.0)


def test_one_vote_per_term_and_older_terms_ignored():
    sim = _in_match(4)
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    voter = list(sim.peers.values())[3]
    mt = voter.core.match
    term = mt.term
    t = voter.local(sim.net.now)
    for i in range(40):  # the host has been silent for a second while we kept running
        voter.core.tick(t + i * 0.025)
    now = t + 1.0
    mid = mt.mid
    c1, c2 = identity(1).peer_id, identity(2).peer_id
    hi = (mt.roster_term, mt.version + 5)
    a1 = voter.core.on_message(c1, m.VoteRequest(mid, term + 1, hi[0], hi[1], False), now)
    a2 = voter.core.on_message(c2, m.VoteRequest(mid, term + 1, hi[0], hi[1], False), now)
    v1 = [a.msg for a in sends(a1, m.Vote)]
    v2 = [a.msg for a in sends(a2, m.Vote)]
    assert v1[0].granted and not v2[0].granted
    # the old host's heartbeat (older term) no longer moves this member
    old_host = identity(0).peer_id
    out = voter.core.on_message(old_host, m.Heartbeat(mid, term, m.PHASE_RACING, 99, 0.0, False), now)
    assert out == [] and mt.host is None
    assert mt.term == term + 1 and mt.voted_for == c1


def test_candidate_tie_goes_to_lower_peer_id():
    sim = _in_match(3)
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    peers = sorted(list(sim.peers.values())[1:], key=lambda p: p.pid)
    low, high = peers
    mt = high.core.match
    now = high.local(sim.net.now) + 1.0
    mt._role, mt.term, mt.voted_for, mt.votes = Role.CANDIDATE, mt.term + 1, high.pid, {high.pid: True}
    out = high.core.on_message(low.pid, m.VoteRequest(mt.mid, mt.term, mt.roster_term, mt.version, False), now)
    assert [a.msg.granted for a in sends(out, m.Vote)] == [True]
    assert mt.role != Role.CANDIDATE and mt.voted_for == low.pid
    # and the other way round the lower id keeps its candidacy
    lmt = low.core.match
    lmt._role, lmt.term, lmt.voted_for, lmt.votes = Role.CANDIDATE, mt.term, low.pid, {low.pid: True}
    out = low.core.on_message(high.pid, m.VoteRequest(lmt.mid, lmt.term, lmt.roster_term, lmt.version, False), now)
    assert [a.msg.granted for a in sends(out, m.Vote)] == [False]
    assert lmt.role == Role.CANDIDATE


def test_two_peer_match_fails_over_and_completes():
    sim = SimMatch(5, 2, 0, Faults(loss=0.1, jitter=0.005), MatchConfig(auto_start=2, countdown=0.5,
                   disconnect_after=1.0, abandon_after=2.0), 3.0, [None, None])
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    t = sim.net.now
    sim.net.crash(sim.host_pid)
    sim.net.run_for(1.0, stop=lambda: sim.current_host() is not None)
    assert sim.net.now - t <= 0.5
    sim.net.run_for(30, stop=sim.done)
    check(sim)


def test_graceful_host_leave_elects_at_once():
    sim = _in_match(3)
    net = sim.net
    net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    host = sim.peers[sim.host_pid]
    t = net.now
    host.do(host.core.leave(host.local(t)), t)
    net.crash(host.pid)
    net.run_for(1.0, stop=lambda: sim.current_host() is not None)
    assert net.now - t < 0.15  # no election timeout to wait for
    net.run_for(30, stop=sim.done)
    res = sim.alive()[0].core.match.result
    assert res.racer(host.pid).crashed  # a racer that leaves mid-race counts as crashed
    assert net.now - t < 5.0  # given up at once, not after 10 s of silence


def test_host_leaving_the_lobby_is_no_longer_a_racer():
    sim = SimMatch(21, 3, 0, Faults(), MatchConfig(countdown=0.5), 3.0, [None] * 3)  # no auto start
    net = sim.net
    net.run_for(5, stop=lambda: len(sim.peers[sim.host_pid].core.match.racers) == 3)
    host = sim.peers[sim.host_pid]
    t = net.now
    host.do(host.core.leave(host.local(t)), t)
    net.crash(host.pid)
    net.run_for(1.0, stop=lambda: sim.current_host() is not None)
    new = sim.current_host()
    assert new is not None and host.pid not in new.core.match.racers
    net.run_for(0.3)
    assert all(host.pid not in p.core.match.racers for p in sim.alive())


def test_implausible_and_foreign_reports_are_rejected():
    sim = _in_match(3)
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    sim.net.run_for(0.5)
    host = sim.peers[sim.host_pid]
    mt = host.core.match
    now = host.local(sim.net.now)
    racer = identity(1).peer_id
    last = mt.racers[racer].last
    assert last is not None
    # a teleport: 5 km in one tick
    jump = m.RacerState(mt.mid, last.tick + 1, 0, 5.0, 5000.0, 30.0, int(last.score), 5000.0, False, -1.0)
    out = host.core.on_message(racer, jump, now)
    assert events(out, Rejected) and mt.racers[racer].last == last
    # a score no driving could earn in the elapsed time
    greedy = m.FinalReport(mt.mid, last.tick + 1, 0, last.x, last.y + 0.5, 0.0, 10**6, last.distance + 0.5, True,
                           (last.tick + 1) / 60)
    assert events(host.core.on_message(racer, greedy, now), Rejected)
    assert mt.racers[racer].final is None
    # "I reached the limit" long before the limit
    early = m.FinalReport(mt.mid, last.tick + 1, 0, last.x, last.y + 0.5, last.speed, int(last.score),
                          last.distance + 0.5, False, -1.0)
    assert events(host.core.on_message(racer, early, now), Rejected)
    # a state from a peer that is not a racer of this match (a stranger's key)
    stranger = identity(99).peer_id
    assert events(host.core.on_message(stranger, jump, now), Rejected)
    assert stranger not in mt.racers
    # the match still ends normally with the honest reports
    sim.net.run_for(30, stop=sim.done)
    check(sim)


def test_spectator_joining_mid_race_sees_the_end():
    sim = SimMatch(8, 3, 0, Faults(loss=0.05, jitter=0.003), MatchConfig(auto_start=3, countdown=0.5), 3.0,
                   [None, 1.5, None])
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    sim.net.run_for(1.0)
    spec = sim.add_peer(m.ROLE_SPECTATOR, None)
    # the next announcement (every second; a lost one: the one after), then the join
    sim.net.run_for(1.9, stop=lambda: spec.core.match is not None and spec.core.match.joined and any(
        r.last is not None for r in spec.core.match.racers.values()))
    mt = spec.core.match
    assert mt is not None and mt.joined and mt.phase >= m.PHASE_COUNTDOWN
    assert any(r.last is not None for r in mt.racers.values())  # it sees the cars
    assert spec.core.ranking()
    sim.net.run_for(30, stop=sim.done)
    check(sim)
    assert spec.core.match.result == sim.peers[sim.host_pid].core.match.result


def test_racer_join_refused_after_start_and_when_full():
    sim = SimMatch(9, 2, 0, Faults(), MatchConfig(auto_start=2, countdown=0.5), 3.0, [None, None])
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    late = sim.add_peer(m.ROLE_RACER, FakeCar(None))
    sim.net.run_for(1.3)
    assert any(isinstance(e, Refused) for _t, e in late.events)
    full = make_core(50)
    host = sim.peers[sim.host_pid].core
    host.match.rules = MatchRules(1, max_racers=2)
    now = 0.0
    out = host.on_message(full.id, m.Join(host.match.mid, m.ROLE_RACER, "x"), now)
    assert sends(out, m.JoinRefused)


def test_disconnected_then_resumed_racer_keeps_racing():
    cfg = MatchConfig(auto_start=3, countdown=0.5, disconnect_after=0.5, abandon_after=3.0)
    sim = SimMatch(12, 3, 0, Faults(), cfg, 4.0, [None, None, None])
    net = sim.net
    net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    net.run_for(0.3)
    quiet = list(sim.peers.values())[2]
    net.partition([quiet.pid], [p for p in sim.peers if p != quiet.pid])
    net.run_for(1.0)
    host = sim.peers[sim.host_pid]
    now = host.local(net.now)
    assert quiet.pid in host.core.disconnected(now)
    assert not host.core.match.racers[quiet.pid].connected
    net.heal()
    net.run_for(0.5)
    assert quiet.pid not in host.core.disconnected(host.local(net.now))
    net.run_for(30, stop=sim.done)
    check(sim)
    res = host.core.match.result
    assert not res.racer(quiet.pid).crashed  # resumed within the grace period: still a finisher


def test_state_stream_and_final_report_from_local_car():
    core = make_core(1)
    out = core.host(MatchRules(seed=5, time_limit=2.0), 0.0)
    assert events(out, HostChanged)[0].term == 1
    out = core.start(0.0)
    core.tick(1.0)
    core.tick(3.0)
    assert core.match.started
    rep = CarReport(120, 5.0, 60.0, 30.0, 6, 60.0, False, -1.0)
    out = core.local_state(rep, 3.1)
    assert core.match.racers[core.id].status == m.ST_TIME
    assert events(core.tick(3.2), ResultAdopted)  # the lone racer finished: the host adjudicates
    assert core.match.result.winner_id == core.id


def test_honest_bot_cars_are_never_rejected():
    """Real CarSims steered by BotDriver, streamed through the wire format to a host core:
    every state and the final reports pass `p2p_race.sim.plausible`, and the result holds
    exactly the cars' own final numbers."""
    from p2p_race.bots import BotDriver
    from p2p_race.schema import encode_fields
    from p2p_race.sim import CarSim, Rules

    host = make_core(1)
    host.host(MatchRules(seed=42, time_limit=6.0, difficulty="hard"), 0.0)
    mt = host.match
    ids = [identity(i).peer_id for i in (2, 3, 4)]
    for pid in ids:
        host.on_message(pid, m.Join(mt.mid, m.ROLE_RACER, pid[:4]), 0.0)
    host.start(0.0)
    host.tick(3.0)
    rules = Rules(42, mt.rules.time_limit, "hard")
    cars = {pid: (CarSim(rules, pid), BotDriver(pid, skill)) for pid, skill in zip(ids, (1.0, 0.5, 0.1), strict=True)}
    host_car = CarReport(0, 5.0, 0.0, 25.0, 0, 0.0, False, -1.0)
    now = 3.0
    while not all(c.finished for c, _d in cars.values()):
        now += 1 / 60
        for pid, (car, drv) in cars.items():
            if car.finished:
                continue
            car.step(drv.decide(car, car.traffic))
            st = car.state
            msg = m.RacerState(mt.mid, st.tick, st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                               st.crash_time if st.crashed else -1.0)
            msg = decode_fields(m.RacerState, encode_fields(msg))
            assert not events(host.on_message(pid, msg, now), Rejected), st
            if car.finished:
                fin = m.FinalReport(mt.mid, st.tick, st.tick, st.x, st.y, st.speed, st.score, st.distance,
                                    st.crashed, st.crash_time if st.crashed else -1.0)
                assert not events(host.on_message(pid, fin, now), Rejected), st
        host.tick(now)
    assert host.rejected == {}
    host_final = replace_tick(host_car, mt.rules.limit_ticks)
    out = host.local_state(host_final, now)
    out += host.tick(now + 0.01)
    res = host.match.result
    assert res is not None
    for pid, (car, _d) in cars.items():
        rr = res.racer(pid)
        assert rr.score == car.state.score and rr.crashed == car.state.crashed


def replace_tick(rep: CarReport, tick: int) -> CarReport:
    from dataclasses import replace

    d = 25.0 * tick / 60
    return replace(rep, tick=tick, y=d, distance=d, score=int(d * 0.1))


def test_state_signed_by_another_key_never_reaches_the_core():
    """A datagram that names a racer as sender but is signed by someone else is dropped by
    the codec (counted), so the core never sees it; the genuine one gets through."""
    racer, evil, host = identity(1), identity(66), identity(2)
    keys = {racer.peer_id: racer.public_key, evil.peer_id: evil.public_key}
    dec = Codec(host, key_lookup=keys.get)
    msg = m.RacerState(b"\x05" * 8, 10, 10, 5.0, 10.0, 30.0, 1, 10.0, False, -1.0)
    forged = bytearray(Codec(evil).encode(msg, 100.0))
    forged[7:15] = racer.peer_id_bytes  # claim to be the racer
    assert dec.decode(bytes(forged)) is None and dec.drops["bad_signature"] == 1
    good = dec.decode(Codec(racer).encode(msg, 100.0))
    assert good is not None and good.sender == racer.peer_id


def test_notices_come_from_the_peer_in_charge_once():
    """Chat notices are decided here: the new host announces the take-over, the host that
    adjudicates announces the winner; members repeat neither."""
    sim = SimMatch(5, 3, 1, Faults(jitter=0.002), MatchConfig(auto_start=3, countdown=0.5,
                   disconnect_after=1.0, abandon_after=2.0), 3.0, [None, None, None, None])
    sim.net.run_for(10, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    sim.net.crash(sim.host_pid)
    sim.net.run_for(30, stop=sim.done)
    check(sim)
    takeovers = [p.core.id for p in sim.alive() for _, ev in p.events if isinstance(ev, TookOver)]
    wins = [(p.core.id, ev) for p in sim.alive() for _, ev in p.events if isinstance(ev, Won)]
    new_host = sim.current_host().pid
    assert takeovers == [new_host]
    res = sim.alive()[0].core.match.result
    assert len(wins) == 1 and wins[0][0] == res.host_id == new_host
    assert wins[0][1].result == res
    from p2p_race.runtime import announcement_text

    assert announcement_text(wins[0][1]).startswith(f"{res.winner_name} wins the match")
