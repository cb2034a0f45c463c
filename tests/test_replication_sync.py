"""Peer sync of results under the deterministic simulator: loss, duplication, reordering,
partitions, crashes and a lying peer, over many seeds -> every honest peer converges."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from replication.fixtures import make_result
from replication.store import ResultStore
from replication.sync import (
    MAX_IDS,
    Digest,
    Done,
    Offer,
    Records,
    Request,
    SyncPeer,
    decode,
    encode,
)
from tests.support.simnet import Faults, SimNet

POOL = [make_result(i, samples=(i % 7 == 0)) for i in range(60)]
POOL_IDS = {r.match_id for r in POOL}


def mem_store() -> ResultStore:
    return ResultStore(path=":memory:", synchronous="OFF")


class Node:
    """A peer that starts a sync round with a random peer about once a second."""

    def __init__(self, name: str, net: SimNet, store: ResultStore, seed: int) -> None:
        self.name, self.net, self.store = name, net, store
        self.core = SyncPeer(store)
        self.rng = random.Random(seed)
        self.next_round = self.rng.random()

    def on_tick(self, now: float) -> None:
        if now < self.next_round:
            return
        self.next_round = now + 0.5 + self.rng.random()
        others = [n for n in self.net.alive() if n != self.name]
        if others:
            for msg in self.core.start():
                self.net.send(self.name, self.rng.choice(others), encode(msg))

    def on_message(self, src: str, payload: bytes, now: float) -> None:
        for msg in self.core.handle_bytes(payload):
            self.net.send(self.name, src, encode(msg))


def forged_records(rng: random.Random) -> Records:
    good = rng.choice(POOL)
    d = good.to_json()
    kind = rng.randrange(4)
    if kind == 0:  # bad signature on a fresh match id
        d["match_id"] = f"fake{rng.randrange(10**6)}"
    elif kind == 1:  # a winner that adjudication would not pick
        loser = next(r for r in d["racers"] if r["peer_id"] != d["winner_id"])
        d["winner_id"], d["winner_name"] = loser["peer_id"], loser["name"]
    elif kind == 2:  # absurd numbers
        d["racers"][0]["score"] = 10**15
    else:  # duplicate racers
        d["racers"].append(dict(d["racers"][0]))
    return Records((d, {"junk": True}))


class Liar:
    """Offers ids it cannot back, answers requests and pushes forged or inconsistent records."""

    def __init__(self, name: str, net: SimNet, seed: int) -> None:
        self.name, self.net, self.rng = name, net, random.Random(seed)

    def on_tick(self, now: float) -> None:
        if self.rng.random() < 0.05:
            others = [n for n in self.net.alive() if n != self.name]
            self.net.send(self.name, self.rng.choice(others), encode(forged_records(self.rng)))
            self.net.send(self.name, self.rng.choice(others), b"\xff{not json")

    def on_message(self, src: str, payload: bytes, now: float) -> None:
        msg = decode(payload)
        if isinstance(msg, Digest):
            self.net.send(self.name, src, encode(Offer(tuple(range(256)), ("fake1", "fake2"))))
        elif isinstance(msg, Request):
            self.net.send(self.name, src, encode(forged_records(self.rng)))


def converged(nodes: list[Node]) -> bool:
    return all(n.store.ids() == POOL_IDS for n in nodes)


# the first 6 seeds in `make test-fast`, all 24 in `make test`
@pytest.mark.parametrize("seed", [s if s < 6 else pytest.param(s, marks=pytest.mark.slow) for s in range(24)])
def test_all_honest_peers_converge(seed):
    rng = random.Random(seed)
    net = SimNet(seed, Faults(loss=0.2, duplicate=0.1, delay=0.002, jitter=0.05), tick=0.05)
    nodes = []
    for k in range(5):
        store = mem_store()
        node = Node(f"p{k}", net, store, seed * 100 + k)
        nodes.append(node)
    for r in POOL:  # every result starts on one or two peers
        for node in rng.sample(nodes, rng.randint(1, 2)):
            node.store.add(r)
    for node in nodes:
        net.add(node.name, node)
    net.add("liar", Liar("liar", net, seed))
    net.partition(["p0", "p1", "liar"], ["p2", "p3", "p4"])
    net.run_for(4.0)
    net.crash("p3")
    net.heal()
    net.run_for(3.0)
    net.restart("p3", nodes[3])  # its store survived the crash (SQLite, committed)
    done = net.run_for(120.0, stop=lambda: converged(nodes))
    assert done, f"seed {seed}: {[len(n.store.ids()) for n in nodes]} of {len(POOL_IDS)}"
    digests = {json.dumps(sorted(n.store.digest().items())) for n in nodes}
    assert len(digests) == 1
    boards = {tuple(n.store.leaderboard(50)) for n in nodes}
    assert len(boards) == 1
    assert all(n.store.ids() <= POOL_IDS for n in nodes)  # nothing forged got in
    assert sum(n.core.stats["rejected"] for n in nodes) > 0


def test_one_round_over_a_reliable_channel_syncs_both_ways():
    a, b = mem_store(), mem_store()
    for r in POOL[:40]:
        a.add(r)
    for r in POOL[20:]:
        b.add(r)
    pa, pb = SyncPeer(a), SyncPeer(b)
    to_b = pa.start()
    to_a: list = []
    rounds = 0
    while to_b or to_a:
        rounds += 1
        nxt_a = [m for msg in to_b for m in pb.handle(decode(encode(msg)))]
        nxt_b = [m for msg in to_a for m in pa.handle(decode(encode(msg)))]
        to_a, to_b = nxt_a, nxt_b
    assert a.ids() == b.ids() == POOL_IDS
    assert rounds == 4  # digest, offer, request + push, records


def test_in_sync_peers_exchange_only_a_digest_and_done():
    a, b = mem_store(), mem_store()
    for r in POOL:
        a.add(r)
        b.add(r)
    replies = SyncPeer(b).handle(SyncPeer(a).start()[0])
    assert replies == [Done()]


@pytest.mark.parametrize("frame", [
    b"", b"[]", b"{}", b'{"t":"digest","b":[[999,1,1]]}', b'{"t":"digest","b":[[1,2**64,1]]}',
    b'{"t":"offer","b":[1],"ids":[1]}', b'{"t":"offer","b":[1],"ids":["' + b"x" * 65 + b'"]}',
    b'{"t":"request","ids":"abc"}', b'{"t":"records","r":[1]}', b'{"t":"what"}',
    b"\xff\xfe", b"[" * 100000,
])
def test_malformed_frames_are_dropped(frame):
    peer = SyncPeer(mem_store())
    assert peer.handle_bytes(frame) == []
    assert peer.stats["malformed"] == 1


def test_frame_fuzz():
    peer = SyncPeer(mem_store())
    peer.store.add(POOL[0])
    rng = random.Random(1)
    samples = [encode(m) for m in (Digest({1: (5, 1)}), Offer((1, 2), ("m1",)), Request(("m00000000",)),
                                   Records((POOL[1].to_json(),)), Done())]
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        peer.handle_bytes(bytes(data))
    assert peer.store.ids() <= POOL_IDS


def test_oversized_lists_are_refused():
    ids = json.dumps({"t": "request", "ids": ["a"] * (MAX_IDS + 1)}).encode()
    with pytest.raises(ValueError):
        decode(ids)


def test_tampered_record_in_sync_is_rejected():
    peer = SyncPeer(mem_store())
    d = replace(POOL[0], term=9).to_json()
    peer.handle(Records((d,)))
    assert peer.store.count() == 0 and peer.stats["rejected"] == 1
