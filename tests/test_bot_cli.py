"""`p2p-race bot` on loopback (no network namespaces needed): option checks, and two bot
processes racing a real match whose signed result both store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from replication.store import ResultStore
from tests.support.proc import cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan


def test_bad_options_are_one_line_errors(tmp_path):
    for bad in (["--racers", "0"], ["--matches", "-1"], ["--time-limit", "0.5"], ["--skill", "2"], ["--seed", "-1"]):
        res = subprocess.run(p2p_race_cmd("bot", *bad), env=cli_env(tmp_path), capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 2, bad
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("p2p-race: error:"), res.stderr


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_bots_on_loopback_race_and_store_the_same_result(tmp_path):
    common = ["--no-mdns", "--interface", "127.0.0.1", "--time-limit", "3", "--timeout", "60", "--linger", "1"]
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    ev = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    host, host_out = spawn(p2p_race_cmd("bot", "--host", "--racers", "2", "--countdown", "1", "--name", "Ann",
                                        "--json-events", str(ev[0]), *common), cli_env(dirs[0]))
    listening = wait_until(lambda: [e for e in _events(ev[0]) if e["event"] == "listening"], 30,
                           what="the host bot listening")
    port = listening[0]["port"]
    joiner, join_out = spawn(p2p_race_cmd("bot", "--peer", f"127.0.0.1:{port}", "--name", "Bob",
                                          "--json-events", str(ev[1]), *common), cli_env(dirs[1]))
    assert host.wait(timeout=60) == 0, "\n".join(host_out.lines[-20:])
    assert joiner.wait(timeout=30) == 0, "\n".join(join_out.lines[-20:])
    results = [next(e for e in _events(p) if e["event"] == "result") for p in ev]
    assert results[0]["match_id"] == results[1]["match_id"]
    assert results[0]["scores"] == results[1]["scores"] and set(results[0]["scores"]) == {"Ann", "Bob"}
    assert results[0]["winner"] == results[1]["winner"]
    kinds = [e["event"] for e in _events(ev[1])]
    for k in ("joined", "host", "countdown", "start", "result"):
        assert k in kinds
    host_ev = next(e for e in _events(ev[1]) if e["event"] == "host")
    assert host_ev["host_name"] == "Ann" and host_ev["term"] == 1
    stored = [ResultStore(d).get(results[0]["match_id"]) for d in dirs]
    assert stored[0] is not None and stored[0] == stored[1] and stored[0].verify()


def test_frozen_host_thaws_as_a_member_and_the_match_still_ends_once(tmp_path):
    """SIGSTOP the host mid-race (a frozen process), let the others elect a new one, then
    SIGCONT it: it comes back believing it is host, hears the newer term and steps down; the
    three end with one result (it resumed within 10 s, so it still races)."""
    import signal
    import time

    common = ["--no-mdns", "--interface", "127.0.0.1", "--timeout", "60", "--linger", "1"]
    names = ["Ann", "Bob", "Cid"]
    ev = {n: tmp_path / f"{n}.jsonl" for n in names}
    for n in names:
        (tmp_path / n).mkdir()
    host, host_out = spawn(p2p_race_cmd("bot", "--host", "--racers", "3", "--countdown", "1", "--time-limit", "8",
                                        "--name", "Ann", "--json-events", str(ev["Ann"]), *common),
                           cli_env(tmp_path / "Ann"))
    port = wait_until(lambda: next((e["port"] for e in _events(ev["Ann"]) if e["event"] == "listening"), None), 30,
                      what="the host bot listening")
    others = [spawn(p2p_race_cmd("bot", "--peer", f"127.0.0.1:{port}", "--name", n, "--json-events", str(ev[n]),
                                 *common), cli_env(tmp_path / n)) for n in names[1:]]
    try:
        wait_until(lambda: all(any(e["event"] == "start" for e in _events(ev[n])) for n in names), 40,
                   what="racing")
        started = next(e["t"] for e in _events(ev["Ann"]) if e["event"] == "start")
        wait_until(lambda: time.time() > started + 1.5, 5)
        host.send_signal(signal.SIGSTOP)
        wait_until(lambda: all(any(e["event"] == "host" and e["term"] >= 2 for e in _events(ev[n]))
                               for n in names[1:]), 10, what="a new host among the others")
        host.send_signal(signal.SIGCONT)
        for proc, out in [(host, host_out), *others]:
            assert proc.wait(timeout=40) == 0, "\n".join(out.lines[-10:])
    finally:
        for proc in [host] + [o[0] for o in others]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
    ann = _events(ev["Ann"])
    later = [e for e in ann if e["event"] == "host" and e["term"] >= 2]
    assert later and all(e["host"] != next(x["id"] for x in ann if x["event"] == "listening") for e in later)
    results = [next(e for e in _events(ev[n]) if e["event"] == "result") for n in names]
    assert len({(r["match_id"], r["winner"], tuple(sorted(r["scores"].items())), r["term"]) for r in results}) == 1
    assert results[0]["term"] >= 2 and set(results[0]["scores"]) == set(names)
