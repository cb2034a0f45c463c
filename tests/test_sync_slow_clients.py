"""Score sync that slow clients cannot hold: the issue's 8 connections trickling frames
from other hosts no longer keep sync refused for an honest peer; deadlines end sessions
that dawdle. Real sockets on loopback (attackers on 127.0.0.2-9, the honest peer on .1)."""

from __future__ import annotations

import asyncio

import pytest

from p2p_race.framing import frame
from replication.fixtures import make_result
from replication.store import ResultStore
from replication.sync import MAX_FRAME, Request, encode
from replication.sync_server import MAX_SESSIONS, serve_sync, sync_with

pytestmark = pytest.mark.lan


async def _slow_client(port: int, source: str, stop: asyncio.Event) -> None:
    """Opens a session and sends one byte of a frame now and then: never finishes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write((1000).to_bytes(4, "big"))  # a frame of 1,000 bytes, never finished
    with_data = True
    while not stop.is_set() and with_data:
        try:
            await asyncio.wait_for(stop.wait(), 0.3)
        except TimeoutError:
            writer.write(b"\x00")
        with_data = not reader.at_eof()
    writer.close()


async def _honest_round_then_stop(b: ResultStore, port: int, deadline: float, server,
                                  stop: asyncio.Event, attackers: list) -> tuple:
    """An honest peer retries one sync round until the deadline; then the attackers stop."""
    loop = asyncio.get_running_loop()
    report = None
    while report is None and loop.time() < deadline:
        try:
            report = await sync_with(b, "127.0.0.1", port, timeout=5)
        except (ConnectionError, OSError, TimeoutError):
            await asyncio.sleep(0.2)
    stats = dict(server.sync_stats)
    stop.set()
    await asyncio.gather(*attackers, return_exceptions=True)
    server.close()
    await server.wait_closed()
    return report, stats


def test_slow_clients_on_every_slot_do_not_keep_sync_refused(tmp_path) -> None:
    a = ResultStore(path=str(tmp_path / "a.sqlite3"))
    b = ResultStore(path=str(tmp_path / "b.sqlite3"))
    for i in range(30):
        a.add(make_result(i))

    async def go():
        server = await serve_sync(a, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        attackers = [asyncio.create_task(_slow_client(port, f"127.0.0.{2 + i % 8}", stop))
                     for i in range(2 * MAX_SESSIONS)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while server.sync_stats["busy"] < MAX_SESSIONS and loop.time() < deadline:
            await asyncio.sleep(0.05)  # every slot is held, the rest were refused
        assert server.sync_stats["busy"] >= MAX_SESSIONS
        return await _honest_round_then_stop(b, port, deadline, server, stop, attackers)

    report, stats = asyncio.run(go())
    assert report is not None and report.added == 30
    assert stats["shed"] >= 1


def test_one_address_holds_at_most_its_share_and_dawdlers_hit_the_deadline(tmp_path) -> None:
    a = ResultStore(path=str(tmp_path / "a.sqlite3"))

    async def go():
        server = await serve_sync(a, "127.0.0.1", 0, session_timeout=1.0)
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        attackers = [asyncio.create_task(_slow_client(port, "127.0.0.2", stop)) for _ in range(6)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while server.sync_stats["dropped"] < 2 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        stats = dict(server.sync_stats)
        stop.set()
        await asyncio.gather(*attackers, return_exceptions=True)
        server.close()
        await server.wait_closed()
        return stats

    stats = asyncio.run(go())
    assert stats["busy"] + stats.get("shed", 0) >= 4  # 6 from one address, 2 slots for it
    assert stats["dropped"] >= 2  # the admitted ones ran into the session deadline


async def _chatty_client(port: int, source: str, stop: asyncio.Event) -> None:
    """Holds a session by sending a cheap, valid frame every 0.5 s: never slow, never done."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    request = frame(encode(Request(ids=())), MAX_FRAME)
    while not stop.is_set() and not reader.at_eof():
        writer.write(request)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass
    writer.close()


def test_chatty_clients_on_every_slot_do_not_keep_sync_refused(tmp_path) -> None:
    """The red team's lock-out: 4 addresses x 2 sessions sending a request every 0.5 s."""
    a = ResultStore(path=str(tmp_path / "a.sqlite3"))
    b = ResultStore(path=str(tmp_path / "b.sqlite3"))
    for i in range(10):
        a.add(make_result(i))

    async def go():
        server = await serve_sync(a, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        attackers = [asyncio.create_task(_chatty_client(port, f"127.0.0.{2 + i % 4}", stop))
                     for i in range(MAX_SESSIONS)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        return await _honest_round_then_stop(b, port, deadline, server, stop, attackers)

    report, stats = asyncio.run(go())
    assert report is not None and report.added == 10
    assert stats.get("shed", 0) >= 1
