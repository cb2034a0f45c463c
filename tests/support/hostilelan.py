"""Hostile helpers on LAN test hosts (tests/support/lanhosts.py), shared by the hostile
discovery tests and bench/bench_hostile.py: a byte counter at a would-be victim address, a
flock of scripted identities, spoofed-source hellos, extra addresses on a host."""

from __future__ import annotations

import json

from tests.support.lanhosts import TestHost, _ip
from tests.support.proc import PYTHON, ROOT, LineReader, cli_env, spawn, wait_until

RAWPEER = [PYTHON, "-m", "tests.support.rawpeer"]


def counter(host: TestHost, port: int, seconds: float):
    """(process, output) of a byte counter listening at host:port for `seconds`."""
    proc, out = spawn([*RAWPEER, "count", host.ip, str(port), str(seconds)], cli_env(), host=host, cwd=ROOT)
    wait_until(lambda: any(e.get("ready") for e in out.json_lines()), 20, what="counter ready")
    return proc, out


def counted(out: LineReader) -> int:
    lines = [e for e in out.json_lines() if "bytes" in e]
    return lines[-1]["bytes"] if lines else 0


def flock(host: TestHost, dst: tuple[str, int], n: int, seconds: float, srcs: list[str]):
    """`n` identities on `host` (sources `srcs`) joining `dst` and beating for `seconds`."""
    return spawn([*RAWPEER, "flock", dst[0], str(dst[1]), str(n), str(seconds), ",".join(srcs)],
                 cli_env(), host=host, cwd=ROOT)


def spoof(host: TestHost, victim: tuple[str, int], source: tuple[str, int], n: int) -> dict:
    """Run the spoofed-source hellos from `host`; returns {"sent", "small"} bytes."""
    res = host.run([*RAWPEER, "spoof", victim[0], str(victim[1]), source[0], str(source[1]), str(n)],
                   env=cli_env(), cwd=ROOT, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def add_addresses(host: TestHost, count: int, base: int) -> list[str]:
    """Give `host` `count` more addresses on its LAN (10.99.0.base...)."""
    ips = [f"10.99.0.{base + i}" for i in range(count)]
    for ip in ips:
        _ip("-n", host.netns, "addr", "add", f"{ip}/24", "dev", "eth0")
    return ips
