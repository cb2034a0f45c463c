"""`p2p-race play` (the default command): open the game window."""

from __future__ import annotations

import argparse

HELP = "open the game window (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fullscreen", action="store_true", help="start in fullscreen (saved in the config)")
    parser.add_argument("--windowed", action="store_true", help="start in a window (saved in the config)")


def run(args: argparse.Namespace) -> int:
    from p2p_race.ui.app import run_game

    return run_game(args)
