"""ScoreService: the local store, the outbox drainer and the MongoDB sink, tied together.

This is what a peer process holds: `service.add(result)` stores a signed result (and queues
it for MongoDB in the same transaction); the drainer thread delivers queued results when a
MongoDB URI is configured. `leaderboard()` reads MongoDB when it answers within a short
timeout and the local store otherwise, and says which in `source`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from pymongo import errors

from replication.mongo import MongoSink, redact, safe_error
from replication.outbox import DrainerThread, OutboxDrainer
from replication.records import MatchResult
from replication.store import ResultStore, recent_json
from replication.sync_server import serve_sync, sync_loop

log = logging.getLogger(__name__)

ENV_URI = "P2P_RACE_MONGODB_URI"
READ_TIMEOUT = 1.5  # seconds the leaderboard waits for MongoDB before showing local data


def resolve_uri(cli_value: str | None, config_value: str = "") -> str | None:
    """--mongodb-uri wins over P2P_RACE_MONGODB_URI, which wins over config.json."""
    return cli_value or os.environ.get(ENV_URI) or config_value or None


def local_leaderboard(store: ResultStore, limit: int = 20, player: str | None = None,
                      recent: int = 10) -> dict:
    stats = store.player(player) if player is not None else store.leaderboard(limit)
    matches = store.player_matches(player, recent) if player is not None else store.recent(recent)
    return {
        "source": "local",
        "players": [p.to_json() for p in stats[:limit]],
        "recent": [recent_json(r) for r in matches],
    }


def read_leaderboard(store: ResultStore, uri: str | None, limit: int = 20,
                     player: str | None = None, recent: int = 10,
                     timeout: float = READ_TIMEOUT) -> dict:
    """MongoDB's leaderboard when it answers, else the local one (with `mongodb_error`)."""
    if uri:
        try:
            sink = MongoSink(uri, server_selection_timeout=timeout, socket_timeout=timeout * 2)
        except ValueError as exc:
            board = local_leaderboard(store, limit, player, recent)
            board["mongodb_error"] = str(exc)
            board["mongodb_uri"] = redact(uri)
            return board
        try:
            return sink.leaderboard(limit, player, recent)
        except errors.PyMongoError as exc:
            msg = safe_error(exc, uri)
            log.info("MongoDB leaderboard unavailable (%s); showing local scores", msg)
            board = local_leaderboard(store, limit, player, recent)
            board["mongodb_error"] = msg
            board["mongodb_uri"] = redact(uri)
            return board
        finally:
            sink.close()
    return local_leaderboard(store, limit, player, recent)


class ScoreService:
    """One peer's scores: `ResultStore` + (when a URI is given) outbox drainer + MongoDB sink."""

    def __init__(self, data_dir: Path | str, mongodb_uri: str | None = None, *,
                 start: bool = True, **sink_options: object) -> None:
        self.store = ResultStore(data_dir)
        self.uri = mongodb_uri or None
        self.sink: MongoSink | None = None
        self.drainer: DrainerThread | None = None
        if self.uri:
            try:
                self.sink = MongoSink(self.uri, **sink_options)  # type: ignore[arg-type]
            except ValueError as exc:
                log.error("%s; scores stay local", exc)
            else:
                self.drainer = DrainerThread(OutboxDrainer(self.store, self.sink))
                self.store.listeners.append(self.drainer.kick)
                if start:
                    self.drainer.start()
                log.info("scores sync to MongoDB at %s", redact(self.uri))

    def add(self, result: MatchResult) -> bool:
        """Store a signed result (and queue it for MongoDB); True when it was new."""
        return self.store.add(result)

    async def serve(self, host: str, port: int = 0,
                    peers: Callable[[], list[tuple[str, int]]] | None = None,
                    interval: float = 20.0) -> int:
        """Host score sync on host:port (call from the process's asyncio loop) and, given
        `peers()` -> [(host, sync_port)], sync with a random one every ~interval s.
        Returns the bound port (advertise it, e.g. in the discovery TXT record)."""
        self._server = await serve_sync(self.store, host, port)
        if peers is not None:
            self._sync_task = asyncio.create_task(sync_loop(self.store, peers, interval=interval))
        return self._server.sockets[0].getsockname()[1]

    async def stop_serving(self) -> None:
        task, server = getattr(self, "_sync_task", None), getattr(self, "_server", None)
        if task is not None:
            # cancel until it ends: on Python 3.11 `asyncio.wait_for` can swallow a
            # cancellation that lands as its inner await completes, and the loop would go on
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        if server is not None:
            server.close()
            await server.wait_closed()

    def leaderboard(self, limit: int = 20, player: str | None = None, recent: int = 10) -> dict:
        return read_leaderboard(self.store, self.uri, limit, player, recent)

    def close(self) -> None:
        if self.drainer is not None:
            self.drainer.stop()
        if self.sink is not None:
            self.sink.close()
        self.store.close()
