"""Draws a race from the top: road, themed scenery, traffic (signals, oncoming headlights),
pickups, cars with their pickup effects, crash effects, speed lines.

Pure drawing from plain data (CarState / TrafficCar / Pickup): the same renderer serves
practice, networked matches and spectating. World x is metres from the left edge of our
carriageway (the oncoming lane is at negative x), y is the distance along the road; the
camera follows a y, the screen shows the road's centre. The theme of each stretch of road
comes from (seed, distance) (p2p_race.sim.themes), so every peer draws the same scenery.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pygame

from assets import sprites as sp
from p2p_race.sim import (
    CAR_H,
    CAR_W,
    LANE_WIDTH,
    LANES,
    PICKUP_KINDS,
    RAIL_LEFT,
    RAIL_RIGHT,
    ROAD_LEFT,
    ROAD_WIDTH,
    THEMES,
    CarState,
    Pickup,
    TrafficCar,
    theme_at,
)
from p2p_race.ui import style

PPM = 14.0  # pixels per metre: the road (rails included) spans ~35 % of an 800 px window
CAR_SCREEN_Y = 480  # where the followed car's centre is drawn
ONCOMING_WARN = 120.0  # m beyond the top edge an oncoming vehicle is announced
PERIOD = 24.0  # the road tile repeats every PERIOD metres
SEGMENT = 7.0  # scenery slot length (m)
PICKUP_SIZE_M = 2.4  # drawn size of a pickup token (m)
EXPLOSION_FRAMES = 10
EXPLOSION_TIME = 0.9  # s



@dataclass
class DrawCar:
    name: str
    color: str
    state: CarState
    local: bool = False
    connected: bool = True
    tilt: float = 0.0  # -1..1: steering left/right (the sprite leans into the turn)
    braking: bool = False  # brake lights on
    effects: dict[str, float] = field(default_factory=dict)  # active pickups -> seconds left


def _h(k: int, salt: int) -> float:
    """Deterministic hash of a scenery slot to [0, 1) (no global random, stable per run)."""
    v = (k * 2654435761 + salt * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    v ^= v >> 15
    v = (v * 2246822519) & 0xFFFFFFFF
    v ^= v >> 13
    return v / 4294967296.0


class RaceRenderer:
    def __init__(self, cache: sp.SpriteCache, ppm: float = PPM, car_screen_y: int = CAR_SCREEN_Y) -> None:
        self.cache = cache
        self.ppm = ppm
        self.car_y = car_screen_y
        # the left edge of the asphalt (px), placed so that rail to rail sits centred
        self.road_left_px = style.WIDTH / 2 - ((RAIL_RIGHT + RAIL_LEFT) / 2 - ROAD_LEFT) * ppm
        self.seed = 0  # the match seed: picks the theme of each stretch of road
        self.keep_clear: list[pygame.Rect] = []  # screen areas name tags must not cover (popups)
        self._tiles = {theme: self._make_tile(theme) for theme in THEMES}
        self._crashes: dict[str, tuple[float, float, float]] = {}  # name -> (x, y, t0)
        cw, ch = round(CAR_W * ppm), round(CAR_H * ppm)
        self._car_size = (cw, ch)
        es = int(ch * 2.3)
        self._expl = cache.frames(f"explosion-{es}", EXPLOSION_FRAMES,
                                  lambda: sp.explosion_frames(es, EXPLOSION_FRAMES))
        self._smoke = cache.get(f"smoke-{int(ch * 0.5)}", lambda: sp.smoke_puff(int(ch * 0.5)))
        self._trees = [cache.get(f"tree-{s}-{i}", lambda s=s, i=i: sp.tree(s, i))
                       for i, s in enumerate((46, 58, 70, 84))]
        self._bushes = [cache.get(f"bush-{i}", lambda i=i: sp.bush(30, i)) for i in range(3)]
        self._houses = [cache.get(f"house-{i}", lambda i=i, w=w, h=h: sp.house(w, h, i))
                        for i, (w, h) in enumerate(((90, 70), (70, 100), (110, 80), (80, 80), (100, 120)))]
        self._cacti = [cache.get(f"cactus-{s}-{i}", lambda s=s, i=i: sp.cactus(s, i)) for i, s in enumerate((40, 52, 64))]
        self._rocks = [cache.get(f"rock-{s}-{i}", lambda s=s, i=i: sp.rock(s, i)) for i, s in enumerate((26, 38, 54))]
        self._pines = [cache.get(f"pine-{s}-{i}", lambda s=s, i=i: sp.pine(s, i)) for i, s in enumerate((44, 56, 70))]
        self._blocks = [cache.get(f"building-{i}", lambda i=i, w=w, h=h: sp.building(w, h, i))
                        for i, (w, h) in enumerate(((120, 90), (100, 140), (140, 110), (90, 100), (130, 160)))]
        ps = int(PICKUP_SIZE_M * ppm)
        self._pickups = {k: cache.get(f"pickup-{k}-{ps}", lambda k=k: sp.pickup(k, ps)) for k in PICKUP_KINDS}
        lamp_len = int(2.2 * ppm + 30)
        self._lamp_l = cache.get(f"lamp-{lamp_len}-r", lambda: sp.lamp(lamp_len, True))
        self._lamp_r = cache.get(f"lamp-{lamp_len}-l", lambda: sp.lamp(lamp_len, False))
        self._lines: pygame.Surface | None = None
        self._glow: pygame.Surface | None = None
        self.shake = 0.0

    # -- coordinates ---------------------------------------------------------------------
    def sx(self, x: float) -> float:
        return self.road_left_px + (x - ROAD_LEFT) * self.ppm

    def sy(self, y: float, cam_y: float) -> float:
        return self.car_y - (y - cam_y) * self.ppm

    # -- sprites -------------------------------------------------------------------------
    def car_sprite(self, color: str, crashed: bool = False, lean: int = 0) -> pygame.Surface:
        """The car in `color`; `lean` -2..2 turns it a few degrees into a lane change."""
        w, h = self._car_size
        rgb = sp.CAR_COLORS.get(color, sp.CAR_COLORS["red"])
        base = self.cache.get(f"car-{color}-{w}x{h}", lambda: sp.car(rgb, w, h))
        if not crashed:
            if lean == 0:
                return base
            key = f"lean-{color}-{w}x{h}-{lean}"
            mem = self.cache._mem.get(key)
            if mem is None:
                mem = pygame.transform.rotozoom(base, -4.0 * lean, 1.0)
                self.cache._mem[key] = mem
            return mem
        key = f"wreck-{color}-{w}x{h}"
        mem = self.cache._mem.get(key)
        if mem is None:
            mem = pygame.transform.rotate(base, 24)
            mem.fill((95, 85, 80, 255), special_flags=pygame.BLEND_RGBA_MULT)
            self.cache._mem[key] = mem
        return mem

    def vehicle_sprite(self, v: TrafficCar) -> pygame.Surface:
        w, h = max(4, round(v.w * self.ppm)), max(4, round(v.h * self.ppm))
        kind = v.kind if v.kind in sp.TRAFFIC_KINDS else "sedan"
        ci = v.variant % len(sp.TRAFFIC_COLORS)
        color = sp.TRAFFIC_COLORS[ci]
        if kind == "bus":
            color = ((230, 180, 40), (200, 60, 50), (60, 120, 200), (240, 240, 235))[ci % 4]
        img = self.cache.get(f"veh-{kind}-{ci}-{w}x{h}", lambda: sp.vehicle(kind, color, w, h))
        if v.oncoming:  # facing us
            key = f"onc-{kind}-{ci}-{w}x{h}"
            mem = self.cache._mem.get(key)
            if mem is None:
                mem = pygame.transform.rotate(img, 180)
                self.cache._mem[key] = mem
            return mem
        return img

    # -- road ----------------------------------------------------------------------------
    def _make_tile(self, theme: str) -> pygame.Surface:
        """One PERIOD of road across the full width (drawn by assets.sprites.road_tile)."""
        ppm = self.ppm
        geo = sp.RoadGeometry(width=style.WIDTH, height=round(PERIOD * ppm), ppm=ppm,
                              rail_left=self.sx(RAIL_LEFT), rail_right=self.sx(RAIL_RIGHT),
                              asphalt_left=self.sx(ROAD_LEFT), asphalt_right=self.sx(ROAD_WIDTH),
                              lanes=tuple(self.sx(k * LANE_WIDTH) for k in range(1, LANES)),
                              centre=self.sx(0.0))
        tile = self.cache.get(f"road-{theme}-{geo.key()}", lambda: sp.road_tile(geo, theme))
        return tile.convert() if pygame.display.get_surface() is not None else tile

    def theme(self, y: float) -> str:
        return theme_at(self.seed, y)

    def draw_road(self, surf: pygame.Surface, cam_y: float) -> None:
        y_bottom = cam_y - (style.HEIGHT - self.car_y) / self.ppm
        y_top = cam_y + self.car_y / self.ppm
        j = math.floor(y_bottom / PERIOD)
        while j * PERIOD <= y_top:
            top = round(self.sy((j + 1) * PERIOD, cam_y))
            surf.blit(self._tiles[self.theme(j * PERIOD)], (0, top))
            j += 1

    def draw_scenery(self, surf: pygame.Surface, cam_y: float, lamps: bool) -> None:
        """The theme's scenery beside the road (lamps=False) or lamp posts (lamps=True, drawn
        over the cars): trees and houses, cacti and rocks, city blocks, snowy pines."""
        y_bottom = cam_y - (style.HEIGHT - self.car_y) / self.ppm - 8
        y_top = cam_y + self.car_y / self.ppm + 8
        k0, k1 = math.floor(y_bottom / SEGMENT), math.ceil(y_top / SEGMENT)
        left_edge = self.sx(RAIL_LEFT) - 14
        right_edge = self.sx(RAIL_RIGHT) + 14
        for k in range(k0, k1 + 1):
            y = k * SEGMENT
            theme = self.theme(y)
            syy = self.sy(y, cam_y)
            if lamps:
                every = 4 if theme == "city" else 6
                if theme in ("countryside", "city"):
                    if k % every == 0:
                        img = self._lamp_l
                        surf.blit(img, (self.sx(RAIL_LEFT) - 10, syy - img.get_height() / 2))
                    elif k % every == every // 2:
                        img = self._lamp_r
                        surf.blit(img, (self.sx(RAIL_RIGHT) + 10 - img.get_width(), syy - img.get_height() / 2))
                continue
            if theme == "city":
                self._city_slot(surf, k, syy, left_edge, right_edge)
                continue
            big, small = {"countryside": (self._trees, self._bushes), "desert": (self._cacti, self._rocks),
                          "snow": (self._pines, self._pines[:1])}[theme]
            if k % 3 == 0 and theme != "desert":  # houses: far from the road, every ~20 m at most
                self._buildings(surf, k, syy, (left_edge, right_edge), self._houses, 200, 0.3, (70, 90))
            density = 0.35 if theme == "desert" else 0.62
            for side in (0, 1):
                for n in range(2):
                    r = _h(k, side * 7 + n)
                    if r > density:
                        continue
                    span = left_edge if side == 0 else style.WIDTH - right_edge
                    dx = _h(k, 50 + side * 3 + n) * span
                    x = left_edge - dx if side == 0 else right_edge + dx
                    yy = syy + _h(k, 90 + n) * SEGMENT * self.ppm
                    img = small[int(r * 10) % len(small)] if r < 0.18 else big[int(r * 40) % len(big)]
                    if side == 0:
                        x = min(x, left_edge - img.get_width() / 2)
                    else:
                        x = max(x, right_edge + img.get_width() / 2)
                    surf.blit(img, (x - img.get_width() / 2, yy - img.get_height() / 2))

    def _city_slot(self, surf: pygame.Surface, k: int, syy: float, left_edge: float, right_edge: float) -> None:
        """City blocks standing close along a pavement, a gap now and then."""
        if k % 2 == 0:
            self._buildings(surf, k, syy, (left_edge, right_edge), self._blocks, 300, 0.8, (20, 30))

    @staticmethod
    def _buildings(surf: pygame.Surface, k: int, syy: float, edges: tuple[float, float], imgs: list,
                   salt: int, chance: float, back: tuple[float, float]) -> None:
        """On each side of slot k, with `chance`, one of `imgs` set back[0] + up to back[1] px
        from the road edge (both picked by the slot's hash, so the street stays put)."""
        for side in (0, 1):
            r = _h(k, salt + side)
            if r > chance:
                continue
            img = imgs[int(r * 100) % len(imgs)]
            far = back[0] + _h(k, salt + 10 + side) * back[1]
            x = edges[0] - far - img.get_width() if side == 0 else edges[1] + far
            surf.blit(img, (x, syy - img.get_height() / 2))

    def draw_pickups(self, surf: pygame.Surface, cam_y: float, t: float, pickups: list[Pickup]) -> None:
        for p in pickups:
            img = self._pickups.get(p.kind)
            if img is None:
                continue
            y = self.sy(p.y, cam_y)
            if -40 < y < style.HEIGHT + 40:
                bob = 2.0 * math.sin(t * 5.0 + p.id)
                surf.blit(img, img.get_rect(center=(self.sx(p.x), y + bob)))

    # -- whole frame ---------------------------------------------------------------------
    def draw(self, surf: pygame.Surface, cam_y: float, t: float, cars: list[DrawCar],
             traffic: list[TrafficCar], speed: float = 0.0, pickups: list[Pickup] | None = None) -> None:
        if self.shake > 0:
            cam_y += math.sin(t * 90) * self.shake * 0.4
        self.draw_road(surf, cam_y)
        self.draw_scenery(surf, cam_y, lamps=False)
        if pickups:
            self.draw_pickups(surf, cam_y, t, pickups)
        # wrecks under the traffic
        for c in cars:
            if c.state.crashed:
                self._draw_car(surf, c, cam_y)
        ahead = []
        for v in traffic:
            sy = self.sy(v.y, cam_y)
            if sy + v.h * self.ppm / 2 < 0:
                ahead.append(v)
                continue
            img = self.vehicle_sprite(v)
            surf.blit(img, img.get_rect(center=(self.sx(v.x), sy)))
            self._vehicle_lights(surf, v, sy, t)
        for c in sorted(cars, key=lambda c: c.local):
            if not c.state.crashed:
                self._draw_car(surf, c, cam_y)
        self._labels(surf, cam_y, cars)
        self._draw_effects(surf, cam_y, t, cars)
        self.draw_scenery(surf, cam_y, lamps=True)
        self._speed_lines(surf, speed, t)
        self._traffic_ahead(surf, cam_y, ahead)
        self._offscreen(surf, cam_y, cars)

    def _halo(self, color: tuple[int, int, int], r: int) -> pygame.Surface:
        key = f"glow-{color}-{r}"
        g = self.cache._mem.get(key)
        if g is None:
            g = pygame.Surface((2 * r, 2 * r), pygame.SRCALPHA)
            for k, a in ((1.0, 50), (0.7, 100), (0.4, 230)):
                pygame.draw.circle(g, (*color, a), (r, r), max(1, int(r * k)))
            self.cache._mem[key] = g
        return g

    def _vehicle_lights(self, surf: pygame.Surface, v: TrafficCar, sy: float, t: float) -> None:
        """Indicators blinking on the side a vehicle moves to; headlights on oncoming ones."""
        hw, hh = v.w * self.ppm / 2, v.h * self.ppm / 2
        x = self.sx(v.x)
        if v.oncoming:
            g = self._halo((255, 250, 210), 7)
            for dx in (-0.6 * hw, 0.6 * hw):
                surf.blit(g, g.get_rect(center=(x + dx, sy + hh)))
        if v.signal and (t * 2.5) % 1.0 < 0.55:
            g = self._halo((255, 170, 20), 6)
            side = hw * 0.9 * v.signal
            for dy in (-hh * 0.9, hh * 0.9):
                surf.blit(g, g.get_rect(center=(x + side, sy + dy)))

    def _traffic_ahead(self, surf: pygame.Surface, cam_y: float, ahead: list[TrafficCar]) -> None:
        """Warning marks on the top edge for traffic just beyond the view, brighter when
        closer: the road ahead is longer than the screen, this shows what is coming.
        Oncoming vehicles are announced from further away (they close in fast)."""
        top_y = cam_y + self.car_y / self.ppm
        for v in ahead:
            gap = (v.y - v.h / 2) - top_y  # metres beyond the top edge
            reach = ONCOMING_WARN if v.oncoming else 40.0
            if gap > reach:
                continue
            k = max(0.0, min(1.0, 1.0 - gap / reach))
            if v.oncoming:
                w = max(8, int(v.w * self.ppm))
                mark = pygame.Surface((w, 10), pygame.SRCALPHA)
                mark.fill((255, 60, 40, int(90 + 160 * k)))
                surf.blit(mark, (self.sx(v.x) - w / 2, 0))
                g = self._halo((255, 250, 210), 6)
                for dx in (-w * 0.3, w * 0.3):
                    surf.blit(g, g.get_rect(center=(self.sx(v.x) + dx, 12)))
                continue
            w = max(8, int(v.w * self.ppm))
            mark = pygame.Surface((w, 6), pygame.SRCALPHA)
            mark.fill((255, 150, 40, int(60 + 170 * k)))
            surf.blit(mark, (self.sx(v.x) - w / 2, 0))

    def _draw_car(self, surf: pygame.Surface, c: DrawCar, cam_y: float) -> None:
        st = c.state
        x, y = self.sx(st.x), self.sy(st.y, cam_y)
        if y < -80 or y > style.HEIGHT + 80:
            return
        img = self.car_sprite(c.color, st.crashed, 0 if st.crashed else round(c.tilt * 2))
        if not c.local and not st.crashed:
            img = img.copy()
            img.set_alpha(150 if c.connected else 70)
        if c.effects and not st.crashed:
            self._car_effects(surf, c, x, y, below=True)
        surf.blit(img, img.get_rect(center=(x, y)))
        if c.effects and not st.crashed:
            self._car_effects(surf, c, x, y, below=False)
        if c.braking and not st.crashed:
            if self._glow is None:
                g = pygame.Surface((14, 14), pygame.SRCALPHA)
                for r, a in ((7, 60), (5, 110), (3, 230)):
                    pygame.draw.circle(g, (255, 40, 30, a), (7, 7), r)
                self._glow = g
            w, h = self._car_size
            for dx in (-0.27 * w, 0.27 * w):
                surf.blit(self._glow, self._glow.get_rect(center=(x + dx, y + h * 0.47)))

    def _car_effects(self, surf: pygame.Surface, c: DrawCar, x: float, y: float, below: bool) -> None:
        """Boost flames behind the car, a multiplier glow under it, a shield bubble over it."""
        w, h = self._car_size
        t = c.state.time
        if below:
            if "multiplier" in c.effects:
                g = self._halo((200, 80, 230), int(h * 0.75))
                surf.blit(g, g.get_rect(center=(x, y)), special_flags=pygame.BLEND_RGBA_ADD)
            if "boost" in c.effects:
                flick = 0.8 + 0.2 * math.sin(t * 60)
                for dx in (-0.25 * w, 0.25 * w):
                    tip = (x + dx, y + h / 2 + h * 0.45 * flick)
                    pygame.draw.polygon(surf, (255, 150, 30), [(x + dx - 5, y + h / 2 - 2), (x + dx + 5, y + h / 2 - 2), tip])
                    pygame.draw.polygon(surf, (255, 240, 140), [(x + dx - 2, y + h / 2), (x + dx + 2, y + h / 2),
                                                                 (x + dx, y + h / 2 + h * 0.22 * flick)])
            return
        if "shield" in c.effects:
            left = c.effects["shield"]
            if left > 2.0 or (t * 6) % 1.0 < 0.6:  # blinks as it runs out
                r = int(h * 0.62)
                bubble = pygame.Surface((2 * r, 2 * r), pygame.SRCALPHA)
                pygame.draw.circle(bubble, (80, 170, 255, 50), (r, r), r)
                pygame.draw.circle(bubble, (150, 210, 255, 190), (r, r), r, 3)
                surf.blit(bubble, bubble.get_rect(center=(x, y)))

    def _labels(self, surf: pygame.Surface, cam_y: float, cars: list[DrawCar]) -> None:
        """Name tags over the other cars, nudged up so that ghosts driving on top of each
        other still show every name."""
        placed: list[pygame.Rect] = list(self.keep_clear)
        for c in sorted(cars, key=lambda c: (-c.state.y, c.name)):
            if c.local:
                continue
            x, y = self.sx(c.state.x), self.sy(c.state.y, cam_y)
            if y < -40 or y > style.HEIGHT + 40:
                continue
            label = c.name if c.connected else f"{c.name} (lost)"
            w, h = style.font(16).size(label)
            r = pygame.Rect(0, 0, w + 4, h)
            r.midbottom = (int(x), int(y - self._car_size[1] / 2 - 4))
            while any(r.colliderect(p) for p in placed):
                r.y -= h
            placed.append(r)
            col = sp.CAR_COLORS.get(c.color, style.TEXT) if c.connected else style.DIM
            style.text(surf, label, r.midbottom, 16, col if not c.state.crashed else style.DIM,
                       anchor="midbottom", shadow=1)

    def _draw_effects(self, surf: pygame.Surface, cam_y: float, t: float, cars: list[DrawCar]) -> None:
        for c in cars:
            st = c.state
            if st.crashed and c.name not in self._crashes:
                ct = st.crash_time if st.crash_time is not None else t
                self._crashes[c.name] = (st.x, st.y, ct)
            elif not st.crashed:
                self._crashes.pop(c.name, None)
        for x0, y0, t0 in self._crashes.values():
            age = t - t0
            x, y = self.sx(x0), self.sy(y0, cam_y)
            if y < -120 or y > style.HEIGHT + 120 or age < 0:
                continue
            f = int(age / EXPLOSION_TIME * EXPLOSION_FRAMES)
            if f < EXPLOSION_FRAMES:
                img = self._expl[f]
                surf.blit(img, img.get_rect(center=(x, y)))
            # smoke rising (drifting up the screen) forever after
            for i in range(4):
                ph = (age * 0.6 + i / 4) % 1.0
                if age < 0.4 + i * 0.15:
                    continue
                img = self._smoke
                a = int(170 * (1 - ph))
                img.set_alpha(a)
                d = ph * 45
                surf.blit(img, img.get_rect(center=(x + math.sin(i * 2.1 + age) * 8 + d * 0.3, y - d)))
            self._smoke.set_alpha(255)

    def _speed_lines(self, surf: pygame.Surface, speed: float, t: float) -> None:
        """Short streaks along the road edges above ~120 km/h, denser and brighter with speed."""
        k = (speed - 34.0) / 26.0
        if k <= 0:
            return
        if self._lines is None:
            self._lines = pygame.Surface((style.WIDTH, style.HEIGHT), pygame.SRCALPHA)
        lines = self._lines
        lines.fill((0, 0, 0, 0))
        rnd = random.Random(int(t * 20))
        n = int(3 + 9 * k)
        for _ in range(n):
            edge = self.sx(RAIL_LEFT) if rnd.random() < 0.5 else self.sx(RAIL_RIGHT)
            x = edge + rnd.uniform(-70, 70)
            y = rnd.uniform(0, style.HEIGHT)
            ln = 25 + 70 * k * rnd.random()
            a = int((60 + 110 * k) * rnd.uniform(0.4, 1.0))
            pygame.draw.line(lines, (255, 255, 255, min(255, a)), (x, y), (x, y + ln), 2)
        surf.blit(lines, (0, 0))

    def _offscreen(self, surf: pygame.Surface, cam_y: float, cars: list[DrawCar]) -> None:
        """Arrows at the screen edge for cars ahead of or behind the view, with the gap;
        labels stack so that several cars never print over each other."""
        margin = self._car_size[1] / 2
        ahead, behind = [], []
        for c in cars:
            y = self.sy(c.state.y, cam_y)
            if y < -margin:
                ahead.append(c)
            elif y > style.HEIGHT + margin:
                behind.append(c)
        for group, top in ((sorted(ahead, key=lambda c: c.state.y), True),
                           (sorted(behind, key=lambda c: -c.state.y), False)):
            for i, c in enumerate(group[:3]):
                x = max(20, min(style.WIDTH - 20, self.sx(c.state.x)))
                gap = c.state.y - cam_y
                rgb = sp.CAR_COLORS.get(c.color, style.TEXT)
                if top:
                    pygame.draw.polygon(surf, rgb, [(x, 4), (x - 8, 16), (x + 8, 16)])
                    style.text(surf, f"{c.name} +{gap:.0f} m", (self.sx(ROAD_WIDTH / 2), 20 + 17 * i), 16, rgb,
                               anchor="midtop", shadow=1)
                else:
                    yb = style.HEIGHT - 4
                    pygame.draw.polygon(surf, rgb, [(x, yb), (x - 8, yb - 12), (x + 8, yb - 12)])
                    style.text(surf, f"{c.name} {gap:.0f} m", (self.sx(ROAD_WIDTH / 2), yb - 16 - 17 * i), 16, rgb,
                               anchor="midbottom", shadow=1)
