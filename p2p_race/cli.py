"""The `p2p-race` command line.

Each subcommand lives in `p2p_race/commands/<name>.py` and exposes `HELP` (one line),
`add_arguments(parser)` and `run(args) -> int`. User mistakes raise `UserError`: one clear
line on stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from p2p_race import __version__
from p2p_race.errors import UserError

# Order is the order shown in --help; `play` is the default.
COMMANDS = ("play", "practice", "bot", "spectate", "chat", "peers", "leaderboard", "replay", "doctor")


def add_common(parser: argparse.ArgumentParser) -> None:
    """Flags every subcommand accepts (docs/ARCHITECTURE.md section 10)."""
    g = parser.add_argument_group("common options")
    g.add_argument("--name", help="display name shown to other players")
    g.add_argument("--data-dir", help="this peer's identity, config and scores (env P2P_RACE_HOME)")
    g.add_argument("--interface", help="network interface name or IP to use for the LAN")
    g.add_argument(
        "--peer", action="append", default=[], metavar="HOST[:PORT]",
        help="add a peer by address when multicast is blocked (repeatable)",
    )
    g.add_argument(
        "--mongodb-uri", default=None,
        help="sync scores to this MongoDB (env P2P_RACE_MONGODB_URI)",
    )
    g.add_argument("--json", action="store_true", help="print machine-readable JSON")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` the one subcommand about to run: each command module
    imports its own dependencies (pygame, zeroconf, the match core), and loading all nine
    for one `p2p-race chat say` cost ~0.5 s of start-up."""
    parser = argparse.ArgumentParser(
        prog="p2p-race",
        description="A serverless LAN racing game: find players, race, spectate and chat, no server.",
    )
    parser.add_argument("--version", action="version", version=f"p2p-race {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,) if only else ():
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        add_common(p)
        p.set_defaults(_module=module)
    return parser


def _load(name: str):
    try:
        return importlib.import_module(f"p2p_race.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"p2p_race.commands.{name}":
            return None
        raise


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["play", *argv]
    parser = build_parser(argv[0] if argv[0] in COMMANDS else "" if argv[0] == "--version" else None)
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2
    if args.mongodb_uri is None:
        args.mongodb_uri = os.environ.get("P2P_RACE_MONGODB_URI") or None
    setup_logging(args.verbose)
    try:
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"p2p-race: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
