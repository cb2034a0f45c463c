"""A 4-bot LAN match on a starved CPU: two busy processes spin on the two cores while four
`p2p-race bot` processes race one match on LAN test hosts. No host dies, so there must be
no election (every peer's term stays 1) and every peer must adopt one identical result.

    python -m bench.bench_match_load --runs 20     # prints one JSON line per run + a summary

Counts per run: the highest term any peer's host or result had (an election = a term
change), pre-vote campaigns (a peer asked whether the host is gone; without a term change
nothing changed), distinct result records (match, winner, scores, host, term) on the four.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.proc import cli_env, p2p_race_cmd, read_json_lines  # noqa: E402

TITLE = "LAN match on a starved CPU (2 busy processes, 2 cores)"
BUSY = "while True: pass"


def _bot(host, tmp: Path, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    (tmp / name).mkdir()
    ev = tmp / f"{name}.jsonl"
    cmd = p2p_race_cmd("bot", "-v", "--name", name, "--json-events", str(ev), "--skill", "0.8", "--linger", "2",
                       "--timeout", "120", *extra)
    err = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the run's directory
    return host.popen(cmd, env=cli_env(tmp / name), stdout=subprocess.DEVNULL, stderr=err), ev


def one_run(lan, time_limit: float, keep: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="p2p-load-") as d:
        tmp = Path(d)
        h = lan.hosts
        bots = [_bot(h[0], tmp, "Hosty", "--host", "--racers", "4", "--time-limit", str(time_limit),
                     "--countdown", "2")]
        bots += [_bot(h[i], tmp, f"Bot{i}") for i in range(1, 4)]
        codes = []
        for proc, _ev in bots:
            try:
                codes.append(proc.wait(timeout=150))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        logs = [read_json_lines(ev) for _p, ev in bots]
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for _p, ev in bots:
                (keep / ev.name).write_text(ev.read_text())
                (keep / ev.with_suffix(".log").name).write_text(ev.with_suffix(".log").read_text())
    stats = [next((e for e in log if e["event"] == "stats"), {}) for log in logs]
    results = [next((e for e in log if e["event"] == "result"), None) for log in logs]
    outcomes = {(r["match_id"], r["winner"], tuple(sorted(r["scores"].items())), r["host"], r["term"])
                for r in results if r is not None}
    terms = [e.get("term", 1) for log in logs for e in log if e["event"] in ("host", "result")]
    return {"exit": codes, "campaigns": sum(1 for log in logs for e in log if e["event"] == "election"),
            "max_term": max(terms, default=1), "results": sum(r is not None for r in results),
            "distinct_results": len(outcomes),
            "stalled": [s.get("stalled") for s in stats], "longest_host_gap": [s.get("longest_host_gap") for s in stats]}


def measure(runs: int, time_limit: float = 8.0, out=None, keep: Path | None = None) -> list[dict]:
    from tests.support.lanhosts import TestLan

    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    rows = []
    try:
        with TestLan(4) as lan:
            for i in range(runs):
                t0 = time.monotonic()
                row = one_run(lan, time_limit, keep / f"run{i + 1}" if keep else None)
                row |= {"run": i + 1, "seconds": round(time.monotonic() - t0, 1)}
                rows.append(row)
                if out is not None:
                    print(json.dumps(row), file=out, flush=True)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    return rows


def _good(row: dict) -> bool:
    return row["max_term"] == 1 and row["results"] == 4 and row["distinct_results"] == 1


def run(quick: bool) -> list[dict]:
    rows = measure(3 if quick else 20)
    good = sum(_good(r) for r in rows)
    return [{"metric": "4-bot LAN matches where the term stays 1 and all adopt one result", "value": good,
             "unit": f"of {len(rows)}", "target": f"{len(rows)} of {len(rows)}", "ok": good == len(rows),
             "note": f"pre-vote campaigns that changed nothing {sum(r['campaigns'] for r in rows)}, highest term "
                     f"{max(r['max_term'] for r in rows)}, runs with >1 result record "
                     f"{sum(r['distinct_results'] > 1 for r in rows)}"}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=8.0)
    ap.add_argument("--keep", type=Path, default=None, help="copy each run's event logs here")
    args = ap.parse_args()
    rows = measure(args.runs, args.time_limit, out=sys.stdout, keep=args.keep)
    good = sum(_good(r) for r in rows)
    print(json.dumps({"summary": f"{good} of {len(rows)} runs: no election, one identical result on all 4",
                      "campaigns": sum(r["campaigns"] for r in rows),
                      "max_term": max(r["max_term"] for r in rows)}), flush=True)


if __name__ == "__main__":
    main()
