"""`p2p-race peers` on loopback without mDNS (runs where network namespaces are not
allowed): --peer discovery, the JSON shapes, SIGINT/SIGTERM leave, and user errors."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from discovery import parse_peer_address
from p2p_race.errors import UserError
from tests.support.proc import LineReader, cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan

PEER_KEYS = {"id", "name", "addresses", "game_port", "chat_port", "state", "match_id", "last_seen"}


@pytest.mark.parametrize(("text", "want"), [
    ("10.0.0.5", ("10.0.0.5", 47800)), ("10.0.0.5:4000", ("10.0.0.5", 4000)),
    ("host.lan:1", ("host.lan", 1)), ("[fe80::1]:5000", ("fe80::1", 5000)), ("fe80::1", ("fe80::1", 47800)),
])
def test_parse_peer_address(text: str, want: tuple) -> None:
    assert parse_peer_address(text) == want


@pytest.mark.parametrize("text", ["10.0.0.5:0", "10.0.0.5:70000", "x:y", ":4000", "[fe80::1", "[fe80::1]x"])
def test_parse_peer_address_rejects(text: str) -> None:
    with pytest.raises(UserError):
        parse_peer_address(text)


def test_watch_and_one_shot_on_loopback(tmp_path: Path) -> None:
    watcher, out = spawn(p2p_race_cmd("peers", "--watch", "--json", "--no-mdns", "--port", "0", "--name", "w",
                                      "--state", "racing", "--match-id", "m9"), cli_env(tmp_path / "w"))
    err = LineReader(watcher.stderr)
    try:
        info = json.loads(err.wait_for(lambda s: '"listening"' in s, 20))
        res = subprocess.run(
            p2p_race_cmd("peers", "--json", "--no-mdns", "--port", "0", "--wait", "1", "--name", "probe",
                         "--peer", f"localhost:{info['port']}"),
            env=cli_env(tmp_path / "p"), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        peers = json.loads(res.stdout)
        assert len(peers) == 1 and set(peers[0]) >= PEER_KEYS
        assert (peers[0]["id"], peers[0]["name"], peers[0]["state"], peers[0]["match_id"]) == (
            info["id"], "w", "racing", "m9")
        assert peers[0]["addresses"] == ["127.0.0.1"] and peers[0]["game_port"] == info["port"]
        # the watcher printed the probe coming and leaving, one JSON object per line
        wait_until(lambda: [e["event"] for e in out.json_lines()] == ["added", "removed"], 5, what="probe events")
        for e in out.json_lines():
            assert set(e) == {"event", "peer", "t"} and set(e["peer"]) >= PEER_KEYS
            assert e["peer"]["name"] == "probe"
    finally:
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(10) == 0
    left = json.loads(err.wait_for(lambda s: '"left"' in s, 5))
    assert left["accepted"] > 0


def test_text_output_and_user_errors(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "x")
    res = subprocess.run(p2p_race_cmd("peers", "--no-mdns", "--port", "0", "--wait", "0.2"), env=env,
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == 0 and res.stdout == "" and "no peers found" in res.stderr
    for bad in (["--peer", "h:99999"], ["--port", "70000"], ["--name", "n" * 65], ["--state", "s" * 17],
                ["--match-id", "m" * 41], ["--chat-port", "70000"]):
        res = subprocess.run(p2p_race_cmd("peers", "--no-mdns", "--wait", "0", *bad), env=env,
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert res.returncode == 2, (bad, res.stderr)
        assert res.stderr.startswith("p2p-race: error:") and "Traceback" not in res.stderr
