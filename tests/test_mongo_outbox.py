"""Outbox policy and credential redaction, without a server: the drainer's decisions are a
pure function of what the sink raises (injected clock and RNG)."""

from __future__ import annotations

import random

import pytest
from pymongo import errors

from p2p_race.backoff import Backoff
from replication.fixtures import make_result
from replication.mongo import MongoSink, is_transient, redact, safe_error
from replication.outbox import POISON_DELAY, DrainerThread, OutboxDrainer
from replication.store import ResultStore


class FlakySink:
    uri = "mongodb://bob:hunter2@db1,db2/?replicaSet=rs0"

    def __init__(self) -> None:
        self.fail_with: list[BaseException] = []
        self.written: list[str] = []

    def write(self, r) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.written.append(r.match_id)


def test_mongo_redact_hides_passwords_in_every_uri_form():
    assert redact("mongodb://u:p%40ss@h1:27017,h2/db?replicaSet=rs") == "mongodb://u:***@h1:27017,h2/db?replicaSet=rs"
    assert redact("mongodb+srv://admin:pw@cluster0.example.net/x") == "mongodb+srv://admin:***@cluster0.example.net/x"
    assert redact("mongodb://h1,h2/?replicaSet=rs") == "mongodb://h1,h2/?replicaSet=rs"
    assert redact("error talking to mongodb://a:b@h: boom") == "error talking to mongodb://a:***@h: boom"
    uri = "mongodb://bob:hunter2@db/"
    assert "hunter2" not in safe_error(RuntimeError("auth failed for bob:hunter2 at hunter2"), uri)


def test_mongo_invalid_uri_error_has_no_password():
    with pytest.raises(ValueError) as info:
        MongoSink("mongodb://bob:hunter2@db:notaport/")
    assert "hunter2" not in str(info.value) and "bob:***@" in str(info.value)


def test_mongo_transient_classification():
    assert is_transient(errors.ServerSelectionTimeoutError("no primary"))
    assert is_transient(errors.AutoReconnect("reset"))
    assert is_transient(errors.NotPrimaryError("stepped down", {"code": 10107}))
    assert is_transient(errors.OperationFailure("x", code=11600))
    assert is_transient(errors.WriteConcernError("wtimeout", 64, {}))
    assert not is_transient(errors.OperationFailure("auth", code=18))
    assert not is_transient(errors.DocumentTooLarge("big"))


def test_mongo_backoff_grows_exponentially_with_jitter_and_caps():
    b = Backoff(base=0.5, cap=30.0, rng=random.Random(3))
    delays = [b.fail() for _ in range(12)]
    for k, d in enumerate(delays):
        full = min(30.0, 0.5 * 2**k)
        assert full / 2 <= d <= full
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    b.reset()
    assert b.fail() <= 0.5


def test_mongo_outbox_transient_failure_keeps_everything_and_poison_is_set_aside(data_dir):
    store = ResultStore(data_dir)
    for i in range(3):
        store.add(make_result(i))
    sink = FlakySink()
    now = [100.0]
    d = OutboxDrainer(store, sink, clock=lambda: now[0], backoff=Backoff(rng=random.Random(1)))
    sink.fail_with = [errors.AutoReconnect("connection reset by hunter2")]
    delay = d.drain_once()
    assert 0 < delay <= 0.5 and store.outbox_count() == 3 and sink.written == []
    assert "hunter2" not in d.last_error
    sink.fail_with = [errors.WriteError("document failed validation", code=121)]
    now[0] += delay
    d.drain_once()
    first = make_result(0).match_id
    assert sink.written == [make_result(1).match_id, make_result(2).match_id]
    assert store.outbox_count() == 1  # the refused one waits an hour, the rest went through
    assert store.outbox_due(now[0] + POISON_DELAY - 1) == []
    assert [r.match_id for r in store.outbox_due(now[0] + POISON_DELAY + 1)] == [first]


def test_mongo_outbox_auth_failure_backs_off_for_all_instead_of_parking_each(data_dir):
    store = ResultStore(data_dir)
    for i in range(3):
        store.add(make_result(i))
    sink = FlakySink()
    d = OutboxDrainer(store, sink, clock=lambda: 100.0, backoff=Backoff(rng=random.Random(1)))
    sink.fail_with = [errors.OperationFailure("Authentication failed.", code=18)]
    assert d.drain_once() > 0
    assert len(store.outbox_due(100.0)) == 3 and sink.written == []


def test_mongo_outbox_thread_delivers_new_results_when_kicked(data_dir):
    store = ResultStore(data_dir)
    sink = FlakySink()
    t = DrainerThread(OutboxDrainer(store, sink)).start()
    store.listeners.append(t.kick)
    try:
        for i in range(5):
            store.add(make_result(i))
        assert t.wait_empty(10.0)
    finally:
        t.stop()
    assert sorted(sink.written) == sorted(make_result(i).match_id for i in range(5))
