"""The MongoDB sink and outbox against mockupdb servers acting as a 2-member replica set.

mockupdb speaks the real wire protocol, so these tests drive the real pymongo 4 client:
topology discovery through `hello` replies, retryable writes (lsid + txnNumber), majority
write concern, a primary stepping down with a RetryableWriteError, a connection hang-up
mid-write, and a replica set with no primary at all for longer than pymongo retries.

The two mock servers share one dict of documents (the "replicated" data) and apply upserts
with `$setOnInsert` / `$max` semantics, de-duplicating retried writes by (lsid, txnNumber)
as a real server does, and counting every write they applied.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from bson import ObjectId
from mockupdb import MockupDB

from p2p_race.backoff import Backoff
from replication.fixtures import make_result
from replication.mongo import MongoSink
from replication.outbox import OutboxDrainer
from replication.store import ResultStore

pytestmark = pytest.mark.lan


class FakeReplicaSet:
    def __init__(self, n: int = 2) -> None:
        self.lock = threading.Lock()
        self.servers = [MockupDB(request_timeout=30) for _ in range(n)]
        for s in self.servers:
            s.run()
        self.hosts = [s.address_string for s in self.servers]
        self.primary: int | None = 0
        self.election = ObjectId()
        self.set_version = 1
        self.docs: dict[str, dict[str, dict]] = {}
        self.applied: Counter[str] = Counter()  # per server: write ops applied
        self.txns: set = set()
        self.write_concerns: list = []
        self.faults: list[str] = []  # "stepdown" / "hangup": applied to the next update
        self.received: list[tuple[int, str]] = []  # (server index, command)
        self.reads: list[tuple[int, str, bool]] = []  # (server, what, served by the primary)
        for i, s in enumerate(self.servers):
            s.autoresponds(lambda req, i=i: self._handle(i, req))

    @property
    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/p2p_test?replicaSet=rs0"

    def close(self) -> None:
        for s in self.servers:
            s.stop()

    def step_down(self, new_primary: int | None) -> None:
        with self.lock:
            self.primary = new_primary
            if new_primary is not None:
                self.election = ObjectId()

    # -- request handling ---------------------------------------------------------------
    def _hello(self, i: int) -> dict:
        doc = {
            "ok": 1, "setName": "rs0", "hosts": self.hosts, "me": self.hosts[i],
            "isWritablePrimary": self.primary == i, "ismaster": self.primary == i,
            "secondary": self.primary != i, "setVersion": self.set_version,
            "minWireVersion": 0, "maxWireVersion": 21, "logicalSessionTimeoutMinutes": 30,
            "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
        }
        if self.primary is not None:
            doc["primary"] = self.hosts[self.primary]
        if self.primary == i:
            doc["electionId"] = self.election
        return doc

    def _handle(self, i: int, req) -> bool:
        name = req.command_name.lower() if hasattr(req, "command_name") else ""
        with self.lock:
            if name in ("hello", "ismaster"):
                return req.replies(self._hello(i))
            self.received.append((i, name))
            if name in ("ping", "endsessions", "createindexes"):
                return req.replies({"ok": 1})
            if self.primary != i and name in ("update", "insert", "delete"):
                return req.replies({"ok": 0, "code": 10107, "errmsg": "not primary",
                                    "errorLabels": ["RetryableWriteError"]})
            if name == "update":
                return self._update(i, req)
            if name == "find":
                coll = req.doc["find"]
                docs = [d for d in self.docs.get(coll, {}).values() if self._match(d, req.doc.get("filter", {}))]
                self.reads.append((i, "find", self.primary == i))
                return req.replies({"ok": 1, "cursor": {"id": 0, "ns": f"p2p_test.{coll}", "firstBatch": docs}})
            if name == "aggregate":  # count_documents: [$match, ($skip, $limit,) $group n]
                coll = req.doc["aggregate"]
                flt = req.doc["pipeline"][0].get("$match", {})
                n = sum(1 for d in self.docs.get(coll, {}).values() if self._match(d, flt))
                self.reads.append((i, "count", self.primary == i))
                batch = [{"_id": 1, "n": n}] if n else []
                return req.replies({"ok": 1, "cursor": {"id": 0, "ns": f"p2p_test.{coll}", "firstBatch": batch}})
        return req.replies({"ok": 0, "errmsg": f"mock: unsupported {name}", "code": 59})

    def _update(self, i: int, req) -> bool:
        self.write_concerns.append(req.doc.get("writeConcern"))
        fault = self.faults.pop(0) if self.faults else None
        if fault == "stepdown":  # refuse, then another member is elected
            self.primary = 1 - i
            self.election = ObjectId()
            return req.replies({"ok": 0, "code": 10107, "errmsg": "not primary (stepped down)",
                                "errorLabels": ["RetryableWriteError"]})
        txn = (bytes(req.doc["lsid"]["id"]), req.doc.get("txnNumber")) if "txnNumber" in req.doc else None
        if txn is None or txn not in self.txns:
            coll = self.docs.setdefault(req.doc["update"], {})
            for op in req.doc["updates"]:
                self._apply(coll, op)
                self.applied[str(i)] += 1
            if txn is not None:
                self.txns.add(txn)
        if fault == "hangup":  # applied, but the reply never reaches the client
            return req.hangup()
        return req.replies({"ok": 1, "n": len(req.doc["updates"]), "nModified": 0})

    @staticmethod
    def _match(doc: dict, flt: dict) -> bool:
        """Equality filters only (what the leaderboard's counts use); operators match all."""
        return all(isinstance(v, dict) or doc.get(k) == v for k, v in flt.items())

    @staticmethod
    def _apply(coll: dict, op: dict) -> None:
        _id = op["q"]["_id"]
        doc = coll.get(_id)
        update = op["u"]
        if doc is None:
            doc = {"_id": _id, **update.get("$setOnInsert", {})}
            doc.update(update.get("$max", {}))
            coll[_id] = doc
            return
        for k, v in update.get("$max", {}).items():
            if k not in doc or v > doc[k]:
                doc[k] = v


@pytest.fixture
def rs():
    r = FakeReplicaSet()
    yield r
    r.close()


def sink_for(rs: FakeReplicaSet, timeout: float = 3.0) -> MongoSink:
    return MongoSink(rs.uri, server_selection_timeout=timeout, socket_timeout=3.0,
                     heartbeatFrequencyMS=500)


def test_mongo_write_reaches_primary_with_majority_write_concern(rs, data_dir):
    sink = sink_for(rs)
    r = make_result(1)
    sink.write(r)
    sink.close()
    assert rs.applied["0"] == 1 + 2 * len(r.racers) and rs.applied["1"] == 0
    assert all(wc == {"w": "majority"} for wc in rs.write_concerns)
    assert set(rs.docs["results"]) == {r.match_id}
    assert len(rs.docs["player_matches"]) == len(r.racers)
    assert {d["best"] for d in rs.docs["players"].values()} == {x.score for x in r.racers}


def test_mongo_step_down_write_lands_once_on_new_primary(rs):
    sink = sink_for(rs)
    sink.ensure_indexes()
    rs.faults.append("stepdown")
    r = make_result(2)
    sink.write(r)
    sink.close()
    assert rs.primary == 1
    # the results upsert was refused by server 0 and retried (once) on the new primary
    assert rs.applied["0"] == 0
    assert rs.applied["1"] == 1 + 2 * len(r.racers)
    assert list(rs.docs["results"]) == [r.match_id]


def test_mongo_hangup_mid_write_lands_exactly_once(rs):
    sink = sink_for(rs)
    sink.ensure_indexes()
    rs.faults.append("hangup")
    r = make_result(3)
    sink.write(r)
    sink.close()
    # the first update was applied, its reply lost; the retry carried the same txnNumber
    assert rs.applied["0"] == 1 + 2 * len(r.racers)
    assert len(rs.docs["results"]) == 1
    assert len(rs.docs["player_matches"]) == len(r.racers)


def test_mongo_no_primary_outbox_keeps_results_and_delivers_later(rs, data_dir):
    store = ResultStore(data_dir)
    results = [make_result(i) for i in range(10, 15)]
    for r in results:
        store.add(r)
    rs.step_down(None)  # an election that takes longer than pymongo's retries
    sink = sink_for(rs, timeout=0.3)
    now = [1000.0]
    drainer = OutboxDrainer(store, sink, clock=lambda: now[0], backoff=Backoff(rng=random.Random(1)))
    delays = []
    for _ in range(4):
        delays.append(drainer.drain_once())
        now[0] += delays[-1]
    assert store.outbox_count() == 5
    assert drainer.connected is False and "ServerSelectionTimeoutError" in drainer.last_error
    assert delays[1] > delays[0] and delays[3] > delays[1]  # exponential, with jitter
    assert "results" not in rs.docs
    rs.step_down(1)
    # a real backoff loop keeps trying; give pymongo's monitor time to see the new primary
    for _ in range(40):
        now[0] += drainer.drain_once()
        if store.outbox_count() == 0:
            break
    sink.close()
    assert store.outbox_count() == 0
    assert set(rs.docs["results"]) == {r.match_id for r in results}
    assert drainer.connected is True and drainer.backoff.failures == 0


def test_mongo_two_peers_writing_same_result_make_one_document(rs):
    r = make_result(4)
    a, b = sink_for(rs), sink_for(rs)
    a.write(r)
    b.write(r)
    a.close()
    b.close()
    assert list(rs.docs["results"]) == [r.match_id]
    assert len(rs.docs["player_matches"]) == len(r.racers)
    assert len(rs.docs["players"]) == len(r.racers)


def test_mongo_leaderboard_reads_a_secondary_while_there_is_no_primary(rs, data_dir):
    from replication.service import read_leaderboard

    store = ResultStore(data_dir)
    r = make_result(5)
    store.add(r)
    sink = sink_for(rs)
    sink.write(r)
    sink.close()
    rs.step_down(None)
    rs.reads.clear()  # the write read its own document back from the primary (compare-and-swap)
    board = read_leaderboard(store, rs.uri, timeout=3.0)
    assert board["source"] == "mongodb", board.get("mongodb_error")
    assert sorted(p["name"] for p in board["players"]) == sorted(x.name for x in r.racers)
    assert all(p["matches"] == 1 for p in board["players"])
    assert [m["match_id"] for m in board["recent"]] == [r.match_id]
    assert rs.reads and not any(by_primary for _, _, by_primary in rs.reads)
