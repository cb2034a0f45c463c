"""Helpers for tests that run real processes: environment, polling with a deadline,
and reading a child's output lines without blocking."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def cli_env(data_dir: Path | str | None = None, **extra: str) -> dict[str, str]:
    """Environment for `python -m p2p_race ...` in a test subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["SDL_VIDEODRIVER"] = "dummy"
    env["SDL_AUDIODRIVER"] = "dummy"
    env["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("P2P_RACE_MONGODB_URI", None)
    if data_dir is not None:
        env["P2P_RACE_HOME"] = str(data_dir)
    env.update(extra)
    return env


def p2p_race_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "p2p_race", *args]


def read_json_lines(path: Path) -> list[dict]:
    """The JSON objects of a line-per-event file (e.g. `--json-events`), skipping a line
    still being written; [] while the file does not exist yet."""
    if not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll `pred` until it returns something truthy; fail with `what` after `timeout` s.

    Waiting uses Event.wait, not a bare sleep, and the deadline is generous: the test checks
    that the condition happens, the benchmarks measure how fast.
    """
    deadline = time.monotonic() + timeout
    ev = threading.Event()
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        ev.wait(interval)


class LineReader:
    """Collects a stream's lines in a background thread; `lines` grows as output arrives."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._t = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._t.start()

    def _pump(self, stream) -> None:
        for raw in iter(stream.readline, ""):
            self.lines.append(raw.rstrip("\n"))
        stream.close()

    def json_lines(self) -> list[dict]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_for(self, pred: Callable[[str], bool], timeout: float, what: str = "a line") -> str:
        def find() -> str | None:
            for line in list(self.lines):
                if pred(line):
                    return line
            return None

        return wait_until(find, timeout, what=what)


def spawn(args: list[str], env: dict[str, str], host=None, **kw) -> tuple[subprocess.Popen, LineReader]:
    """Start a process (on a test host when given) with its stdout read into a LineReader."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    proc = host.popen(args, env=env, **kw) if host is not None else subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, **kw)
    return proc, LineReader(proc.stdout)
