"""The LAN's leaderboard from a machine that never raced: `p2p-race leaderboard` finds the
live peers with discovery and pulls their results first, no address typed. Real processes
on LAN test hosts: a bot peer holding results (hosting score sync on its game port) and a
fresh data dir running `leaderboard --json` on another host."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from replication.fixtures import make_result
from replication.store import ResultStore
from tests.support.proc import cli_env, p2p_race_cmd, read_json_lines, wait_until


def fill(data_dir: Path, ids) -> list:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ResultStore(data_dir)
    results = [make_result(i) for i in ids]
    for r in results:
        store.add(r)
    store.close()
    return results


def start_holder(host, data_dir: Path, events: Path):
    """A bot hosting a match it never starts (it waits for a second racer): a live peer
    that serves its results over score sync."""
    return host.popen(p2p_race_cmd("bot", "--host", "--racers", "2", "--timeout", "120", "--name", "holder",
                                   "--json-events", str(events)), env=cli_env(data_dir))


@pytest.mark.lan
def test_a_fresh_machine_shows_the_lans_matches_without_an_address(make_lan, tmp_path: Path) -> None:
    lan = make_lan(2)
    h0, h1 = lan.hosts
    held = fill(tmp_path / "holder", range(6))
    events = tmp_path / "holder.jsonl"
    start_holder(h0, tmp_path / "holder", events)
    wait_until(lambda: any(e["event"] == "listening" for e in read_json_lines(events)), 30, what="holder up")
    # wait until the holder is visible over mDNS from the other host (a different data dir)
    def seen() -> bool:
        res = h1.run(p2p_race_cmd("peers", "--json", "--wait", "1"), timeout=30, env=cli_env(tmp_path / "probe"))
        return res.returncode == 0 and any(p["name"] == "holder" for p in json.loads(res.stdout))
    wait_until(seen, 30, what="the holder to be discoverable")

    fresh = tmp_path / "fresh"
    t0 = time.monotonic()
    res = h1.run(p2p_race_cmd("leaderboard", "--json", "--recent", "20"), timeout=60, env=cli_env(fresh))
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    board = json.loads(res.stdout)
    assert sorted(m["match_id"] for m in board["recent"]) == sorted(r.match_id for r in held)
    assert board["lan"]["peers"] == 1 and board["lan"]["added"] == 6 and board["lan"]["failed"] == 0
    assert board["lan"]["seconds"] <= 2.5, board["lan"]  # "a couple of seconds at most"
    assert elapsed < 30
    # what was pulled is kept: the fresh peer now shows it offline too
    local = json.loads(h1.run(p2p_race_cmd("leaderboard", "--json", "--local", "--recent", "20"),
                              env=cli_env(fresh)).stdout)
    assert len(local["recent"]) == 6 and "lan" not in local

    # --local skips the pull: another fresh dir sees nothing, and says nothing of the LAN
    other = h1.run(p2p_race_cmd("leaderboard", "--json", "--local"), env=cli_env(tmp_path / "other"))
    assert json.loads(other.stdout) == {"source": "local", "players": [], "recent": []}

    # the text form names where the results came from
    text = h1.run(p2p_race_cmd("leaderboard"), env=cli_env(tmp_path / "third"), timeout=60)
    assert "+6 result(s) from 1 LAN peer(s)" in text.stdout, text.stdout + text.stderr


@pytest.mark.lan
def test_no_peer_on_the_lan_costs_only_the_bounded_wait(make_lan, tmp_path: Path) -> None:
    lan = make_lan(1)
    res = lan.hosts[0].run(p2p_race_cmd("leaderboard", "--json", "--pull-wait", "1.5"), timeout=60,
                           env=cli_env(tmp_path / "alone"))
    assert res.returncode == 0, res.stderr
    board = json.loads(res.stdout)
    assert board["lan"]["peers"] == 0 and board["recent"] == []
    assert 0.5 <= board["lan"]["seconds"] <= 2.0
    bad = lan.hosts[0].run(p2p_race_cmd("leaderboard", "--pull-wait", "-1"), env=cli_env(tmp_path / "alone"))
    assert bad.returncode == 2 and "--pull-wait" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.lan
def test_the_game_leaderboard_screen_pulls_from_the_lan_first(tmp_path: Path) -> None:
    """In the game the pull goes through the game's own peer runtime (its discovery table):
    here on loopback, the holder found through a config peer entry, no mDNS."""
    import argparse

    from p2p_race.config import Config
    from p2p_race.ui.app import App
    from p2p_race.ui.leaderboard import LeaderboardScreen
    from p2p_race.ui.lobby import make_runtime
    from replication.scoreboard import ReplicatedScoreBoard
    from tests.support.proc import spawn

    held = fill(tmp_path / "holder", range(20, 24))
    events = tmp_path / "holder.jsonl"
    holder, _ = spawn(p2p_race_cmd("bot", "--host", "--racers", "2", "--timeout", "120", "--no-mdns",
                                   "--name", "holder", "--json-events", str(events)), cli_env(tmp_path / "holder"))
    app = rt = None
    try:
        up = wait_until(lambda: [e for e in read_json_lines(events) if e["event"] == "listening"], 30,
                        what="holder up")
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        app = App(Config(name="ann", peers=[f"127.0.0.1:{up[0]['port']}"]), fresh,
                  scoreboard=ReplicatedScoreBoard(fresh))
        rt = make_runtime(app, argparse.Namespace(no_mdns=True, peer=[], interface=None, mongodb_uri=None))
        wait_until(lambda: any(p.name == "holder" for p in rt.discovery.peers()), 20, what="holder listed")
        screen = LeaderboardScreen(app, lan_pull=True)
        app.push(screen)
        assert screen.lan_note == "pulling results from the LAN..."
        wait_until(lambda: screen.lan_note.startswith("+"), 10, what="the pull to end")
        assert screen.lan_note == "+4 from 1 LAN peer(s)"
        assert sorted(m["match_id"] for m in screen.board()["recent"]) == sorted(r.match_id for r in held)
        app.frame([])  # the header with the note draws
    finally:
        if rt is not None:
            rt.stop_thread()
        if app is not None:
            app.close()
        holder.terminate()
        holder.wait(10)


def _peer(i: int, port: int):
    from discovery.table import Peer

    return Peer(id=f"{i:016x}", name=f"p{i}", public_key=b"k" * 32, addresses=["127.0.0.1"], game_port=port,
                chat_port=0, state="lobby", match_id="", last_seen=0.0, addr=("127.0.0.1", port))


@pytest.mark.lan
def test_pull_is_bounded_against_silent_dead_and_flooding_peers(tmp_path: Path) -> None:
    """Real sync servers on loopback: one holding results, one that accepts and never
    answers, a closed port, and a flood of fresh identities all pointing at the first. The
    pull gets the results, each bad peer costs only its own round, and the flood buys at
    most MAX_PEERS rounds; the whole pull stays within its wait."""
    import asyncio
    import socket

    from p2p_race import lanpull
    from replication.sync_server import serve_sync

    held = fill(tmp_path / "holder", range(40, 45))

    async def main():
        src = ResultStore(tmp_path / "holder")
        good = await serve_sync(src, "127.0.0.1", 0)
        good_port = good.sockets[0].getsockname()[1]
        rounds = {"n": 0}
        conns = []

        async def silent(reader, writer):
            conns.append(writer)  # accept, answer nothing, until the puller hangs up
            await reader.read()

        async def count(reader, writer):
            rounds["n"] += 1
            await silent(reader, writer)

        hang = await asyncio.start_server(silent, "127.0.0.1", 0)
        flood = await asyncio.start_server(count, "127.0.0.1", 0)
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        peers = [_peer(0, good_port), _peer(1, hang.sockets[0].getsockname()[1]), _peer(2, dead_port)]
        peers += [_peer(100 + i, flood.sockets[0].getsockname()[1]) for i in range(100)]
        (tmp_path / "fresh").mkdir()
        dest = ResultStore(tmp_path / "fresh")
        try:
            report = await lanpull.pull_from_peers(dest, lambda: peers, wait=2.0, round_timeout=0.5)
            got = dest.ids()
        finally:
            for s in (good, hang, flood):
                s.close()
            for w in conns:
                w.close()
            dest.close()
            src.close()
        return report, got, rounds["n"]

    report, got, flood_rounds = asyncio.run(main())
    assert got == {r.match_id for r in held}
    assert report.peers == [f"{0:016x}"] and report.added == 5
    assert f"{1:016x}" in report.failed and f"{2:016x}" in report.failed
    assert len(report.peers) + len(report.failed) <= lanpull.MAX_PEERS
    assert flood_rounds <= lanpull.MAX_PEERS - 3
    assert report.seconds <= 2.5
