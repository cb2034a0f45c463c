"""The LAN test hosts themselves: unicast and multicast between namespaces, impairment
relay, and teardown that leaves nothing behind even when a test fails."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.support.lanhosts import lan_unavailable_reason
from tests.support.proc import ROOT, cli_env, spawn, wait_until
from tests.support.udp_relay import Impairment, UdpRelay

pytestmark = pytest.mark.lan

PROG = [sys.executable, "-m", "tests.support.signed_udp"]


def _done(reader):
    return next((j for j in reader.json_lines() if "done" in j), None)


def test_signed_datagrams_between_two_hosts(make_lan):
    lan = make_lan(2)
    a, b = lan.hosts
    rx, out = spawn(PROG + ["recv", "46000", "20", "alice"], cli_env(), host=b, cwd=ROOT)
    out.wait_for(lambda line: "ready" in line, 20, "receiver ready")
    assert a.run(PROG + ["send", b.ip, "46000", "20", "alice"], env=cli_env(), cwd=ROOT).returncode == 0
    # a forged sender (unknown key) is counted, never accepted
    assert a.run(PROG + ["send", b.ip, "46000", "5", "mallory"], env=cli_env(), cwd=ROOT).returncode == 0
    done = wait_until(lambda: _done(out), 25, what="receiver summary")
    ticks = [j["tick"] for j in out.json_lines() if "tick" in j]
    assert done["done"] == 20 and sorted(ticks) == list(range(20))
    assert {j["from"] for j in out.json_lines() if "from" in j} == {a.ip}


def test_multicast_reaches_every_other_host(make_lan):
    lan = make_lan(3)
    a, b, c = lan.hosts
    readers = []
    for h in (b, c):
        _, out = spawn(PROG + ["mrecv", "239.255.77.77", "46001", h.ip, "3", "alice"], cli_env(), host=h, cwd=ROOT)
        out.wait_for(lambda line: "ready" in line, 20, "multicast receiver ready")
        readers.append(out)
    # multicast is lossy by nature; send a generous burst, all three distinct ticks must arrive
    assert a.run(PROG + ["send", "239.255.77.77", "46001", "3", "alice"], env=cli_env(), cwd=ROOT).returncode == 0
    for out in readers:
        assert wait_until(lambda o=out: _done(o), 25, what="multicast summary")["done"] == 3


def test_multicast_off_blocks_mdns_style_traffic(make_lan):
    lan = make_lan(2)
    a, b = lan.hosts
    a.set_multicast(False)
    res = a.run([sys.executable, "-c", textwrap.dedent("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b'x', ('224.0.0.251', 5353)); print('sent')
        except OSError as e:
            print('blocked', e.errno)
    """)])
    assert "blocked" in res.stdout


def test_failing_test_leaves_no_namespace(tmp_path):
    reason = lan_unavailable_reason()
    if reason:
        pytest.skip(reason)
    test_file = tmp_path / "test_boom.py"
    test_file.write_text(textwrap.dedent("""
        import json, os
        def test_boom(make_lan):
            lan = make_lan(2)
            print("NS=" + json.dumps(lan.namespaces()) + " PID=" + str(os.getpid()))
            assert False, "deliberate failure"
    """))
    (tmp_path / "conftest.py").write_text("pytest_plugins = []\nfrom tests.conftest import make_lan  # noqa\n")
    res = subprocess.run([sys.executable, "-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", str(test_file)],
                         capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    line = next(row for row in res.stdout.splitlines() if "NS=" in row)
    names = json.loads(line.split("NS=")[1].split(" PID=")[0])
    assert len(names) == 3
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)


def test_relay_impairs_deterministically():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with UdpRelay(rx.getsockname(), Impairment(loss=0.2, duplicate=0.1, delay=0.005, jitter=0.01), seed=3) as relay:
        for i in range(300):
            tx.sendto(i.to_bytes(2, "big"), relay.address)
        got = []
        wait_until(lambda: relay.received >= 300 and relay.idle(), 20,
                   what=f"relay drained (received {relay.received})")
        rx.settimeout(0.5)
        try:
            while True:
                got.append(int.from_bytes(rx.recv(16), "big"))
        except TimeoutError:
            pass
    assert 0 < relay.dropped < 300
    distinct = set(got)
    assert 180 < len(distinct) < 285  # about 20 % lost
    assert len(got) > len(distinct)  # duplicates happened
    assert got != sorted(got)  # jitter reordered some
