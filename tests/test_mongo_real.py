"""The MongoDB suite against a real deployment: `MONGODB_URI=... make test-mongo`.

Runs only when P2P_RACE_TEST_MONGODB_URI is set (make test-mongo sets it from MONGODB_URI);
each test uses its own throw-away database and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid

import pymongo
import pytest

from replication.fixtures import make_result
from replication.mongo import MongoSink, redact
from replication.nx import with_db
from replication.service import ScoreService, local_leaderboard, read_leaderboard

URI = os.environ.get("P2P_RACE_TEST_MONGODB_URI", "")
pytestmark = pytest.mark.skipif(
    not URI, reason="no real MongoDB: set MONGODB_URI and run `make test-mongo` "
                    "(mockupdb and nx-27017 tests cover the wire path meanwhile)")


@pytest.fixture
def uri():
    db = "p2p_race_test_" + uuid.uuid4().hex[:10]
    full = with_db(URI, db)
    yield full
    client = pymongo.MongoClient(full, serverSelectionTimeoutMS=10_000)
    client.drop_database(db)
    client.close()


def test_mongo_real_outbox_write_and_leaderboard_read(uri, data_dir):
    service = ScoreService(data_dir, uri)
    results = [make_result(i, players=("ann", "bob", "cyd")) for i in range(6)]
    for r in results:
        service.add(r)
    assert service.drainer.wait_empty(60.0), service.drainer.drainer.last_error
    board = read_leaderboard(service.store, uri, timeout=10.0)
    assert board["source"] == "mongodb", board.get("mongodb_error")
    local = local_leaderboard(service.store)
    assert [(p["name"], p["best"], p["matches"], p["wins"]) for p in board["players"]] == \
        [(p["name"], p["best"], p["matches"], p["wins"]) for p in local["players"]]
    assert board["recent"] == local["recent"]
    service.close()


def test_mongo_real_same_result_twice_is_one_document(uri):
    r = make_result(7)
    for _ in range(2):
        sink = MongoSink(uri, server_selection_timeout=10.0)
        sink.write(r)
        sink.close()
    sink = MongoSink(uri, server_selection_timeout=10.0)
    assert sink.db.results.count_documents({"_id": r.match_id}) == 1
    assert sink.db.player_matches.count_documents({"match_id": r.match_id}) == len(r.racers)
    assert sink.get(r.match_id) == r
    assert sink.client.options.write_concern.document.get("w") == "majority"
    sink.close()


def test_mongo_real_uri_is_redacted():
    assert "@" not in URI or ":***@" in redact(URI) or "***@" in redact(URI)
