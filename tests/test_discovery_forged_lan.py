"""Forged hellos across LAN test hosts: a peer on another host that lies about its key,
breaks a signature or replays a genuine hello is ignored and counted; the genuine one is
listed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.support.proc import PYTHON, ROOT, cli_env, wait_until
from tests.test_discovery_lan import PeerProc

pytestmark = pytest.mark.lan

ATTACK = textwrap.dedent("""
    import socket, sys, time
    from discovery.messages import Hello
    from discovery import SERVICE_TYPE
    from p2p_race.identity import Identity
    from p2p_race.wire import Codec
    from tests.support.rawpeer import RawPeer
    host, port, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    alice, mallory = RawPeer(Identity.from_seed(b"lan-alice"), SERVICE_TYPE, "alice"), Identity.from_seed(b"lan-mallory")
    if step == "forged":
        lie = Hello(alice.identity.public_key, SERVICE_TYPE, "alice", 1, 0, "lobby", "", False)
        alice.send(Codec(mallory).encode(lie, time.time()), (host, port))  # wrong key
        good = alice.hello(False)
        alice.send(good[:-2] + bytes([good[-2] ^ 0x40, good[-1]]), (host, port))  # bad signature
    else:
        good = alice.hello(False)
        alice.send(good, (host, port))  # genuine (challenged: its address is unproven)
        alice.send(good, (host, port))  # the same datagram again: a replay
        alice.join((host, port))  # the cookie echo lists it
    print(alice.identity.peer_id)
""")


def test_forged_hello_across_hosts_is_ignored_and_counted(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, _ = lan.hosts
    victim = PeerProc(h0, tmp_path, "victim")
    port = victim.info["port"]
    res = h1.run([PYTHON, "-c", ATTACK, h0.ip, str(port), "forged"], env=cli_env(), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    alice_id = res.stdout.strip()
    res = h1.run([PYTHON, "-c", ATTACK, h0.ip, str(port), "genuine"], env=cli_env(), cwd=ROOT)
    assert res.returncode == 0, res.stderr
    wait_until(lambda: alice_id in victim.table(), 10, what="the genuine hello listed")
    victim.stop()
    left = json.loads(victim.err.wait_for(lambda s: '"left"' in s, 10, what="left line"))
    drops = left["drops"]
    assert drops.get("bad_key") == 1 and drops.get("bad_signature") == 1 and drops.get("replay", 0) >= 1
    assert [p["name"] for p in victim.table().values()] == ["alice"]
