"""A hostile peer on the LAN, with real `p2p-race peers --watch --json` processes on LAN test
hosts (network namespaces): spoofed sources get no more bytes than they sent, a peer list
cannot aim a hello flood, relayed datagrams neither move a peer nor keep a killed one
listed, a newcomer is listed while a flood of identities fills the table, and players on
two routed subnets still find each other through a peer that sees both (issue 12)."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from pathlib import Path

import pytest

from discovery.messages import GREETING_SIZE
from tests.support.hostilelan import add_addresses, counted, counter, flock, spoof
from tests.support.lanhosts import TestHost, _ip
from tests.support.proc import PYTHON, ROOT, cli_env, spawn, wait_until
from tests.test_discovery_lan import PeerProc

pytestmark = pytest.mark.lan

def test_spoofed_hellos_reflect_no_more_bytes_than_they_carried(make_lan, tmp_path: Path) -> None:
    """Before: one 170-byte hello with a spoofed source made a peer that knew 200 peers send
    11.3 KB (66x) to the spoofed address. Now: reflection factor <= 1, and 0 for a hello too
    small to carry our challenge."""
    lan = make_lan(4)
    h0, h1, h2, h3 = lan.hosts
    victim = PeerProc(h0, tmp_path, "victim")
    dst = (h0.ip, victim.info["port"])
    crowd_ips = add_addresses(h1, 3, 101)
    crowd, _ = flock(h1, dst, 120, 90, crowd_ips)  # the victim knows 120 peers
    wait_until(lambda: len(victim.table()) >= 100, 25, what="victim knows 100+ peers")
    count, count_out = counter(h3, 40000, 15)  # generous: a starved victim answers late
    sent = spoof(h2, dst, (h3.ip, 40000), 20)
    assert sent["small"] < GREETING_SIZE
    count.wait(30)
    got = counted(count_out)
    assert got <= sent["sent"] - sent["small"], (got, sent)  # factor <= 1, the small hello got 0
    assert got > 0  # the padded greetings were answered (with a challenge each, or fewer)
    assert not any(e.get("peer", {}).get("name") == "x" for e in victim.events())  # never listed
    crowd.kill()
    victim.stop()


def test_a_peer_list_cannot_aim_a_hello_flood(make_lan, tmp_path: Path) -> None:
    """Before: one hello plus one PeerList naming 24 ports made a peer send 62 KB of hellos in
    4 s. Now: capped per source, paced, and never an Internet address."""
    lan = make_lan(4)
    h0, _h1, h2, h3 = lan.hosts
    victim = PeerProc(h0, tmp_path, "victim")
    dst = (h0.ip, victim.info["port"])
    count, count_out = counter(h3, 40000, 7)
    script = textwrap.dedent(f"""
        import json, time
        from discovery import SERVICE_TYPE
        from discovery.messages import PeerList, PeerRef
        from p2p_race.identity import Identity
        from tests.support.rawpeer import RawPeer
        me = RawPeer(Identity.from_seed(b"lister"), SERVICE_TYPE, "lister")
        me.join({dst!r})
        refs = [PeerRef(Identity.from_seed(b"t%d" % i).public_key, {h3.ip!r}, 40000) for i in range(24)]
        refs[1:24] = [PeerRef(r.public_key, r.host, 40001 + i) for i, r in enumerate(refs[1:24])]
        refs += [PeerRef(Identity.from_seed(b"far").public_key, "8.8.8.8", 53)]
        sent = 0
        for chunk in (refs[:16], refs[16:]):
            data = me.codec.encode(PeerList(tuple(chunk)), time.time())
            me.send(data, {dst!r}); sent += len(data)
        end = time.monotonic() + 4
        while time.monotonic() < end:  # stay a live peer: heartbeats, as an honest one would
            data = me.heartbeat(); me.send(data, {dst!r}); sent += len(data)
            me.recv(0.25)
        print(json.dumps({{"sent": sent}}), flush=True)
    """)
    res = h2.run([PYTHON, "-c", script], env=cli_env(), cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    sent = json.loads(res.stdout.strip().splitlines()[-1])["sent"]
    assert "lister" in {p["name"] for p in victim.table().values()}
    count.wait(20)
    got = counted(count_out)
    # only port 40000 listens on h3: what reached it is one candidate's one greeting
    assert got <= GREETING_SIZE, got
    victim.stop()
    left = json.loads(victim.err.wait_for(lambda s: '"left"' in s, 10, what="left line"))
    hellos = left["table"].get("greeted_shared", 0)
    # all greetings to the 24 named ports: at most 16 candidates, one greeting each, paced
    # per source address, a small multiple of what the lister sent (62 KB before)
    assert 1 <= hellos <= 16 and left["table"]["shared_cap"] >= 8 and left["table"]["shared_address"] == 1
    assert hellos * GREETING_SIZE <= 5 * sent, (hellos, sent)


RELAY = textwrap.dedent("""
    import json, sys, time
    from discovery import SERVICE_TYPE
    from discovery.messages import Heartbeat
    from p2p_race.identity import Identity
    from tests.support.pacing import paced
    from tests.support.rawpeer import RawPeer
    target, tport, victim, vport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    me = RawPeer(Identity.from_seed(b"relay"), SERVICE_TYPE, "relay")
    me.join((target, tport))
    stock = []
    end = time.monotonic() + 3.0
    while time.monotonic() < end:  # collect the target's signed heartbeats to us
        me.send(me.heartbeat(), (target, tport))
        me.sock.settimeout(0.1)
        try:
            data, src = me.sock.recvfrom(2048)
        except TimeoutError:
            continue
        if me.codec.decode(data) is not None or data[5] == Heartbeat.TYPE_ID:
            stock.append(data)
    print(json.dumps({"stock": len(stock)}), flush=True)
    sys.stdin.readline()  # go: the target is about to be killed
    for data in paced(stock, 0.25):  # relay them to the victim from here, one per heartbeat interval
        me.send(data, (victim, vport))
    print(json.dumps({"relayed": len(stock)}), flush=True)
""")


def test_relayed_datagrams_neither_move_a_peer_nor_keep_a_killed_one_listed(make_lan, tmp_path: Path) -> None:
    """Before: datagrams of a peer relayed from the attacker's address moved the peer there
    (game traffic followed) and a SIGKILLed peer stayed listed 6 s. Now both are ignored."""
    import subprocess

    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    victim = PeerProc(h0, tmp_path, "victim")
    target = PeerProc(h1, tmp_path, "target")
    wait_until(lambda: victim.sees(target) and target.sees(victim), 10, what="pair")
    relay, relay_out = spawn([PYTHON, "-c", RELAY, h1.ip, str(target.info["port"]), h0.ip, str(victim.info["port"])],
                             cli_env(), host=h2, cwd=ROOT, stdin=subprocess.PIPE)
    wait_until(lambda: any("stock" in e for e in relay_out.json_lines()), 20, what="relay stocked")
    assert [e for e in relay_out.json_lines() if "stock" in e][0]["stock"] >= 4
    killed_at = time.time()
    target.proc.kill()
    relay.stdin.write("go\n")
    relay.stdin.flush()
    wait_until(lambda: victim.first("removed", target.id, killed_at), 5, what="killed peer removed")
    took = victim.first("removed", target.id, killed_at)["t"] - killed_at
    assert took < 1.5, f"a killed peer stayed listed {took:.2f} s"
    wait_until(lambda: any("relayed" in e for e in relay_out.json_lines()), 20, what="relay done")
    # the victim never moved the target to the relay's address
    assert all(e["peer"]["addresses"][0] == h1.ip for e in victim.events() if e["peer"]["id"] == target.id)
    victim.stop()
    left = json.loads(victim.err.wait_for(lambda s: '"left"' in s, 10, what="left line"))
    assert left["table"].get("unproven_source", 0) + left["drops"].get("replay", 0) >= 1


@pytest.mark.slow
def test_a_newcomer_is_listed_within_1_5_s_while_fake_identities_flood_the_table(make_lan, tmp_path: Path) -> None:
    """Before: 300 fake identities (about 1 MB in 10 s) filled the 256-slot table, so a real
    newcomer was neither listed nor listed the victim for the whole flood."""
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    victim = PeerProc(h0, tmp_path, "victim")
    dst = (h0.ip, victim.info["port"])
    flood_ips = add_addresses(h1, 4, 101)
    flood, _ = flock(h1, dst, 300, 120, flood_ips)
    # the flood is on: 256+ fake identities went through the table (on an idle machine it
    # holds all 256 slots; on a starved one, some time out between their beats)
    wait_until(lambda: sum(e["event"] == "added" for e in victim.events()) >= 256, 60, what="the table flooded")
    start = time.time()
    newcomer = PeerProc(h2, tmp_path, "newcomer")
    wait_until(lambda: victim.first("added", newcomer.id) and newcomer.first("added", victim.id), 15,
               what="newcomer and victim list each other")
    listed = victim.first("added", newcomer.id)["t"] - newcomer.info["t"]
    lists = newcomer.first("added", victim.id)["t"] - newcomer.info["t"]
    # the 1.5 s target is measured by bench/bench_hostile.py; here: it gets in at all, soon
    assert listed < 5 and lists < 5, (listed, lists, time.time() - start)
    # and it keeps its place while the flood goes on (on a starved CPU a late heartbeat may
    # drop it for a moment: then it is back at once, never locked out)
    until = time.time() + 3
    wait_until(lambda: time.time() >= until, 5)
    wait_until(lambda: newcomer.id in victim.table() and victim.id in newcomer.table(), 5, what="still listed")
    flood.send_signal(signal.SIGTERM)
    newcomer.stop()
    victim.stop()


def _routed_subnet(lan, hub: TestHost) -> TestHost:
    """A second subnet 10.98.0.0/24 behind `hub` (a veth link, hub = 10.98.0.1 routing)."""
    ns = f"{lan.tag}r"
    _ip("netns", "add", ns)
    _ip("-n", hub.netns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", ns)
    _ip("-n", hub.netns, "addr", "add", "10.98.0.1/24", "dev", "eth1")
    _ip("-n", hub.netns, "link", "set", "eth1", "multicast", "on", "up")
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "addr", "add", "10.98.0.2/24", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "multicast", "on", "up")
    _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
    _ip("-n", ns, "route", "add", "default", "via", "10.98.0.1")
    import subprocess

    subprocess.run(["ip", "netns", "exec", hub.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    host = TestHost("r0", ns, "10.98.0.2")
    lan.hosts.append(host)  # torn down with the LAN
    return host


def test_players_on_two_routed_subnets_find_each_other_through_a_peer_that_sees_both(make_lan, tmp_path: Path) -> None:
    lan = make_lan(2)
    hub_host, a_host = lan.hosts
    b_host = _routed_subnet(lan, hub_host)
    _ip("-n", a_host.netns, "route", "add", "10.98.0.0/24", "via", hub_host.ip)
    hub = PeerProc(hub_host, tmp_path, "hub")
    a = PeerProc(a_host, tmp_path, "ann")
    b = PeerProc(b_host, tmp_path, "bob")
    # each sees the hub by mDNS on its own subnet; ann and bob only through the hub's table
    wait_until(lambda: a.sees(hub, b) and b.sees(hub, a) and hub.sees(a, b), 15, what="discovery across subnets")
    assert a.table()[b.id]["addresses"][0] == "10.98.0.2"
    assert b.table()[a.id]["addresses"][0] == a_host.ip
    for p in (a, b, hub):
        p.stop()
