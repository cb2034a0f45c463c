"""Pull the match results this peer lacks from the live peers on the LAN, in about a second.

A machine that never raced holds no results. `p2p-race leaderboard` and the game's
leaderboard screen therefore first join the LAN briefly: discovery finds the live peers
(only peers that answered with a signed hello, i.e. proved their key, are asked) and one
score-sync round with each (TCP on the same port number as its game port, see
replication/sync_server.py) pulls what they hold. Records are signed by their match host
and checked by the store, so a peer can add nothing false; an unreachable peer costs only
its own round.

The wait is bounded: at most `wait` seconds in all; it ends earlier once every peer found
was synced and no new one appeared for `quiet` seconds after at least `min_wait`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from p2p_race.framing import FrameError
from replication.store import ResultStore
from replication.sync_server import sync_with

log = logging.getLogger(__name__)

WAIT = 2.0  # seconds at most, in all
MIN_WAIT = 0.8  # an existing peer answers a new browser in ~30 ms, the hello round trip follows
QUIET = 0.3  # no new peer for this long after the last round ended: done
ROUND_TIMEOUT = 1.5  # per peer
MAX_PEERS = 32  # a flood of fresh identities on the LAN buys at most this many rounds
CONCURRENT = 8  # rounds in flight at once


@dataclass
class PullReport:
    peers: list[str] = field(default_factory=list)  # ids of the peers synced with
    added: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # peer id -> why
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"peers": len(self.peers), "added": self.added, "failed": len(self.failed),
                "seconds": round(self.seconds, 3)}


def _target(peer: Any) -> tuple[str, int] | None:
    """Where a peer's score sync listens: the address its verified datagrams came from."""
    if peer.addr is not None:
        return peer.addr[0], peer.addr[1]
    if peer.addresses and peer.game_port:
        return peer.addresses[0], peer.game_port
    return None


async def pull_from_peers(store: ResultStore, peers: Callable[[], list[Any]], *, wait: float = WAIT,
                          min_wait: float = MIN_WAIT, quiet: float = QUIET,
                          round_timeout: float = ROUND_TIMEOUT) -> PullReport:
    """One sync round with every peer `peers()` lists (a discovery's live table: peers that
    proved their key) within the time bounds above, at most MAX_PEERS of them, CONCURRENT
    at a time. Never raises for a peer's failure."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    report = PullReport()
    tasks: dict[str, asyncio.Task] = {}
    last_change = start

    async def one(peer_id: str, host: str, port: int) -> None:
        try:
            r = await asyncio.wait_for(sync_with(store, host, port, timeout=round_timeout), round_timeout)
        except (OSError, TimeoutError, ConnectionError, FrameError, ValueError) as exc:
            report.failed[peer_id] = str(exc) or type(exc).__name__
            log.info("no results from %s:%d: %s", host, port, report.failed[peer_id])
            return
        report.peers.append(peer_id)
        report.added += r.added

    while True:
        now = loop.time()
        busy = [t for t in tasks.values() if not t.done()]
        for p in peers():
            if len(tasks) >= MAX_PEERS or len(busy) >= CONCURRENT:
                break
            target = _target(p)
            if p.id not in tasks and target is not None:
                tasks[p.id] = asyncio.ensure_future(one(p.id, *target))
                busy.append(tasks[p.id])
                last_change = now
        if not busy and now - start >= min_wait and now - last_change >= quiet:
            break
        if now - start >= wait:
            break
        await asyncio.sleep(0.05)
    for t in tasks.values():
        t.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    report.seconds = loop.time() - start
    return report


async def pull_from_lan(store: ResultStore, args: argparse.Namespace, *, wait: float = WAIT) -> PullReport:
    """Join the LAN as this peer for at most `wait` s (discovery from `args`: data dir, name,
    interface, --peer, config peers) and pull the results it lacks from everyone found."""
    from p2p_race.commands.peers import build

    disco_args = argparse.Namespace(data_dir=args.data_dir, name=getattr(args, "name", None),
                                    interface=getattr(args, "interface", None), peer=list(getattr(args, "peer", [])),
                                    port=0, chat_port=None, state="lobby", match_id="", no_mdns=False)
    disco, transport = build(disco_args)
    t0 = time.monotonic()
    await transport.start()
    try:
        await disco.start()
        report = await pull_from_peers(store, disco.peers, wait=max(0.0, wait - (time.monotonic() - t0)))
    finally:
        await disco.stop("leaderboard")
        transport.close()
    report.seconds = time.monotonic() - t0
    return report


def enabled_in_game() -> bool:
    """Pull from the game's leaderboard screen? Yes, except headless (SDL dummy video: tests,
    benchmarks), where the LAN is not the test's; P2P_RACE_LAN_PULL=1/0 overrides."""
    env = os.environ.get("P2P_RACE_LAN_PULL")
    if env is not None:
        return env.strip().lower() not in ("0", "", "no", "false")
    return os.environ.get("SDL_VIDEODRIVER") != "dummy"


def pull_for_app(app: Any, store: ResultStore, *, wait: float = WAIT) -> PullReport:
    """The game's pull (call it from a worker thread): through the game's own peer runtime
    when one runs (its discovery already knows the LAN; a second peer with the same
    identity would confuse the others), else by joining the LAN briefly."""
    rt = getattr(app, "runtime", None)
    disco, loop = getattr(rt, "discovery", None), getattr(rt, "loop", None)
    if disco is not None and loop is not None and loop.is_running():
        fut = asyncio.run_coroutine_threadsafe(pull_from_peers(store, disco.peers, wait=wait), loop)
        return fut.result(timeout=wait + 5.0)
    cfg = getattr(app, "config", None)
    args = argparse.Namespace(data_dir=str(app.data_dir), name=getattr(cfg, "name", "") or None,
                              interface=getattr(cfg, "interface", "") or None, peer=[])
    return asyncio.run(pull_from_lan(store, args, wait=wait))
