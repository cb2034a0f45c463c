"""Many peer tables on the deterministic simulator (tests/support/simnet.py): loss, jitter,
crashes, restarts and partitions over many seeds. Every node knows only node n0's address
(like `--peer`), so convergence also proves table sharing."""

from __future__ import annotations

import pytest

from tests.support.discoverysim import Node, build, converged


@pytest.mark.parametrize("seed", range(40))
def test_converge_detect_crash_rejoin_and_heal_partition(seed: int) -> None:
    n = 6
    net, nodes = build(seed, n, loss=0.02)
    everyone = set(nodes)
    # a peer-list candidate gets one greeting: a pair whose handshakes were both lost (a few
    # seeds at 2% loss) waits for the next gossip round, 10 s
    assert net.run_for(12.0, lambda: converged(nodes, everyone)), f"seed {seed}: no convergence"

    # crash one node: every other table drops it within the timeout (+ one tick)
    net.run_for(2.0)
    victim = f"n{1 + seed % (n - 1)}"
    crash_t = net.now
    net.crash(victim)
    alive = everyone - {victim}
    assert net.run_for(3.0, lambda: converged(nodes, alive))
    for name in alive:
        removed = [t for t, ev, who in nodes[name].log if ev == "removed" and who == victim and t >= crash_t]
        assert removed and removed[0] - crash_t <= 1.5, (seed, name, removed)

    # it restarts (same key, fresh table): everyone lists it again
    nodes[victim] = Node(net, victim, ["n0"])
    net.restart(victim, nodes[victim])
    assert net.run_for(3.0, lambda: converged(nodes, everyone)), f"seed {seed}: rejoin"

    # a partition splits the LAN; after it heals everyone finds everyone again
    left = {"n0", "n1", "n2"}
    net.partition(left, everyone - left)
    assert net.run_for(4.0, lambda: all(nodes[a].sees() <= (left if a in left else everyone - left) for a in everyone))
    net.heal()
    assert net.run_for(6.0, lambda: converged(nodes, everyone)), f"seed {seed}: partition did not heal"


@pytest.mark.parametrize("seed", range(10))
def test_heavy_loss_still_converges_and_heals(seed: int) -> None:
    net, nodes = build(seed, 5, loss=0.25)
    everyone = set(nodes)
    # a listing takes a three-way handshake (greeting, challenge, answer) and a peer-list
    # candidate one greeting: at 25% loss a pair may wait a gossip round (10 s) or two
    assert net.run_for(35.0, lambda: converged(nodes, everyone))
    # with 25% loss a pair may flap (4 beats lost in a row), but it always comes back
    net.run_for(10.0)
    assert net.run_for(5.0, lambda: converged(nodes, everyone))
