"""Run every benchmark module and write docs/BENCHMARKS.md.

A benchmark module is `bench/bench_<area>.py` with `TITLE` and `run(quick: bool) -> list[Row]`
where a row is a dict: metric, value, unit, and optionally target, ok (bool), note.
`python -m bench.run [--quick] [--only AREA ...]`; results of areas not run are kept from
the previous table file (docs/bench/<area>.json) so one area can be re-measured alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "BENCHMARKS.md"
RAW = ROOT / "docs" / "bench"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def discover() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in (ROOT / "bench").glob("bench_*.py"))


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args(argv)
    RAW.mkdir(parents=True, exist_ok=True)
    areas = args.only or discover()
    failed = []
    for area in areas:
        mod = importlib.import_module(f"bench.bench_{area}")
        print(f"== {area}: {mod.TITLE}", flush=True)
        started = dt.datetime.now(dt.UTC)
        try:
            rows = mod.run(args.quick)
        except Exception:  # noqa: BLE001 - record and go on with the other areas
            traceback.print_exc()
            failed.append(area)
            rows = [{"metric": "benchmark failed", "value": "error", "unit": "", "note": "see make bench output"}]
        for r in rows:
            print(f"   {r['metric']}: {fmt(r['value'])} {r.get('unit', '')}", flush=True)
        record = {"area": area, "title": mod.TITLE, "date": started.strftime("%Y-%m-%d %H:%M UTC"),
                  "machine": machine(), "quick": args.quick, "rows": rows}
        (RAW / f"{area}.json").write_text(json.dumps(record, indent=1))
    write_table()
    return 1 if failed else 0


def write_table() -> None:
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`python -m bench.run`); each section says when and where it ran.",
             "Targets come from the issues. Tests check correctness; these "
             "numbers are measurements, not pass/fail gates.", ""]
    for area in discover():
        path = RAW / f"{area}.json"
        if not path.exists():
            continue
        rec = json.loads(path.read_text())
        lines += [f"## {rec['title']}", "",
                  f"Run {rec['date']} on {rec['machine']}" + (" (quick run)" if rec.get("quick") else "") + ".", "",
                  "| metric | value | target | met | note |", "| --- | --- | --- | --- | --- |"]
        for r in rec["rows"]:
            ok = r.get("ok")
            met = "" if ok is None else ("yes" if ok else "**no**")
            lines.append(f"| {r['metric']} | {fmt(r['value'])} {r.get('unit', '')} | {r.get('target', '')} | {met} | {r.get('note', '')} |")
        lines.append("")
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
