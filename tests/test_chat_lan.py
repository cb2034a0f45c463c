"""Chat services on LAN test hosts (network namespaces): they find each other with zeroconf
(their own DNS-SD type), or with --peer where multicast is off; three hosts chat and every
host ends with the same ordered log, also after a partition heals; SIGKILL of a host's chat service while its client
sends -> the client falls back across the LAN, nothing lost or duplicated."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.proc import LineReader, cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan

TIMEOUT = 30


def _serve(host, tmp: Path, name: str, *extra: str):
    d = tmp / name
    d.mkdir(exist_ok=True)
    proc, out = spawn(p2p_race_cmd("chat", "--serve", "--name", name, *extra), cli_env(d), host=host)
    out.wait_for(lambda s: '"ready"' in s, TIMEOUT, what=f"{name} ready")
    return d, proc


def _history(host, d: Path) -> list[dict]:
    res = host.run(p2p_race_cmd("chat", "--history", "--json", "--no-start"), env=cli_env(d),
                   timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_three_hosts_chat_found_by_zeroconf_and_peer(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    h2.set_multicast(False)  # h2 cannot use mDNS: it joins through --peer (TCP)
    d0, svc0 = _serve(h0, tmp_path, "h0")
    d1, _ = _serve(h1, tmp_path, "h1")
    d2, _ = _serve(h2, tmp_path, "h2", "--peer", f"{h0.ip}:47801", "--no-discovery")
    dirs = [(h0, d0), (h1, d1), (h2, d2)]
    for host, d in dirs:
        res = host.run(p2p_race_cmd("chat", "--say", f"hello from {host.name}", "--no-start"),
                       env=cli_env(d), timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr

    def converged():
        logs = [_history(h, d) for h, d in dirs]
        ids = {tuple(r["id"] for r in log) for log in logs}
        texts = [r["text"] for r in logs[0] if r["kind"] == "text"]
        return logs if len(ids) == 1 and len(texts) == 3 else None

    logs = wait_until(converged, TIMEOUT, interval=0.3, what="same log on 3 hosts")
    rows = logs[1]
    assert sorted(r["text"] for r in rows if r["kind"] == "text") == [
        "hello from h0", "hello from h1", "hello from h2"]
    assert {r["text"] for r in rows if r["kind"] == "system"} >= {"h0 joined", "h1 joined", "h2 joined"}

    # a partition that heals: h1's cable is cut while h0 and h2 chat; plugged back, h1
    # catches up and all three logs are identical again
    h1.set_link(False)
    for host, d in (dirs[0], dirs[2]):
        res = host.run(p2p_race_cmd("chat", "--say", f"while h1 is away ({host.name})", "--no-start"),
                       env=cli_env(d), timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
    assert not any(r["text"].startswith("while h1") for r in _history(h1, d1))
    h1.set_link(True)

    def healed():
        logs = [_history(h, d) for h, d in dirs]
        return len({tuple(r["id"] for r in log) for log in logs}) == 1 and sum(
            r["text"].startswith("while h1") for r in logs[1]) == 2

    wait_until(healed, TIMEOUT, interval=0.3, what="h1 caught up after the partition")

    # SIGKILL of h0's chat service while its terminal client sends: the client falls back
    # to h1's or h2's service across the LAN; every line lands once, in one order everywhere
    client = h0.popen(p2p_race_cmd("chat", "--no-start", "--json"), env=cli_env(d0),
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = LineReader(client.stdout)
    lines = [f"lan line {i}" for i in range(7)]
    client.stdin.write("".join(t + "\n" for t in lines))
    client.stdin.flush()
    out.wait_for(lambda s: "lan line 1" in s, TIMEOUT, what="lan line 1 sent")
    svc0.kill()
    svc0.wait(5)

    def delivered():
        logs = [_history(h, d) for h, d in dirs[1:]]
        texts = [[r["text"] for r in log if r["text"].startswith("lan line")] for log in logs]
        same = logs[0] == logs[1]
        return texts if same and all(sorted(t) == lines for t in texts) else None

    texts = wait_until(delivered, TIMEOUT, interval=0.3, what="7 lines on h1 and h2, once each")
    assert texts[0] == texts[1] and len(set(texts[0])) == 7
    client.stdin.write("/quit\n")
    client.stdin.flush()
    assert client.wait(TIMEOUT) == 0
