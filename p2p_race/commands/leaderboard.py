"""`p2p-race leaderboard`: best players and recent matches, from MongoDB or the local store.

Unless `--local` or `--no-pull`, it first pulls the results this peer lacks from the live
peers discovery finds on the LAN (p2p_race/lanpull.py, ~1-2 s), so a machine that never
raced shows the LAN's matches without anyone typing an address.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from p2p_race.config import Config
from p2p_race.errors import UserError
from p2p_race.paths import resolve_data_dir
from p2p_race.text import terminal_safe

HELP = ("show the leaderboard (MongoDB when it answers, else this peer's store, first topped up "
        "from the LAN's peers)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20, help="players to show (default 20)")
    parser.add_argument("--recent", type=int, default=10, help="recent matches to show (default 10)")
    parser.add_argument("--player", metavar="NAME", help="only this player and their matches")
    parser.add_argument("--local", action="store_true",
                        help="read only the local store: no MongoDB, no pull from the LAN's peers")
    parser.add_argument("--no-pull", action="store_true",
                        help="do not pull missing results from the LAN's peers first")
    parser.add_argument("--pull-wait", type=float, default=None, metavar="S",
                        help="at most S seconds for the LAN pull (default 2)")
    parser.add_argument(
        "--sync-with", action="append", default=[], metavar="HOST:PORT",
        help="first pull/push results with the peer's score sync at HOST:PORT (repeatable)",
    )


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--sync-with expects HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    from p2p_race.lanpull import WAIT, pull_from_lan
    from replication.service import read_leaderboard, resolve_uri
    from replication.store import ResultStore
    from replication.sync_server import sync_with

    if args.limit < 1 or args.recent < 0:
        raise UserError("--limit must be >= 1 and --recent >= 0")
    wait = WAIT if args.pull_wait is None else args.pull_wait
    if not 0 <= wait <= 30:
        raise UserError("--pull-wait must be 0-30 seconds")
    data_dir = resolve_data_dir(args.data_dir)
    uri = None if args.local else resolve_uri(args.mongodb_uri, Config.load(data_dir).mongodb_uri)
    store = ResultStore(data_dir)
    try:
        for peer in args.sync_with:
            host, port = _host_port(peer)
            try:
                asyncio.run(sync_with(store, host, port, timeout=10.0))
            except (OSError, TimeoutError, ConnectionError) as exc:
                raise UserError(f"cannot sync with {peer}: {exc}") from None
        pulled = None
        if not (args.local or args.no_pull) and wait > 0:
            pulled = asyncio.run(pull_from_lan(store, args, wait=wait)).to_json()
        board = read_leaderboard(store, uri, args.limit, args.player, args.recent)
    finally:
        store.close()
    if pulled is not None:
        board["lan"] = pulled
    if args.json:
        print(json.dumps(board))
        return 0
    print_board(board)
    return 0


def print_board(board: dict) -> None:
    note = ""
    if board.get("mongodb_error"):
        note = f" (MongoDB at {board.get('mongodb_uri', '?')} unavailable: {board['mongodb_error']})"
    lan = board.get("lan")
    if lan:
        note += (f" (+{lan['added']} result(s) from {lan['peers']} LAN peer(s))" if lan["peers"]
                 else " (no LAN peer answered)")
    print(terminal_safe(f"Leaderboard - source: {board['source']}{note}"))
    if not board["players"]:
        print("  no results yet: race a match first")
    else:
        print(f"  {'#':>3}  {'player':<20} {'best':>8} {'matches':>8} {'wins':>6}")
        for i, p in enumerate(board["players"], 1):
            name = terminal_safe(p["name"])[:20]  # names come from other peers (and MongoDB)
            print(f"  {i:>3}  {name:<20} {p['best']:>8} {p['matches']:>8} {p['wins']:>6}")
    if board["recent"]:
        print("Recent matches:")
        for m in board["recent"]:
            scores = ", ".join(f"{n} {s}" for n, s in sorted(m["scores"].items(), key=lambda kv: -kv[1]))
            print(terminal_safe(f"  {m['match_id']}: winner {m['winner']} ({scores})"))
