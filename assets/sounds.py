"""Sounds synthesized with the standard library only (math, array, wave).

Each generator returns 16-bit mono samples at `RATE`. `ensure_sounds(dir)` writes the WAV
files once and returns their paths; the game loads them through pygame.mixer. Loops
(engine, music) contain a whole number of periods so they repeat without a click.
"""

from __future__ import annotations

import math
import os
import random
import wave
from array import array
from collections.abc import Callable
from pathlib import Path

RATE = 22050
TAU = 2.0 * math.pi


def _to_pcm(samples: list[float], gain: float = 1.0) -> array:
    peak = max(1e-9, max(abs(s) for s in samples))
    k = gain * 32000.0 / peak
    return array("h", (int(max(-32767, min(32767, s * k))) for s in samples))


def _env(i: int, n: int, attack: int, release: int) -> float:
    if i < attack:
        return i / attack
    if i > n - release:
        return max(0.0, (n - i) / release)
    return 1.0


def beep(freq: float = 660.0, seconds: float = 0.16) -> array:
    """Countdown beep: a soft square (odd harmonics) with a fast attack and decay."""
    n = int(RATE * seconds)
    out = []
    for i in range(n):
        t = i / RATE
        ph = TAU * freq * t
        s = math.sin(ph) + math.sin(3 * ph) / 3 + math.sin(5 * ph) / 5
        out.append(s * _env(i, n, 80, n // 2))
    return _to_pcm(out, 0.6)


def go_beep() -> array:
    """The GO beep: higher, longer, with an octave on top."""
    n = int(RATE * 0.5)
    out = []
    for i in range(n):
        t = i / RATE
        ph = TAU * 1046.5 * t
        s = math.sin(ph) + 0.5 * math.sin(2 * ph) + math.sin(3 * ph) / 4
        out.append(s * _env(i, n, 60, int(n * 0.7)))
    return _to_pcm(out, 0.7)


def crash(seed: int = 7) -> array:
    """Crash: a noise burst through a one-pole low-pass whose cutoff falls, plus a thump."""
    rnd = random.Random(seed)
    n = int(RATE * 1.1)
    out = []
    lp = 0.0
    for i in range(n):
        t = i / RATE
        a = 0.55 * math.exp(-t * 3.0) + 0.04
        lp += a * (rnd.uniform(-1, 1) - lp)
        thump = math.sin(TAU * (70 - 40 * t) * t) * math.exp(-t * 9)
        crackle = rnd.uniform(-1, 1) * math.exp(-t * 25) * 0.6
        out.append((lp * 2.2 + thump * 0.9 + crackle) * math.exp(-t * 2.2) * _env(i, n, 20, 2000))
    return _to_pcm(out, 0.9)


def engine(freq: float = 60.0) -> array:
    """Engine loop: a buzzy tone with firing pulses; 1 s holding a whole number of periods
    of `freq` (an integer), so it loops seamlessly. Three pitches are crossfaded by speed."""
    n = RATE  # 1 s: whole number of periods of every component below
    rnd = random.Random(3)
    noise = [rnd.uniform(-1, 1) for _ in range(n)]
    out = []
    for i in range(n):
        t = i / RATE
        ph = (freq * t) % 1.0
        saw = 2.0 * ph - 1.0
        pulse = math.exp(-ph * 6.0)
        s = 0.45 * saw + 0.5 * pulse + 0.25 * math.sin(TAU * 2 * freq * t) + 0.08 * noise[i] * pulse
        out.append(s)
    # smooth one-pole low-pass run twice around the loop so the seam matches
    lp = 0.0
    for _ in range(2):
        res = []
        for s in out:
            lp += 0.25 * (s - lp)
            res.append(lp)
    return _to_pcm(res, 0.5)


NOTE = {"A2": 110.0, "F2": 87.31, "C3": 130.81, "G2": 98.0, "E3": 164.81}


def _midi(m: int) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def music(bars: int = 8, bpm: float = 128.0) -> array:
    """A short synthwave loop: bass on the beat, arpeggiated chords, soft pad, hi-hat.

    Progression Am F C G (two rounds); all note onsets fall on the grid so the loop's end
    meets its start.
    """
    chords = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]  # Am F C G (midi)
    beat = 60.0 / bpm
    step = beat / 4  # sixteenth notes
    n = int(RATE * beat * 4 * bars)
    buf = [0.0] * n
    rnd = random.Random(11)

    def add(start_s: float, dur_s: float, fn: Callable[[float], float], gain: float, decay: float) -> None:
        i0 = int(start_s * RATE)
        i1 = min(n, i0 + int(dur_s * RATE))
        for i in range(i0, i1):
            t = (i - i0) / RATE
            buf[i] += gain * fn(t) * math.exp(-t * decay) * min(1.0, t * 400)

    for bar in range(bars):
        root, third, fifth = chords[bar % 4]
        t0 = bar * 4 * beat
        bass_f = _midi(root - 24)
        for b in range(8):  # eighth-note bass
            add(t0 + b * beat / 2, beat / 2 * 0.9,
                lambda t, f=bass_f: (2 * ((f * t) % 1.0) - 1) * 0.6 + math.sin(TAU * f * t), 0.22, 5.0)
        arp = [root, third, fifth, root + 12, fifth + 12, root + 12, fifth, third]
        for k in range(16):
            f = _midi(arp[k % 8] + 12)
            add(t0 + k * step, step * 1.5, lambda t, f=f: math.sin(TAU * f * t) + 0.3 * math.sin(TAU * 2 * f * t),
                0.12, 9.0)
        for m in (root, third, fifth):  # pad
            f = _midi(m)
            add(t0, 4 * beat * 0.98, lambda t, f=f: math.sin(TAU * f * t) + 0.2 * math.sin(TAU * 1.003 * f * t),
                0.05, 0.6)
        for k in range(8):  # hats on the off-beats, kick on the beats
            add(t0 + (k + 0.5) * beat / 2, 0.04, lambda t: rnd.uniform(-1, 1), 0.05, 60.0)
        for b in range(4):
            add(t0 + b * beat, 0.18, lambda t: math.sin(TAU * (55 + 90 * math.exp(-t * 30)) * t), 0.35, 14.0)
    return _to_pcm(buf, 0.55)


def jingle(notes: list[int], step: float = 0.12, tail: float = 0.6) -> array:
    """A short melody (midi notes, one per `step` s; the last one rings for `tail` s)."""
    n = int(RATE * (step * (len(notes) - 1) + tail))
    buf = [0.0] * n
    for k, m in enumerate(notes):
        f = _midi(m)
        i0 = int(k * step * RATE)
        dur = tail if k == len(notes) - 1 else step * 1.6
        for i in range(i0, min(n, i0 + int(dur * RATE))):
            t = (i - i0) / RATE
            v = math.sin(TAU * f * t) + 0.35 * math.sin(TAU * 2 * f * t) + 0.15 * math.sin(TAU * 3 * f * t)
            buf[i] += v * math.exp(-t * (3.0 if k == len(notes) - 1 else 9.0)) * min(1.0, t * 300)
    return _to_pcm(buf, 0.6)


SOUNDS: dict[str, Callable[[], array]] = {
    "beep": beep,
    "go": go_beep,
    "crash": crash,
    "engine_lo": lambda: engine(42.0),
    "engine": engine,
    "engine_hi": lambda: engine(88.0),
    "music": music,
    "select": lambda: beep(880.0, 0.06),
    "move": lambda: beep(520.0, 0.035),
    "win": lambda: jingle([60, 64, 67, 72, 67, 72, 76], 0.11, 0.9),
    "lose": lambda: jingle([67, 63, 60, 55], 0.18, 0.8),
}


def write_wav(path: Path, samples: array) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # unique: processes may race
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    tmp.replace(path)


def ensure_sounds(directory: Path, version: int) -> dict[str, Path]:
    """Write every sound WAV that is missing from `directory`; return name -> path."""
    paths = {}
    for name, gen in SOUNDS.items():
        path = Path(directory) / f"{name}-v{version}.wav"
        if not path.exists():
            write_wav(path, gen())
        paths[name] = path
    return paths
