"""The peer-table simulation harness: PeerTables on a SimNet that know only n0's address.

Node n3 lives at 10.0.0.3; `build` makes n nodes, each seeded with n0 only (like `--peer`),
so convergence also proves table sharing. Used by tests/test_discovery_sim.py.
"""

from __future__ import annotations

from discovery.table import Answer, Beat, Challenge, Event, Greet, HelloInfo, PeerTable, Share
from p2p_race.identity import Identity
from tests.support.simnet import Faults, SimNet

PORT = 47800


def ip(name: str) -> str:
    """Node "n3" lives at 10.0.0.3 (the table only shares IPv4 literals)."""
    return f"10.0.0.{int(name[1:])}"


def node_of(addr: tuple[str, int]) -> str:
    return "n" + addr[0].rsplit(".", 1)[1]


class Node:
    """A PeerTable plus the few lines an adapter needs to turn its outputs into sends."""

    def __init__(self, net: SimNet, name: str, static: list[str]) -> None:
        self.net, self.name = net, name
        self.ident = Identity.from_seed(name.encode())
        self.id = self.ident.peer_id
        self.table = PeerTable(self.id)
        self.log: list[tuple[float, str, str]] = []  # (t, event, peer name)
        for s in static:
            self.apply(self.table.add_static((ip(s), PORT), net.now))

    def hello(self, reply: bool, cookie: bytes, echo: bytes = b"", known: bool = True) -> HelloInfo:
        return HelloInfo(self.ident.public_key, self.name, PORT, 0, "lobby", "", reply,
                         tuple(self.table.refs(limit=8)) if known else (), cookie, echo, size=350)

    def apply(self, outputs) -> None:
        for o in outputs:
            if isinstance(o, Event):
                self.log.append((self.net.now, o.kind, o.peer.name))
            elif isinstance(o, Greet):
                self.net.send(self.name, node_of(o.addr), ("hello", self.id, self.hello(True, o.cookie, known=False)))
            elif isinstance(o, Challenge):
                self.net.send(self.name, node_of(o.addr), ("hello", self.id, self.hello(True, o.cookie, o.echo, False)))
            elif isinstance(o, Answer):
                self.net.send(self.name, node_of(o.addr), ("hello", self.id, self.hello(False, o.cookie, o.echo)))
            elif isinstance(o, Beat):
                self.net.send(self.name, node_of(o.addr), ("hb", self.id, self.net.now, o.echo, o.echo_delay))
            elif isinstance(o, Share):
                addr = self.table.address_of(o.peer_id)
                if addr:
                    refs = self.table.refs(exclude=o.peer_id, only=o.about)
                    self.net.send(self.name, node_of(addr), ("list", self.id, refs))

    def on_message(self, src: str, payload, now: float) -> None:
        kind, sender = payload[0], payload[1]
        addr = (ip(src), PORT)
        if kind == "hello":
            self.apply(self.table.on_hello(sender, payload[2], addr, now))
        elif kind == "hb":
            self.apply(self.table.on_heartbeat(sender, "lobby", "", payload[2], payload[3], payload[4], addr, now))
        elif kind == "list":
            self.apply(self.table.on_peerlist(sender, tuple(payload[2]), addr, now))

    def on_tick(self, now: float) -> None:
        self.apply(self.table.tick(now))

    def sees(self) -> set[str]:
        return {p.name for p in self.table.peers.values()}


def build(seed: int, n: int, loss: float) -> tuple[SimNet, dict[str, Node]]:
    net = SimNet(seed, Faults(loss=loss, duplicate=0.01, delay=0.0005, jitter=0.003), tick=0.05)
    nodes: dict[str, Node] = {}
    for i in range(n):
        name = f"n{i}"
        nodes[name] = Node(net, name, [] if i == 0 else ["n0"])
        net.add(name, nodes[name])
    return net, nodes


def converged(nodes: dict[str, Node], alive: set[str]) -> bool:
    return all(nodes[a].sees() == alive - {a} for a in alive)
