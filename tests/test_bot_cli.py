"""`p2p-race bot` on loopback (no network namespaces needed): option checks, and two bot
processes racing a real match whose signed result both store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from replication.store import ResultStore
from tests.support.proc import cli_env, p2p_race_cmd, spawn, wait_until


def test_bad_options_are_one_line_errors(tmp_path):
    for bad in (["--racers", "0"], ["--matches", "0"], ["--time-limit", "0.5"], ["--skill", "2"]):
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
