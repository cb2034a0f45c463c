"""`p2p-race practice --headless`: JSON outcome shape, determinism, input errors."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.proc import cli_env, p2p_race_cmd

pytestmark = pytest.mark.lan


def practice(*args, data_dir=None, timeout=120):
    return subprocess.run(p2p_race_cmd("practice", *args), env=cli_env(data_dir), capture_output=True,
                          text=True, timeout=timeout)


def test_json_shape_and_plausible_values(data_dir):
    out = practice("--headless", "--seed", "7", "--bots", "3", "--seconds", "20", "--json",
                   "--name", "Zed", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["seed"] == 7 and res["duration_s"] == 20.0
    assert len(res["cars"]) == 4
    assert res["cars"][0]["name"] == "Zed" and res["cars"][0]["bot"] is False
    names = [c["name"] for c in res["cars"]]
    assert len(set(names)) == 4
    for car in res["cars"]:
        assert {"name", "score", "distance", "crashed", "crash_time"} <= set(car)
        assert isinstance(car["score"], int) and car["score"] > 0
        assert 20 * 16 <= car["distance"] <= 20 * 60 or car["crashed"]
        assert (car["crash_time"] is None) == (not car["crashed"])
    assert sorted(c["rank"] for c in res["cars"]) == [1, 2, 3, 4]
    best = max(res["cars"], key=lambda c: c["score"])
    assert res["winner"] == best["name"]


def test_same_seed_gives_identical_json_and_other_seeds_differ(data_dir):
    args = ("--headless", "--bots", "7", "--seconds", "15", "--json")
    a = practice("--seed", "123", *args, data_dir=data_dir)
    b = practice("--seed", "123", *args, data_dir=data_dir)
    c = practice("--seed", "124", *args, data_dir=data_dir)
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout == b.stdout
    assert len(json.loads(a.stdout)["cars"]) == 8
    assert json.loads(c.stdout)["cars"] != json.loads(a.stdout)["cars"]


def test_no_bots_and_a_text_table(data_dir):
    out = practice("--headless", "--seed", "1", "--bots", "0", "--seconds", "5", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("practice: seed 1")
    assert len(lines) == 3  # header, column names, one car


def test_without_a_seed_the_chosen_seed_is_reported(data_dir):
    out = practice("--headless", "--bots", "0", "--seconds", "2", "--json", data_dir=data_dir)
    res = json.loads(out.stdout)
    again = practice("--headless", "--bots", "0", "--seconds", "2", "--json", "--seed", str(res["seed"]),
                     data_dir=data_dir)
    assert json.loads(again.stdout) == res


@pytest.mark.parametrize("args, word", [
    (("--headless", "--bots", "9"), "--bots"),
    (("--headless", "--bots", "-1"), "--bots"),
    (("--headless", "--seconds", "-5"), "--seconds"),
    (("--headless", "--seconds", "0"), "--seconds"),
    (("--headless", "--seconds", "nan"), "--seconds"),
    (("--headless", "--seed", "-3"), "--seed"),
    (("--headless", "--bot-skill", "3"), "--bot-skill"),
    (("--bots", "9"), "--bots"),  # checked before any window opens
    (("--json",), "--headless"),
])
def test_bad_input_is_one_clear_line_and_exit_2(data_dir, args, word):
    out = practice(*args, data_dir=data_dir, timeout=60)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.stderr
