"""The chat mesh protocol under the deterministic simulator: loss, duplication, reordering,
partitions that heal, crashes and late joiners -> every peer ends with the same ordered log."""

from __future__ import annotations

import random

import pytest

from chat.message import ChatMessage
from tests.support.chatsim import AUTHORS, T0, SimPeer, peer_logs, run_scenario
from tests.support.simnet import Faults, SimNet


# 30 seeds in `make test-fast`, all 100 in `make test`
@pytest.mark.parametrize("seed", [s if s < 30 else pytest.param(s, marks=pytest.mark.slow) for s in range(100)])
def test_histories_converge_under_faults(seed: int) -> None:
    peers, sent = run_scenario(seed)
    logs = peer_logs(peers)
    first = next(iter(logs.values()))
    assert len(first) == sent, f"seed {seed}: {len(first)} of {sent} messages"
    for name, log in logs.items():
        assert log == first, f"seed {seed}: {name} differs"
    # display order is the (clock, author, id) order
    msgs = peers["p0"].node.history.messages()
    assert [m.key for m in msgs] == sorted(m.key for m in msgs)


@pytest.mark.parametrize("seed", range(5))
def test_converges_with_heavy_loss_and_wide_reordering(seed: int) -> None:
    peers, sent = run_scenario(seed, faults=Faults(loss=0.35, duplicate=0.3, delay=0.001, jitter=0.2),
                               partition=True, crash=False)
    logs = peer_logs(peers)
    assert all(len(v) == sent for v in logs.values())
    assert len(set(map(tuple, logs.values()))) == 1


def test_flood_is_dropped_identically_everywhere() -> None:
    """One author floods 30 messages in one second at different peers: every peer keeps the
    same 5 (smallest (t, id) in the window), drops the rest and counts them."""
    net = SimNet(7, Faults(loss=0.1, duplicate=0.2, delay=0.002, jitter=0.05), tick=0.05)
    names = ["a", "b", "c"]
    peers = {n: SimPeer(n, net, names) for n in names}
    for n, p in peers.items():
        net.add(n, p)
    flooder = AUTHORS[0]
    rng = random.Random(1)
    for i in range(30):
        p = peers[rng.choice(names)]
        p.submit(ChatMessage.create(flooder, name="flood", channel="lobby", text=f"spam {i}",
                                    clock=i + 1, t=T0 + 0.01 * i))
    net.run_for(20.0)
    logs = peer_logs(peers)
    assert len(set(map(tuple, logs.values()))) == 1
    assert len(logs["a"]) == 5
    assert all(p.node.history.drops["rate_limited"] > 0 for p in peers.values())
