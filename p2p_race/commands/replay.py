"""`p2p-race replay MATCH_ID`: watch a stored match again, or re-verify it headless.

The record's input logs drive every car again on the match's road (p2p_race.replay.view).
In the window: Space pauses, 1 / 2 / 4 set the speed, Left / Right (or Tab) follow another
car, Esc leaves. `--headless --json` prints the replayed outcome; the exit status is 0 when
it equals the stored result and 1 when it does not.
"""

from __future__ import annotations

import argparse
import json

from p2p_race.errors import UserError

HELP = "watch a stored match again (--headless --json: print the replayed outcome)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("match_id", metavar="MATCH_ID", help="a match id (see `p2p-race leaderboard`)")
    parser.add_argument("--headless", action="store_true", help="no window: replay at full speed and print the outcome")
    parser.add_argument("--follow", metavar="NAME", help="follow this racer (default: the winner)")
    parser.add_argument("--speed", type=int, choices=(1, 2, 4), default=1, help="playback speed (window)")


def load_record(data_dir, match_id: str):
    """The stored record of `match_id` with its input logs; UserError when there is none."""
    from replication.store import ResultStore

    store = ResultStore(data_dir)
    try:
        record = store.get(match_id)
        if record is None:
            matches = sorted(m for m in store.ids() if m.startswith(match_id))
            if len(matches) == 1:
                record = store.get(matches[0])
            elif len(matches) > 1:
                raise UserError(f"match id {match_id!r} is ambiguous: {', '.join(matches[:5])}")
        if record is None:
            legacy = [d for d in store.legacy() if d.get("match_id") == match_id]
            if legacy:
                raise UserError(f"match {match_id} was stored before matches kept their inputs: it cannot be replayed")
            raise UserError(f"no stored match {match_id!r} (see `p2p-race leaderboard` for match ids)")
        if not record.has_evidence:
            raise UserError(f"match {match_id} has no input logs to replay")
        return record
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    from p2p_race.paths import resolve_data_dir
    from p2p_race.replay.view import MatchReplay, stored_outcome

    if args.json and not args.headless:
        raise UserError("--json prints the replayed outcome and needs --headless")
    record = load_record(resolve_data_dir(args.data_dir), args.match_id)
    view = MatchReplay(record)
    if args.follow:
        pid = next((p for p, n in view.names.items() if n == args.follow), None)
        if pid is None:
            raise UserError(f"no racer named {args.follow!r} in this match ({', '.join(view.names.values())})")
        view.follow(pid)
    if not args.headless:
        try:
            from p2p_race.ui.screens.replay import run_replay_window
        except ImportError as exc:
            raise UserError(f"the game window is not available ({exc}); use --headless") from exc
        return run_replay_window(args, view)
    view.run_to_end()
    out = view.outcome()
    out["equals_stored"] = out == {**stored_outcome(record)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"replay of {record.match_id}: winner {out['winner']} "
              f"({'equals' if out['equals_stored'] else 'DIFFERS FROM'} the stored result)")
        for r in sorted(out["racers"], key=lambda r: -r["score"]):
            crash = f"crashed at {r['crash_time']:.2f} s" if r["crashed"] else "finished"
            print(f"  {r['name']:<16} {r['score']:>7} {r['distance']:>9.0f}m  {crash}")
    return 0 if out["equals_stored"] else 1
