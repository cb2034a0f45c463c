"""Match results that are never lost: signed records, a local SQLite store, peer sync and a
MongoDB sink through a durable outbox (docs/ARCHITECTURE.md section 6).

    replication.records      MatchResult, RacerResult, adjudicate      (pure, no I/O)
    replication.store        ResultStore: SQLite (WAL), stats, digest, outbox
    replication.sync         the sans-I/O sync core; replication.sync_server its TCP adapter
    replication.mongo        MongoSink; replication.outbox the drainer
    replication.service      ScoreService: all of it for one peer process

Heavy modules (pymongo) load only when used: `from replication import ScoreService` works.
"""

from __future__ import annotations

import importlib
from typing import Any

from replication.records import MatchResult, RacerResult, adjudicate

_LAZY = {
    "ResultStore": "replication.store",
    "ScoreService": "replication.service",
    "serve_sync": "replication.sync_server",
    "sync_with": "replication.sync_server",
    "sync_loop": "replication.sync_server",
    "ReplicatedScoreBoard": "replication.scoreboard",
}

__all__ = ["MatchResult", "RacerResult", "adjudicate", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
