"""Real matches between `p2p-race bot` processes on LAN test hosts (network namespaces,
real zeroconf inside them, signed UDP): a full match, a spectator joining mid-race, and the
host SIGKILLed mid-race with the match completing on every survivor."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.proc import cli_env, p2p_race_cmd, read_json_lines, spawn, wait_until

pytestmark = pytest.mark.lan

_events = read_json_lines


def _bot(host, tmp: Path, name: str, *extra: str):
    data = tmp / name
    data.mkdir()
    ev = tmp / f"{name}.jsonl"
    proc, out = spawn(p2p_race_cmd("bot", "--name", name, "--json-events", str(ev), "--skill", "0.8",
                                   "--linger", "2", "--timeout", "120", *extra), cli_env(data), host=host)
    return proc, ev, out


def _result(path: Path) -> dict | None:
    return next((e for e in _events(path) if e["event"] == "result"), None)


def _outcome(ev: dict) -> tuple:
    return ev["match_id"], ev["winner"], tuple(sorted(ev["scores"].items())), ev["host"], ev["term"]


def test_four_bots_race_a_full_match_and_a_late_spectator_sees_the_end(make_lan, tmp_path):
    lan = make_lan(5)
    h = lan.hosts
    # 12 s of racing: on a loaded machine the spectator process takes seconds to start
    host = _bot(h[0], tmp_path, "Hosty", "--host", "--racers", "4", "--time-limit", "12", "--countdown", "2")
    bots = [host] + [_bot(h[i], tmp_path, f"Bot{i}") for i in range(1, 4)]
    wait_until(lambda: all(any(e["event"] == "start" for e in _events(b[1])) for b in bots), 60,
               what="all four bots started racing")
    spec_ev = tmp_path / "spec.jsonl"
    (tmp_path / "spec").mkdir()
    spec, spec_out = spawn(p2p_race_cmd("spectate", "--headless", "--name", "Watcher", "--json-events",
                                        str(spec_ev), "--timeout", "60"), cli_env(tmp_path / "spec"), host=h[4])
    for proc, _ev, _out in bots:
        assert proc.wait(timeout=90) == 0
    assert spec.wait(timeout=30) == 0, "\n".join(spec_out.lines[-20:])
    results = [_result(b[1]) for b in bots]
    assert all(results), "every racer logs the result"
    assert len({_outcome(r) for r in results}) == 1, results
    r = results[0]
    assert set(r["scores"]) == {"Hosty", "Bot1", "Bot2", "Bot3"}
    assert r["winner"] == max(r["scores"], key=lambda n: (r["scores"][n], n == r["winner"]))
    assert r["term"] == 1
    joined = [e for e in _events(spec_ev) if e["event"] == "joined"]
    assert joined and joined[0]["role"] == "spectator"
    assert _outcome(_result(spec_ev)) == _outcome(r)
    assert "Watcher" not in r["scores"]
    # all four started within a few ms of each other (the bench measures it precisely)
    starts = [next(e["t"] for e in _events(b[1]) if e["event"] == "start") for b in bots]
    assert max(starts) - min(starts) < 0.05


def test_host_killed_mid_race_match_completes_with_one_result(make_lan, tmp_path):
    lan = make_lan(4)
    h = lan.hosts
    host = _bot(h[0], tmp_path, "Hosty", "--host", "--racers", "4", "--time-limit", "8", "--countdown", "1.5")
    bots = [_bot(h[i], tmp_path, f"Bot{i}") for i in range(1, 4)]
    wait_until(lambda: all(any(e["event"] == "start" for e in _events(b[1])) for b in [host, *bots]), 60,
               what="all four bots started racing")
    started = next(e["t"] for e in _events(host[1]) if e["event"] == "start")
    wait_until(lambda: time.time() > started + 2.0, 10, what="two seconds of racing")
    host_id = next(e["id"] for e in _events(host[1]) if e["event"] == "listening")
    host[0].kill()
    kill_t = time.time()
    host[0].wait(timeout=5)
    for proc, _ev, out in bots:
        assert proc.wait(timeout=90) == 0, "\n".join(out.lines[-20:])
    results = [_result(b[1]) for b in bots]
    assert all(results)
    assert len({_outcome(r) for r in results}) == 1, results
    r = results[0]
    assert r["host"] != host_id and r["term"] >= 2
    dead = next(x for x in r["racers"] if x["id"] == host_id)
    assert dead["crashed"]  # silent for 10 s: counts as crashed at its last state
    # a new host took over quickly (every survivor logs who the host is)
    new_hosts = [e for b in bots for e in _events(b[1]) if e["event"] == "host" and e["term"] >= 2]
    assert new_hosts
    assert min(e["t"] for e in new_hosts) - kill_t < 1.5
    # the new host stored the record: its term chain (the dead host's sealed roster and the
    # votes of a quorum of it) lets any store that never saw the match accept it
    from replication.evidence import accept_problem
    from replication.store import ResultStore

    ids = {next(e["id"] for e in _events(b[1]) if e["event"] == "listening"): f"Bot{i}"
           for i, b in enumerate(bots, start=1)}
    store = ResultStore(tmp_path / ids[r["host"]])
    rec = store.get(r["match_id"])
    store.close()
    assert rec is not None and rec.term == r["term"] and rec.term_chain, "the new host stored no chained record"
    assert accept_problem(rec) is None
