"""The group around a match (p2p_race.match.group) on the deterministic simulator: the
host's auto-start after everyone is ready (and not before), kicking (only the host of the
term may, in the lobby; the kicked peer's messages stop counting and its joins are
refused), and the rematch that keeps the group together (only the same host's pointer is
followed)."""

from __future__ import annotations

import pytest

from p2p_race.match import MatchConfig
from p2p_race.match import messages as m
from p2p_race.match.events import Kicked, Rejected, RematchOffered
from p2p_race.match.state import mid_bytes, pid_bytes
from tests.support.matchsim import SimMatch, identity
from tests.support.simnet import Faults
from tests.test_match_core import events, make_core, sends


def lobby(seed: int, n: int, **cfg) -> SimMatch:
    sim = SimMatch(seed, n, 0, Faults(jitter=0.002), MatchConfig(countdown=0.5, **cfg), 2.0, [None] * n)
    sim.net.run_for(5, stop=lambda: len(sim.peers[sim.host_pid].core.match.racers) == n
                    and all(r.ready for r in sim.peers[sim.host_pid].core.match.racers.values()))
    sim.net.run_for(0.1)  # a host tick after the last Ready
    return sim


def host_of(sim: SimMatch):
    return sim.peers[sim.host_pid]


@pytest.mark.parametrize("seed", range(5))
def test_auto_start_counts_down_after_the_delay_and_an_unready_racer_stops_it(seed):
    sim = lobby(40 + seed, 3, auto_start=2, auto_start_delay=2.0)
    host = host_of(sim)
    mt = host.core.match
    assert mt.phase == m.PHASE_LOBBY and mt.auto_start_at is not None
    t_ready = sim.net.now
    # a racer takes its ready back before the timer ends: no countdown, the timer is gone
    racer = sim.peers[identity(1).peer_id]
    sim.net.run_for(1.0)
    racer.role = None  # (the harness would ready it again)
    racer.do(racer.core.set_ready(False, racer.local(sim.net.now)), sim.net.now)
    sim.net.run_for(0.5)
    assert mt.phase == m.PHASE_LOBBY and mt.auto_start_at is None
    sim.net.run_for(3.0)
    assert mt.phase == m.PHASE_LOBBY  # nobody starts a match with a racer not ready
    racer.do(racer.core.set_ready(True, racer.local(sim.net.now)), sim.net.now)
    t_again = sim.net.now
    sim.net.run_for(5.0, stop=lambda: mt.phase != m.PHASE_LOBBY)
    waited = sim.net.now - t_again
    assert mt.phase == m.PHASE_COUNTDOWN and 2.0 <= waited < 2.3, waited
    assert t_again - t_ready > 2.0


def test_only_the_host_of_the_term_kicks_and_a_kicked_peers_messages_stop_counting():
    sim = lobby(7, 3)
    host = host_of(sim)
    mt = host.core.match
    victim, other = identity(1).peer_id, identity(2).peer_id
    mb = mt.mid
    now = host.local(sim.net.now)
    # a member, a stranger, a spoofed "Kick" to a member: refused by the member's core
    member = sim.peers[other].core
    for sender in (victim, identity(77).peer_id):
        out = member.on_message(sender, m.Kick(mb, mt.term, pid_bytes(other)), sim.peers[other].local(sim.net.now))
        assert events(out, Rejected) and member.match is not None
    # a host's Kick of a term it cannot prove (a modified client claiming term 2): refused too
    out = member.on_message(sim.host_pid, m.Kick(mb, mt.term + 1, pid_bytes(other)), sim.peers[other].local(0))
    assert not events(out, Kicked) and member.match is not None
    # the host kicks the victim: out of the roster everywhere, the victim is told
    victim_peer = sim.peers[victim]
    victim_peer.role = None  # (the harness would rejoin it at once)
    host.do(host.core.kick(victim, now), sim.net.now)
    sim.net.run_for(1.0)
    assert victim not in mt.racers and victim in mt.kicked
    assert victim_peer.core.match is None and any(isinstance(e, Kicked) for _t, e in victim_peer.events)
    assert victim not in sim.peers[other].core.match.racers
    # its messages no longer count: Ready is a stranger's, a Join is refused
    now = host.local(sim.net.now)
    for msg in (m.Ready(mb, True), m.Join(mb, m.ROLE_RACER, "p1"), m.Ping(mb, 1, now)):
        out = host.core.on_message(victim, msg, now)
        assert [type(s.msg) for s in sends(out)] == [m.Kick] and sends(out)[0].to == (victim,)
    assert victim not in mt.racers
    # a flood of fresh identities cannot make the host send more than they sent
    for i in range(100, 140):
        out = host.core.on_message(identity(i).peer_id, m.Kick(mb, mt.term, pid_bytes(sim.host_pid)), now)
        assert not sends(out)
    assert host.core.match is mt and mt.role.value == "host"
    # the kick is the host's, in the lobby only: nothing once the race is on
    host.do(host.core.start(now), sim.net.now)
    sim.net.run_for(1.0)
    assert host.core.kick(other, host.local(sim.net.now)) == [] and other in mt.racers


def test_a_kicked_peer_that_missed_the_kick_is_refused_when_it_rejoins():
    sim = lobby(8, 3)
    host = host_of(sim)
    victim = identity(2).peer_id
    sim.peers[victim].role = None
    sim.net.partition([victim], [p for p in sim.peers if p != victim])  # the Kick is lost
    host.do(host.core.kick(victim, host.local(sim.net.now)), sim.net.now)
    sim.net.run_for(0.2)
    sim.net.heal()
    sim.net.run_for(3.0, stop=lambda: sim.peers[victim].core.match is None)
    assert sim.peers[victim].core.match is None
    assert any(isinstance(e, Kicked) for _t, e in sim.peers[victim].events)
    assert victim not in host.core.match.racers


def kicked_in_the_lobby(seed: int, n: int, **cfg) -> tuple[SimMatch, str]:
    """A lobby of n racers whose host kicked the last one; the kick list has reached the rest."""
    sim = lobby(seed, n, **cfg)
    host = host_of(sim)
    victim = identity(n - 1).peer_id
    sim.peers[victim].role = None  # (not rejoining yet)
    host.do(host.core.kick(victim, host.local(sim.net.now)), sim.net.now)
    sim.net.run_for(1.0)
    for p in sim.peers.values():
        if p.pid not in (victim, sim.host_pid):
            assert victim in p.core.match.kicked and victim not in p.core.match.racers
    return sim, victim


def kicks_seen(peer, since: float) -> int:
    return sum(1 for t, e in peer.events if isinstance(e, Kicked) and t > since)


@pytest.mark.parametrize("seed", range(3))
def test_a_host_elected_after_a_failover_keeps_the_kicked_out(seed):
    """The kick list travels with the host's roster: when the host dies, its successor
    answers the kicked peer's joins with a Kick too, in the lobby and once the race runs."""
    sim, victim = kicked_in_the_lobby(80 + seed, 4)
    old = sim.host_pid
    crash_at = sim.net.now
    sim.net.crash(old)
    sim.net.run_for(5.0, stop=lambda: any(t > crash_at for t, _p, _term in sim.host_changes))
    new = sim.current_host()
    assert new is not None and new.pid not in (old, victim)
    mt = new.core.match
    assert victim in mt.kicked and mt.phase == m.PHASE_LOBBY
    bad = sim.peers[victim]
    sim.net.run_for(1.5)  # the new host's announcement reaches the victim's lobby
    bad.role = m.ROLE_RACER  # it tries to come back, again and again
    t0 = sim.net.now
    sim.net.run_for(3.0)
    assert kicks_seen(bad, t0) >= 2
    assert bad.core.match is None or not bad.core.match.joined
    assert victim not in mt.racers and victim not in mt.spectators
    for p in sim.alive():
        if p.pid != victim and p.core.match is not None:
            assert victim not in p.core.match.racers
    # the kick never made the others unwelcome, and a stranger's KickList counts for nothing
    racer = next(p for p in sim.alive() if p.pid not in (new.pid, victim))
    out = racer.core.on_message(identity(99).peer_id, m.KickList(mt.mid, mt.term, (pid_bytes(new.pid),)),
                                racer.local(sim.net.now))
    assert events(out, Rejected) and new.pid not in racer.core.match.kicked
    out = racer.core.on_message(victim, m.KickList(mt.mid, mt.term, (pid_bytes(new.pid),)), racer.local(sim.net.now))
    assert events(out, Rejected) and new.pid not in racer.core.match.kicked
    assert new.pid in mt.racers and racer.pid in mt.racers and not racer.core.match.kicked.keys() - {victim}


def test_a_rematch_keeps_the_kicked_out_of_the_next_match():
    sim, victim = kicked_in_the_lobby(90, 3)
    host = host_of(sim)
    host.do(host.core.start(host.local(sim.net.now)), sim.net.now)
    sim.net.run_for(30, stop=sim.done)
    old = host.core.match
    assert old.result is not None and victim not in {r.peer_id for r in old.result.racers}
    for p in sim.peers.values():
        p.role = None
    host.do(host.core.rematch(host.local(sim.net.now)), sim.net.now)
    new = host.core.match
    assert victim in new.kicked
    sim.match_id = new.match_id  # the victim tries the next match (the harness joins it)
    sim.net.run_for(1.5)
    t0 = sim.net.now
    sim.peers[victim].role = m.ROLE_RACER
    sim.net.run_for(3.0)
    assert kicks_seen(sim.peers[victim], t0) >= 1 and victim not in new.racers
    other = sim.peers[identity(1).peer_id]
    assert other.core.match.match_id == new.match_id and other.pid in new.racers  # the group followed


def finished(seed: int, n: int) -> SimMatch:
    sim = SimMatch(seed, n, 1, Faults(loss=0.05, jitter=0.003), MatchConfig(auto_start=n, countdown=0.5,
                                                                             result_linger=1.0), 1.5, [None] * (n + 1))
    sim.net.run_for(30, stop=sim.done)
    assert host_of(sim).core.match.result is not None
    for p in sim.peers.values():
        p.role = None  # from here on only the cores decide (no harness auto-join)
    return sim


@pytest.mark.parametrize("seed", range(6))
def test_rematch_keeps_the_group_together_under_loss(seed):
    sim = finished(60 + seed, 3)
    host = host_of(sim)
    old = host.core.match
    host.do(host.core.rematch(host.local(sim.net.now)), sim.net.now)
    new = host.core.match
    assert new is not old and new.phase == m.PHASE_LOBBY and new.rules.time_limit == old.rules.time_limit
    assert new.rules.seed != old.rules.seed  # a new road
    members = [p for p in sim.peers.values() if p.pid != sim.host_pid]
    sim.net.run_for(6.0, stop=lambda: all(p.core.match is not None and p.core.match.match_id == new.match_id
                                          and p.core.match.joined for p in members))
    for p in members:
        assert p.core.match.match_id == new.match_id and p.core.match.joined
        assert any(isinstance(e, RematchOffered) for _t, e in p.events)
    racers = {pid: r for pid, r in new.racers.items() if pid != sim.host_pid}
    assert len(new.racers) == 3 and not any(r.ready for r in racers.values())  # everyone readies up again
    assert len(new.spectators) == 1  # the spectator watches the next one too


def test_a_rematch_is_only_followed_to_the_same_host_and_not_after_leaving():
    sim = finished(70, 2)
    host = host_of(sim)
    old = host.core.match
    a, b = (sim.peers[identity(i).peer_id] for i in (1, 2))
    # a stranger (not the proven host) points the group at its own match: rejected
    stranger = make_core(90)
    stranger.host(old.rules, 0.0)
    out = a.core.on_message(stranger.id, m.Rematch(old.mid, old.term, mid_bytes(stranger.match.match_id)),
                            a.local(sim.net.now))
    assert events(out, Rejected) and a.core.rematch_to is None
    # the real host's pointer to a match someone else announces is not followed
    now = a.local(sim.net.now)
    a.core.on_message(stranger.id, stranger.announcement(), now)
    assert stranger.match.match_id in a.core.listings
    a.core.on_message(sim.host_pid, m.Rematch(old.mid, old.term, mid_bytes(stranger.match.match_id)), now)
    assert a.core.match.match_id == old.match_id  # still in the finished match, not led away
    # b leaves the finished match before the host's rematch: it does not follow
    b.do(b.core.leave(b.local(sim.net.now)), sim.net.now)
    host.do(host.core.rematch(host.local(sim.net.now)), sim.net.now)
    new = host.core.match
    sim.net.run_for(4.0, stop=lambda: a.core.match is not None and a.core.match.match_id == new.match_id
                    and a.core.match.joined)
    assert a.core.match.match_id == new.match_id
    assert b.core.match is None and b.pid not in new.racers
