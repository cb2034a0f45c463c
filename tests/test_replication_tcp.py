"""The asyncio TCP adapter of result sync: a real round on loopback, bounds, anti-entropy."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest

from replication.fixtures import make_result
from replication.store import ResultStore
from replication.sync import MAX_FRAME
from replication.sync_server import serve_sync, sync_loop, sync_with

pytestmark = pytest.mark.lan


def stores(tmp_path, n=2):
    return [ResultStore(path=str(tmp_path / f"s{i}.sqlite3")) for i in range(n)]


def test_tcp_round_syncs_both_ways(tmp_path):
    a, b = stores(tmp_path)
    for i in range(0, 60):
        a.add(make_result(i))
    for i in range(40, 100):
        b.add(make_result(i))

    async def go():
        server = await serve_sync(a, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        report = await sync_with(b, "127.0.0.1", port)
        again = await sync_with(b, "127.0.0.1", port)
        server.close()
        await server.wait_closed()
        return report, again

    report, again = asyncio.run(go())
    assert report.added == 40 and report.pushed == 40
    assert again.added == 0 and again.pushed == 0 and again.received == 0
    assert a.ids() == b.ids() and len(a.ids()) == 100 and a.digest() == b.digest()


def test_tcp_server_drops_oversized_and_garbage_frames_and_keeps_serving(tmp_path):
    (a,) = stores(tmp_path, 1)
    a.add(make_result(1))

    async def go():
        server = await serve_sync(a, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for payload in (struct.pack("!I", MAX_FRAME + 1), struct.pack("!I", 5) + b"{nope",
                        struct.pack("!I", 100) + b"short"):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(payload)
            if payload.endswith(b"short"):
                w.write_eof()
            data = await asyncio.wait_for(r.read(), 10)
            assert data == b""  # the server hung up without answering
            w.close()
        (b,) = [ResultStore(path=str(tmp_path / "b.sqlite3"))]
        report = await sync_with(b, "127.0.0.1", port)
        server.close()
        await server.wait_closed()
        return report, server.sync_stats

    report, stats = asyncio.run(go())
    assert report.added == 1
    assert stats["dropped"] == 3


def test_sync_loop_converges_three_peers(tmp_path):
    s = stores(tmp_path, 3)
    for k, store in enumerate(s):
        for i in range(k * 10, k * 10 + 10):
            store.add(make_result(i))

    async def go():
        servers = [await serve_sync(st, "127.0.0.1", 0) for st in s]
        ports = [srv.sockets[0].getsockname()[1] for srv in servers]
        loops = [asyncio.create_task(sync_loop(
            st, lambda k=k: [("127.0.0.1", p) for j, p in enumerate(ports) if j != k],
            interval=0.05, rng=random.Random(k))) for k, st in enumerate(s)]
        deadline = asyncio.get_running_loop().time() + 20
        while any(len(st.ids()) < 30 for st in s):
            assert asyncio.get_running_loop().time() < deadline, [len(st.ids()) for st in s]
            await asyncio.sleep(0.02)
        for t in loops:
            t.cancel()
        for srv in servers:
            srv.close()

    asyncio.run(go())
    assert s[0].digest() == s[1].digest() == s[2].digest()


def test_score_service_serves_and_syncs_with_peers(tmp_path):
    from replication import ScoreService

    dirs = [tmp_path / "x", tmp_path / "y"]
    for d in dirs:
        d.mkdir()
    x, y = (ScoreService(d) for d in dirs)
    x.add(make_result(1))
    y.add(make_result(2))

    async def go():
        px = await x.serve("127.0.0.1", 0)
        await y.serve("127.0.0.1", 0, peers=lambda: [("127.0.0.1", px)], interval=0.05)
        deadline = asyncio.get_running_loop().time() + 20
        while x.store.count() < 2 or y.store.count() < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        await y.stop_serving()
        await x.stop_serving()

    asyncio.run(go())
    assert x.store.digest() == y.store.digest()
    x.close()
    y.close()
