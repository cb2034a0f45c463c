"""The chat-mesh simulation harness: ChatNodes linked to each other on a SimNet.

`run_scenario` has peers say messages while the network loses, duplicates and reorders
frames, one side is partitioned off and healed, a peer crashes and restarts with its log,
and a late joiner pulls the whole history. Used by tests/test_chat_sim.py.
"""

from __future__ import annotations

import random

from chat.core import ChatNode
from chat.history import History
from chat.message import ChatMessage
from p2p_race.identity import Identity
from tests.support.simnet import Faults, SimNet

AUTHORS = [Identity.from_seed(f"sim-author-{i}".encode()) for i in range(4)]
T0 = 1_700_000_000.0


class SimPeer:
    """A ChatNode on the simulated network, linked to every other peer."""

    def __init__(self, name: str, net: SimNet, peers: list[str]) -> None:
        self.name = name
        self.net = net
        self.node = ChatNode(History(), wall=lambda: T0 + net.now)
        for p in peers:
            if p != name:
                self._do(self.node.link_up(p, net.now))

    def _do(self, acts) -> None:
        for link, frame in acts.sends:
            self.net.send(self.name, link, frame)

    def on_message(self, src: str, payload, now: float) -> None:
        self._do(self.node.on_frame(src, payload, now))

    def on_tick(self, now: float) -> None:
        self._do(self.node.tick(now))

    def submit(self, msg: ChatMessage) -> None:
        _res, acts = self.node.submit(msg, self.net.now)
        self._do(acts)


def say(net: SimNet, peer: SimPeer, author: Identity, text: str, clock_hint: int) -> ChatMessage:
    clock = max(peer.node.history.clock, clock_hint) + 1
    return ChatMessage.create(author, name=f"a{AUTHORS.index(author)}", channel="lobby",
                              text=text, clock=clock, t=T0 + net.now)


def peer_logs(peers: dict[str, SimPeer]) -> dict[str, list[str]]:
    return {n: p.node.history.ids() for n, p in peers.items()}


def run_scenario(seed: int, n_peers: int = 4, n_msgs: int = 40, faults: Faults | None = None,
                 partition: bool = True, crash: bool = True) -> tuple[dict[str, SimPeer], int]:
    rng = random.Random(seed)
    net = SimNet(seed, faults or Faults(loss=0.2, duplicate=0.1, delay=0.002, jitter=0.05), tick=0.05)
    names = [f"p{i}" for i in range(n_peers)]
    late = names[-1]
    peers: dict[str, SimPeer] = {}
    for n in names[:-1]:
        peers[n] = SimPeer(n, net, names[:-1])
        net.add(n, peers[n])
    sent = 0
    # authors spread their messages so the per-author rate rule never bites honest traffic
    for i in range(n_msgs):
        at = i * 0.3 + rng.random() * 0.1
        net.run_until(at)
        if partition and i == n_msgs // 4:
            net.partition(names[:1], names[1:])
        if partition and i == n_msgs // 2:
            net.heal()
        if crash and i == n_msgs // 3:
            net.crash(names[1])
        if crash and i == (2 * n_msgs) // 3:
            # restarted with its log (persisted), relinked to everyone
            old = peers[names[1]].node.history
            peers[names[1]] = p = SimPeer(names[1], net, names[:-1])
            p.node.history = old
            net.restart(names[1], p)
            for other in names[:-1]:
                if other != names[1]:
                    peers[other]._do(peers[other].node.link_up(names[1], net.now))
        alive = [n for n in names[:-1] if n not in net.crashed]
        who = peers[rng.choice(alive)]
        author = AUTHORS[i % len(AUTHORS)]
        who.submit(say(net, who, author, f"m{i} from {author.peer_id[:4]}", rng.randrange(3)))
        sent += 1
    # a late joiner arrives after everything was said and pulls the history from anyone
    peers[late] = SimPeer(late, net, names)
    net.add(late, peers[late])
    for n in names[:-1]:
        peers[n]._do(peers[n].node.link_up(late, net.now))
    net.faults.loss = 0.0 if faults is None else faults.loss
    net.run_for(60.0, stop=lambda: len(set(map(tuple, peer_logs(peers).values()))) == 1
                and len(peers[late].node.history) == sent)
    return peers, sent
