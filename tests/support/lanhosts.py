"""LAN test hosts: network namespaces on one private bridge (docs/ARCHITECTURE.md section 9).

    with TestLan(3) as lan:
        a, b, c = lan.hosts
        proc = a.popen([sys.executable, "-m", "p2p_race", "peers", "--watch", "--json"])

Topology: one namespace holds a bridge `br0` (the switch); each host is a namespace with
`eth0` (a veth into the switch), an address in 10.99.0.0/24, multicast on and a route for
224.0.0.0/4, plus `lo` up. Traffic stays inside these namespaces. Everything is torn down
on exit, also when the test fails; names carry the creating pid so a crashed run's leftovers
are recognised and removed by the next run.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

SUBNET = "10.99.0"
_counter = itertools.count()
PREFIX = "p2rt"


class LanUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no iproute2, no permission)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def lan_unavailable_reason() -> str | None:
    """None when test hosts can be built; else why not (for pytest.skip)."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"{PREFIX}probe{os.getpid()}"
    res = _ip("netns", "add", name, check=False)
    if res.returncode != 0:
        return f"cannot create a network namespace: {res.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


def cleanup_stale() -> None:
    """Remove namespaces left by test runs whose process is gone."""
    res = _ip("netns", "list", check=False)
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.match(rf"{PREFIX}(\d+)x\d+", name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_netns_pids(name)
            _ip("netns", "del", name, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_pids(ns: str) -> None:
    res = _ip("netns", "pids", ns, check=False)
    for pid in res.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@dataclass
class TestHost:
    __test__ = False  # not a pytest class
    name: str
    netns: str
    ip: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def cmd(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *args]

    def popen(self, args: Sequence[str], **kw) -> subprocess.Popen:
        """Start a process on this host; it is killed when the LAN is torn down."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.cmd(args), **kw)
        self.procs.append(proc)
        return proc

    def run(self, args: Sequence[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.cmd(args), timeout=timeout, **kw)

    def set_multicast(self, on: bool) -> None:
        """Turn multicast off to play a network where mDNS is blocked for this host."""
        _ip("-n", self.netns, "link", "set", "eth0", "multicast", "on" if on else "off")
        if not on:
            _ip("-n", self.netns, "route", "del", "224.0.0.0/4", "dev", "eth0", check=False)
        else:
            _ip("-n", self.netns, "route", "replace", "224.0.0.0/4", "dev", "eth0")

    def set_link(self, up: bool) -> None:
        """Cut or restore this host's cable (a partition without killing processes)."""
        _ip("-n", self.netns, "link", "set", "eth0", "up" if up else "down")
        if up:
            _ip("-n", self.netns, "route", "replace", "224.0.0.0/4", "dev", "eth0")


class TestLan:
    """N hosts on one bridge. Use as a context manager; `close()` is idempotent."""

    __test__ = False

    def __init__(self, n: int) -> None:
        reason = lan_unavailable_reason()
        if reason:
            raise LanUnavailable(reason)
        cleanup_stale()
        self.tag = f"{PREFIX}{os.getpid()}x{next(_counter)}"
        self.switch = f"{self.tag}sw"
        self.hosts: list[TestHost] = []
        self._closed = False
        try:
            _ip("netns", "add", self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            _ip("-n", self.switch, "link", "set", "lo", "up")
            for _i in range(n):
                self.add_host()
        except Exception:
            self.close()
            raise

    def add_host(self) -> TestHost:
        i = len(self.hosts)
        ns = f"{self.tag}h{i}"
        ip = f"{SUBNET}.{10 + i}"
        _ip("netns", "add", ns)
        _ip("-n", self.switch, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.switch, "link", "set", f"p{i}", "master", "br0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "multicast", "on", "up")
        _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        host = TestHost(f"h{i}", ns, ip)
        self.hosts.append(host)
        return host

    def namespaces(self) -> list[str]:
        return [self.switch] + [h.netns for h in self.hosts]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for host in self.hosts:
            for proc in host.procs:
                if proc.poll() is None:
                    proc.kill()
            for proc in host.procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for ns in [h.netns for h in self.hosts] + [self.switch]:
            _kill_netns_pids(ns)
            for _ in range(3):
                if _ip("netns", "del", ns, check=False).returncode == 0 or ns not in _list():
                    break
                _kill_netns_pids(ns)

    def __enter__(self) -> TestLan:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _list() -> str:
    return _ip("netns", "list", check=False).stdout
