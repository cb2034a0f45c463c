"""Sprites drawn with pygame primitives: cars, traffic, scenery, explosion frames.

Everything is drawn top-down, facing up (the driving direction), at `SS` times the target
size and smooth-scaled down, which gives anti-aliased edges without any image files. The
results are cached as PNGs (see `assets.cache_dir`) keyed by name, size and version.
"""

from __future__ import annotations

import math
import os
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygame

from assets import ASSET_VERSION, cache_dir

SS = 3  # supersampling factor

Color = tuple[int, int, int]

CAR_COLORS: dict[str, Color] = {
    "red": (220, 40, 50),
    "blue": (40, 110, 230),
    "green": (40, 180, 80),
    "yellow": (245, 200, 30),
    "orange": (250, 130, 30),
    "purple": (150, 70, 210),
    "cyan": (30, 200, 210),
    "white": (235, 235, 240),
    "pink": (240, 100, 170),
    "black": (45, 45, 55),
}

TRAFFIC_KINDS = ("sedan", "hatchback", "truck", "van", "bus", "motorbike")
TRAFFIC_COLORS: list[Color] = [(90, 100, 120), (170, 170, 160), (120, 70, 60), (70, 110, 90),
                               (200, 190, 150), (60, 70, 140), (150, 40, 40), (230, 230, 225)]


def shade(c: Color, k: float) -> Color:
    """Darken (k<1) or lighten (k>1) a colour."""
    if k <= 1:
        return (int(c[0] * k), int(c[1] * k), int(c[2] * k))
    return tuple(int(v + (255 - v) * (k - 1)) for v in c)  # type: ignore[return-value]


def _canvas(w: int, h: int) -> pygame.Surface:
    return pygame.Surface((w * SS, h * SS), pygame.SRCALPHA)


def _finish(big: pygame.Surface, w: int, h: int) -> pygame.Surface:
    return pygame.transform.smoothscale(big, (w, h))


def _rr(s: pygame.Surface, color, rect, radius: int, width: int = 0) -> None:
    pygame.draw.rect(s, color, pygame.Rect(rect), width, border_radius=max(0, int(radius)))


def car(color: Color, w: int, h: int) -> pygame.Surface:
    """A sports car: body, cabin with windscreen and rear window, lights, mirrors, stripe.

    The returned surface is (w + 2*pad) x (h + 2*pad) with a soft shadow; the car body is
    centred, so blitting the sprite centred on the car's position is exact.
    """
    pad = max(2, w // 6)
    W, H = (w + 2 * pad) * SS, (h + 2 * pad) * SS
    s = pygame.Surface((W, H), pygame.SRCALPHA)
    p = pad * SS
    bw, bh = w * SS, h * SS
    # shadow
    _rr(s, (0, 0, 0, 70), (p + bw * 0.08 + SS * 2, p + bh * 0.05 + SS * 3, bw * 0.92, bh * 0.95), bw * 0.3)
    # wheels
    ww, wh = bw * 0.16, bh * 0.17
    for wy in (0.14, 0.70):
        for wx in (-0.03, 0.87):
            _rr(s, (25, 25, 28), (p + bw * wx, p + bh * wy, ww, wh), ww * 0.3)
    # body
    _rr(s, shade(color, 0.55), (p + bw * 0.06, p, bw * 0.88, bh), bw * 0.32)
    _rr(s, color, (p + bw * 0.09, p + SS, bw * 0.82, bh - 2 * SS), bw * 0.30)
    # highlight along the left flank
    _rr(s, shade(color, 1.35), (p + bw * 0.16, p + bh * 0.12, bw * 0.10, bh * 0.70), bw * 0.05)
    # bonnet stripe
    _rr(s, shade(color, 1.6), (p + bw * 0.44, p + bh * 0.03, bw * 0.12, bh * 0.22), SS)
    _rr(s, shade(color, 1.6), (p + bw * 0.44, p + bh * 0.82, bw * 0.12, bh * 0.15), SS)
    # cabin
    _rr(s, shade(color, 0.8), (p + bw * 0.18, p + bh * 0.27, bw * 0.64, bh * 0.52), bw * 0.18)
    glass = (40, 60, 85)
    glint = (140, 180, 220)
    pygame.draw.polygon(s, glass, [(p + bw * 0.22, p + bh * 0.40), (p + bw * 0.78, p + bh * 0.40),
                                   (p + bw * 0.72, p + bh * 0.28), (p + bw * 0.28, p + bh * 0.28)])
    pygame.draw.line(s, glint, (p + bw * 0.32, p + bh * 0.31), (p + bw * 0.45, p + bh * 0.31), SS * 2)
    _rr(s, shade(color, 0.95), (p + bw * 0.24, p + bh * 0.42, bw * 0.52, bh * 0.24), bw * 0.08)  # roof
    pygame.draw.polygon(s, glass, [(p + bw * 0.24, p + bh * 0.68), (p + bw * 0.76, p + bh * 0.68),
                                   (p + bw * 0.70, p + bh * 0.77), (p + bw * 0.30, p + bh * 0.77)])
    # mirrors
    _rr(s, shade(color, 0.6), (p + bw * 0.0, p + bh * 0.33, bw * 0.12, bh * 0.05), SS)
    _rr(s, shade(color, 0.6), (p + bw * 0.88, p + bh * 0.33, bw * 0.12, bh * 0.05), SS)
    # head and tail lights
    for x in (0.16, 0.66):
        _rr(s, (255, 250, 200), (p + bw * x, p + bh * 0.012, bw * 0.18, bh * 0.045), SS * 2)
        _rr(s, (230, 20, 30), (p + bw * x, p + bh * 0.945, bw * 0.18, bh * 0.04), SS * 2)
    return _finish(s, w + 2 * pad, h + 2 * pad)


def vehicle(kind: str, color: Color, w: int, h: int) -> pygame.Surface:
    """A traffic vehicle of `kind` (sedan, truck, van, bus), same framing as `car`."""
    pad = max(2, w // 6)
    W, H = (w + 2 * pad) * SS, (h + 2 * pad) * SS
    s = pygame.Surface((W, H), pygame.SRCALPHA)
    p = pad * SS
    bw, bh = w * SS, h * SS
    _rr(s, (0, 0, 0, 70), (p + SS * 3, p + SS * 4, bw, bh), bw * 0.15)
    glass = (45, 60, 80)
    dark = shade(color, 0.6)
    if kind == "motorbike":
        _rr(s, (20, 20, 24), (p + bw * 0.38, p, bw * 0.24, bh * 0.22), SS * 2)  # front wheel
        _rr(s, (20, 20, 24), (p + bw * 0.38, p + bh * 0.78, bw * 0.24, bh * 0.22), SS * 2)
        _rr(s, color, (p + bw * 0.28, p + bh * 0.18, bw * 0.44, bh * 0.62), bw * 0.2)
        pygame.draw.line(s, (60, 60, 70), (p, p + bh * 0.25), (p + bw, p + bh * 0.25), SS * 2)  # bars
        pygame.draw.circle(s, (30, 30, 35), (p + bw * 0.5, p + bh * 0.52), bw * 0.36)  # rider
        pygame.draw.circle(s, shade(color, 1.4), (p + bw * 0.5, p + bh * 0.42), bw * 0.26)  # helmet
        pygame.draw.circle(s, (255, 255, 255), (p + bw * 0.42, p + bh * 0.38), bw * 0.07)
        return _finish(s, w + 2 * pad, h + 2 * pad)
    if kind == "truck":
        cab_h = bh * 0.24
        _rr(s, dark, (p, p, bw, cab_h), bw * 0.18)
        _rr(s, color, (p + SS * 2, p + SS * 2, bw - SS * 4, cab_h - SS * 4), bw * 0.16)
        _rr(s, glass, (p + bw * 0.12, p + cab_h * 0.12, bw * 0.76, cab_h * 0.25), SS * 2)
        trailer = (200, 200, 195)
        _rr(s, (90, 90, 90), (p + bw * 0.02, p + cab_h + SS * 2, bw * 0.96, bh - cab_h - SS * 2), SS * 3)
        _rr(s, trailer, (p + bw * 0.05, p + cab_h + SS * 4, bw * 0.90, bh - cab_h - SS * 6), SS * 2)
        for k in range(1, 6):
            y = p + cab_h + (bh - cab_h) * k / 6
            pygame.draw.line(s, (170, 170, 165), (p + bw * 0.08, y), (p + bw * 0.92, y), SS)
        _rr(s, shade(color, 1.2), (p + bw * 0.15, p + cab_h + (bh - cab_h) * 0.35, bw * 0.7, (bh - cab_h) * 0.2), SS * 2)
    elif kind == "bus":
        _rr(s, dark, (p, p, bw, bh), bw * 0.16)
        _rr(s, color, (p + SS * 2, p + SS * 2, bw - SS * 4, bh - SS * 4), bw * 0.14)
        _rr(s, glass, (p + bw * 0.1, p + bh * 0.02, bw * 0.8, bh * 0.06), SS * 2)
        _rr(s, shade(color, 1.25), (p + bw * 0.2, p + bh * 0.12, bw * 0.6, bh * 0.8), SS * 3)
        for k in range(6):  # roof vents / AC units
            _rr(s, shade(color, 0.85), (p + bw * 0.3, p + bh * (0.16 + k * 0.13), bw * 0.4, bh * 0.07), SS * 2)
        _rr(s, (230, 20, 30), (p + bw * 0.08, p + bh * 0.97, bw * 0.18, bh * 0.02), SS)
        _rr(s, (230, 20, 30), (p + bw * 0.74, p + bh * 0.97, bw * 0.18, bh * 0.02), SS)
    elif kind == "van":
        _rr(s, dark, (p + bw * 0.03, p, bw * 0.94, bh), bw * 0.22)
        _rr(s, color, (p + bw * 0.06, p + SS * 2, bw * 0.88, bh - SS * 4), bw * 0.2)
        pygame.draw.polygon(s, glass, [(p + bw * 0.15, p + bh * 0.2), (p + bw * 0.85, p + bh * 0.2),
                                       (p + bw * 0.8, p + bh * 0.1), (p + bw * 0.2, p + bh * 0.1)])
        _rr(s, shade(color, 1.15), (p + bw * 0.14, p + bh * 0.24, bw * 0.72, bh * 0.7), SS * 3)
        pygame.draw.line(s, shade(color, 0.8), (p + bw * 0.5, p + bh * 0.26), (p + bw * 0.5, p + bh * 0.92), SS)
        for x in (0.12, 0.70):
            _rr(s, (255, 250, 200), (p + bw * x, p + SS, bw * 0.18, bh * 0.035), SS)
            _rr(s, (230, 20, 30), (p + bw * x, p + bh * 0.96, bw * 0.18, bh * 0.03), SS)
    else:  # sedan
        _rr(s, dark, (p + bw * 0.04, p, bw * 0.92, bh), bw * 0.3)
        _rr(s, color, (p + bw * 0.07, p + SS * 2, bw * 0.86, bh - SS * 4), bw * 0.28)
        _rr(s, shade(color, 0.85), (p + bw * 0.17, p + bh * 0.27, bw * 0.66, bh * 0.48), bw * 0.16)
        pygame.draw.polygon(s, glass, [(p + bw * 0.2, p + bh * 0.38), (p + bw * 0.8, p + bh * 0.38),
                                       (p + bw * 0.74, p + bh * 0.27), (p + bw * 0.26, p + bh * 0.27)])
        _rr(s, shade(color, 1.1), (p + bw * 0.22, p + bh * 0.40, bw * 0.56, bh * 0.22), bw * 0.06)
        pygame.draw.polygon(s, glass, [(p + bw * 0.22, p + bh * 0.64), (p + bw * 0.78, p + bh * 0.64),
                                       (p + bw * 0.72, p + bh * 0.74), (p + bw * 0.28, p + bh * 0.74)])
        for x in (0.14, 0.68):
            _rr(s, (255, 250, 200), (p + bw * x, p + SS, bw * 0.18, bh * 0.04), SS)
            _rr(s, (230, 20, 30), (p + bw * x, p + bh * 0.95, bw * 0.18, bh * 0.035), SS)
    return _finish(s, w + 2 * pad, h + 2 * pad)


def tree(size: int, seed: int = 0) -> pygame.Surface:
    """A round tree crown seen from above: shadow, layered greens, light from the top-left."""
    rnd = random.Random(seed)
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    c = S / 2
    pygame.draw.circle(s, (0, 0, 0, 60), (c + S * 0.07, c + S * 0.09), S * 0.42)
    greens = [(30, 95, 40), (40, 125, 50), (60, 150, 60), (95, 180, 80)]
    pygame.draw.circle(s, greens[0], (c, c), S * 0.42)
    for _k in range(7):
        a = rnd.uniform(0, math.tau)
        r = S * 0.2
        pygame.draw.circle(s, greens[1], (c + math.cos(a) * r, c + math.sin(a) * r), S * 0.2)
    pygame.draw.circle(s, greens[2], (c - S * 0.06, c - S * 0.06), S * 0.24)
    for _k in range(4):
        a = rnd.uniform(math.pi, 1.5 * math.pi)
        pygame.draw.circle(s, greens[3], (c + math.cos(a) * S * 0.15, c + math.sin(a) * S * 0.15), S * 0.07)
    return _finish(s, size, size)


def bush(size: int, seed: int = 0) -> pygame.Surface:
    rnd = random.Random(seed + 100)
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    for _k in range(5):
        x, y = rnd.uniform(S * 0.3, S * 0.7), rnd.uniform(S * 0.3, S * 0.7)
        pygame.draw.circle(s, (0, 0, 0, 40), (x + SS * 2, y + SS * 2), S * 0.22)
        pygame.draw.circle(s, (50, 120, 45), (x, y), S * 0.22)
        pygame.draw.circle(s, (80, 155, 65), (x - S * 0.05, y - S * 0.05), S * 0.11)
    if seed % 3 == 0:  # a few flowers
        for _k in range(4):
            pygame.draw.circle(s, (250, 220, 90), (rnd.uniform(S * 0.25, S * 0.75), rnd.uniform(S * 0.25, S * 0.75)), SS * 1.5)
    return _finish(s, size, size)


def lamp(length: int, facing_right: bool) -> pygame.Surface:
    """A street lamp from above: pole base, arm reaching over the road, lamp head, glow."""
    L = length * SS
    H = int(L * 0.6)
    s = pygame.Surface((L, H), pygame.SRCALPHA)
    cy = H / 2
    hx = L - H * 0.5
    for k in range(6):  # warm glow, brighter towards the lamp
        pygame.draw.circle(s, (255, 230, 140, 14 + 6 * k), (hx, cy), H * (0.48 - 0.06 * k))
    pygame.draw.line(s, (0, 0, 0, 70), (L * 0.08 + SS * 3, cy + SS * 3), (hx + SS * 3, cy + SS * 3), SS * 3)
    pygame.draw.line(s, (110, 115, 125), (L * 0.08, cy), (hx, cy), SS * 3)
    pygame.draw.circle(s, (70, 75, 85), (L * 0.08, cy), SS * 5)
    _rr(s, (80, 85, 95), (hx - L * 0.1, cy - SS * 5, L * 0.2, SS * 10), SS * 3)
    _rr(s, (255, 245, 200), (hx - L * 0.07, cy - SS * 3, L * 0.14, SS * 6), SS * 2)
    out = _finish(s, length, max(1, H // SS))
    return out if facing_right else pygame.transform.flip(out, True, False)


def house(w: int, h: int, seed: int = 0) -> pygame.Surface:
    """A house from above: a hipped roof (four shaded planes and a ridge), a chimney, a shadow."""
    rnd = random.Random(seed + 300)
    roofs = [(170, 70, 55), (120, 120, 130), (90, 60, 50), (180, 110, 60), (70, 90, 120)]
    base = roofs[seed % len(roofs)]
    pad = 6
    W, H = (w + pad) * SS, (h + pad) * SS
    s = pygame.Surface((W, H), pygame.SRCALPHA)
    bw, bh = w * SS, h * SS
    pygame.draw.rect(s, (0, 0, 0, 70), (pad * SS, pad * SS, bw, bh))
    x0, y0 = 0, 0
    inset = min(bw, bh) * 0.5
    r1 = (x0 + inset, y0 + bh / 2)
    r2 = (x0 + bw - inset, y0 + bh / 2)
    tl, tr, br, bl = (x0, y0), (x0 + bw, y0), (x0 + bw, y0 + bh), (x0, y0 + bh)
    pygame.draw.polygon(s, shade(base, 1.25), [tl, tr, r2, r1])  # lit (top) plane
    pygame.draw.polygon(s, shade(base, 0.7), [bl, br, r2, r1])  # shaded plane
    pygame.draw.polygon(s, shade(base, 1.05), [tl, r1, bl])
    pygame.draw.polygon(s, shade(base, 0.85), [tr, r2, br])
    pygame.draw.line(s, shade(base, 0.55), r1, r2, SS * 2)
    for a, b in ((tl, r1), (tr, r2), (bl, r1), (br, r2)):
        pygame.draw.line(s, shade(base, 0.6), a, b, SS)
    pygame.draw.rect(s, shade(base, 0.5), (0, 0, bw, bh), SS)
    cx = rnd.uniform(0.2, 0.7) * bw
    pygame.draw.rect(s, (0, 0, 0, 80), (cx + SS * 3, bh * 0.22 + SS * 3, bw * 0.1, bw * 0.1))
    pygame.draw.rect(s, (110, 70, 60), (cx, bh * 0.22, bw * 0.1, bw * 0.1))
    return _finish(s, w + pad, h + pad)


def smoke_puff(size: int) -> pygame.Surface:
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    for r, a in ((0.5, 50), (0.38, 70), (0.25, 90)):
        pygame.draw.circle(s, (95, 95, 100, a), (S / 2, S / 2), S * r)
    return _finish(s, size, size)


def explosion_frames(size: int, count: int = 10, seed: int = 5) -> list[pygame.Surface]:
    """Crash animation: a flash, a fireball with debris that grows and cools into smoke."""
    rnd = random.Random(seed)
    debris = [(rnd.uniform(0, math.tau), rnd.uniform(0.5, 1.0), rnd.uniform(0.03, 0.06)) for _ in range(14)]
    puffs = [(rnd.uniform(0, math.tau), rnd.uniform(0.0, 0.7), rnd.uniform(0.18, 0.30)) for _ in range(9)]
    frames = []
    S = size * SS
    c = S / 2
    for f in range(count):
        k = f / max(1, count - 1)  # 0..1
        s = pygame.Surface((S, S), pygame.SRCALPHA)
        # smoke puffs (grey, growing, fading late)
        alpha = int(200 * min(1.0, k * 3) * (1 - k * 0.6))
        for a, r, pr in puffs:
            rr = r * S * 0.32 * (0.4 + k)
            g = int(60 + 50 * k)
            pygame.draw.circle(s, (g, g, g + 5, alpha), (c + math.cos(a) * rr, c + math.sin(a) * rr), S * pr * (0.5 + k * 0.6))
        # fireball
        if k < 0.75:
            fire = 1 - k / 0.75
            rad = S * (0.16 + 0.24 * math.sqrt(k))
            pygame.draw.circle(s, (220, 60, 20, int(230 * fire)), (c, c), rad)
            pygame.draw.circle(s, (255, 150, 30, int(240 * fire)), (c, c), rad * 0.72)
            pygame.draw.circle(s, (255, 235, 120, int(255 * fire)), (c, c), rad * 0.42)
            if f == 0:
                pygame.draw.circle(s, (255, 255, 230, 255), (c, c), rad * 0.3)
        # debris
        for a, sp, dsz in debris:
            d = S * 0.45 * sp * min(1.0, k * 1.6)
            col = (255, 200, 80, int(255 * max(0.0, 1 - k))) if k < 0.4 else (40, 40, 40, int(255 * max(0.0, 1 - k)))
            pygame.draw.circle(s, col, (c + math.cos(a) * d, c + math.sin(a) * d), S * dsz * (1 - k * 0.5))
        frames.append(_finish(s, size, size))
    return frames


@dataclass(frozen=True)
class Palette:
    """The colours of one road theme (see p2p_race.sim.themes)."""

    ground_a: Color
    ground_b: Color
    ground_fleck: tuple[float, float]  # darker / lighter texture flecks
    asphalt: Color
    grain: tuple[int, ...]  # asphalt grain greys
    shoulder: Color
    stones: Color
    line: Color
    centre: Color  # the double line between the oncoming lane and ours
    rail: Color


PALETTES: dict[str, Palette] = {
    "countryside": Palette((70, 140, 60), (62, 128, 54), (0.85, 1.12), (62, 64, 72), (52, 56, 70, 74),
                           (120, 112, 96), (150, 140, 120), (235, 235, 225), (240, 200, 40), (185, 190, 200)),
    "desert": Palette((214, 186, 128), (205, 176, 118), (0.9, 1.06), (92, 86, 82), (80, 84, 96, 102),
                      (176, 150, 110), (150, 120, 90), (245, 240, 225), (250, 190, 40), (170, 160, 150)),
    "city": Palette((118, 120, 128), (108, 110, 118), (0.92, 1.08), (48, 50, 58), (40, 44, 58, 62),
                    (92, 94, 100), (130, 130, 135), (230, 230, 230), (250, 210, 60), (200, 200, 210)),
    "snow": Palette((232, 238, 246), (222, 230, 240), (0.95, 1.03), (70, 74, 84), (60, 64, 80, 88),
                    (170, 176, 186), (200, 205, 215), (250, 250, 255), (250, 200, 60), (150, 160, 175)),
}

# The countryside colours, for callers that predate themes.
GRASS_A, GRASS_B = PALETTES["countryside"].ground_a, PALETTES["countryside"].ground_b
ASPHALT = PALETTES["countryside"].asphalt
GRAVEL = PALETTES["countryside"].shoulder
LINE = PALETTES["countryside"].line


@dataclass(frozen=True)
class RoadGeometry:
    """Where things are across the screen (px) for one road tile of `height` px."""

    width: int
    height: int
    ppm: float
    rail_left: float
    rail_right: float
    asphalt_left: float
    asphalt_right: float
    lanes: tuple[float, ...]  # x of each lane divider
    centre: float | None = None  # x of the centre line (oncoming lane | our lanes)

    def key(self) -> str:
        raw = repr(self).encode()
        return f"{self.width}x{self.height}-{zlib.crc32(raw):08x}"


def road_tile(g: RoadGeometry, theme: str = "countryside") -> pygame.Surface:
    """One repeat of the road across the full width in a theme's colours: textured ground,
    shoulders, guard rails with posts, grainy asphalt, solid edge lines, a double centre
    line and lane dashes (3 m dash, 9 m gap). The tile repeats seamlessly along the road."""
    pal = PALETTES.get(theme, PALETTES["countryside"])
    ppm, h, W = g.ppm, g.height, g.width
    tile = pygame.Surface((W, h))
    half = h // 2
    tile.fill(pal.ground_a)
    tile.fill(pal.ground_b, (0, 0, W, half))
    rnd = random.Random(4)
    for _ in range(900):  # ground texture
        x, y = rnd.randrange(W), rnd.randrange(h)
        c = pal.ground_a if y >= half else pal.ground_b
        k = rnd.choice(pal.ground_fleck)
        tile.set_at((x, y), tuple(min(255, int(v * k)) for v in c))
    if theme == "city":  # pavement slabs
        for y in range(0, h, max(4, int(1.5 * ppm))):
            pygame.draw.line(tile, shade(pal.ground_a, 0.85), (0, y), (W, y), 1)
        for x in range(0, W, max(4, int(1.5 * ppm))):
            pygame.draw.line(tile, shade(pal.ground_a, 0.88), (x, 0), (x, h), 1)
    rl, rr = g.rail_left, g.rail_right
    tile.fill(pal.shoulder, (int(rl), 0, int(rr - rl) + 1, h))
    al, ar = g.asphalt_left, g.asphalt_right
    tile.fill(pal.asphalt, (int(al), 0, int(ar - al) + 1, h))
    for _ in range(1400):  # asphalt grain
        x, y = rnd.uniform(al, ar), rnd.randrange(h)
        c = rnd.choice(pal.grain)
        tile.set_at((int(x), y), (c, c + 2, c + 8))
    for _ in range(80):  # shoulder stones
        x, y = rnd.uniform(rl, rr), rnd.randrange(h)
        if x < al or x > ar:
            tile.set_at((int(x), y), pal.stones)
    lw = max(2, int(0.15 * ppm))
    for x in (al + 0.25 * ppm, ar - 0.25 * ppm):
        pygame.draw.line(tile, pal.line, (x, 0), (x, h), lw)
    if g.centre is not None:
        for dx in (-0.18 * ppm, 0.18 * ppm):
            pygame.draw.line(tile, pal.centre, (g.centre + dx, 0), (g.centre + dx, h), lw)
    dash, gap = 3.0 * ppm, 9.0 * ppm
    for x in g.lanes:
        y = 0.0
        while y < h:
            pygame.draw.line(tile, pal.line, (x, y), (x, min(h, y + dash)), lw)
            y += dash + gap
    for x in (rl, rr):  # guard rails, a post every 2 m
        pygame.draw.line(tile, (40, 42, 48), (x + 2, 0), (x + 2, h), 4)
        pygame.draw.line(tile, pal.rail, (x, 0), (x, h), 3)
        for k in range(int(h / (2 * ppm))):
            pygame.draw.rect(tile, shade(pal.rail, 0.5), (x - 3, k * 2 * ppm, 7, 4))
    return tile


def cactus(size: int, seed: int = 0) -> pygame.Surface:
    """A saguaro from above: a ribbed round crown with two arms, and its shadow."""
    rnd = random.Random(seed + 500)
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    c = S / 2
    green, light = (60, 130, 70), (110, 175, 100)
    arms = [rnd.uniform(0, math.tau) for _ in range(2)]
    pygame.draw.circle(s, (0, 0, 0, 60), (c + S * 0.08, c + S * 0.1), S * 0.2)
    for a in arms:
        ex, ey = c + math.cos(a) * S * 0.34, c + math.sin(a) * S * 0.34
        pygame.draw.line(s, green, (c, c), (ex, ey), int(S * 0.12))
        pygame.draw.circle(s, light, (ex, ey), S * 0.07)
    pygame.draw.circle(s, green, (c, c), S * 0.17)
    for k in range(8):  # ribs
        a = k * math.tau / 8
        pygame.draw.line(s, shade(green, 0.7), (c, c), (c + math.cos(a) * S * 0.17, c + math.sin(a) * S * 0.17), SS)
    pygame.draw.circle(s, light, (c - S * 0.04, c - S * 0.04), S * 0.07)
    return _finish(s, size, size)


def rock(size: int, seed: int = 0) -> pygame.Surface:
    """A desert boulder: an irregular polygon lit from the top-left."""
    rnd = random.Random(seed + 600)
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    c = S / 2
    pts = [(c + math.cos(a) * S * rnd.uniform(0.3, 0.45), c + math.sin(a) * S * rnd.uniform(0.28, 0.42))
           for a in (k * math.tau / 9 for k in range(9))]
    base = ((150, 110, 80), (170, 130, 95), (130, 100, 80))[seed % 3]
    pygame.draw.polygon(s, (0, 0, 0, 60), [(x + S * 0.07, y + S * 0.08) for x, y in pts])
    pygame.draw.polygon(s, base, pts)
    pygame.draw.polygon(s, shade(base, 1.25), [(c, c)] + pts[5:8])
    pygame.draw.polygon(s, shade(base, 0.75), [(c, c)] + pts[0:3])
    return _finish(s, size, size)


def pine(size: int, seed: int = 0, snowy: bool = True) -> pygame.Surface:
    """A fir from above: a star of dark needles in tiers, snow on the top."""
    rnd = random.Random(seed + 700)
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    c = S / 2
    pygame.draw.circle(s, (0, 0, 0, 55), (c + S * 0.08, c + S * 0.1), S * 0.4)
    for tier, (r, col) in enumerate(((0.46, (25, 70, 45)), (0.34, (35, 90, 55)), (0.2, (50, 110, 65)))):
        n = 9 - tier * 2
        off = rnd.uniform(0, math.tau)
        pts = []
        for k in range(n * 2):
            a = off + k * math.pi / n
            rr = S * r if k % 2 == 0 else S * r * 0.55
            pts.append((c + math.cos(a) * rr, c + math.sin(a) * rr))
        pygame.draw.polygon(s, col, pts)
        if snowy:
            for k in range(0, n * 2, 2):
                x, y = pts[k]
                pygame.draw.circle(s, (245, 248, 255), ((x + c) / 2, (y + c) / 2), S * 0.04)
    pygame.draw.circle(s, (245, 248, 255) if snowy else (70, 130, 80), (c, c), S * 0.05)
    return _finish(s, size, size)


def building(w: int, h: int, seed: int = 0) -> pygame.Surface:
    """A city block from above: a flat roof with parapet, roof units, a light well, shadow."""
    rnd = random.Random(seed + 800)
    roofs = [(90, 92, 100), (120, 110, 100), (70, 80, 95), (140, 135, 125), (100, 90, 85)]
    base = roofs[seed % len(roofs)]
    pad = 8
    s = pygame.Surface(((w + pad) * SS, (h + pad) * SS), pygame.SRCALPHA)
    bw, bh = w * SS, h * SS
    pygame.draw.rect(s, (0, 0, 0, 90), (pad * SS, pad * SS, bw, bh))
    pygame.draw.rect(s, base, (0, 0, bw, bh))
    pygame.draw.rect(s, shade(base, 0.7), (0, 0, bw, bh), SS * 3)
    for _ in range(rnd.randint(2, 5)):  # roof units
        uw, uh = rnd.uniform(0.1, 0.25) * bw, rnd.uniform(0.08, 0.2) * bh
        ux, uy = rnd.uniform(0.1, 0.9) * bw - uw / 2, rnd.uniform(0.1, 0.9) * bh - uh / 2
        pygame.draw.rect(s, (0, 0, 0, 60), (ux + SS * 3, uy + SS * 3, uw, uh))
        pygame.draw.rect(s, shade(base, 1.3), (ux, uy, uw, uh))
    if seed % 2:
        pygame.draw.rect(s, (40, 44, 52), (bw * 0.4, bh * 0.35, bw * 0.2, bh * 0.3))
    return _finish(s, w + pad, h + pad)


def pickup(kind: str, size: int) -> pygame.Surface:
    """A pickup token: a glowing disc with its sign (boost chevrons, shield, x2)."""
    colors = {"boost": (255, 140, 30), "shield": (60, 160, 255), "multiplier": (200, 80, 230)}
    col = colors.get(kind, (240, 240, 240))
    S = size * SS
    s = pygame.Surface((S, S), pygame.SRCALPHA)
    c = S / 2
    for k in range(6):
        pygame.draw.circle(s, (*col, 18 + 10 * k), (c, c), S * (0.5 - 0.03 * k))
    pygame.draw.circle(s, shade(col, 0.6), (c, c), S * 0.3)
    pygame.draw.circle(s, col, (c, c), S * 0.27)
    pygame.draw.circle(s, (255, 255, 255), (c, c), S * 0.3, SS * 2)
    white = (255, 255, 255)
    if kind == "boost":
        for dy in (-0.1, 0.06):
            pygame.draw.lines(s, white, False, [(c - S * 0.12, c + S * (dy + 0.08)), (c, c + S * (dy - 0.04)),
                                                (c + S * 0.12, c + S * (dy + 0.08))], SS * 3)
    elif kind == "shield":
        pts = [(c - S * 0.12, c - S * 0.12), (c + S * 0.12, c - S * 0.12), (c + S * 0.11, c + S * 0.02),
               (c, c + S * 0.15), (c - S * 0.11, c + S * 0.02)]
        pygame.draw.polygon(s, white, pts, SS * 2)
    else:  # x2
        pygame.draw.line(s, white, (c - S * 0.15, c - S * 0.08), (c - S * 0.03, c + S * 0.08), SS * 3)
        pygame.draw.line(s, white, (c - S * 0.03, c - S * 0.08), (c - S * 0.15, c + S * 0.08), SS * 3)
        pygame.draw.lines(s, white, False, [(c + S * 0.02, c - S * 0.05), (c + S * 0.07, c - S * 0.1),
                                            (c + S * 0.13, c - S * 0.05), (c + S * 0.02, c + S * 0.09),
                                            (c + S * 0.14, c + S * 0.09)], SS * 3)
    return _finish(s, size, size)


class SpriteCache:
    """Surfaces by key, generated once and kept as PNGs in the asset cache dir."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory) if directory else cache_dir()
        self._mem: dict[str, pygame.Surface] = {}

    def get(self, key: str, make: Callable[[], pygame.Surface]) -> pygame.Surface:
        surf = self._mem.get(key)
        if surf is not None:
            return surf
        path = self.dir / f"{key}-v{ASSET_VERSION}.png"
        surf = None
        if path.exists():
            try:
                surf = pygame.image.load(str(path))
            except pygame.error:
                surf = None
        if surf is None:
            surf = make()
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")  # unique: processes may race
            try:
                pygame.image.save(surf, str(tmp))
                tmp.replace(path)
            except (OSError, pygame.error):
                pass
        if pygame.display.get_init() and pygame.display.get_surface() is not None:
            surf = surf.convert_alpha()
        self._mem[key] = surf
        return surf

    def frames(self, key: str, count: int, make: Callable[[], list[pygame.Surface]]) -> list[pygame.Surface]:
        made: list[pygame.Surface] = []

        def frame(i: int) -> pygame.Surface:
            if not made:
                made.extend(make())
            return made[i]

        return [self.get(f"{key}-{i}", lambda i=i: frame(i)) for i in range(count)]
