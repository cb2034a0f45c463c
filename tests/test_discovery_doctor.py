"""`doctor --listen S` on LAN test hosts: names the peers that answer and flags a peer that
advertises itself over mDNS but never answers on UDP (what a firewall looks like)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from discovery.txt import SERVICE_TYPE
from p2p_race.identity import Identity
from tests.support.proc import PYTHON, LineReader, cli_env, p2p_race_cmd, spawn

pytestmark = pytest.mark.lan


def test_doctor_listen_names_answering_and_silent_peers(make_lan, tmp_path: Path) -> None:
    lan = make_lan(3)
    h0, h1, h2 = lan.hosts
    ann, ann_out = spawn(p2p_race_cmd("peers", "--watch", "--json", "--name", "ann"), cli_env(tmp_path / "ann"), host=h0)
    ann_err = LineReader(ann.stderr)
    ann_id = json.loads(ann_err.wait_for(lambda s: '"listening"' in s, 20))["id"]
    ghost = Identity.from_seed(b"ghost")
    # a valid DNS-SD record whose UDP port nobody answers on (a firewalled peer)
    script = (
        "import sys\n"
        "from zeroconf import Zeroconf, ServiceInfo, IPVersion\n"
        "from discovery.txt import build_txt, instance_name\n"
        f"pk = bytes.fromhex('{ghost.public_key.hex()}')\n"
        f"zc = Zeroconf(interfaces=['{h1.ip}'], ip_version=IPVersion.V4Only)\n"
        f"info = ServiceInfo('{SERVICE_TYPE}', instance_name('ghost', '{ghost.peer_id}'), port=9,\n"
        f"    properties=build_txt(pk, 'ghost', 9, 0, 'lobby', ''), server='ghost.local.', parsed_addresses=['{h1.ip}'])\n"
        "zc.register_service(info)\n"
        "print('registered', flush=True)\n"
        "sys.stdin.read()\n"
        "zc.close()\n"
    )
    fake = h1.popen([PYTHON, "-c", script], env=cli_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    LineReader(fake.stdout).wait_for(lambda s: s == "registered", 20)
    try:
        res = h2.run(p2p_race_cmd("doctor", "--json", "--listen", "2"), env=cli_env(tmp_path / "doc"), timeout=60)
    finally:
        fake.stdin.close()
        fake.wait(10)
        ann.terminate()
        ann.wait(10)
    report = json.loads(res.stdout)
    assert [p["id"] for p in report["discovered"]] == [ann_id]
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["discovery"]["ok"] and "ann" in checks["discovery"]["detail"]
    silent = checks["silent peer"]
    assert not silent["ok"] and ghost.peer_id in silent["detail"] and f"{h1.ip}:9" in silent["detail"]
    assert "firewall" in silent["fix"]
    assert checks["mdns interfaces"]["ok"] and h2.ip in checks["mdns interfaces"]["detail"]
    assert res.returncode == 1  # a problem was found
