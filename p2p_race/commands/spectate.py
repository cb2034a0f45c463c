"""`p2p-race spectate`: watch a running match (join it as a spectator).

With `--headless` no window opens: the events it sees go to stdout (and to
`--json-events FILE` as JSON lines, the shape of `p2p-race bot`), and it exits once the
match has a result. Without it the game window opens on the spectate screen.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from p2p_race.commands._headless import open_runtime
from p2p_race.errors import UserError
from p2p_race.match import messages as m

HELP = "watch a running match as a spectator (--headless: print what happens, exit at the result)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--match-id", default=None, help="the match to watch (default: the first one seen)")
    parser.add_argument("--headless", action="store_true", help="no window: print events, exit at the result")
    parser.add_argument("--json-events", metavar="FILE", default=None,
                        help="append one JSON line per event to FILE ('-' = stdout)")
    parser.add_argument("--port", type=int, default=None, help="UDP game port (default: a free one)")
    parser.add_argument("--no-mdns", action="store_true", help="find peers only through --peer")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--linger", type=float, default=1.0, help="seconds to stay after the result")


async def watch(args: argparse.Namespace) -> int:
    from p2p_race.commands.bot import LOGGED, EventLog, event_fields
    from p2p_race.match.events import Refused, ResultAdopted, Started
    from p2p_race.ranking import pick_match
    from p2p_race.runtime import from_args

    rt = from_args(args, default_port=0)
    log = EventLog(args.json_events, args.json)
    q: asyncio.Queue = asyncio.Queue()
    rt.listeners.append(q.put_nowait)
    stop = await open_runtime(rt, log)
    wall = time.time() - time.monotonic()

    async def follow() -> int:
        while True:
            with rt.lock:
                li = pick_match(rt.core.listings.values(), to_race=False, match_id=args.match_id)
            if li is not None:
                rt.join(li.match_id, m.ROLE_SPECTATOR)
                break
            await asyncio.sleep(0.05)
        while True:
            ev = await q.get()
            if isinstance(ev, (*LOGGED, Started)):
                log.emit(ev.name, **event_fields(ev, wall))
            match ev:
                case Refused():
                    return 1
                case ResultAdopted():
                    await asyncio.sleep(args.linger)
                    return 0

    task = asyncio.ensure_future(follow())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        return 130 if stopper in done else 1
    finally:
        task.cancel()
        stopper.cancel()
        await rt.close()
        log.close()


def run(args: argparse.Namespace) -> int:
    if args.headless:
        return asyncio.run(watch(args))
    try:
        from p2p_race.ui.spectate import run_window
    except ImportError as exc:
        raise UserError(f"the spectate window is unavailable ({exc}); use --headless") from exc
    from p2p_race.commands.play import after_window

    code = run_window(args)
    after_window(args)  # the chat overlay may have started the chat service
    return code
