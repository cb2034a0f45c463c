"""`p2p-race chat`: terminal chat with the LAN, no game needed.

    p2p-race chat                      interactive: type lines, see everyone's
    p2p-race chat --say TEXT           send one line, exit once a service accepted it
    p2p-race chat --history [--json]   print the log (docs/ARCHITECTURE.md section 10 shape)
    p2p-race chat --serve              run only this peer's chat service, headless
    p2p-race chat --status / --stop    is the background service up (pid, port)? stop it
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from chat.client import ChatClient, RateLimited, query_service
from chat.message import LOBBY, ChatMessage, InvalidMessage, valid_channel
from chat.names import NameLabels, display_body
from chat.peers import chat_addr_of_game_peer, parse_addr
from chat.service import add_service_arguments, serve
from chat.store import read_history
from chat.supervisor import ensure_service, running_info, stop_service
from p2p_race import netinfo
from p2p_race.config import Config
from p2p_race.errors import UserError
from p2p_race.identity import load_or_create
from p2p_race.paths import resolve_data_dir

BACKLOG = 20  # lines of history shown when the interactive chat starts
HELP = "chat with the LAN in a terminal (--say, --history; --serve, --status, --stop: the chat service)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true", help="run this peer's chat service (headless)")
    mode.add_argument("--say", metavar="TEXT", help="send one line and exit once a service accepted it")
    mode.add_argument("--history", action="store_true", help="print the chat log and exit")
    mode.add_argument("--status", action="store_true",
                      help="show this peer's chat service: pid, port, linked peers, drop counters")
    mode.add_argument("--stop", action="store_true",
                      help="stop this peer's background chat service (the game or `chat` starts it again)")
    parser.add_argument("--channel", default=None,
                        help="'lobby' (default) or 'match:<id>'; --history shows every channel unless given")
    parser.add_argument("--limit", type=int, default=None, help="--history: only the last N messages")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for a chat service (default 5)")
    parser.add_argument("--no-start", action="store_true",
                        help="do not start a local chat service; use a running one or --peer")
    add_service_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.channel is not None and not valid_channel(args.channel):
        raise UserError(f"--channel {args.channel!r}: use 'lobby' or 'match:<id>'")
    if args.serve:
        return serve(args)
    data_dir = resolve_data_dir(args.data_dir)
    if args.status:
        return _status(data_dir, args)
    if args.stop:
        return _stop(data_dir, args)
    cfg = Config.load(data_dir)
    peers = []
    for p in args.peer:
        addr = parse_addr(p, netinfo.DEFAULT_CHAT_PORT)
        if addr is None:
            raise UserError(f"--peer {p!r}: use HOST or HOST:PORT")
        peers.append(addr)
    peers += [a for a in map(chat_addr_of_game_peer, cfg.peers) if a and a not in peers]
    name = args.name or cfg.name
    service_kw = {"peers": list(args.peer), "port": args.port, "name": name or None,
                  "extra": ["--no-discovery"] if args.no_discovery else []}
    if args.host != "0.0.0.0":
        service_kw["host"] = args.host
    info = None
    if not args.no_start:
        try:
            info = ensure_service(data_dir, timeout=args.timeout, **service_kw)
        except RuntimeError as exc:
            if not peers:
                raise UserError(f"cannot start the local chat service: {exc}") from exc
    name = name or (info or running_info(data_dir) or {}).get("name") or ""
    channel = args.channel or LOBBY
    client = ChatClient(data_dir, name=name or "", peers=peers, start_service=not args.no_start,
                        service_kw=service_kw, channel=args.channel if args.history else None)
    client.start()
    if not args.history and not args.say:
        client.wait_synced(min(args.timeout, 2.0))
    try:
        if args.say is not None:
            return _say(client, args.say, channel, args)
        if args.history:
            return _history(client, args, data_dir)
        return _interactive(client, channel, args)
    finally:
        client.close()


def _status(data_dir, args: argparse.Namespace) -> int:
    info = running_info(data_dir)
    if info is None:
        if args.json:
            print(json.dumps({"running": False}))
        else:
            print("no chat service runs for this data dir (start one: p2p-race chat --serve)")
        return 1
    where = {"pid": info.get("pid"), "port": info.get("port")}
    try:
        # signed as the owner: answered even while a flood holds every client slot
        stats = query_service((_local(info), int(info["port"])), {"t": "stats"}, timeout=args.timeout,
                              identity=load_or_create(Path(data_dir)))
    except (OSError, ValueError) as exc:
        if args.json:
            print(json.dumps({"running": True, **where, "answering": False, "error": str(exc)}))
        else:
            print(f"chat service pid {where['pid']} on port {where['port']} does not answer: {exc} "
                  "(stop it: p2p-race chat --stop)")
        return 1
    stats.pop("t", None)
    out = {"running": True, **where, **stats}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"chat service pid {out['pid']} on port {out['port']}: {out['count']} messages, "
              f"{len(out['links'])} linked peer(s), {out['clients']} client(s)")
        if out["drops"]:
            print("dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(out["drops"].items())))
        print("it runs in the background for nearby players; stop it: p2p-race chat --stop")
    return 0


def _stop(data_dir, args: argparse.Namespace) -> int:
    try:
        info = stop_service(data_dir, timeout=args.timeout)
    except RuntimeError as exc:
        raise UserError(str(exc)) from exc
    out = {"stopped": info is not None, "pid": (info or {}).get("pid"), "port": (info or {}).get("port")}
    if args.json:
        print(json.dumps(out))
    elif info is None:
        print("no chat service runs for this data dir")
    else:
        print(f"stopped the chat service (pid {out['pid']}, port {out['port']})")
    return 0


def _local(info: dict) -> str:
    host = info.get("host")
    return host if isinstance(host, str) and host not in ("", "0.0.0.0", "::") else "127.0.0.1"


def _say(client: ChatClient, text: str, channel: str, args: argparse.Namespace) -> int:
    # learn the service's Lamport clock first so the line sorts after what we have seen;
    # when no service answers yet, the line is queued anyway and resent on connect
    client.wait_synced(min(args.timeout, 2.0))
    try:
        msg = client.send(text, channel)
    except InvalidMessage as exc:
        raise UserError(f"message not sent: {exc}") from exc
    except RateLimited as exc:
        raise UserError(str(exc)) from exc
    if not client.wait_acked(msg.id, args.timeout):
        reason = client.failed.get(msg.id)
        if reason:
            raise UserError(f"the chat service refused the message: {reason}")
        raise UserError(f"no chat service accepted the message within {args.timeout:g} s "
                        "(is a chat service running? try --peer HOST:PORT)")
    via = client.acked.get(msg.id)
    if args.json:
        print(json.dumps({**msg.to_json(), "accepted_by": f"{via[0]}:{via[1]}" if via else None}))
    else:
        print(f"sent {msg.id}")
    return 0


def _history(client: ChatClient, args: argparse.Namespace, data_dir) -> int:
    if client.wait_synced(args.timeout):
        msgs = client.messages(args.channel)
    else:
        print("p2p-race: note: no chat service answered; showing the log stored on disk",
              file=sys.stderr)
        msgs = read_history(data_dir).messages(args.channel)
    if args.limit is not None:
        msgs = msgs[-args.limit:] if args.limit > 0 else []
    if args.json:
        print(json.dumps([m.to_json() for m in msgs], ensure_ascii=False))
    else:
        labels = NameLabels(data_dir)
        for m in msgs:
            print(format_line(m, labels))
    return 0


def format_line(m: ChatMessage, labels: NameLabels | None = None) -> str:
    """One sanitized terminal line: `[HH:MM:SS] #channel name: text`."""
    stamp = time.strftime("%H:%M:%S", time.localtime(m.t))
    return f"[{stamp}] #{m.channel} {display_body(m, labels)}"


def _interactive(client: ChatClient, channel: str, args: argparse.Namespace) -> int:
    """Read stdin lines and send them; print incoming messages as they arrive."""
    done = threading.Event()

    def reader() -> None:
        for line in sys.stdin:
            text = line.rstrip("\n")
            if text.strip() in ("/quit", "/exit"):
                break
            if not text.strip():
                continue
            try:
                client.send(text, channel, hold=True)  # over the rate: sent a bit later
            except InvalidMessage as exc:
                print(f"p2p-race: not sent: {exc}", file=sys.stderr, flush=True)
        done.set()

    threading.Thread(target=reader, daemon=True, name="chat-stdin").start()
    if not args.json:
        print(f"chat on #{channel} as {client.name} ({client.identity.peer_id}); /quit to leave",
              file=sys.stderr, flush=True)
    labels = NameLabels(client.data_dir)

    def show(m: ChatMessage) -> None:
        if args.json:
            print(json.dumps(m.to_json(), ensure_ascii=False), flush=True)
        else:
            print(format_line(m, labels), flush=True)

    # the log so far: only its last lines, in display order (--history prints all of it)
    backlog = sorted(client.poll(), key=lambda m: m.key)
    shown: set[str] = {m.id for m in backlog}
    for m in backlog[-BACKLOG:]:
        show(m)
    while not done.is_set():
        for m in client.poll():
            if m.id not in shown:
                shown.add(m.id)
                show(m)
        done.wait(0.05)
    # give the last lines a moment to be acknowledged before leaving
    deadline = time.monotonic() + args.timeout + 5.0 * (client.held() // 5 + 1)
    while (client.pending() or client.held()) and time.monotonic() < deadline:
        done.wait(0.05)
    if client.pending():
        print(f"p2p-race: {len(client.pending())} message(s) not acknowledged by any chat service",
              file=sys.stderr)
        return 1
    return 0
