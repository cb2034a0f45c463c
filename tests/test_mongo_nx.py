"""End to end against nx-27017, a real MongoDB wire-protocol server (on SQLite) on loopback:
outbox writes, leaderboard reads, the CLI, SIGKILL durability, concurrent writers."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

import pytest

from replication.fixtures import make_result
from replication.nx import NxServer, free_port
from replication.service import ScoreService, local_leaderboard, read_leaderboard
from replication.store import ResultStore
from tests.support.proc import PYTHON, cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan


@pytest.fixture(scope="module")
def nx(tmp_path_factory):
    server = NxServer(tmp_path_factory.mktemp("nx")).start()
    yield server
    server.stop()


@pytest.fixture
def db_name():
    return "t" + uuid.uuid4().hex[:12]


def comparable(board: dict) -> tuple:
    return ([(p["name"], p["best"], p["matches"], p["wins"]) for p in board["players"]],
            board["recent"])


def test_mongo_nx_outbox_delivers_and_leaderboard_reads_mongodb(nx, data_dir, db_name):
    uri = nx.uri(db_name)
    service = ScoreService(data_dir, uri)
    results = [make_result(i, players=("ann", "bob", "cyd", "dee")) for i in range(8)]
    for r in results:
        service.add(r)
    assert service.drainer.wait_empty(20.0)
    board = read_leaderboard(service.store, uri, limit=10)
    assert board["source"] == "mongodb"
    local = local_leaderboard(service.store, limit=10)
    assert comparable(board) == comparable(local)
    db = nx.client()[db_name]
    assert db.results.count_documents({}) == 8
    assert db.player_matches.count_documents({}) == 32
    # the player filter works on both sources alike
    one = read_leaderboard(service.store, uri, player="bob")
    assert [p["name"] for p in one["players"]] == ["bob"]
    assert comparable(one) == comparable(local_leaderboard(service.store, player="bob"))
    service.close()


def test_mongo_nx_two_peers_writing_same_result_make_one_document(nx, tmp_path, db_name):
    uri = nx.uri(db_name)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = ScoreService(tmp_path / "a", uri), ScoreService(tmp_path / "b", uri)
    r = make_result(42)
    a.add(r)
    b.add(r)
    assert a.drainer.wait_empty(20.0) and b.drainer.wait_empty(20.0)
    db = nx.client()[db_name]
    assert db.results.count_documents({"_id": r.match_id}) == 1
    assert db.player_matches.count_documents({"match_id": r.match_id}) == len(r.racers)
    assert db.players.count_documents({}) == len(r.racers)
    board = read_leaderboard(a.store, uri)
    assert all(p["matches"] == 1 for p in board["players"])
    a.close()
    b.close()


def test_mongo_nx_leaderboard_cli_json_and_fallback_without_credentials_leak(nx, data_dir, db_name):
    store = ResultStore(data_dir)
    for i in range(3):
        store.add(make_result(i))
    store.close()
    env = cli_env(data_dir)
    out = subprocess.run(p2p_race_cmd("leaderboard", "--json", "--no-pull", "--mongodb-uri", nx.uri(db_name)),
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    board = json.loads(out.stdout)
    assert board["source"] == "mongodb" and board["players"] == []  # nothing drained yet
    dead = f"mongodb://alice:s3cr3tpw@127.0.0.1:{free_port()}/x?serverSelectionTimeoutMS=300"
    out = subprocess.run(p2p_race_cmd("leaderboard", "--json", "--no-pull", "-v"), env={**env, "P2P_RACE_MONGODB_URI": dead},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    board = json.loads(out.stdout)
    assert board["source"] == "local"
    assert set(board) >= {"source", "players", "recent"}
    assert {"name", "best", "matches", "wins"} <= set(board["players"][0])
    assert {"match_id", "winner", "scores", "t"} == set(board["recent"][0])
    assert len(board["recent"]) == 3
    assert "s3cr3tpw" not in out.stdout + out.stderr
    text = subprocess.run(p2p_race_cmd("leaderboard", "--no-pull", "--limit", "2"), env={**env, "P2P_RACE_MONGODB_URI": dead},
                          capture_output=True, text=True, timeout=60)
    assert "source: local" in text.stdout and "s3cr3tpw" not in text.stdout + text.stderr
    assert "alice:***@" in text.stdout


def test_mongo_nx_sigkill_between_store_and_sync_loses_nothing(nx, tmp_path, db_name):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    dead = f"mongodb://127.0.0.1:{free_port()}/{db_name}?directConnection=true"
    cmd = [PYTHON, "-m", "replication", "serve", "--data-dir", str(a_dir)]
    proc, out = spawn([*cmd, "--mongodb-uri", dead, "--add-fixtures", "4", "--fixture-start", "100"],
                      cli_env())
    line = out.wait_for(lambda s: '"stored"' in s, 30.0, what="results stored")
    ids = set(json.loads(line)["ids"])
    proc.send_signal(signal.SIGKILL)  # before MongoDB or any peer saw the results
    proc.wait(10)
    store = ResultStore(a_dir)
    assert store.ids() == ids and store.outbox_count() == 4
    store.close()
    # restarted with a MongoDB that answers: the outbox drains; a peer syncs from it
    proc, out = spawn([*cmd, "--mongodb-uri", nx.uri(db_name)], cli_env())
    try:
        port = json.loads(out.wait_for(lambda s: '"listening"' in s, 30.0, what="listening"))["port"]
        db = nx.client()[db_name]
        wait_until(lambda: db.results.count_documents({}) == 4, 30.0, what="outbox drained to MongoDB")
        got = subprocess.run(
            p2p_race_cmd("leaderboard", "--json", "--local", "--sync-with", f"127.0.0.1:{port}"),
            env=cli_env(b_dir), capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        assert {m["match_id"] for m in json.loads(got.stdout)["recent"]} == ids
        wait_until(lambda: ResultStore(a_dir).outbox_count() == 0, 10.0, what="outbox emptied")
    finally:
        proc.terminate()
        proc.wait(10)
    assert set(d["_id"] for d in db.results.find()) == ids


def test_mongo_nx_keeps_the_preferred_record_whatever_was_written_first(nx, db_name):
    """A store that lacked the real record once wrote a valid later-term rival (a partition's
    other side); when the real term-1 record arrives, MongoDB ends with it, as every local
    store does, and the rival's rows go with it. The order of writers changes nothing."""
    from replication.evidence import accept_problem
    from replication.fixtures import rival
    from replication.mongo import MongoSink

    honest = make_result(61, players=("ann", "bob", "cyd"))
    other = rival(honest, "bob", 2, racer=0)  # ann heard only in part: abandoned
    assert accept_problem(other) is None and other.outcome_hash() != honest.outcome_hash()
    for order, name in (((other, honest), db_name), ((honest, other), db_name + "b")):
        sink = MongoSink(nx.uri(name))
        for r in order:
            sink.write(r)
        sink.write(order[0])  # a retry of the first changes nothing either
        assert sink.get(honest.match_id) == honest
        db = nx.client()[name]
        rows = {d["peer_id"]: d for d in db.player_matches.find({"match_id": honest.match_id})}
        assert {pid: d["score"] for pid, d in rows.items()} == {x.peer_id: x.score for x in honest.racers}
        assert [pid for pid, d in rows.items() if d["won"]] == [honest.winner_id]
        sink.close()


def test_mongo_nx_replaces_a_document_that_does_not_verify(nx, db_name):
    """Anyone with the URI can write: a forged document in the results collection is not
    "first", it is replaced by the first record that verifies."""
    from replication.mongo import MongoSink

    r = make_result(62, players=("ann", "bob"))
    db = nx.client()[db_name]
    forged = r.to_json()
    del forged["match_id"]
    forged["racers"][0]["score"] += 1000
    db.results.insert_one({"_id": r.match_id, **forged, "t": r.finished_at})
    db.player_matches.insert_one({"_id": f"{'0' * 16}:{r.match_id}", "peer_id": "0" * 16, "match_id": r.match_id,
                                  "score": 10**6, "won": True, "name": "mallory", "t": r.finished_at})
    sink = MongoSink(nx.uri(db_name))
    sink.write(r)
    assert sink.get(r.match_id) == r
    assert db.player_matches.count_documents({"match_id": r.match_id}) == len(r.racers)
    sink.close()
