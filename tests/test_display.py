"""No display: the window commands stop at once with one clear line and a non-zero exit,
instead of running invisibly on SDL's offscreen fallback. A driver asked for on purpose
(SDL_VIDEODRIVER=dummy, as the tests do) keeps working."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from p2p_race.display import require_display, require_visible_driver
from p2p_race.errors import UserError
from tests.support.proc import cli_env, p2p_race_cmd


def run_without_display(data_dir: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = cli_env(data_dir)
    for key in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        e.pop(key, None)
    runtime = tmp_path / "xdg"  # a runtime dir with no Wayland socket in it
    runtime.mkdir(mode=0o700, exist_ok=True)
    e["XDG_RUNTIME_DIR"] = str(runtime)
    e.update(env)
    return subprocess.run(p2p_race_cmd(*args), env=e, capture_output=True, text=True, timeout=60)


@pytest.mark.lan  # runs the CLI as a real process
@pytest.mark.parametrize("args", [(), ("practice", "--bots", "1"), ("spectate",)])
def test_no_display_is_one_clear_line_and_a_failure(data_dir, tmp_path, args) -> None:
    res = run_without_display(data_dir, tmp_path, *args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("p2p-race: error: no display:")
    assert "DISPLAY" in lines[0] and "practice --headless" in lines[0]


@pytest.mark.lan  # runs the CLI as a real process
def test_sdl_falling_back_to_offscreen_is_refused(data_dir, tmp_path) -> None:
    # DISPLAY names an X server that is not there: SDL would quietly pick 'offscreen'
    display = next(f":{n}" for n in range(90, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    res = run_without_display(data_dir, tmp_path, "practice", DISPLAY=display)
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("p2p-race: error: no display:") and "offscreen" in last, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.lan  # runs the CLI as a real process
def test_headless_commands_need_no_display(data_dir, tmp_path) -> None:
    res = run_without_display(data_dir, tmp_path, "practice", "--headless", "--json", "--seconds", "5")
    assert res.returncode == 0, res.stderr


def test_explicit_drivers_are_always_accepted() -> None:
    require_display({"SDL_VIDEODRIVER": "dummy"}, platform="linux")
    require_visible_driver("dummy", {"SDL_VIDEODRIVER": "dummy"})
    require_visible_driver("offscreen", {"SDL_VIDEODRIVER": "offscreen"})
    require_visible_driver("x11", {})
    require_display({"WAYLAND_DISPLAY": "wayland-0"}, platform="linux")
    with pytest.raises(UserError, match="offscreen"):
        require_visible_driver("offscreen", {"DISPLAY": ":0"})
    with pytest.raises(UserError, match="'dummy'"):
        require_visible_driver("dummy", {"SDL_VIDEODRIVER": "x11"})  # asked for x11, got dummy
