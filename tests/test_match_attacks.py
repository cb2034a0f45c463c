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

from p2p_race.match import MatchConfig
from p2p_race.match import messages as m
from p2p_race.match.events import HostChanged, Rejected, ResultAdopted
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


@pytest.mark.parametrize("insider", [False, True], ids=["stranger", "member"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_never_accepted_and_the_match_ends_with_one_result(attack, insider):
    for seed in SEEDS:
        _run(seed, attack, insider)
