"""A hostile peer for the LAN-host tests: a real runtime (its own key, real discovery and
the real signed codec) that floods every peer it discovers with the forged messages of
`tests.support.match_attacks`, all attacks in rotation, every 100 ms.

    python -m tests.support.match_attacker [--insider] --name Evil --json-events FILE

`--insider` first joins the match as a racer and drives it like `p2p-race bot` (a member
that is not the host); without it, it never joins (a stranger). Exits after the result
(insider) or `--seconds`. One JSON line per second: `{"event": "attacked", "rounds", "sent"}`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from p2p_race.commands._headless import open_runtime
from p2p_race.commands.bot import Bot, EventLog
from p2p_race.match import messages as m
from p2p_race.runtime import from_args
from tests.support.match_attacks import ATTACKS, forge


def _announce(li) -> m.Announce:
    return m.Announce(bytes.fromhex(li.match_id), li.host_name, li.rules.to_wire(), li.phase, li.racers,
                      li.spectators, m.proof_to_wire(li.proof))


async def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--insider", action="store_true")
    p.add_argument("--name", default="Evil")
    p.add_argument("--json-events", default=None)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    ns = argparse.Namespace(name=args.name, data_dir=None, interface=None, peer=[], port=0, no_mdns=False,
                            mongodb_uri=None, host=False, matches=1, match_id=None, skill=0.8, linger=1.0,
                            racers=2, seed=None, time_limit=60.0, difficulty="normal", max_racers=16, countdown=3.0,
                            json=False)
    rt = from_args(ns, default_port=0)
    rt.store_results = False
    log = EventLog(args.json_events, True)
    stop = await open_runtime(rt, log)  # set by SIGTERM / SIGINT
    me = rt.identity
    bot = Bot(ns, rt, log) if args.insider else None
    racing = asyncio.ensure_future(bot.run()) if bot is not None else None
    rounds = sent = 0
    first: m.Announce | None = None  # the creator's own announcement, as copied from the lobby
    end = time.monotonic() + args.seconds
    last_report = 0.0
    try:
        while time.monotonic() < end and not stop.is_set() and not (racing is not None and racing.done()):
            with rt.lock:
                listings = [li for li in rt.core.listings.values() if li.proof is not None]
                peers = [pe.id for pe in rt.discovery.peers()] if rt.discovery is not None else []
            if first is None and listings:
                first = _announce(listings[0])
            if first is not None and peers:
                rounds += 1
                for attack in ATTACKS:
                    for msg in forge(attack, first, me, peers):
                        sent += rt.transport.broadcast(msg, peers)
            if time.monotonic() - last_report >= 1.0:
                last_report = time.monotonic()
                log.emit("attacked", rounds=rounds, sent=sent)
            await asyncio.sleep(0.1)
    finally:
        log.emit("attacked", rounds=rounds, sent=sent)
        if racing is not None:
            racing.cancel()
        await rt.close()
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
