"""`p2p-race doctor`: check what a peer needs and say how to fix what is wrong."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
from dataclasses import dataclass

from p2p_race import PROTOCOL_VERSION, __version__, netinfo
from p2p_race.config import CONFIG_NAME, Config
from p2p_race.errors import UserError
from p2p_race.identity import KEY_FILE, key_mode_problem, load_or_create
from p2p_race.paths import resolve_data_dir
from p2p_race.text import terminal_safe

HELP = "check network interfaces, multicast, ports, the data dir and MongoDB; say what to fix"

PACKAGES = ("pygame", "zeroconf", "pymongo", "cryptography", "platformdirs", "filelock", "psutil")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--game-port", type=int, default=netinfo.DEFAULT_GAME_PORT)
    parser.add_argument("--listen", type=float, default=0.0, metavar="S",
                        help="also join the LAN for S seconds and report who answers (discovery)")


def collect(args: argparse.Namespace) -> tuple[dict, list[Check]]:
    checks: list[Check] = []
    info: dict = {
        "p2p_race": __version__, "protocol": PROTOCOL_VERSION,
        "python": platform.python_version(), "platform": platform.platform(), "packages": {},
    }
    for pkg in PACKAGES:
        try:
            info["packages"][pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            info["packages"][pkg] = None
            checks.append(Check(f"package {pkg}", False, "not installed",
                                "reinstall p2p-race (`pipx install .`, `pip install .` or `make install`)"))

    try:
        data_dir = resolve_data_dir(args.data_dir)
        info["data_dir"] = str(data_dir)
        identity = load_or_create(data_dir)
        info["peer_id"] = identity.peer_id
        mode = (data_dir / KEY_FILE).stat().st_mode & 0o777
        # POSIX permission bits only: Windows has ACLs (a user's profile dir is private)
        problem = key_mode_problem(data_dir / KEY_FILE)
        checks.append(Check("identity", problem is None, f"peer id {identity.peer_id}, key mode {mode:o}",
                            "" if problem is None else f"chmod 600 {data_dir / KEY_FILE}"))
    except UserError as exc:
        checks.append(Check("identity", False, str(exc), "see the message; --data-dir picks another dir"))
    if "data_dir" in info:
        try:
            Config.load(data_dir)
            checks.append(Check("config", True, f"{data_dir / CONFIG_NAME} is valid"))
        except UserError as exc:
            checks.append(Check("config", False, str(exc), "fix the file or delete it to get the defaults"))

    ifaces = netinfo.interfaces()
    info["interfaces"] = [i.to_json() for i in ifaces]
    lan = [i for i in ifaces if i.up and not i.loopback and i.ipv4]
    mcast = [i for i in lan if i.multicast]
    if not lan:
        checks.append(Check("interfaces", False, "no network interface with an IPv4 address besides loopback",
                            "connect to the LAN (Wi-Fi or cable); peers on this machine still work"))
    elif not mcast:
        checks.append(Check("multicast", False, "no LAN interface has multicast enabled",
                            "enable it (`ip link set IFACE multicast on`) or add peers with --peer HOST"))
    else:
        names = ", ".join(f"{i.name} ({', '.join(i.ipv4)})" for i in mcast)
        checks.append(Check("multicast", True, f"multicast interfaces: {names}"))
    if len({tuple(a.split('.')[:3]) for i in lan for a in i.ipv4}) > 1:
        checks.append(Check("subnets", True, "several subnets: mDNS does not cross routers",
                            "players on another subnet need --peer HOST"))
    if args.interface and not netinfo.lan_ipv4(args.interface):
        checks.append(Check("interface", False, f"--interface {args.interface} matches no interface",
                            "pick a name or address from the list above"))

    err = netinfo.can_bind_udp(netinfo.MDNS_PORT, reuse=True)
    checks.append(Check("mdns port", err is None, "UDP 5353 can be shared" if err is None else f"UDP 5353: {err}",
                        "" if err is None else "another mDNS responder holds 5353 exclusively; stop it or use --peer"))
    err = netinfo.can_bind_udp(args.game_port)
    checks.append(Check("game port", err is None,
                        f"UDP {args.game_port} is free" if err is None else f"UDP {args.game_port}: {err}",
                        "" if err is None else "another p2p-race runs here (fine: it picks a free port) or pass another port"))
    checks.append(Check("firewall", True,
                        "allow inbound UDP 5353 (mDNS) and the game/chat ports shown by `p2p-race peers --json`",
                        ""))

    checks.extend(_discovery_checks(args, info))

    uri = args.mongodb_uri
    if uri:
        checks.append(_check_mongodb(uri))
    else:
        checks.append(Check("mongodb", True, "not configured: scores stay in the local store (fine)"))
    return info, checks


def _discovery_checks(args: argparse.Namespace, info: dict) -> list[Check]:
    """Why no peer shows up: where mDNS would announce, the --peer list, and (with
    --listen S) a short live run that names peers advertised over mDNS but silent on UDP."""
    from discovery import parse_peer_address
    from discovery.probe import probe
    from p2p_race.config import Config

    out: list[Check] = []
    addrs = netinfo.lan_ipv4(args.interface)
    if addrs and all(a.startswith("127.") for a in addrs):
        out.append(Check("mdns interfaces", False, "mDNS would announce on loopback only: other machines cannot see you",
                         "connect to the LAN, enable multicast on its interface, or add players with --peer HOST"))
    elif addrs:
        out.append(Check("mdns interfaces", True, f"discovery announces on {', '.join(addrs)}"))
    try:
        data_dir = resolve_data_dir(args.data_dir)
        cfg = Config.load(data_dir)
        static = [*args.peer, *cfg.peers]
        for text in static:
            parse_peer_address(text)
        if static:
            out.append(Check("static peers", True, f"--peer/config peers: {', '.join(static)}"))
    except UserError as exc:
        out.append(Check("static peers", False, str(exc), "use HOST or HOST:PORT (IPv6: [ADDR]:PORT)"))
        return out
    if args.listen <= 0:
        return out
    try:
        res = probe(load_or_create(data_dir), args.name or cfg.name or "doctor", interface=args.interface,
                    peers=static, seconds=args.listen)
    except (UserError, OSError) as exc:
        out.append(Check("discovery", False, f"could not run discovery: {exc}", "see the checks above"))
        return out
    info["discovered"] = res.peers
    if res.mdns_error:
        out.append(Check("mdns", False, res.mdns_error, "enable multicast on the LAN interface, or use --peer HOST"))
    for s in res.silent:
        out.append(Check("silent peer", False,
                         f"peer {s['id']} advertises {s['address']} over mDNS but never answered there",
                         "a firewall on that machine (or between) drops the UDP game port, or it is on a "
                         "subnet you cannot route to; allow the port or use --peer with a reachable address"))
    if res.peers:
        names = ", ".join(f"{p['name']} ({p['addresses'][0]}:{p['game_port']})" for p in res.peers)
        out.append(Check("discovery", True, f"{len(res.peers)} peer(s) answered in {args.listen:g} s: {names}"))
    elif not res.silent:
        out.append(Check("discovery", False, f"no peer answered in {args.listen:g} s",
                         "is another player running? same subnet? Wi-Fi client isolation and firewalls "
                         "block mDNS (UDP 5353); try --peer HOST with another player's address"))
    return out


def _check_mongodb(uri: str) -> Check:
    try:
        import pymongo
        from pymongo.errors import PyMongoError

        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
        try:
            client.admin.command("ping")
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure is the diagnosis itself
        text = type(exc).__name__
        if "PyMongoError" in locals() and isinstance(exc, PyMongoError):
            text = f"{type(exc).__name__}: unreachable"
        return Check("mongodb", False, f"MongoDB did not answer ({text})",
                     "check the URI, the network and that a primary is up; results wait in the local outbox")
    return Check("mongodb", True, "MongoDB answered ping")


def run(args: argparse.Namespace) -> int:
    info, checks = collect(args)
    problems = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps({**info, "checks": [c.to_json() for c in checks], "ok": not problems}, indent=2))
    else:
        print(f"p2p-race {info['p2p_race']} (protocol {info['protocol']}) on Python {info['python']}")
        print("packages: " + ", ".join(f"{k} {v or 'MISSING'}" for k, v in info["packages"].items()))
        print(f"data dir: {info.get('data_dir', '?')}")
        for iface in info["interfaces"]:
            flags = ("up" if iface["up"] else "down") + (", multicast" if iface["multicast"] else "") + (
                ", loopback" if iface["loopback"] else "")
            print(f"  {iface['name']}: {', '.join(iface['ipv4'] + iface['ipv6'])} [{flags}]")
        for c in checks:  # details may quote what other peers sent: sanitized
            print(terminal_safe(f"[{'ok' if c.ok else 'PROBLEM'}] {c.name}: {c.detail}")
                  + (f"\n      fix: {terminal_safe(c.fix)}" if c.fix else ""))
    return 1 if problems else 0
