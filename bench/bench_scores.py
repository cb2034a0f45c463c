"""Scores: MongoDB outbox drain rate (nx-27017 on loopback), leaderboard query time over
100,000 local results, and peer sync time for 10,000 results over loopback TCP."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from replication.fixtures import make_result
from replication.nx import NxServer
from replication.outbox import OutboxDrainer
from replication.service import local_leaderboard, read_leaderboard
from replication.store import ResultStore
from replication.sync_server import serve_sync, sync_with

TITLE = "Scores: outbox to MongoDB, leaderboard queries, peer sync"


def _fill(store: ResultStore, n: int, start: int = 0, batch: int = 1000) -> None:
    for k in range(start, start + n, batch):
        store.offer_many([make_result(i) for i in range(k, min(start + n, k + batch))])


def _timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_drain(tmp: Path, n: int) -> list[dict]:
    nx = NxServer(tmp / "nx").start()
    try:
        uri = nx.uri("bench")
        store = ResultStore(path=str(tmp / "drain.sqlite3"))
        _fill(store, n)
        from replication.mongo import MongoSink

        sink = MongoSink(uri)
        sink.ensure_indexes()
        drainer = OutboxDrainer(store, sink)
        t0 = time.perf_counter()
        while store.outbox_count():
            drainer.drain_once()
        elapsed = time.perf_counter() - t0
        racers = sum(len(r.racers) for r in store.all())
        t_read = _timed(lambda: read_leaderboard(store, uri, 20), 5)
        sink.close()
        store.close()
    finally:
        nx.stop()
    rate = n / elapsed
    return [
        {"metric": "outbox drain rate to MongoDB (nx-27017, w=majority)", "value": rate, "unit": "results/s",
         "target": ">= 50 results/s", "ok": rate >= 50,
         "note": f"{n} results, {1 + 2 * racers / n:.1f} idempotent upserts each, one at a time, loopback"},
        {"metric": "leaderboard read from MongoDB (nx-27017), median", "value": statistics.median(t_read),
         "unit": "ms", "target": "<= 1000 ms", "ok": statistics.median(t_read) <= 1000,
         "note": "top 20 players, 2 count_documents each (nx-27017 scans for counts; an indexed "
                 "count on mongod is sub-ms) + 10 recent, fresh client each time"},
    ]


def bench_query(tmp: Path, n: int) -> list[dict]:
    store = ResultStore(path=str(tmp / "big.sqlite3"), synchronous="NORMAL")
    t0 = time.perf_counter()
    _fill(store, n)
    fill_s = time.perf_counter() - t0
    board = _timed(lambda: local_leaderboard(store, 20), 20)
    player = _timed(lambda: local_leaderboard(store, 20, player="ann"), 20)
    store.close()
    med, p95 = statistics.median(board), sorted(board)[int(len(board) * 0.95) - 1]
    return [
        {"metric": f"local leaderboard query, {n:,} results (median)", "value": med, "unit": "ms",
         "target": "<= 50 ms", "ok": med <= 50, "note": f"p95 {p95:.2f} ms; top 20 + 10 recent"},
        {"metric": f"local per-player query, {n:,} results (median)", "value": statistics.median(player),
         "unit": "ms", "target": "<= 100 ms", "ok": statistics.median(player) <= 100,
         "note": "one player's stats + their 10 most recent matches"},
        {"metric": "storing verified results (batched)", "value": n / fill_s, "unit": "results/s",
         "note": "signature check + one transaction per 1000 results"},
    ]


def bench_sync(tmp: Path, n: int) -> list[dict]:
    a = ResultStore(path=str(tmp / "a.sqlite3"))
    b = ResultStore(path=str(tmp / "b.sqlite3"))
    _fill(a, n)

    async def go() -> float:
        server = await serve_sync(a, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t0 = time.perf_counter()
        report = await sync_with(b, "127.0.0.1", port, timeout=120)
        elapsed = time.perf_counter() - t0
        server.close()
        await server.wait_closed()
        assert report.added == n, report
        return elapsed

    elapsed = asyncio.run(go())
    ok = a.digest() == b.digest()
    a.close()
    b.close()
    return [{"metric": f"peer sync of {n:,} results (empty peer pulls all)", "value": elapsed, "unit": "s",
             "target": "<= 10 s", "ok": ok and elapsed <= 10,
             "note": "loopback TCP, every record's signature verified on receipt; digests equal after"}]


def run(quick: bool) -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = bench_drain(tmp, 100 if quick else 1000)
        rows += bench_query(tmp, 10_000 if quick else 100_000)
        rows += bench_sync(tmp, 2_000 if quick else 10_000)
    return rows
