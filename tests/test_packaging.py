"""The game installs like any Python program: `python -m build` makes an sdist and a wheel
holding every module (the assets are code that draws and synthesizes them), the wheel
installs into a fresh venv, and `p2p-race` then runs from outside the source tree.

The fresh venv borrows the project venv's dependencies (a .pth line), so the test checks
the wheel itself and its dependency metadata without downloading anything again.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import psutil
import pytest

from p2p_race import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("p2p_race", "discovery", "chat", "replication", "assets")


def _source_modules() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for top in PACKAGES for p in (ROOT / top).rglob("*.py")
            if "_cache" not in p.parts}


def _runtime_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def test_pyproject_declares_every_pinned_runtime_requirement():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in meta["dependencies"]}
    assert declared == set(_runtime_requirements())
    assert meta["scripts"]["p2p-race"] == "p2p_race.cli:main"
    dev = (ROOT / "requirements-dev.txt").read_text().lower()
    assert "pytest" in dev and "pytest" not in (ROOT / "requirements.txt").read_text().lower()


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_tree(tmp_path):
    out = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next(out.glob("p2p_race-*.whl"))
    sdist = next(out.glob("p2p_race-*.tar.gz"))
    assert wheel.name.startswith(f"p2p_race-{__version__}-")

    # every module of every package is in both archives (the sdist builds the wheel)
    want = _source_modules()
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert want <= in_wheel, sorted(want - in_wheel)[:10]
    prefix = sdist.name.removesuffix(".tar.gz") + "/"
    with tarfile.open(sdist) as tar:
        in_sdist = {n.removeprefix(prefix) for n in tar.getnames()}
    assert want <= in_sdist, sorted(want - in_sdist)[:10]
    assert {"README.md", "pyproject.toml"} <= in_sdist

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    vpy = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    purelib = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(vpy),
                          "install", "--no-index", str(wheel)], capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]

    exe = vpy.parent / "p2p-race"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": f"{vpy.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "SDL_VIDEODRIVER": "dummy",
           "SDL_AUDIODRIVER": "dummy", "P2P_RACE_HOME": str(tmp_path / "home")}
    ver = subprocess.run(["p2p-race", "--version"], cwd=outside, env=env, capture_output=True, text=True, timeout=60)
    assert ver.returncode == 0 and ver.stdout.strip() == f"p2p-race {__version__}", ver.stderr
    where = subprocess.run([str(vpy), "-c", "import p2p_race, assets, chat; print(p2p_race.__file__);"
                            "print(assets.__file__); print(chat.__file__)"],
                           cwd=outside, env=env, capture_output=True, text=True, timeout=60)
    for line in where.stdout.split():
        assert Path(line).is_relative_to(venv), f"{line} is not the installed copy"
    # generated assets go to the user cache dir, never into site-packages
    cache = subprocess.run([str(vpy), "-c", "import assets; print(assets.cache_dir())"], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=60)
    assert cache.returncode == 0 and Path(cache.stdout.strip()).is_relative_to(tmp_path / ".cache"), cache
    race = subprocess.run([str(exe), "practice", "--headless", "--json", "--seed", "7", "--seconds", "15",
                           "--bots", "2"], cwd=outside, env=env, capture_output=True, text=True, timeout=120)
    assert race.returncode == 0, race.stderr
    result = json.loads(race.stdout)
    assert result["seed"] == 7 and len(result["cars"]) == 3
    # the installed chat service starts in the background, says where it is, and stops
    chat = [str(exe), "chat", "--port", "0", "--host", "127.0.0.1", "--no-discovery"]
    said = subprocess.run([*chat, "--say", "hello from the wheel"], cwd=outside, env=env, capture_output=True,
                          text=True, timeout=60)
    assert said.returncode == 0, said.stderr
    status = subprocess.run([str(exe), "chat", "--status", "--json"], cwd=outside, env=env, capture_output=True,
                            text=True, timeout=60)
    got = json.loads(status.stdout)
    assert got["running"] and got["count"] >= 1  # our line (and the service's own notices)
    service_exe = psutil.Process(got["pid"]).cmdline()[0]
    stop = subprocess.run([str(exe), "chat", "--stop", "--json"], cwd=outside, env=env, capture_output=True,
                          text=True, timeout=60)
    assert json.loads(stop.stdout)["stopped"] is True
    assert Path(service_exe).parent == vpy.parent  # the venv's own Python ran it
    # the installed copy races exactly like the source tree
    here = subprocess.run([sys.executable, "-m", "p2p_race", "practice", "--headless", "--json", "--seed", "7",
                           "--seconds", "15", "--bots", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**env, "PATH": "/usr/bin:/bin"})
    assert json.loads(here.stdout) == result


def test_make_install_installs_only_the_runtime_requirements():
    """`make run` / `make install` leave the test and lint tools out (`make test` adds them)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert dry.returncode == 0, dry.stderr
    assert "-r requirements.txt" in dry.stdout and "requirements-dev.txt" not in dry.stdout
    dev = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "-r requirements-dev.txt" in dev.stdout and "-r requirements.txt" in dev.stdout
