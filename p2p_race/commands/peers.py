"""`p2p-race peers`: the live peer table.

`peers [--wait S]` joins the LAN as a peer for S seconds and prints who is there;
`--watch` stays a peer and prints one line per change until SIGINT/SIGTERM, then leaves
cleanly (signed Leave + DNS-SD goodbye). With `--json` the shapes are docs/ARCHITECTURE.md section 10.
Life-cycle milestones (listening, browsing, registered, left + drop counters) go to stderr
as JSON lines when `--json` is given, so tests and benchmarks can time them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import sys
import threading
import time

from discovery import Discovery, Peer, bind_host
from p2p_race import netinfo
from p2p_race.config import Config
from p2p_race.errors import UserError
from p2p_race.identity import PinStore, load_or_create
from p2p_race.paths import resolve_data_dir
from p2p_race.stopsignals import on_stop_signals
from p2p_race.text import name_problem, terminal_safe
from p2p_race.transport import UdpTransport

HELP = "show the players on the LAN (--watch: stay online and print every change)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", type=float, default=1.5, metavar="S",
                        help="seconds to listen before printing (default 1.5)")
    parser.add_argument("--watch", action="store_true",
                        help="stay online as a peer and print every change until Ctrl-C")
    parser.add_argument("--port", type=int, default=None,
                        help=f"UDP game port (default: config game_port or {netinfo.DEFAULT_GAME_PORT}; "
                             "the next free port when taken)")
    parser.add_argument("--chat-port", type=int, default=None, help="chat port to advertise")
    parser.add_argument("--state", default="lobby", help="state to advertise (lobby, hosting, racing, spectating)")
    parser.add_argument("--match-id", default="", help="match id to advertise")
    parser.add_argument("--no-mdns", action="store_true",
                        help="do not use mDNS; find peers only through --peer addresses")
    parser.add_argument("--stdin-control", action="store_true", help=argparse.SUPPRESS)


def _line(obj: dict, stream=None) -> None:
    print(json.dumps(obj, separators=(",", ":")), file=stream or sys.stdout, flush=True)


def _text_row(p: Peer) -> str:
    """One peer as a terminal line: every field another machine chose is sanitized."""
    addr = terminal_safe(",".join(p.addresses))
    rtt = f"{p.rtt * 1000:.1f} ms" if p.rtt is not None else "-"
    warn = "  KEY CHANGED: not the player first seen under this name" if p.key_changed else ""
    name, state, match_id = (terminal_safe(v) for v in (p.name, p.state, p.match_id or "-"))
    return f"{name:<20} {terminal_safe(p.id)}  {addr}:{p.game_port:<6} {state:<10} {match_id:<12} {rtt}{warn}"


def build(args: argparse.Namespace) -> tuple[Discovery, UdpTransport]:
    data_dir = resolve_data_dir(args.data_dir)
    cfg = Config.load(data_dir)
    identity = load_or_create(data_dir)
    name = args.name or cfg.name or socket.gethostname()
    problem = name_problem(name)  # the one name rule (p2p_race.text)
    if problem:
        raise UserError(f"--name {problem}")
    interface = args.interface or cfg.interface or None
    host = bind_host(interface)
    port = args.port if args.port is not None else (cfg.game_port or netinfo.DEFAULT_GAME_PORT)
    chat_port = args.chat_port if args.chat_port is not None else cfg.chat_port
    for flag, value in (("--port", port), ("--chat-port", chat_port)):
        if not 0 <= value < 65536:
            raise UserError(f"{flag} must be 0-65535")
    transport = UdpTransport(identity, host=host, port=port)
    try:
        disco = Discovery(
            identity, transport, name, interface=interface, peers=[*args.peer, *cfg.peers],
            chat_port=chat_port,
            state=args.state, match_id=args.match_id, pins=PinStore(data_dir), mdns=not args.no_mdns,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return disco, transport


async def _main(args: argparse.Namespace) -> int:
    disco, transport = build(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    on_stop_signals(stop.set, loop)
    try:
        await transport.start()
    except OSError as exc:
        raise UserError(f"cannot open UDP port {transport.requested_port}: {exc.strerror}") from exc
    as_json = args.json

    def life(event: str, **extra) -> None:
        if as_json:
            _line({"event": event, "t": round(time.time(), 6), **extra}, sys.stderr)

    def on_change(event: str, peer: Peer) -> None:
        if not args.watch:
            return
        if as_json:
            _line({"event": event, "peer": peer.to_json(), "t": round(time.time(), 6)})
        else:
            print(f"{event:<8} {_text_row(peer)}", flush=True)

    disco.subscribe(on_change)
    disco.on_mdns_seen = lambda peer_id: life("mdns_seen", id=peer_id)
    life("listening", id=disco.peer_id, name=disco.name, port=transport.port)
    await disco.start()
    if disco.mdns is not None and disco.mdns.error is None:
        life("browsing")
    extra: list[asyncio.Task] = [asyncio.ensure_future(_milestones(disco, life))]
    if args.stdin_control:
        extra.append(asyncio.ensure_future(_control(disco, stop)))
    try:
        if args.watch:
            await stop.wait()
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(args.wait, 0.0))
        peers = disco.peers()
    finally:
        for task in extra:
            task.cancel()
        await disco.stop()
        life("left", drops=dict(transport.codec.drops), accepted=transport.codec.accepted,
             sent=transport.stats["sent"], sent_bytes=transport.stats["sent_bytes"], table=dict(disco.table.stats))
        transport.close()
    if not args.watch:
        if as_json:
            print(json.dumps([p.to_json() for p in peers], indent=2))
        else:
            for p in peers:
                print(_text_row(p))
            if not peers:
                print(f"no peers found in {args.wait:g} s; run `p2p-race doctor` to see why", file=sys.stderr)
        silent = len(disco.table.silent())
        if silent and not as_json:
            print(f"{silent} address(es) advertised over mDNS never answered on UDP: "
                  "a firewall may block the game port", file=sys.stderr)
    return 0


async def _milestones(disco: Discovery, life) -> None:
    """Report mDNS registration when it completes (probing takes about a second)."""
    if disco.mdns is None:
        return
    reported: set[str] = set()
    while True:
        for key in ("registering", "registered"):
            if key in disco.mdns.times and key not in reported:
                reported.add(key)
                life(key, at=round(disco.mdns.times[key], 6))
        if disco.mdns.error and "error" not in reported:
            reported.add("error")
            life("mdns_error", error=disco.mdns.error)
        if len(reported) >= 2:
            return
        await asyncio.sleep(0.02)


async def _control(disco: Discovery, stop: asyncio.Event) -> None:
    """Test hook: read `state NAME [MATCH_ID]` / `quit` lines from stdin (a daemon thread
    reads, so a blocked read never holds up the exit)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        for raw in iter(sys.stdin.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, raw)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=pump, daemon=True).start()
    while True:
        parts = (await lines.get()).split()
        if parts[:1] == ["state"] and len(parts) >= 2:
            disco.set_state(parts[1], parts[2] if len(parts) > 2 else "")
        elif parts[:1] == ["quit"]:
            stop.set()
            return


def run(args: argparse.Namespace) -> int:
    if not args.verbose:
        # zeroconf warns about every interface it cannot bind (e.g. a tentative IPv6
        # address); discovery reports what matters itself
        logging.getLogger("zeroconf").setLevel(logging.ERROR)
    return asyncio.run(_main(args))
