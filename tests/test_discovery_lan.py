"""Real `p2p-race peers --watch --json` processes on LAN test hosts (network namespaces):
mDNS + hello discovery both ways, state changes (also in the TXT record, read by a plain
zeroconf client), SIGKILL detection, clean leave, rejoin, `--peer` with multicast off,
same display names and several peers on one host."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from discovery.txt import SERVICE_TYPE, instance_name
from p2p_race import PROTOCOL_VERSION
from tests.support.proc import PYTHON, LineReader, cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan

PEER_KEYS = {"id", "name", "addresses", "game_port", "chat_port", "state", "match_id", "last_seen"}


class PeerProc:
    """One `peers --watch --json` process; folds its change lines into a table."""

    def __init__(self, host, tmp: Path, name: str, *extra: str, data: str | None = None) -> None:
        self.host, self.name = host, name
        data_dir = tmp / (data or name)
        self.proc, self.out = spawn(
            p2p_race_cmd("peers", "--watch", "--json", "--stdin-control", "--name", name, *extra),
            cli_env(data_dir), host=host, stdin=subprocess.PIPE)
        self.err = LineReader(self.proc.stderr)
        line = self.err.wait_for(lambda s: '"listening"' in s, 20, what=f"{name} listening")
        self.info = json.loads(line)
        self.id = self.info["id"]

    def events(self) -> list[dict]:
        return [e for e in self.out.json_lines() if e.get("event") in ("added", "updated", "removed")]

    def table(self) -> dict[str, dict]:
        peers: dict[str, dict] = {}
        for e in self.events():
            if e["event"] == "removed":
                peers.pop(e["peer"]["id"], None)
            else:
                peers[e["peer"]["id"]] = e["peer"]
        return peers

    def sees(self, *others: PeerProc) -> bool:
        return {o.id for o in others} <= set(self.table())

    def first(self, event: str, peer_id: str, after: float = 0.0) -> dict | None:
        for e in self.events():
            if e["event"] == event and e["peer"]["id"] == peer_id and e["t"] >= after:
                return e
        return None

    def control(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self, sig: int = signal.SIGTERM) -> float:
        t = time.time()
        self.proc.send_signal(sig)
        self.proc.wait(10)
        return t


def test_discovery_both_ways_state_in_heartbeats_and_txt(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    p0 = PeerProc(h0, tmp_path, "ann")
    p1 = PeerProc(h1, tmp_path, "bob")
    p2 = PeerProc(h2, tmp_path, "cat", "--chat-port", "47811")
    wait_until(lambda: p0.sees(p1, p2) and p1.sees(p0, p2) and p2.sees(p0, p1), 10, what="mutual discovery")
    seen = p0.table()[p2.id]
    assert PEER_KEYS <= set(seen)
    assert (seen["name"], seen["addresses"][0], seen["game_port"], seen["chat_port"], seen["state"]) == (
        "cat", h2.ip, p2.info["port"], 47811, "lobby")

    p0.err.wait_for(lambda s: '"registered"' in s, 10, what="registration")
    p0.control("state racing m-77")
    wait_until(lambda: all(p.table()[p0.id]["state"] == "racing" for p in (p1, p2)), 5, what="state update")
    assert p1.table()[p0.id]["match_id"] == "m-77"

    # a plain DNS-SD client (zeroconf's sync API, not our code) reads PTR, SRV, TXT and A
    name = instance_name("ann", p0.id)
    script = (
        "import json, threading, sys\n"
        "from zeroconf import Zeroconf, ServiceBrowser, IPVersion\n"
        f"zc = Zeroconf(interfaces=['{h2.ip}'], ip_version=IPVersion.V4Only)\n"
        "found, ev = set(), threading.Event()\n"
        "class L:\n"
        "    def add_service(self, zc, t, n):\n"
        "        found.add(n)\n"
        f"        if n == {name!r}: ev.set()\n"
        "    def update_service(self, zc, t, n): pass\n"
        "    def remove_service(self, zc, t, n): pass\n"
        f"b = ServiceBrowser(zc, '{SERVICE_TYPE}', L())\n"
        "ev.wait(5)\n"
        "for _ in range(50):  # the TXT update is announced; poll the cache until it lands\n"
        f"    info = zc.get_service_info('{SERVICE_TYPE}', {name!r}, timeout=3000)\n"
        "    if info and info.decoded_properties.get('st') == 'racing': break\n"
        "    threading.Event().wait(0.1)\n"
        "print(json.dumps({'ptr': sorted(found), 'port': info.port, 'server': info.server,\n"
        "  'addresses': info.parsed_addresses(), 'txt': info.decoded_properties}))\n"
        "zc.close()\n"
    )
    res = h2.run([PYTHON, "-c", script], timeout=30, env=cli_env())
    assert res.returncode == 0, res.stderr
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    assert name in rec["ptr"]
    assert rec["port"] == p0.info["port"] and rec["addresses"][0] == h0.ip
    v6 = [a for a in rec["addresses"] if ":" in a]
    assert rec["addresses"] == [h0.ip, *v6] and all(a.startswith("fe80:") for a in v6)
    assert rec["server"].endswith(".local.")
    txt = rec["txt"]
    assert (txt["id"], txt["name"], txt["gp"], txt["st"], txt["mid"], txt["v"]) == (
        p0.id, "ann", str(p0.info["port"]), "racing", "m-77", str(PROTOCOL_VERSION))
    for p in (p0, p1, p2):
        p.stop()


def test_sigkill_detected_clean_leave_fast_and_rejoin(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    p0 = PeerProc(h0, tmp_path, "ann")
    p1 = PeerProc(h1, tmp_path, "bob")
    p2 = PeerProc(h2, tmp_path, "cat")
    wait_until(lambda: p0.sees(p1, p2) and p1.sees(p0, p2) and p2.sees(p0, p1), 10, what="mutual discovery")

    # SIGKILL: no leave, no goodbye; the heartbeat timeout must catch it
    killed_at = time.time()
    p1.proc.kill()
    p1.proc.wait(5)
    wait_until(lambda: p0.first("removed", p1.id, killed_at) and p2.first("removed", p1.id, killed_at), 5,
               what="SIGKILLed peer removed")
    for p in (p0, p2):
        took = p.first("removed", p1.id, killed_at)["t"] - killed_at
        assert took < 1.5, f"SIGKILL detected after {took:.3f} s"

    # clean exit: signed leave + goodbye
    left_at = p2.stop(signal.SIGTERM)
    assert p2.proc.returncode == 0
    wait_until(lambda: p0.first("removed", p2.id, left_at), 5, what="leave seen")
    took = p0.first("removed", p2.id, left_at)["t"] - left_at
    assert took < 0.25, f"clean leave seen after {took:.3f} s"  # target 0.1 s, measured in bench
    assert json.loads(p2.err.wait_for(lambda s: '"left"' in s, 5))["sent"] > 0

    # both come back with the same identity: re-added under the same id
    back_at = time.time()
    p1b = PeerProc(h1, tmp_path, "bob")
    p2b = PeerProc(h2, tmp_path, "cat", data="cat")
    assert (p1b.id, p2b.id) == (p1.id, p2.id)
    wait_until(lambda: p0.first("added", p1.id, back_at) and p0.first("added", p2.id, back_at)
               and p1b.sees(p0, p2b) and p2b.sees(p0, p1b), 10, what="rejoin")
    assert not p0.table()[p1.id]["key_changed"]
    for p in (p0, p1b, p2b):
        p.stop()


def test_peer_flag_with_multicast_off_finds_everyone_through_one_address(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    h2.set_multicast(False)
    p0 = PeerProc(h0, tmp_path, "ann")
    p1 = PeerProc(h1, tmp_path, "bob")
    wait_until(lambda: p0.sees(p1) and p1.sees(p0), 10, what="mDNS pair")
    p2 = PeerProc(h2, tmp_path, "cat", "--peer", f"{h0.ip}:{p0.info['port']}")
    # cat knows only ann's address; bob is found through ann's table, and bob sees cat
    wait_until(lambda: p2.sees(p0, p1) and p0.sees(p2) and p1.sees(p2), 10, what="discovery via --peer")
    assert p1.table()[p2.id]["addresses"][0] == h2.ip
    # a killed peer is also noticed without multicast
    killed_at = time.time()
    p2.proc.kill()
    wait_until(lambda: p0.first("removed", p2.id, killed_at) and p1.first("removed", p2.id, killed_at), 5,
               what="kill seen")
    # and it rejoins through the same single address
    back_at = time.time()
    p2b = PeerProc(h2, tmp_path, "cat", "--peer", f"{h0.ip}:{p0.info['port']}")
    wait_until(lambda: p0.first("added", p2.id, back_at) and p1.first("added", p2.id, back_at)
               and p2b.sees(p0, p1), 10, what="rejoin via --peer")
    for p in (p0, p1, p2b):
        p.stop()


def test_same_names_and_several_peers_on_one_host(make_lan, tmp_path: Path) -> None:
    lan = make_lan(2)
    h0, h1 = lan.hosts
    a = PeerProc(h0, tmp_path, "twin", data="twin-a")
    b = PeerProc(h0, tmp_path, "twin", data="twin-b")  # same host, same name, own data dir
    c = PeerProc(h1, tmp_path, "obs")
    assert a.info["port"] != b.info["port"]
    wait_until(lambda: a.sees(b, c) and b.sees(a, c) and c.sees(a, b), 10, what="three peers")
    flagged = [p["key_changed"] for p in c.table().values()]
    assert sorted(flagged) == [False, True]  # the second key under "twin" is flagged (TOFU)
    # the same data dir started twice (a user forgetting --data-dir): no crash, a clear warning
    dup = PeerProc(h1, tmp_path, "twin", data="twin-a")
    assert dup.id == a.id
    a.err.wait_for(lambda s: "same data dir" in s, 10, what="twin warning")
    assert a.proc.poll() is None and dup.proc.poll() is None
    for p in (a, b, c, dup):
        p.stop()


def test_peers_json_one_shot_shape_and_interface_choice(make_lan, tmp_path: Path) -> None:
    lan = make_lan(2)
    h0, h1 = lan.hosts
    # --interface by name on one side and by address on the other
    p0 = PeerProc(h0, tmp_path, "ann", "--state", "hosting", "--match-id", "abc", "--interface", "eth0")
    res = h1.run(p2p_race_cmd("peers", "--json", "--wait", "1.5", "--name", "probe", "--interface", h1.ip),
                 timeout=30, env=cli_env(tmp_path / "probe"))
    assert res.returncode == 0, res.stderr
    peers = json.loads(res.stdout)
    assert isinstance(peers, list) and len(peers) == 1
    assert set(peers[0]) >= PEER_KEYS
    assert (peers[0]["id"], peers[0]["state"], peers[0]["match_id"]) == (p0.id, "hosting", "abc")
    assert peers[0]["addresses"] == [h0.ip]
    # the one-shot probe said goodbye: ann saw it come and go
    wait_until(lambda: [e["event"] for e in p0.events()] == ["added", "removed"], 5, what="probe leave")
    bad = h1.run(p2p_race_cmd("peers", "--interface", "nosuch0"), timeout=30, env=cli_env(tmp_path / "probe"))
    assert bad.returncode == 2 and "nosuch0" in bad.stderr and "Traceback" not in bad.stderr
    p0.stop()
