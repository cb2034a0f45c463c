"""Linux, macOS and Windows: no platform-only API is reached on another platform's runtime
path. Each test pretends to be a platform (`sys.platform` patched, the other platforms'
modules and attributes removed, project modules reloaded), then runs the real code paths
that differ by platform: the single-instance lock and service control, detaching a child,
stop signals, the display check, binding probes and the data dir."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import chat.supervisor as supervisor
import p2p_race.display as display
import p2p_race.netinfo as netinfo
import p2p_race.paths as paths
import p2p_race.stopsignals as stopsignals
from p2p_race.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("p2p_race", "chat", "discovery", "replication", "assets")
RELOADED = (supervisor, stopsignals, display, netinfo, paths)

# what a platform lacks: modules that do not import there, attributes that do not exist
POSIX_ONLY_MODULES = ("fcntl", "termios", "pwd", "grp", "resource")
WINDOWS_ONLY_MODULES = ("msvcrt", "winreg", "_winapi")
POSIX_ONLY_ATTRS = [(os, "setsid"), (os, "killpg"), (os, "fork"), (os, "getuid"), (socket, "SO_REUSEPORT"),
                    (signal, "SIGKILL"), (signal, "SIGHUP"), (signal, "SIGUSR1")]
WINDOWS_ONLY_ATTRS = [(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200), (subprocess, "DETACHED_PROCESS", 0x8),
                      (signal, "SIGBREAK", int(signal.SIGUSR2))]


def _from_project() -> bool:
    frame = sys._getframe(2)
    return frame.f_globals.get("__name__", "").split(".")[0] in PROJECT


def _tripwire(monkeypatch, owner, name: str, why: str, hits: list[str]) -> None:
    """Replace owner.name so a call made *by project code* is recorded in `hits` (library
    code, e.g. psutil using os.kill on the real platform, passes through)."""
    real = getattr(owner, name)

    def wrapper(*a, **kw):
        if _from_project():
            hits.append(f"{name}: {why}")
        return real(*a, **kw)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.fixture
def pretend(monkeypatch):
    """`hits = pretend("win32")`: this process now looks like that platform to the project;
    `hits` collects the POSIX-only calls project code makes while pretending Windows."""

    def apply(platform: str) -> list[str]:
        hits: list[str] = []
        monkeypatch.setattr(sys, "platform", platform)
        windows = platform == "win32"
        for name in POSIX_ONLY_MODULES if windows else WINDOWS_ONLY_MODULES:
            monkeypatch.setitem(sys.modules, name, None)  # `import name` now fails
        if windows:
            for owner, attr in POSIX_ONLY_ATTRS:
                monkeypatch.delattr(owner, attr, raising=False)
            for owner, attr, value in WINDOWS_ONLY_ATTRS:
                monkeypatch.setattr(owner, attr, value, raising=False)
            # POSIX-only calls that exist on Windows but misbehave there
            _tripwire(monkeypatch, os, "kill", "os.kill(pid, 0) terminates the process on Windows", hits)
            loop = asyncio.new_event_loop()
            loop_cls = type(loop)
            loop.close()
            _tripwire(monkeypatch, loop_cls, "add_signal_handler",
                      "Windows' event loop has no add_signal_handler", hits)
            real_popen = subprocess.Popen.__init__

            def popen(self, *a, **kw):
                if kw.get("start_new_session") and _from_project():
                    hits.append("start_new_session is POSIX only")
                kw.pop("creationflags", None)  # the real (Linux) Popen would refuse them
                return real_popen(self, *a, **kw)

            monkeypatch.setattr(subprocess.Popen, "__init__", popen)
        for mod in RELOADED:
            importlib.reload(mod)
        return hits

    yield apply
    monkeypatch.undo()
    for mod in RELOADED:
        importlib.reload(mod)


def _exercise_stop_signals() -> bool:
    """Install the stop handlers on a real loop, deliver SIGINT, see the stop arrive."""
    async def main() -> bool:
        stop = asyncio.Event()
        restore = stopsignals.on_stop_signals(stop.set)
        try:
            signal.raise_signal(signal.SIGINT)
            await asyncio.wait_for(stop.wait(), 5)
            return stop.is_set()
        finally:
            restore()

    return asyncio.run(main())


@pytest.mark.lan  # it runs a real chat service process
@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_runtime_paths_use_only_this_platforms_apis(platform, pretend, tmp_path) -> None:
    hits = pretend(platform)
    windows = platform == "win32"

    # the chat service's single-instance lock and its control, against a real service
    data_dir = tmp_path / "peer"
    data_dir.mkdir()
    info = supervisor.ensure_service(data_dir, port=0, host="127.0.0.1", extra=["--no-discovery"])
    try:
        assert supervisor.is_running(data_dir)
        assert supervisor.running_info(data_dir)["pid"] == info["pid"]
        second = supervisor.InstanceLock(data_dir)
        assert not second.acquire()  # one service per data dir
    finally:
        assert supervisor.stop_service(data_dir)["pid"] == info["pid"]
    assert not supervisor.is_running(data_dir)
    mine = supervisor.InstanceLock(data_dir)
    assert mine.acquire() and supervisor.is_running(data_dir)
    mine.release()
    assert not supervisor.is_running(data_dir)

    # detaching a child: its own session on POSIX, its own process group on Windows
    kw = supervisor.detached()
    if windows:
        assert "start_new_session" not in kw
        assert kw["creationflags"] & subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        assert kw == {"start_new_session": True}

    # Ctrl-C / SIGTERM stop the asyncio commands
    assert _exercise_stop_signals()
    sigs = stopsignals.stop_signals()
    assert {signal.SIGINT, signal.SIGTERM} <= set(sigs) and len(sigs) == (3 if windows else 2)

    # the display check only applies where X11/Wayland is the window system
    no_display = {"PATH": "/usr/bin"}
    if platform == "linux":
        with pytest.raises(UserError, match="no display"):
            display.require_display(no_display)
    else:
        display.require_display(no_display)
    display.require_display({"SDL_VIDEODRIVER": "dummy"})  # asked for: always fine

    # binding probes and the data dir
    assert netinfo.can_bind_udp(0, "127.0.0.1", reuse=True) is None
    assert paths.resolve_data_dir(tmp_path / "dd") == tmp_path / "dd"

    assert hits == []


def test_pretending_catches_a_posix_only_call(pretend) -> None:
    """The harness itself: project code calling os.kill(pid, 0) as 'Windows' is caught."""
    hits = pretend("win32")
    code = compile("import os\nos.kill(os.getpid(), 0)\n", "p2p_race/_probe.py", "exec")
    exec(code, {"__name__": "p2p_race._probe"})  # noqa: S102 - a probe of the tripwire
    assert any("os.kill" in h for h in hits)


def test_no_platform_only_api_outside_its_guard() -> None:
    """Source check: the APIs only some platforms have are used only behind a platform
    guard, in the modules that own them."""
    allowed = {
        "add_signal_handler": {"p2p_race/stopsignals.py"},
        "start_new_session": {"chat/supervisor.py"},
        "CREATE_NEW_PROCESS_GROUP": {"chat/supervisor.py"},
        "SIGBREAK": {"p2p_race/stopsignals.py"},
        "SO_REUSEPORT": {"p2p_race/netinfo.py"},
    }
    forbidden = ("import fcntl", "import msvcrt", "import winreg", "import termios", "os.setsid",
                 "os.killpg", "os.kill(", "os.fork(", "os.getuid(", "signal.SIGKILL", "signal.SIGHUP")
    bad = []
    for top in PROJECT:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            text = path.read_text(encoding="utf-8")
            bad += [f"{rel}: {n}" for n in forbidden if n in text]
            bad += [f"{rel}: {n}" for n, ok in allowed.items() if n in text and rel not in ok]
    assert bad == []


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_doctor_judges_the_key_file_by_the_platforms_permission_model(platform, pretend, tmp_path) -> None:
    """POSIX mode bits mean nothing on Windows (ACLs; Python reports 0o666 there), so a
    world-readable key is refused (and the doctor flags it) only where the bits are real."""
    import argparse

    from p2p_race.commands import doctor
    from p2p_race.identity import KEY_FILE, load_or_create

    data_dir = tmp_path / "peer"
    data_dir.mkdir()
    load_or_create(data_dir)
    (data_dir / KEY_FILE).chmod(0o666)
    pretend(platform)
    args = argparse.Namespace(data_dir=str(data_dir), interface=None, game_port=0, listen=0.0, mongodb_uri=None,
                              peer=[], name=None, json=False)
    _, checks = doctor.collect(args)
    ident = next(c for c in checks if c.name == "identity")
    assert ident.ok == (platform == "win32")
    assert (ident.fix == "") == (platform == "win32")
