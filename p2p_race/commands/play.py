"""`p2p-race play` (the default command): open the game window."""

from __future__ import annotations

import argparse
import sys

HELP = "open the game window (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fullscreen", action="store_true", help="start in fullscreen (saved in the config)")
    parser.add_argument("--windowed", action="store_true", help="start in a window (saved in the config)")
    parser.add_argument("--join", action="store_true",
                        help="straight into the LAN lobby's quick play: join the open match with the most "
                             "racers, or host one when there is none")


def run(args: argparse.Namespace) -> int:
    from p2p_race.ui.app import run_game

    code = run_game(args)
    after_window(args)
    return code


def after_window(args: argparse.Namespace) -> None:
    """Once a game window closed: the chat service outlives the game, and the terminal says
    so, unless the player turned that off in Settings (then it is stopped)."""
    from chat.supervisor import after_game
    from p2p_race.config import Config
    from p2p_race.paths import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    line = after_game(data_dir, stay_online=Config.load(data_dir).chat_stays_online)
    if line:
        print(f"p2p-race: {line}", file=sys.stderr)
