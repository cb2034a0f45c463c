"""Shared fixtures: isolated data dirs, LAN test hosts, headless SDL."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.lanhosts import LanUnavailable, TestLan, lan_unavailable_reason  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that builds LAN test hosts is a `lan` test even when its module forgot to say so.

    Then the long tests go first (stable order otherwise): pytest-xdist hands out tests in
    collection order, and a 20 s LAN match dealt out last keeps one worker busy while the
    others idle; dealt out first, the short tests fill in around it.
    """
    for item in items:
        if "make_lan" in getattr(item, "fixturenames", ()) and item.get_closest_marker("lan") is None:
            item.add_marker(pytest.mark.lan)

    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("lan") is not None:
            return 0
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=weight)


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line mentions `text` (Linux /proc; [] elsewhere)."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"):
                out.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in out if pid != os.getpid()]


@pytest.fixture(autouse=True)
def _reap_leftover_processes(request: pytest.FixtureRequest):
    """A process a test started in its own tmp dir (a chat service a supervisor restarted,
    a peer a failed assertion left behind) does not outlive the test: left running it
    loads the machine for every test after it (seen: chat services alive for an hour)."""
    yield
    tmp = getattr(request.node, "funcargs", {}).get("tmp_path")
    if tmp is None or not sys.platform.startswith("linux"):
        return
    tmp = str(tmp)
    for pid in _pids_mentioning(tmp + os.sep):  # its own dir (test_x1 is a prefix of test_x10)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "peer"
    d.mkdir()
    return d


@pytest.fixture
def make_lan():
    """Factory: `lan = make_lan(3)` builds 3 test hosts; all are torn down after the test."""
    lans: list[TestLan] = []

    def make(n: int) -> TestLan:
        reason = lan_unavailable_reason()
        if reason:
            pytest.skip(f"LAN test hosts unavailable: {reason}")
        try:
            lan = TestLan(n)
        except LanUnavailable as exc:
            pytest.skip(f"LAN test hosts unavailable: {exc}")
        lans.append(lan)
        return lan

    yield make
    for lan in lans:
        lan.close()
