"""The command line's foundation: help, doctor, error handling, config and set-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from p2p_race.config import Config
from p2p_race.errors import UserError
from p2p_race.paths import resolve_data_dir
from tests.support.proc import ROOT, cli_env, p2p_race_cmd


def run_cli(*args: str, data_dir=None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(p2p_race_cmd(*args), capture_output=True, text=True, env=cli_env(data_dir),
                          cwd=ROOT, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.lan
def test_help_lists_every_command():
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in ("doctor",):
        assert cmd in res.stdout
    assert "serverless LAN racing game" in res.stdout


@pytest.mark.lan
def test_console_script_installed():
    exe = shutil.which("p2p-race", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("console script not installed in this interpreter's bin dir (run via make test)")
    res = subprocess.run([exe, "--version"], capture_output=True, text=True, env=cli_env())
    assert res.returncode == 0 and "p2p-race" in res.stdout


def test_doctor_json(data_dir):
    res = run_cli("doctor", "--json", data_dir=data_dir)
    report = json.loads(res.stdout)
    assert report["data_dir"] == str(data_dir)
    assert len(report["peer_id"]) == 16
    assert {"pygame", "zeroconf", "pymongo", "cryptography"} <= set(report["packages"])
    assert any(i["name"] == "lo" for i in report["interfaces"])
    names = {c["check"] for c in report["checks"]}
    assert {"identity", "mdns port", "game port", "mongodb"} <= names
    assert res.returncode == (0 if report["ok"] else 1)
    assert all(c["fix"] for c in report["checks"] if not c["ok"])


@pytest.mark.lan
def test_doctor_reports_a_taken_game_port(data_dir):
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    try:
        res = run_cli("doctor", "--json", "--game-port", str(port), data_dir=data_dir)
    finally:
        s.close()
    check = next(c for c in json.loads(res.stdout)["checks"] if c["check"] == "game port")
    assert not check["ok"] and check["fix"] and res.returncode == 1


def test_corrupt_identity_is_one_clear_line(data_dir):
    (data_dir / "identity.key").write_text("not a key")
    res = run_cli("doctor", data_dir=data_dir)
    assert "PROBLEM" in res.stdout and "corrupt" in res.stdout
    assert "Traceback" not in res.stderr
    assert (data_dir / "identity.key").read_text() == "not a key"


def test_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    from p2p_race import cli
    from p2p_race.commands import doctor

    def boom(args):
        raise UserError("config file x is not valid JSON")

    monkeypatch.setattr(doctor, "run", boom)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "p2p-race: error: config file x is not valid JSON"


def test_doctor_flags_a_broken_config(data_dir):
    (data_dir / "config.json").write_text("{broken")
    res = run_cli("doctor", "--json", data_dir=data_dir)
    check = next(c for c in json.loads(res.stdout)["checks"] if c["check"] == "config")
    assert not check["ok"] and "not valid JSON" in check["detail"] and res.returncode == 1


def test_unknown_command_is_a_usage_error():
    res = run_cli("fly-to-the-moon")
    assert res.returncode == 2 and "invalid choice" in res.stderr and "Traceback" not in res.stderr


def test_config_round_trip_keeps_unknown_keys(data_dir):
    cfg = Config.load(data_dir)
    assert cfg.name == "" and cfg.keys["left"] == ["left", "a"]
    cfg.name = "Ayrton"
    cfg.extra["future_setting"] = 7
    cfg.save(data_dir)
    again = Config.load(data_dir)
    assert again.name == "Ayrton" and again.extra["future_setting"] == 7


def test_config_type_errors_are_clear(data_dir):
    (data_dir / "config.json").write_text(json.dumps({"music_volume": "loud"}))
    with pytest.raises(UserError, match="music_volume"):
        Config.load(data_dir)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("P2P_RACE_HOME", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(str(tmp_path / "flag")) == tmp_path / "flag"
    assert (tmp_path / "flag").is_dir()


def test_no_pickle_marshal_or_eval_in_project():
    bad = []
    for top in ("p2p_race", "discovery", "chat", "replication", "assets"):
        for path in (ROOT / top).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for needle in ("import pickle", "import marshal", "from pickle", "from marshal", "eval(", "exec("):
                if needle in text:
                    bad.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not bad


@pytest.mark.lan
def test_make_install_is_idempotent():
    stamp = ROOT / ".venv" / ".installed"
    if not stamp.exists() or shutil.which("make") is None:
        pytest.skip("not set up through make")
    res = subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, "a second `make install` would reinstall although nothing changed"
