"""One chat service per data dir, started on demand and restarted when it dies.

`InstanceLock`: an exclusive OS file lock on `<data dir>/chat.lock` (`filelock`: flock on
Linux and macOS, msvcrt locking on Windows), held for the service's lifetime. The OS
releases it when the process dies in any way (SIGKILL included), so there is no stale pid
file to second-guess. `chat.json` (written atomically) says where the running service
listens.

`ensure_service(data_dir)` returns the running service's info, starting one (a detached
process in its own session, so a game crash or Ctrl-C leaves it running) when none runs.
`Supervisor` calls it every half second from a thread: what the game uses so that a chat
service crash is repaired without the game noticing. `stop_service(data_dir)` ends the
running service (`p2p-race chat --stop`, or the game on quit when chat should not stay).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock, Timeout

from p2p_race.atomic import write_atomic

log = logging.getLogger(__name__)
LOCK_NAME = "chat.lock"
INFO_NAME = "chat.json"
LOG_NAME = "chat-service.log"
ROOT = Path(__file__).resolve().parent.parent


class InstanceLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self._lock = FileLock(self.path, mode=0o600, thread_local=False)

    def acquire(self, settle: float = 2.0) -> bool:
        """True when this process now owns the data dir's chat service slot.

        A busy lock with no live service behind it (no info file naming a running pid) is
        someone's `is_running` probe, which holds the lock for an instant, or a service
        still starting: keep trying for up to `settle` seconds before giving up. Seen: a
        client's probe made the service it had just spawned exit as "already running".
        """
        deadline = time.monotonic() + settle
        while True:
            try:
                self._lock.acquire(timeout=0)
                return True
            except Timeout:
                pass
            if running_pid(self.data_dir) is not None or time.monotonic() >= deadline:
                return False
            _pause.wait(0.02)

    def release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                (self.data_dir / INFO_NAME).unlink()
            self._lock.release(force=True)

    def info(self) -> dict[str, Any] | None:
        return read_info(self.data_dir)


def is_running(data_dir: Path) -> bool:
    """True when some process holds the data dir's chat lock."""
    path = Path(data_dir) / LOCK_NAME
    if not path.exists():
        return False
    probe = FileLock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release(force=True)
    return False


def write_info(data_dir: Path, info: dict[str, Any]) -> None:
    write_atomic(Path(data_dir) / INFO_NAME, json.dumps(info).encode(), 0o644)


def read_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((Path(data_dir) / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("port"), int):
        return None
    return info


def running_info(data_dir: Path) -> dict[str, Any] | None:
    """The live service's info (pid, port, ...) or None when no service runs."""
    if not is_running(data_dir):
        return None
    info = read_info(data_dir)
    if info is None or not _pid_alive(info.get("pid")):
        return None
    return info


def running_pid(data_dir: Path) -> int | None:
    """The pid named by the info file when that process is alive (no lock probe)."""
    info = read_info(data_dir)
    pid = None if info is None else info.get("pid")
    return pid if _pid_alive(pid) else None


_pause = threading.Event()  # never set: a timed wait between lock attempts


def _pid_alive(pid: Any) -> bool:
    # psutil, not os.kill with signal 0: on Windows that call would terminate the process
    return isinstance(pid, int) and pid > 0 and psutil.pid_exists(pid)


def stop_service(data_dir: Path | str, *, timeout: float = 5.0) -> dict[str, Any] | None:
    """Stop the data dir's running chat service; returns its info, or None when none ran.

    SIGTERM on Linux and macOS (the service leaves its mesh cleanly), TerminateProcess on
    Windows (no SIGTERM there; the log is in SQLite, so nothing is lost). A service still
    holding its lock after `timeout` is killed. Raises RuntimeError when it cannot be stopped.
    """
    data_dir = Path(data_dir)
    info = running_info(data_dir)
    if info is None:
        return None
    pid = info["pid"]
    try:
        proc = psutil.Process(pid)
        # a pid reused by a process started after the service wrote chat.json is not ours
        if proc.create_time() > float(info.get("started") or time.time()) + 1.0:
            raise RuntimeError(f"pid {pid} is no longer the chat service")
        proc.terminate()
        if not _wait_unlocked(data_dir, timeout):
            log.warning("chat service pid %s ignored the stop request; killing it", pid)
            proc.kill()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied as exc:
        raise RuntimeError(f"cannot stop the chat service (pid {pid}): access denied") from exc
    # the lock is released once the process is gone (even while it waits to be reaped)
    if not _wait_unlocked(data_dir, timeout):
        raise RuntimeError(f"the chat service (pid {pid}) did not stop within {timeout:g} s")
    return info


def _wait_unlocked(data_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    ev = threading.Event()
    while is_running(data_dir):
        if time.monotonic() >= deadline:
            return False
        ev.wait(0.02)
    return True


def service_command(data_dir: Path, *, peers: Iterable[str] = (), port: int | None = None,
                    host: str | None = None, name: str | None = None,
                    extra: Iterable[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "chat.service", "--data-dir", str(data_dir)]
    for p in peers:
        cmd += ["--peer", p]
    if port is not None:
        cmd += ["--port", str(port)]
    if host:
        cmd += ["--host", host]
    if name:
        cmd += ["--name", name]
    return cmd + list(extra)


_children: list[subprocess.Popen] = []


def detached() -> dict[str, Any]:
    """Popen options for a child that outlives its parent and the terminal's Ctrl-C: its own
    session on POSIX, its own process group and no console on Windows."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    return {"start_new_session": True}


def spawn_service(data_dir: Path, **kw: Any) -> subprocess.Popen:
    """Start a detached service process (survives its parent's death and the terminal's
    Ctrl-C); its output goes to `chat-service.log` in the data dir."""
    env = dict(os.environ)
    if (ROOT / "pyproject.toml").exists():  # a source checkout; an installed copy needs nothing
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    logf = open(Path(data_dir) / LOG_NAME, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(service_command(data_dir, **kw), stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf, env=env, close_fds=True, **detached())
    finally:
        logf.close()
    _children[:] = [c for c in _children if c.poll() is None]  # reap exited ones
    _children.append(proc)
    return proc


def ensure_service(data_dir: Path | str, *, timeout: float = 10.0, **kw: Any) -> dict[str, Any]:
    """The running chat service's info for `data_dir`, starting one if none runs.

    Keyword arguments (peers, port, host, name, extra) are used only when starting.
    Raises RuntimeError when no service is up within `timeout`.
    """
    data_dir = Path(data_dir)
    info = running_info(data_dir)
    if info is not None:
        return info
    proc = spawn_service(data_dir, **kw)
    deadline = time.monotonic() + timeout
    ev = threading.Event()
    while time.monotonic() < deadline:
        info = running_info(data_dir)
        if info is not None:
            return info
        if proc.poll() is not None and not is_running(data_dir):
            tail = _log_tail(data_dir)
            raise RuntimeError(f"chat service exited with status {proc.returncode}: {tail}")
        ev.wait(0.02)
    raise RuntimeError(f"chat service did not start within {timeout:.0f} s; see {data_dir / LOG_NAME}")


def _log_tail(data_dir: Path) -> str:
    try:
        lines = (Path(data_dir) / LOG_NAME).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def after_game(data_dir: Path | str, *, stay_online: bool) -> str | None:
    """What the game does with its chat service when it quits: leave it running for the
    nearby players (and say so, with how to stop it) or stop it. Returns the line to show,
    None when no service runs."""
    if stay_online:
        info = running_info(Path(data_dir))
        if info is None:
            return None
        return (f"chat stays online for nearby players (chat service pid {info.get('pid')}, "
                f"port {info.get('port')}); stop it with `p2p-race chat --stop`, or turn off "
                "'Chat after quit' in Settings")
    try:
        info = stop_service(data_dir)
    except RuntimeError as exc:
        return f"could not stop the chat service: {exc}"
    return None if info is None else f"stopped the chat service (pid {info.get('pid')})"


class Supervisor:
    """Keeps a chat service running for a data dir (what the game process uses)."""

    def __init__(self, data_dir: Path | str, *, interval: float = 0.5, **kw: Any) -> None:
        self.data_dir = Path(data_dir)
        self.interval = interval
        self.kw = kw
        self.restarts = 0
        self.info: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chat-supervisor", daemon=True)

    def start(self) -> Supervisor:
        self.info = ensure_service(self.data_dir, **self.kw)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if running_info(self.data_dir) is None:
                try:
                    self.info = ensure_service(self.data_dir, **self.kw)
                    self.restarts += 1
                    log.info("chat service restarted (pid %s)", self.info.get("pid"))
                except RuntimeError as exc:
                    log.warning("chat service restart failed: %s", exc)

    def stop(self) -> None:
        """Stop supervising (the service keeps running: chat outlives the game)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
