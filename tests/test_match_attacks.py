"""The attacks of issue 10 against the match core in the simulator: by a stranger (its own
key, never in the roster) and by a member that is not the host (a racer of the match).

Each seed runs an honest match (3 racers, a spectator, loss and jitter, a newcomer joining
the lobby while the attack is on) with the attacker injecting one attack every 100 ms from
the start. Checked: nothing of it is accepted (no peer follows the attacker, no term moves,
no forged result is adopted), the attack did arrive (it was rejected), and the honest match
ends with one result, the same on every peer, adjudicated by the real host in term 1.
"""

from __future__ import annotations

import pytest

from p2p_race.identity import verify
from p2p_race.match import MatchConfig
from p2p_race.match import messages as m
from p2p_race.match.events import HostChanged, Rejected, RejectReason, ResultAdopted
from tests.support.match_attacks import ATTACKS, forge
from tests.support.matchsim import FakeCar, SimMatch, check, identity
from tests.support.simnet import Faults

SEEDS = range(5)


def _run(seed: int, attack: str, insider: bool) -> None:
    cfg = MatchConfig(auto_start=4, countdown=0.5, disconnect_after=1.0, abandon_after=2.0, result_linger=1.0)
    sim = SimMatch(1000 + seed, 3, 1, Faults(loss=0.05, duplicate=0.01, jitter=0.005), cfg, 3.0,
                   [None, 1.5 + seed * 0.2, None, None])
    net = sim.net
    attacker = identity(2) if insider else identity(90 + seed)
    apid = attacker.peer_id
    host = sim.peers[sim.host_pid]
    honest = [p for p in sim.peers.values() if p.pid != apid]

    def strike() -> None:
        ann = host.core.announcement()
        if ann is not None and (insider or not sim.done()):
            members = [p for p in sim.peers if p != apid]
            for msg in forge(attack, ann, attacker, members):
                for dst in list(sim.peers):
                    if dst != apid:
                        sim.send(apid, dst, msg)
        if not sim.done():
            net.call_at(net.now + 0.1, strike)

    net.call_at(0.05, strike)
    net.run_for(1.0)
    sim.add_peer(m.ROLE_RACER, FakeCar(None))  # a newcomer reads the lobby while the attack is on
    assert net.run_for(40.0, stop=sim.done), f"seed {seed}: the match did not finish"
    check(sim)
    for p in (p for p in sim.alive() if p.pid != apid):
        mt = p.core.match
        assert mt.term == 1 and mt.host == sim.host_pid, f"{attack} seed {seed}: {p.pid} moved to {mt.term}"
        assert mt.result.host_id == sim.host_pid and mt.result.term == 1
        assert not [e for _t, e in p.events if isinstance(e, HostChanged) and e.host == apid]
        assert all(e.result.host_id == sim.host_pid for _t, e in p.events if isinstance(e, ResultAdopted))
    assert sim.hosts == {1: {sim.host_pid}}
    rejected = sum(1 for p in honest for _t, e in p.events if isinstance(e, Rejected) and e.peer == apid)
    assert rejected > 0, f"{attack}: the attack never arrived"
    host_key = sim.peers[sim.host_pid].core.keys.public_key
    for p in honest:  # the seals members keep are the host's own
        held = p.core.match.seals.get(1)
        assert held is None or held.valid(host_key, verify), f"{attack}: a forged seal was kept"


@pytest.mark.parametrize("insider", [False, True], ids=["stranger", "member"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_never_accepted_and_the_match_ends_with_one_result(attack, insider):
    for seed in SEEDS:
        _run(seed, attack, insider)


def _two_racers(seed: int) -> SimMatch:
    cfg = MatchConfig(auto_start=2, countdown=0.5, disconnect_after=1.0, abandon_after=2.0, result_linger=1.0)
    return SimMatch(2000 + seed, 2, 1, Faults(loss=0.05, duplicate=0.01, jitter=0.005), cfg, 3.0,
                    [None, 1.5 + seed * 0.2, None])


def _self_election(seed: int) -> None:
    sim = _two_racers(seed)
    net = sim.net
    member = identity(1)
    host = sim.peers[sim.host_pid]

    def strike() -> None:
        ann = host.core.announcement()
        if ann is not None:
            for msg in forge("self_elect", ann, member):
                for dst in sim.peers:
                    if dst != member.peer_id:
                        sim.send(member.peer_id, dst, msg)
        if not sim.done():
            net.call_at(net.now + 0.1, strike)

    net.call_at(0.05, strike)
    assert net.run_for(40.0, stop=sim.done), f"seed {seed}: the match did not finish"
    check(sim)
    for p in sim.peers.values():
        if p.pid == member.peer_id:
            continue
        assert p.core.match.term == 1 and p.core.match.host == sim.host_pid, f"seed {seed}: {p.pid} followed"
        assert p.core.match.result.host_id == sim.host_pid
        assert any(isinstance(e, Rejected) and e.peer == member.peer_id for _t, e in p.events)
    assert sim.hosts == {1: {sim.host_pid}}


def test_the_other_racer_of_a_two_racer_match_cannot_crown_itself():
    """With the host left out of the electorate, a 2-racer match's other racer was a quorum
    of one: its own signed vote made it host. The host's absence now counts as a vote not
    given unless the checker itself stopped hearing the host, so the host and the spectator,
    who hear it, refuse the claim, and the host's result stands."""
    for seed in SEEDS:
        _self_election(seed)


def _host_dies(seed: int) -> None:
    sim = _two_racers(seed)
    net = sim.net
    net.run_for(20, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    net.run_for(0.5)
    crash_at = net.now
    net.crash(sim.host_pid)
    assert net.run_for(40.0, stop=sim.done), f"seed {seed}: the match did not finish"
    check(sim)
    took_over = [(t, pid) for t, pid, term in sim.host_changes if term >= 2]
    assert len(took_over) == 1, took_over
    at, new_host = took_over[0]
    # the host's last word may precede its crash by up to a heartbeat
    assert at - crash_at >= 2 * sim.cfg.election_min - sim.cfg.heartbeat, "took over while the host was barely silent"
    for p in sim.alive():
        res = p.core.match.result
        assert res.host_id == new_host and res.racer(sim.host_pid).crashed


def test_when_the_host_of_a_two_racer_match_dies_the_survivor_finishes_alone():
    """The real death: the survivor cannot reach a quorum of the roster (1 of 2), so it takes
    over only once it has not heard the host for twice its election timeout, and the spectator
    believes it for the same reason (it stopped hearing the host too); or the spectator asks
    first and the survivor's vote makes it host, on the same condition. Everyone ends with
    the new host's result, the dead host counted as crashed at its last state."""
    for seed in SEEDS:
        _host_dies(seed)


# -- a dishonest host: "abandoned" is every peer's judgement, not the host's word -------------
VICTIM_SEEDS = range(3)
VICTIM = identity(1).peer_id


def _victim_match(seed: int) -> SimMatch:
    cfg = MatchConfig(auto_start=3, countdown=0.5, disconnect_after=1.0, abandon_after=2.0, result_linger=1.0)
    return SimMatch(3000 + seed, 3, 1, Faults(loss=0.05, duplicate=0.01, jitter=0.005), cfg, 3.0,
                    [None, None, 2.5, None])


def _abandoned_in(result, pid: str) -> bool:
    entry = result.racer(pid)
    return entry is not None and entry.abandoned


def _host_reasons(sim: SimMatch, p) -> set:
    return {e.reason for _t, e in p.events if isinstance(e, Rejected) and e.peer == sim.host_pid}


def _abandon_while_streaming(seed: int) -> None:
    sim = _victim_match(seed)
    net = sim.net
    host = sim.peers[sim.host_pid]
    net.run_for(20, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    net.run_for(1.0)
    mt = host.core.match
    host.core._abandon(mt, mt.racers[VICTIM])  # the dishonest host's own core does it
    host.do(host.core._bump(mt, host.local(net.now)), net.now)
    net.run_for(10.0, stop=lambda: host.core.match.result is not None)
    net.run_for(0.5)  # the result's repeats reach everyone
    assert host.core.match.result is not None and _abandoned_in(host.core.match.result, VICTIM)
    for p in sim.peers.values():
        if p is host:
            continue
        assert p.core.match.racers[VICTIM].status != m.ST_ABANDONED, f"seed {seed}: {p.index} believed it"
        assert not any(isinstance(e, ResultAdopted) and _abandoned_in(e.result, VICTIM) for _t, e in p.events)
        reasons = _host_reasons(sim, p)
        assert RejectReason.ABANDONED_WHILE_HEARD in reasons, f"seed {seed}: {p.index} {reasons}"


def test_a_host_cannot_call_a_racer_abandoned_while_it_streams():
    """Mid-race the host marks an honest, streaming racer abandoned (its roster says so, and
    its result counts the racer crashed at that moment, unsigned). Every member still hears
    that racer, the racer itself included: each refuses the roster's word and the result,
    and no member adopts a result that calls the racer abandoned."""
    for seed in VICTIM_SEEDS:
        _abandon_while_streaming(seed)


def _silent_racer(seed: int, cut: bool) -> None:
    sim = _victim_match(seed)
    net = sim.net
    host = sim.peers[sim.host_pid]
    if cut:
        honest_abandon = host.core._abandon

        def abandon(mt, r) -> None:
            if r.peer_id == VICTIM:  # "I heard it only for its first half second"
                r.last = FakeCar(None).report(0.5, mt.rules.limit_ticks)
            honest_abandon(mt, r)

        host.core._abandon = abandon
    net.run_for(20, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    net.run_for(2.1)
    net.crash(VICTIM)
    net.run_for(15.0, stop=sim.done)
    survivors = [p for p in sim.alive() if p is not host]
    held = {p.index: p.core.match.racers[VICTIM].last.tick for p in survivors}
    assert all(t >= 120 for t in held.values()), held  # they heard it for 2 s and more
    for p in survivors:
        for adopted in (e.result for _t, e in p.events if isinstance(e, ResultAdopted)):
            entry = adopted.racer(VICTIM)  # whoever hosts it: never below what this peer holds
            assert round(entry.crash_time * 60) >= held[p.index] - 60, f"seed {seed}: {p.index} took the cut"
        if cut:
            reasons = _host_reasons(sim, p)
            assert RejectReason.ABANDONED_TOO_EARLY in reasons, f"seed {seed}: {p.index} {reasons}"
        else:
            res = p.core.match.result
            assert res is not None and res.host_id == sim.host_pid, f"seed {seed}: {p.index} has no result"
            assert res.racer(VICTIM).abandoned


@pytest.mark.parametrize("cut", [True, False], ids=["truncated", "honest"])
def test_a_racer_that_went_silent_is_abandoned_at_its_last_state_not_earlier(cut):
    """A racer's process dies mid-race; the host abandons it after its silence. An honest host
    counts it crashed at its last state, and every survivor adopts that result. A host that
    pretends it heard much less of it (so its score is cut) is refused by every survivor:
    they hold its later states (once that host falls silent they elect another, which
    adjudicates from what it heard)."""
    for seed in VICTIM_SEEDS:
        _silent_racer(seed, cut)


def test_one_machine_cannot_join_a_majority_of_sybil_racers():
    """Votes count per racer, so a machine joining many cheap identities could outvote the
    others and elect its own host. The host admits `racers_per_address` racers per proven
    address (discovery's, never a datagram's source); loopback (the host's own processes)
    is not bounded, and 0 lifts the bound."""
    from p2p_race.match import MatchCore, MatchRules
    from p2p_race.match.events import Send

    honest = [identity(i) for i in range(1, 4)]
    sybils = [identity(40 + i) for i in range(8)]
    where = {p.peer_id: f"10.0.0.{i + 1}" for i, p in enumerate(honest)}
    where |= {p.peer_id: "10.0.0.99" for p in sybils}
    where |= {identity(60 + i).peer_id: "127.0.0.1" for i in range(3)}

    def host_core(**cfg) -> MatchCore:
        me = honest[0]
        core = MatchCore(me.peer_id, "host", sign=lambda r: r.signed(me), keys=me, origin=where.get,
                         config=MatchConfig(**cfg))
        core.host(MatchRules(seed=3, max_racers=16), 0.0)
        return core

    def join(core: MatchCore, pid: str) -> str | None:
        out = core.on_message(pid, m.Join(core.match.mid, m.ROLE_RACER, pid[:6]), 0.1)
        refused = [a.msg.reason for a in out if isinstance(a, Send) and isinstance(a.msg, m.JoinRefused)]
        return refused[0] if refused else None

    core = host_core()
    for p in honest[1:]:
        assert join(core, p.peer_id) is None
    reasons = [join(core, p.peer_id) for p in sybils]
    assert reasons[0] is None  # the attacker's machine gets its one racer, like everyone
    assert all(r is not None and "one racer per machine" in r for r in reasons[1:]), reasons
    racers = set(core.match.racers)
    assert len(racers) == 4 and len(racers & {p.peer_id for p in sybils}) == 1
    assert join(core, sybils[1].peer_id) is not None  # asking again changes nothing
    assert join(core, sybils[0].peer_id) is None  # a member's own re-join is not refused
    # a spectator seat is still open to the refused identities
    out = core.on_message(sybils[2].peer_id, m.Join(core.match.mid, m.ROLE_SPECTATOR, "s"), 0.2)
    assert sybils[2].peer_id in core.match.spectators and not [a for a in out if isinstance(a, Send)
                                                             and isinstance(a.msg, m.JoinRefused)]
    # loopback processes (practice, tests on one machine) are the host's own: not bounded
    for i in range(3):
        assert join(core, identity(60 + i).peer_id) is None
    # the admitted sybil leaves discovery (a Leave: no address known any more) and keeps
    # racing: its seat still counts for its machine
    gone = where.pop(sybils[0].peer_id)
    assert join(core, sybils[3].peer_id) is not None
    where[sybils[0].peer_id] = gone
    # a bound of 2, and no bound
    two = host_core(racers_per_address=2)
    assert [join(two, p.peer_id) is None for p in sybils[:3]] == [True, True, False]
    free = host_core(racers_per_address=0)
    assert all(join(free, p.peer_id) is None for p in sybils)


def test_one_machine_cannot_take_every_spectator_seat():
    """Spectator identities are free too: one machine joining 32 of them filled every seat
    (honest watchers: "no room for more spectators") and, once every racer is gone, would be
    the electorate. The host admits `spectators_per_address` per proven address; a Leave from
    discovery does not free the seat; loopback is not bounded."""
    from p2p_race.match import MatchCore, MatchRules
    from p2p_race.match.events import Send

    me = identity(1)
    swarm = [identity(80 + i) for i in range(10)]
    where = {p.peer_id: "10.0.0.77" for p in swarm} | {identity(2).peer_id: "10.0.0.2"}
    where |= {identity(70 + i).peer_id: "127.0.0.1" for i in range(4)}
    core = MatchCore(me.peer_id, "host", sign=lambda r: r.signed(me), keys=me, origin=where.get)
    core.host(MatchRules(seed=4, max_spectators=8), 0.0)

    def watch(pid: str) -> str | None:
        out = core.on_message(pid, m.Join(core.match.mid, m.ROLE_SPECTATOR, "w"), 0.1)
        refused = [a.msg.reason for a in out if isinstance(a, Send) and isinstance(a.msg, m.JoinRefused)]
        return refused[0] if refused else None

    reasons = [watch(p.peer_id) for p in swarm]
    assert reasons[:2] == [None, None]
    assert all(r is not None and "from one machine" in r for r in reasons[2:]), reasons
    assert watch(identity(2).peer_id) is None  # another machine's watcher still gets a seat
    for i in range(4):
        assert watch(identity(70 + i).peer_id) is None  # the host's own processes
    where.pop(swarm[0].peer_id)  # it left discovery: its seat still counts for its machine
    assert watch(swarm[5].peer_id) is not None
    assert len([s for s in core.match.spectators if s in {p.peer_id for p in swarm}]) == 2


def _cut_off_racer(seed: int, cut_for: float, stranger: bool):
    """A racer cut off from its host (with, if `stranger`, only an attacker's sybil-voted
    term-2 listing, roster, seal and result reaching it), then the network heals."""
    import time as _time

    from p2p_race.match.roster import roster_statement
    from p2p_race.match.state import result_to_wire
    from replication.records import RacerResult, adjudicate

    cfg = MatchConfig(auto_start=3, countdown=0.5, disconnect_after=1.0, abandon_after=2.0, result_linger=1.0)
    sim = SimMatch(3000 + seed, 3, 1, Faults(loss=0.02, jitter=0.005), cfg, 8.0, [None, None, None, None])
    net = sim.net
    att = identity(90 + seed)
    host = sim.peers[sim.host_pid]
    victim = next(p for p in sim.peers.values() if p.pid != sim.host_pid and p.role == m.ROLE_RACER)
    seen: dict = {}

    def strike() -> None:
        ann = host.core.announcement() or seen.get("ann")
        if ann is not None and stranger:
            seen["ann"] = ann
            for msg in forge("announce_next_term", ann, att):
                sim.send(att.peer_id, victim.pid, msg)
            ids = sorted({att.peer_id, victim.pid})
            now = _time.time()
            res = adjudicate(ann.match_id.hex(), ann.rules.seed, ann.rules.time_limit, att.peer_id, 2, now - 30,
                             now - 29, [RacerResult(p, "x", 999 if p == att.peer_id else 0, 1.0, False, -1.0)
                                        for p in ids]).signed(att)
            rr = tuple(m.RosterRacer(bytes.fromhex(p), "x", m.FLAG_CONNECTED, m.ST_RACING, 0, 0.0, -1.0) for p in ids)
            ros = m.Roster(ann.match_id, 2, 10**6 + int(net.now * 10), ann.rules, m.PHASE_RACING, 0.0, 1.0, rr, ())
            for msg in (ros, m.RosterSeal(ann.match_id, 2, ros.version, att.sign(roster_statement(ros).to_bytes())),
                        result_to_wire(res)):
                sim.send(att.peer_id, victim.pid, msg)
        net.call_at(net.now + 0.1, strike)

    net.call_at(0.05, strike)
    net.run_for(20, stop=lambda: sim.phase_of_host() == m.PHASE_RACING)
    net.run_for(1.0)
    net.partition([victim.pid, att.peer_id], [p for p in sim.peers if p != victim.pid])
    net.run_for(cut_for)
    net.heal()
    net.run_for(20, stop=sim.done)
    return sim, victim, att


@pytest.mark.parametrize("seed", range(3))
def test_a_stranger_listing_cannot_take_over_a_racer_cut_off_from_its_host(seed):
    """Red team: the lobby's catch-up (for a member whose roster was too stale to check an
    election) took any signature-valid listing: a stranger's sybil-voted term 2 took over a
    racer cut off from its host for 2.5 s, which then kept the stranger's seal and adopted
    its result. Once the race is on, a listing's proof must be a quorum of our electorate."""
    sim, victim, att = _cut_off_racer(seed, 2.5, stranger=True)
    vm = victim.core.match
    assert vm.host != att.peer_id and (2 not in vm.proofs or vm.proofs[2].host != att.peer_id)
    assert not any(isinstance(e, ResultAdopted) and e.result.host_id == att.peer_id for _t, e in victim.events)
    assert all(not s.valid(att.public_key, verify) for s in vm.seals.values())
    assert vm.result is not None and vm.result.host_id == sim.host_pid


@pytest.mark.parametrize("seed", range(3))
def test_a_racer_abandoned_while_cut_off_accepts_the_result(seed):
    """Red team: a racer cut off for longer than `abandon_after` kept driving locally, so it
    held its own states past the host's abandonment time and refused every result as
    "abandoned too early", forever (and its pings fetched a copy every 2 s, forever). What it
    drove while cut off never reached the host: its own silence is its answer."""
    sim, victim, _att = _cut_off_racer(seed, 6.0, stranger=False)
    vm = victim.core.match
    assert vm.result is not None and vm.result.host_id == sim.host_pid, victim.core.rejected
    assert vm.result.racer(victim.pid).abandoned
    check(sim)
