"""Sounds synthesized with the standard library only (math, array, wave).

Each generator returns 16-bit mono samples at `RATE`. `ensure_sounds(dir)` writes the WAV
files once and returns their paths; the game loads them through pygame.mixer. Loops
(engine, music) contain a whole number of periods so they repeat without a click.
"""

from __future__ import annotations

import itertools
import math
import operator
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


def _voice(kind: str, f: float, m: int, noise: list[float]) -> list[float]:
    """The first m samples of an instrument's note at pitch f (Hz), before the envelope."""
    sin = math.sin
    w = TAU * f / RATE
    idx = range(m)
    if kind == "bass":
        return [(2 * ((f * i / RATE) % 1.0) - 1) * 0.6 + sin(w * i) for i in idx]
    if kind in ("sub", "arp"):
        return [sin(w * i) + 0.3 * sin(2 * w * i) for i in idx]
    if kind == "lead":
        v = TAU * 5 / RATE
        return [sin(w * i) + 0.45 * sin(2 * w * i + 0.5 * sin(v * i)) + 0.2 * (2 * ((f * i / RATE) % 1.0) - 1)
                for i in idx]
    if kind == "pad":
        return [sin(w * i) + 0.2 * sin(1.003 * w * i) for i in idx]
    if kind == "kick":
        return [sin(TAU * (55 + 90 * math.exp(-i / RATE * 30)) * i / RATE) for i in idx]
    nl = len(noise)
    if kind == "snare":
        return [noise[i % nl] * 0.8 + sin(TAU * 190 / RATE * i) * 0.4 for i in idx]
    return [noise[i % nl] for i in idx]  # hat


def _song(sections: list[tuple[list[tuple[int, int, int]], dict]], bpm: float, seed: int) -> array:
    """A loop of sections; each section is (chords, parts) with one chord per bar.

    Parts (all optional): bass (1 eighths, 2 offbeat pulses), arp (sixteenth-note arpeggio
    gain), lead (a melody: (sixteenth, midi, sixteenths long) per bar, alternating bars),
    pad gain, kick (1 four-on-the-floor, 2 half time), snare and hats gains. Every onset
    falls on the sixteenth grid and nothing rings past the loop's end, so it loops cleanly.
    Each distinct note is rendered once and mixed in wherever it recurs.
    """
    beat = 60.0 / bpm
    step = beat / 4
    bars = sum(len(ch) for ch, _ in sections)
    n = int(RATE * beat * 4 * bars)
    buf = [0.0] * n
    rnd = random.Random(seed)
    noise = [rnd.uniform(-1, 1) for _ in range(RATE // 4)]
    notes: dict[tuple, list[float]] = {}

    def add(start_s: float, dur_s: float, kind: str, f: float, gain: float, decay: float) -> None:
        key = (kind, f, dur_s, gain, decay)
        wave = notes.get(key)
        if wave is None:
            m = int(dur_s * RATE)
            env = itertools.accumulate(itertools.repeat(math.exp(-decay / RATE), m - 1), operator.mul,
                                       initial=gain)
            wave = [v * e for v, e in zip(_voice(kind, f, m, noise), env, strict=True)]
            for i in range(min(m, 56)):  # 2.5 ms attack, 60-sample release: no clicks
                wave[i] *= i / 55.125
            for i in range(max(0, m - 60), m):
                wave[i] *= (m - i) / 60
            notes[key] = wave
        i0 = int(start_s * RATE)
        i1 = min(n, i0 + len(wave))
        buf[i0:i1] = [x + w for x, w in zip(buf[i0:i1], wave, strict=False)]

    bar = 0
    for chords, parts in sections:
        for root, third, fifth in chords:
            t0 = bar * 4 * beat
            bass_f = _midi(root - 24)
            if parts.get("bass") == 1:
                for b in range(8):
                    add(t0 + b * beat / 2, beat / 2 * 0.9, "bass", bass_f, 0.22, 5.0)
            elif parts.get("bass") == 2:
                for b in range(4):
                    add(t0 + (b + 0.5) * beat, beat * 0.45, "sub", bass_f, 0.3, 4.0)
            if parts.get("arp"):
                arp = [root, third, fifth, root + 12, fifth + 12, root + 12, fifth, third]
                for k in range(16):
                    add(t0 + k * step, step * 1.5, "arp", _midi(arp[k % 8] + 12), parts["arp"], 9.0)
            for pos, note, length in parts.get("lead", [])[bar % 2::2]:
                add(t0 + pos * step, length * step, "lead", _midi(note), 0.09, 1.5)
            if parts.get("pad"):
                for m in (root, third, fifth):
                    add(t0, 4 * beat * 0.98, "pad", _midi(m), parts["pad"], 0.6)
            if parts.get("hats"):
                for k in range(8):
                    add(t0 + (k + 0.5) * beat / 2, 0.04, "hat", 0.0, parts["hats"], 60.0)
            if parts.get("kick"):
                for b in range(0, 4, parts["kick"]):
                    add(t0 + b * beat, 0.18, "kick", 0.0, 0.35, 14.0)
            if parts.get("snare"):
                for b in (1, 3):
                    add(t0 + b * beat, 0.16, "snare", 0.0, parts["snare"], 22.0)
            bar += 1
    return _to_pcm(buf, 0.55)


AM, F, C, G = (57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)
DM, EM, E = (50, 53, 57), (52, 55, 59), (52, 56, 59)


def music() -> array:
    """The race track: a driving synthwave loop in four sections (build-up, drive with a
    lead melody, a second lead, break) over Am F C G / F G Em Am / F G E; ~29 s a loop."""
    lead_a = [(0, 76, 3), (4, 74, 2), (6, 72, 2), (8, 71, 4), (12, 72, 4),
              (0, 72, 3), (4, 71, 2), (6, 69, 2), (8, 67, 6), (14, 69, 2)]
    lead_b = [(0, 69, 2), (2, 72, 2), (4, 76, 4), (8, 74, 2), (10, 72, 2), (12, 74, 4),
              (0, 76, 2), (2, 79, 2), (4, 77, 4), (8, 76, 4), (12, 72, 4)]
    drive = {"bass": 1, "arp": 0.1, "pad": 0.04, "hats": 0.05, "kick": 1, "snare": 0.12}
    return _song([
        ([AM, F, C, G], {"bass": 1, "arp": 0.12, "pad": 0.05, "hats": 0.04, "kick": 1}),
        ([AM, F, C, G], {**drive, "lead": lead_a}),
        ([F, G, EM, AM], {**drive, "lead": lead_b}),
        ([F, G, E, E], {"bass": 2, "pad": 0.07, "arp": 0.08, "kick": 2, "hats": 0.03}),
    ], 132.0, 11)


def menu_music() -> array:
    """The menu track: slower and calmer (pads, soft offbeat bass, a sparse melody) over
    Am F C G / Dm Am F E; about 38 s before it repeats."""
    lead = [(0, 64, 6), (8, 67, 4), (12, 64, 4), (0, 60, 8), (8, 62, 8)]
    return _song([
        ([AM, F, C, G], {"bass": 2, "pad": 0.07, "hats": 0.02, "arp": 0.05}),
        ([DM, AM, F, E], {"bass": 2, "pad": 0.07, "lead": lead, "kick": 2, "hats": 0.03}),
        ([AM, F, C, G], {"bass": 2, "pad": 0.06, "lead": lead, "kick": 2, "hats": 0.03, "arp": 0.04}),
    ], 100.0, 23)


ENGINE_LOW, ENGINE_HIGH = 34.0, 118.0  # Hz of the engine's firing note at rest and at top speed


def engine_freq(level: float) -> float:
    """The engine note for `level` (0..1 of top speed): rises continuously, a touch faster
    at the low end like revs (no steps)."""
    level = min(1.0, max(0.0, level))
    return ENGINE_LOW + (ENGINE_HIGH - ENGINE_LOW) * (0.75 * level + 0.25 * level * level)


class EngineSynth:
    """Synthesizes the engine live, chunk by chunk, with a continuous phase and the pitch
    gliding from one chunk's level to the next: the note climbs smoothly with speed
    instead of crossfading fixed loops."""

    def __init__(self, rate: int = RATE, chunk: int = 1024) -> None:
        self.rate = rate
        self.chunk = chunk
        self.freq = engine_freq(0.0)
        self._phase = 0.0
        self._lp = 0.0
        self._rnd = random.Random(3)

    def render(self, level: float) -> list[float]:
        """The next chunk (floats in [-1, 1]) gliding to the pitch of `level`."""
        f0, f1 = self.freq, engine_freq(level)
        n = self.chunk
        out = []
        ph, lp = self._phase, self._lp
        rnd = self._rnd.random
        for i in range(n):
            f = f0 + (f1 - f0) * (i / n)
            ph += f / self.rate
            ph -= math.floor(ph)
            pulse = math.exp(-ph * 6.0)
            s = 0.45 * (2.0 * ph - 1.0) + 0.5 * pulse + 0.25 * math.sin(TAU * 2 * ph) + 0.08 * (rnd() * 2 - 1) * pulse
            lp += 0.3 * (s - lp)
            out.append(lp * 0.6)
        self._phase, self._lp, self.freq = ph, lp, f1
        return out


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
    "engine": engine,
    "music": music,
    "menu_music": menu_music,
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
