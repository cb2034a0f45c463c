"""Assets made by code: sounds are valid, loop cleanly and are cached; sprites are drawn,
distinct per colour and kind, and cached as PNGs."""

from __future__ import annotations

import os
import wave
from array import array
from pathlib import Path

import pygame
import pytest

from assets import ASSET_VERSION, sounds
from assets import sprites as sp


@pytest.mark.slow  # synthesizes whole tracks
def test_sounds_are_written_once_and_valid(tmp_path: Path) -> None:
    paths = sounds.ensure_sounds(tmp_path, ASSET_VERSION)
    assert set(paths) == set(sounds.SOUNDS)
    for name, p in paths.items():
        with wave.open(str(p)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, sounds.RATE)
            frames = w.readframes(w.getnframes())
        samples = array("h", frames)
        assert len(samples) > 500, name
        assert max(abs(s) for s in samples) > 5000, f"{name} is silent"
    mtimes = {n: p.stat().st_mtime_ns for n, p in paths.items()}
    os.utime(paths["music"], ns=(1, 1))
    again = sounds.ensure_sounds(tmp_path, ASSET_VERSION)
    assert again == paths
    assert again["music"].stat().st_mtime_ns == 1  # cached, not regenerated
    assert {n: p.stat().st_mtime_ns for n, p in again.items() if n != "music"} == \
        {n: t for n, t in mtimes.items() if n != "music"}


@pytest.mark.slow  # synthesizes whole tracks
def test_loops_meet_their_start_without_a_click() -> None:
    for gen in (sounds.engine, sounds.music, sounds.menu_music):
        s = gen()
        # the wrap from the last sample to the first is no bigger a step than the
        # steps inside the loop: no click at the seam
        jump = abs(s[-1] - s[0])
        biggest = max(abs(s[i + 1] - s[i]) for i in range(len(s) - 1))
        assert jump <= biggest * 1.05, getattr(gen, "__name__", gen)


@pytest.mark.slow  # synthesizes whole tracks
def test_menu_and_race_tracks_differ_and_last_longer_than_15_s() -> None:
    race, menu = sounds.music(), sounds.menu_music()
    assert len(race) > 25 * sounds.RATE and len(menu) > 25 * sounds.RATE
    assert race[: sounds.RATE] != menu[: sounds.RATE]


def test_live_engine_pitch_glides_without_steps_or_clicks() -> None:
    """The engine note is a continuous, rising function of speed, and the live synth joins
    its chunks with a continuous phase (no click at a chunk boundary)."""
    levels = [i / 1000 for i in range(1001)]
    f = [sounds.engine_freq(v) for v in levels]
    assert all(b > a for a, b in zip(f, f[1:], strict=False))
    assert max(b - a for a, b in zip(f, f[1:], strict=False)) < 0.2  # Hz per 0.1 % of speed
    synth = sounds.EngineSynth(chunk=512)
    out = []
    for k in range(60):
        out.extend(synth.render(k / 59))
    steps = [abs(out[i + 1] - out[i]) for i in range(len(out) - 1)]
    seams = [steps[512 * k - 1] for k in range(1, 60)]
    assert max(seams) <= max(steps) * 1.01 and sum(seams) / len(seams) < 4 * sum(steps) / len(steps)
    assert synth.freq == pytest.approx(sounds.engine_freq(1.0))


def test_countdown_beeps_differ_from_go() -> None:
    beep, go = sounds.beep(), sounds.go_beep()
    assert len(go) > 2 * len(beep)


@pytest.fixture
def display():
    pygame.display.init()
    pygame.display.set_mode((64, 64))
    yield
    pygame.display.quit()


def _opaque_ratio(s: pygame.Surface) -> float:
    w, h = s.get_size()
    hits = sum(1 for x in range(0, w, 2) for y in range(0, h, 2) if s.get_at((x, y)).a > 200)
    return hits / ((w + 1) // 2 * ((h + 1) // 2))


def test_car_sprites_per_colour(display) -> None:
    cars = {name: sp.car(rgb, 24, 56) for name, rgb in sp.CAR_COLORS.items()}
    for name, s in cars.items():
        assert s.get_width() > 24 and s.get_height() > 56
        assert 0.35 < _opaque_ratio(s) < 0.95, name  # a car shape, not a box, not empty
    # the body colour at the centre-left flank differs between colours
    w, h = cars["red"].get_size()
    probe = (w // 2 - 7, h // 2 + 12)
    colours = {cars[n].get_at(probe)[:3] for n in cars}
    assert len(colours) == len(cars)


def test_traffic_scenery_and_explosion(display) -> None:
    for kind in sp.TRAFFIC_KINDS:
        s = sp.vehicle(kind, (90, 100, 120), 30, 80)
        assert _opaque_ratio(s) > 0.2, kind
    bus, truck = sp.vehicle("bus", (200, 60, 50), 30, 140), sp.vehicle("truck", (200, 60, 50), 30, 140)
    assert pygame.image.tobytes(bus, "RGBA") != pygame.image.tobytes(truck, "RGBA")
    frames = sp.explosion_frames(60, 8)
    assert len(frames) == 8
    # the fireball fades: the last frame is mostly see-through, the first is not
    assert _opaque_ratio(frames[0]) > _opaque_ratio(frames[-1])
    assert sp.tree(50).get_size() == (50, 50) and sp.lamp(60, True).get_width() == 60


def test_sprite_cache_writes_and_reloads_png(display, tmp_path: Path) -> None:
    made = []

    def make():
        made.append(1)
        return sp.car(sp.CAR_COLORS["green"], 20, 44)

    c1 = sp.SpriteCache(tmp_path)
    a = c1.get("car-green", make)
    png = tmp_path / f"car-green-v{ASSET_VERSION}.png"
    assert png.exists() and made == [1]
    c2 = sp.SpriteCache(tmp_path)
    b = c2.get("car-green", make)
    assert made == [1]  # loaded from the PNG, not redrawn
    assert b.get_size() == a.get_size() and b.get_at((b.get_width() // 2, b.get_height() // 2)) == \
        a.get_at((a.get_width() // 2, a.get_height() // 2))
