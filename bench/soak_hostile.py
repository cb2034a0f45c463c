"""Soak: a chat service and a game peer (a hosting bot: discovery, match, score sync) under
mixed hostile traffic from other loopback addresses, while honest peers keep using both.

    python -m bench.soak_hostile [SECONDS]     figures as JSON (the issue's run: 600 s)

Hostile mix, all at once for the whole run: connections that never say hello, idle
client sessions, peer sessions holding half-sent large frames, garbage frames, a flood of
lines from fresh identities, lines with far-ahead clocks, a client asking for the whole
history and never reading, peer hellos naming many addresses; junk and fresh-identity
hellos at the game port; sync sessions trickling one byte at a time. Every few seconds an
honest chat line must be acked and listed, an honest discovery peer must list the game
peer, and an honest score sync round must complete. RSS of both processes is sampled;
the bar is +20 MB over the warmed-up baseline (tests/test_soak_hostile.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat.client import ChatClient, query_service
from chat.framing import encode_frame
from chat.message import MAX_CLOCK, ChatMessage
from p2p_race.identity import Identity
from p2p_race.wire import Codec
from replication.store import ResultStore
from replication.sync_server import sync_with
from tests.support.proc import cli_env, p2p_race_cmd, wait_until

WARMUP = 8.0
CHECK_EVERY = 4.0


def rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], data_dir: Path, log: Path) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log, "w")  # noqa: SIM115 - owned by the process for its life
    return subprocess.Popen(p2p_race_cmd(*args), env=cli_env(data_dir), stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


async def _connect(port: int, source: str):
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 3)


async def _loop(stop: asyncio.Event, every: float, fn, counts: dict[str, int], name: str) -> None:
    while not stop.is_set():
        try:
            await fn()
            counts[name] = counts.get(name, 0) + 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            counts[name + "_refused"] = counts.get(name + "_refused", 0) + 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def hostile(chat_port: int, game_port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    rng = random.Random(7)
    held: dict[int, list[asyncio.StreamWriter]] = {}

    def hold(w: asyncio.StreamWriter, limit: int = 300) -> None:
        """Keep the newest `limit` connections of this kind open (the kind: its limit)."""
        mine = held.setdefault(limit, [])
        mine.append(w)
        while len(mine) > limit:
            mine.pop(0).close()

    async def no_hello() -> None:
        _r, w = await _connect(chat_port, "127.0.0.2")
        hold(w, 300)

    async def idle_client() -> None:
        _r, w = await _connect(chat_port, "127.0.0.3")
        w.write(encode_frame({"t": "hello", "role": "client", "id": "idle"}))
        hold(w, 299)

    async def half_frame() -> None:
        _r, w = await _connect(chat_port, "127.0.0.4")
        w.write(encode_frame({"t": "hello", "role": "peer", "id": rng.randbytes(8).hex(), "port": 9}))
        w.write((1_000_000).to_bytes(4, "big") + b"x" * 600_000)
        hold(w, 60)

    async def garbage() -> None:
        _r, w = await _connect(chat_port, "127.0.0.5")
        w.write(rng.randbytes(rng.randint(1, 3000)))
        w.write(encode_frame({"t": "hello", "role": "client", "id": "g"}) + encode_frame({"t": rng.choice(
            ["submit", "hist", "sub", "nope"]), "m": {"k": 1}, "limit": -1}))
        await w.drain()
        w.close()

    async def sybil_lines() -> None:
        r, w = await _connect(chat_port, "127.0.0.6")
        w.write(encode_frame({"t": "hello", "role": "client", "id": "s"}))
        for i in range(20):
            who = Identity.generate()
            clock = MAX_CLOCK - 1 if i % 5 == 0 else rng.randint(1, 10**6)
            m = ChatMessage.create(who, name=f"sybil{i}", channel="lobby", text="spam " * 20, clock=clock,
                                   t=time.time() - rng.randint(0, 10**6))
            w.write(encode_frame({"t": "submit", "m": m.to_wire()}))
        await w.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(r.read(1 << 20), 0.5)
        w.close()

    async def never_reads() -> None:
        _r, w = await _connect(chat_port, "127.0.0.7")
        w.write(encode_frame({"t": "hello", "role": "client", "id": "slow"}))
        for _ in range(6):
            w.write(encode_frame({"t": "hist"}))
        hold(w, 20)

    async def many_addresses() -> None:
        _r, w = await _connect(chat_port, "127.0.0.8")
        w.write(encode_frame({"t": "hello", "role": "peer", "id": rng.randbytes(8).hex(), "port": 9,
                              "peers": [["127.0.0.99", 1000 + rng.randrange(60000)] for _ in range(64)]}))
        await w.drain()
        w.close()

    async def slow_sync() -> None:
        _r, w = await _connect(game_port, "127.0.0.10")
        w.write((2000).to_bytes(4, "big"))
        hold(w, 320)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.9", 0))
    udp.setblocking(False)
    from discovery.messages import Hello
    from discovery.txt import SERVICE_TYPE

    async def udp_junk() -> None:
        for _ in range(100):
            with contextlib.suppress(BlockingIOError):
                udp.sendto(rng.randbytes(rng.randint(1, 1200)), ("127.0.0.1", game_port))
        for _ in range(10):
            who = Identity.generate()
            hello = Hello(who.public_key, SERVICE_TYPE, f"sybil{rng.randrange(10**6)}", 9, 0, "lobby", "", True)
            with contextlib.suppress(BlockingIOError):
                udp.sendto(Codec(who).encode(hello, time.time()), ("127.0.0.1", game_port))

    tasks = [
        _loop(stop, 0.05, no_hello, counts, "no_hello"),
        _loop(stop, 0.05, idle_client, counts, "idle_client"),
        _loop(stop, 0.3, half_frame, counts, "half_frame"),
        _loop(stop, 0.02, garbage, counts, "garbage"),
        _loop(stop, 0.2, sybil_lines, counts, "sybil_lines"),
        _loop(stop, 1.0, never_reads, counts, "never_reads"),
        _loop(stop, 2.0, many_addresses, counts, "many_addresses"),
        _loop(stop, 0.1, slow_sync, counts, "slow_sync"),
        _loop(stop, 0.05, udp_junk, counts, "udp_junk"),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for ws in held.values():
            for w in ws:
                w.close()
        udp.close()


async def honest(chat_dir: Path, chat_addr, game_port: int, work: Path, stop: asyncio.Event,
                 result: dict[str, Any]) -> None:
    from discovery import Discovery
    from p2p_race.transport import UdpTransport

    me = Identity.from_seed(b"soak-honest")
    transport = UdpTransport(me, host="127.0.0.1", port=0)
    await transport.start()
    disco = Discovery(me, transport, "honest", peers=[f"127.0.0.1:{game_port}"], mdns=False)
    await disco.start()
    store = ResultStore(path=str(work / "honest-scores.sqlite3"))
    result.update(chat_ok=0, chat_fail=0, sync_ok=0, sync_fail=0, listed_ok=0, listed_fail=0)
    client = ChatClient(chat_dir, name="honest", identity=me, peers=[chat_addr], use_local=False)
    try:
        with client:
            i = 0
            while not stop.is_set():
                i += 1
                text = f"honest {i}"

                def say(text: str = text) -> bool:
                    try:
                        msg = client.send(text)
                    except Exception:  # noqa: BLE001 - counted as a failure
                        return False
                    return client.wait_acked(msg.id, 10) and text in [
                        ChatMessage.from_wire(m).text for m in query_service(chat_addr, {"t": "hist"}, 10)["m"]]

                ok = await asyncio.to_thread(say)
                result["chat_ok" if ok else "chat_fail"] += 1
                try:
                    await sync_with(store, "127.0.0.1", game_port, timeout=10)
                    result["sync_ok"] += 1
                except Exception as exc:  # noqa: BLE001 - counted (and the last one kept)
                    result["sync_fail"] += 1
                    result["sync_error"] = f"{type(exc).__name__}: {exc}"
                listed = any(p.name == "GamePeer" for p in disco.peers())
                result["listed_ok" if listed else "listed_fail"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHECK_EVERY)
    finally:
        await disco.stop()
        transport.close()
        store.close()


def run(duration: float, work: Path | None = None) -> dict[str, Any]:
    work = Path(work or tempfile.mkdtemp(prefix="soak-"))
    game_port = free_port()
    chat = start(["chat", "--serve", "--port", "0", "--no-discovery", "--name", "ChatSvc", "--host", "127.0.0.1"],
                 work / "chat", work / "chat.log")
    bot = start(["bot", "--host", "--racers", "2", "--name", "GamePeer", "--port", str(game_port), "--no-mdns",
                 "--timeout", str(duration + 120)], work / "game", work / "game.log")
    try:
        line = wait_until(lambda: next((ln for ln in (work / "chat.log").read_text().splitlines()
                                        if '"ready"' in ln), None), 30, what="chat service ready")
        chat_port = json.loads(line)["port"]
        wait_until(lambda: "listening" in (work / "game.log").read_text(), 30, what="game peer listening")
        chat_addr = ("127.0.0.1", chat_port)
        samples: dict[str, list[tuple[float, float]]] = {"chat": [], "game": []}
        counts: dict[str, int] = {}
        honest_res: dict[str, Any] = {}

        async def main() -> None:
            stop = asyncio.Event()
            t0 = time.monotonic()

            async def sampler() -> None:
                while not stop.is_set():
                    now = time.monotonic() - t0
                    samples["chat"].append((now, rss_mib(chat.pid)))
                    samples["game"].append((now, rss_mib(bot.pid)))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 2.0)

            tasks = [asyncio.create_task(sampler()),
                     asyncio.create_task(hostile(chat_port, game_port, stop, counts)),
                     asyncio.create_task(honest(work / "chat", chat_addr, game_port, work, stop, honest_res))]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(main())
        alive = {"chat": chat.poll() is None, "game": bot.poll() is None}
        stats = query_service(chat_addr, {"t": "stats"}) if alive["chat"] else {}
    finally:
        for p in (chat, bot):
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
            if p.poll() is None:
                p.kill()
    out: dict[str, Any] = {"seconds": duration, "alive": alive, "honest": honest_res, "hostile_ops": counts,
                           "chat_refused": stats.get("refused"), "chat_drops": stats.get("drops")}
    for who, rows in samples.items():
        base = [m for t, m in rows if t >= WARMUP][:1] or [rows[0][1] if rows else 0.0]
        peak = max((m for t, m in rows if t >= WARMUP), default=base[0])
        out[f"{who}_rss_mib"] = {"baseline": round(base[0], 1), "peak": round(peak, 1),
                                 "growth": round(peak - base[0], 1),
                                 "end": round(rows[-1][1], 1) if rows else None}
    return out


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    print(json.dumps(run(secs), indent=1))
    os._exit(0)
