"""Crash safety of the store: SIGKILL a process while it stores results, many times; every
result it reported as stored is there after restart, with its outbox entry, and the
database passes SQLite's integrity check."""

from __future__ import annotations

import json
import random
import signal
import sqlite3

import pytest

from replication.fixtures import make_result
from replication.store import ResultStore
from tests.support.proc import PYTHON, cli_env, spawn, wait_until

pytestmark = pytest.mark.lan


def test_sigkill_while_storing_loses_no_acknowledged_result(tmp_path):
    data = tmp_path / "peer"
    data.mkdir()
    rng = random.Random(7)
    promised: set[str] = set()
    start = 0
    for _ in range(4):
        proc, out = spawn([PYTHON, "-m", "replication", "serve", "--data-dir", str(data),
                           "--add-fixtures", "400", "--fixture-start", str(start), "--each"], cli_env())
        want = rng.randint(5, 60)
        wait_until(lambda w=want, o=out: sum('"stored_one"' in x for x in o.lines) >= w, 60.0,
                   what=f"{want} results stored")
        proc.send_signal(signal.SIGKILL)  # mid-stream: likely inside a transaction
        proc.wait(10)
        promised |= {json.loads(x)["id"] for x in list(out.lines) if '"stored_one"' in x}
        start += 400
        store = ResultStore(data)
        ids = store.ids()
        assert promised <= ids
        assert store.outbox_count() == len(ids)  # nothing drained: no MongoDB configured
        board_matches = sum(p.matches for p in store.leaderboard(1000))
        assert board_matches == sum(len(store.get(i).racers) for i in ids)  # stats match results
        store.close()
        db = sqlite3.connect(data / "scores.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    assert 20 <= len(promised) < 1600  # killed mid-stream each time, not after the last one
    assert make_result(0).match_id in promised
