"""Result sync between real processes on three LAN test hosts (network namespaces), with a
host cut off and reconnected: every host ends with the same results and leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.proc import PYTHON, cli_env, p2p_race_cmd, spawn

pytestmark = pytest.mark.lan


def board(host, data: Path) -> dict:
    out = host.run(p2p_race_cmd("leaderboard", "--json", "--local", "--recent", "100"), env=cli_env(data))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def sync(host, data: Path, *peers: str):
    args = ["leaderboard", "--json", "--local"]
    for p in peers:
        args += ["--sync-with", p]
    return host.run(p2p_race_cmd(*args), env=cli_env(data), timeout=60)


def test_results_converge_across_lan_hosts_after_a_partition(make_lan, tmp_path):
    lan = make_lan(3)
    addrs, dirs = [], []
    for k, h in enumerate(lan.hosts):
        d = tmp_path / f"h{k}"
        d.mkdir()
        dirs.append(d)
        proc, out = spawn([PYTHON, "-m", "replication", "serve", "--data-dir", str(d), "--host", h.ip,
                           "--add-fixtures", "10", "--fixture-start", str(10 * k)], cli_env(), host=h)
        port = json.loads(out.wait_for(lambda s: '"listening"' in s, 30.0, what="listening"))["port"]
        addrs.append(f"{h.ip}:{port}")
    h0, h1, h2 = lan.hosts
    assert sync(h1, dirs[1], addrs[0]).returncode == 0
    h2.set_link(False)
    cut = sync(h2, dirs[2], addrs[0])
    assert cut.returncode == 2 and "cannot sync" in cut.stderr
    h2.set_link(True)
    assert sync(h2, dirs[2], addrs[0], addrs[1]).returncode == 0
    boards = [board(h, d) for h, d in zip(lan.hosts, dirs, strict=True)]
    assert all(len(b["recent"]) == 30 for b in boards)
    assert boards[0] == boards[1] == boards[2]
