"""A modified client on a LAN test host streams states its inputs do not produce: every
honest peer replays its car, excludes it with a visible event, and the honest match still
ends with one verified result on every peer (real processes, network namespaces)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.proc import PYTHON, cli_env, p2p_race_cmd, read_json_lines, spawn, wait_until

pytestmark = pytest.mark.lan

# A bot whose runtime lies about its car: its inputs are honest (the stream carries them),
# but every state claims more points and a crash five seconds later than the drive's.
CHEAT = r"""
import dataclasses, sys
from p2p_race import runtime
honest = runtime.PeerRuntime.post_state
def lie(self, rep):
    rep = dataclasses.replace(rep, score=rep.score * 2 + 40)
    if rep.crashed:
        rep = dataclasses.replace(rep, crash_time=rep.crash_time + 5.0)
    return honest(self, rep)
runtime.PeerRuntime.post_state = lie
from p2p_race.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _bot(host, tmp: Path, name: str, *extra: str, cheat: bool = False):
    data = tmp / name
    data.mkdir()
    ev = tmp / f"{name}.jsonl"
    args = ["bot", "--name", name, "--json-events", str(ev), "--skill", "0.8", "--linger", "2",
            "--timeout", "120", *extra]
    cmd = [PYTHON, "-c", CHEAT, *args] if cheat else p2p_race_cmd(*args)
    proc, out = spawn(cmd, cli_env(data), host=host)
    return proc, ev, out, data


def test_a_cheating_client_is_excluded_by_every_peer_and_the_honest_result_verifies(make_lan, tmp_path):
    lan = make_lan(3)
    h = lan.hosts
    host = _bot(h[0], tmp_path, "Hosty", "--host", "--racers", "3", "--time-limit", "6", "--countdown", "2")
    honest = _bot(h[1], tmp_path, "Honest")
    cheat = _bot(h[2], tmp_path, "Cheater", cheat=True)
    for proc, _ev, out, _d in (host, honest):
        assert proc.wait(timeout=120) == 0, "\n".join(out.lines[-20:])
    cheat[0].wait(timeout=60)
    for _proc, ev, _out, _d in (host, honest):
        events = read_json_lines(ev)
        diverged = [e for e in events if e["event"] == "diverged"]
        assert diverged and {e["name"] for e in diverged} == {"Cheater"}, diverged
        result = next(e for e in events if e["event"] == "result")
        assert set(result["scores"]) == {"Hosty", "Honest"}
    results = [next(e for e in read_json_lines(b[1]) if e["event"] == "result") for b in (host, honest)]
    assert results[0]["match_id"] == results[1]["match_id"] and results[0]["scores"] == results[1]["scores"]
    # both honest peers stored the record with its evidence, and it replays to itself
    for _proc, _ev, _out, data in (host, honest):
        def stored(data=data):
            run = h[0].run(p2p_race_cmd("replay", results[0]["match_id"], "--headless", "--json",
                                        "--data-dir", str(data)), env=cli_env(data))
            return json.loads(run.stdout) if run.returncode == 0 else None

        out = wait_until(stored, 20, interval=0.5, what="the verified result stored")
        assert out["equals_stored"] and {r["name"] for r in out["racers"]} == {"Hosty", "Honest"}
