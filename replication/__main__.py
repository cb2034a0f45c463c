"""`python -m replication`: host a peer's score sync and MongoDB outbox headless.

    python -m replication serve --data-dir D [--port P] [--mongodb-uri URI] [--add-fixtures N]

Prints JSON lines: {"event": "listening", "port": P}, {"event": "stored", "ids": [...]}.
Used by the multi-process tests and benchmarks; the game hosts the same pieces in its
runtime (`ScoreService` + `serve_sync`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from p2p_race.paths import resolve_data_dir
from p2p_race.stopsignals import on_stop_signals
from replication.fixtures import make_result
from replication.service import ScoreService, resolve_uri
from replication.sync_server import serve_sync, sync_with


async def serve(args: argparse.Namespace) -> int:
    service = ScoreService(resolve_data_dir(args.data_dir), resolve_uri(args.mongodb_uri))
    if args.add_fixtures:
        ids = []
        for i in range(args.fixture_start, args.fixture_start + args.add_fixtures):
            r = make_result(i)
            service.add(r)
            ids.append(r.match_id)
            if args.each:  # after the commit: a line printed here is a promise
                print(json.dumps({"event": "stored_one", "id": r.match_id}), flush=True)
        print(json.dumps({"event": "stored", "ids": ids}), flush=True)
    for peer in args.sync_with:
        host, _, port = peer.rpartition(":")
        report = await sync_with(service.store, host, int(port))
        print(json.dumps({"event": "synced", "peer": peer, "added": report.added}), flush=True)
    server = await serve_sync(service.store, args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    on_stop_signals(stop.set, loop)
    await stop.wait()
    server.close()
    await server.wait_closed()
    service.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m replication")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="host score sync (and the MongoDB outbox) for a data dir")
    s.add_argument("--data-dir")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--mongodb-uri")
    s.add_argument("--add-fixtures", type=int, default=0, help="store N fixture results first (tests)")
    s.add_argument("--fixture-start", type=int, default=0)
    s.add_argument("--each", action="store_true", help="print a line after each stored fixture")
    s.add_argument("--sync-with", action="append", default=[], metavar="HOST:PORT")
    s.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
