"""The background chat service is visible and controllable: `chat --status` names its pid
and port, `chat --stop` ends it, and the game says on quit that chat stays online (or stops
the service when the player turned that off in Settings). Real service processes."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import psutil
import pygame
import pytest

from chat.supervisor import after_game, ensure_service, is_running, running_info, stop_service
from p2p_race.config import Config
from tests.support.proc import cli_env, p2p_race_cmd, wait_until

SERVICE = {"port": 0, "host": "127.0.0.1", "extra": ["--no-discovery"]}


def chat(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(p2p_race_cmd("chat", *args), env=cli_env(data_dir), capture_output=True,
                          text=True, timeout=60)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited, not reaped yet
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def service(data_dir: Path):
    info = ensure_service(data_dir, **SERVICE)
    yield info
    stop_service(data_dir)


@pytest.mark.lan
def test_status_names_pid_and_port_and_stop_ends_the_service(data_dir: Path, service: dict) -> None:
    status = chat(data_dir, "--status", "--json")
    assert status.returncode == 0, status.stderr
    got = json.loads(status.stdout)
    assert got["running"] and got["pid"] == service["pid"] and got["port"] == service["port"]
    text = chat(data_dir, "--status")
    assert f"pid {service['pid']}" in text.stdout and f"port {service['port']}" in text.stdout
    assert "p2p-race chat --stop" in text.stdout

    stop = chat(data_dir, "--stop", "--json")
    assert stop.returncode == 0, stop.stderr
    assert json.loads(stop.stdout) == {"stopped": True, "pid": service["pid"], "port": service["port"]}
    assert not is_running(data_dir) and running_info(data_dir) is None
    wait_until(lambda: gone(service["pid"]), 10, what="the service process to exit")

    again = chat(data_dir, "--stop")
    assert again.returncode == 0 and "no chat service runs" in again.stdout
    after = chat(data_dir, "--status", "--json")
    assert after.returncode == 1 and json.loads(after.stdout) == {"running": False}


@pytest.mark.lan
def test_stop_kills_a_service_that_ignores_sigterm(data_dir: Path) -> None:
    # a service wedged in a busy handler ignores SIGTERM: --stop still frees the data dir
    info = ensure_service(data_dir, **SERVICE)
    proc = psutil.Process(info["pid"])
    proc.suspend()  # SIGSTOP: SIGTERM stays pending, as in a hung process
    try:
        assert stop_service(data_dir, timeout=1.0)["pid"] == info["pid"]
    finally:
        if not gone(info["pid"]):
            proc.kill()
    assert not is_running(data_dir)


@pytest.mark.lan
def test_after_game_says_chat_stays_online_or_stops_it(data_dir: Path, service: dict) -> None:
    line = after_game(data_dir, stay_online=True)
    assert line and f"pid {service['pid']}" in line and f"port {service['port']}" in line
    assert "chat --stop" in line and running_info(data_dir)["pid"] == service["pid"]
    line = after_game(data_dir, stay_online=False)
    assert line == f"stopped the chat service (pid {service['pid']})"
    assert running_info(data_dir) is None
    assert after_game(data_dir, stay_online=True) is None  # nothing runs: nothing to say


@pytest.mark.lan
def test_quitting_the_game_reports_the_chat_service(data_dir: Path, service: dict, monkeypatch, capsys) -> None:
    """`p2p-race play` end to end in-process: the window opens (SDL dummy), the player closes
    it, and the terminal says where chat lives on; with the setting off, quitting stops it."""
    from p2p_race.commands import play
    from p2p_race.ui.app import App

    run = App.run

    def close_at_once(self: App) -> int:
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        return run(self)

    monkeypatch.setattr(App, "run", close_at_once)
    args = argparse.Namespace(data_dir=str(data_dir), name="Quitter", fullscreen=False, windowed=False)
    assert play.run(args) == 0
    err = capsys.readouterr().err
    assert "chat stays online for nearby players" in err and f"pid {service['pid']}" in err
    assert running_info(data_dir) is not None

    cfg = Config.load(data_dir)
    cfg.chat_stays_online = False
    cfg.save(data_dir)
    assert play.run(args) == 0
    assert f"stopped the chat service (pid {service['pid']})" in capsys.readouterr().err
    assert running_info(data_dir) is None


def test_a_lock_probe_does_not_turn_a_starting_service_away(tmp_path: Path) -> None:
    """`is_running` probes by taking the lock for an instant; a service starting at that
    instant used to exit as "already running" with nothing running (seen in a CI run)."""
    import os
    import threading
    import time

    from filelock import FileLock

    from chat.supervisor import INFO_NAME, LOCK_NAME, InstanceLock

    probe = FileLock(tmp_path / LOCK_NAME)
    probe.acquire()
    starting = InstanceLock(tmp_path)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(starting.acquire()))
    thread.start()
    threading.Event().wait(0.2)  # the probe holds it a while (far longer than a real probe)
    probe.release(force=True)
    thread.join(10)
    assert got == [True]  # whether it tried before or after the release
    starting.release()

    # a live service named by the info file holds the lock: the newcomer says so at once
    (tmp_path / INFO_NAME).write_text(json.dumps({"pid": os.getpid(), "port": 1}))
    probe.acquire()
    t0 = time.monotonic()
    assert InstanceLock(tmp_path).acquire(settle=30.0) is False
    assert time.monotonic() - t0 < 10  # it did not sit out the 30 s
    probe.release(force=True)
