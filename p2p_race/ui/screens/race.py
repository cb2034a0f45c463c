"""The race screen: countdown 3-2-1-GO, the race with HUD, the crash, then the results.

It reads everything from a `RaceView` (practice or networked match) and only sends the
local player's inputs back through `view.step`. It keeps the previous and current tick's
snapshot and draws between them with `app.alpha`, so motion is smooth at any frame rate
while the simulation runs at a fixed 60 Hz.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pygame

from assets.sprites import CAR_COLORS
from p2p_race.sim import CAR_H, DT, MAX_SPEED, Inputs, Rules, lerp_state
from p2p_race.ui import style
from p2p_race.ui.raceview import PracticeView, RaceView
from p2p_race.ui.render import DrawCar, RaceRenderer
from p2p_race.ui.screen import Screen

SWEEPER_WARN = 90.0  # m: the HUD warns while the sweeper is this close behind
CRASH_HOLD = 1.8  # s of crash animation before results / spectating
FF_TICKS = 6  # practice: ticks per update while watching the bots finish
RESUME_COUNT = 1.8  # s of 3-2-1 after a practice pause, so the player's hands are back first


@dataclass
class Standing:
    name: str
    color: str
    score: int
    distance: float
    crashed: bool
    crash_time: float | None
    local: bool
    connected: bool = True


def standings(cars: list[DrawCar]) -> list[Standing]:
    """Order: score, then survival (not crashed = longest), then distance."""
    rows = [Standing(c.name, c.color, c.state.score, c.state.distance, c.state.crashed, c.state.crash_time,
                     c.local, c.connected) for c in cars]
    rows.sort(key=lambda s: (-s.score, -(s.crash_time if s.crashed and s.crash_time is not None else 1e18),
                             -s.distance, s.name))
    return rows


class RaceScreen(Screen):
    """Countdown -> racing -> crashed -> spectating -> finished.

    For a networked match: `RaceScreen(app, view, mode="match", on_finish=fn)` with a view
    that implements `RaceView` plus `countdown_remaining()` (seconds to the host's start
    time, None once started) so every peer's GO comes from the match clock; `on_finish(screen,
    standings)` replaces the built-in result screen (which records the local high score and
    offers Restart only when `restart` is given); `on_leave()` (a match) is offered in the
    pause menu and after a crash. A match never pauses: its clock is the host's, so the
    pause menu only covers it while the race runs on underneath.

    After the local car crashes the camera follows the leading car still racing; Left/Right
    pick another car to watch (`follow`), in practice and in a match alike.
    """

    name = "race"
    chat_enabled = True

    def __init__(self, app, view: RaceView, *, countdown: float = 3.0, mode: str = "practice",
                 restart: Callable[[], None] | None = None,
                 on_finish: Callable[[RaceScreen, list[Standing]], None] | None = None,
                 on_leave: Callable[[], None] | None = None) -> None:
        super().__init__(app)
        self.view = view
        self.mode = mode
        self.restart = restart
        self.on_finish = on_finish
        self.on_leave = on_leave
        self.follow: str | None = None  # the car watched after a crash (a name); None = the leader
        self.resume_left = 0.0
        self._paused = False  # the pause menu is open over us (practice resumes with a 3-2-1)
        self.live = mode == "match"  # keeps running under the pause menu (App.frame)
        self.chat_feed = mode == "match"  # offline practice: no chat lines beside the car
        self.renderer = RaceRenderer(app.sprites)
        self.renderer.seed = view.rules.seed  # the road's themes come from the match seed
        self.local_name = getattr(view, "local_name", app.player_name)
        self.local_color = getattr(view, "local_color", app.config.car_color)
        self.phase = "countdown"
        self.countdown = countdown
        self.cd_left = countdown
        self._last_count: int | None = None
        self.go_time: float | None = None
        self.cur = self._snapshot()
        self.prev = self.cur
        self.cur_t = self.prev_t = view.time
        local = view.local_car()
        self.cam_y = self.prev_cam = local.y if local else 0.0
        self._cam_who: str | None = self.local_name
        self._cam_off = 0.0
        self.best = app.scores.best(app.player_name)
        self.popups: list[list] = []  # [label, points, count, colour, t0]
        self._counters = (0, 0)
        self.crash_at: float | None = None
        self.watching: str | None = None
        self.result: list[Standing] | None = None
        self._end_timer = 0.0
        self._ff = 0

    toast_pos = (style.WIDTH - 12, 360)  # under the standings (8 rows end at 348)

    def chat_rect(self) -> pygame.Rect:
        """The chat overlay's place: the verge left of the road, under the score panel."""
        w = max(220, int(self.renderer.road_left_px) - 20)
        return pygame.Rect(10, style.HEIGHT - 230, w, 220)

    # -- data --------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, DrawCar]:
        out = {}
        for name, color, st, connected in self.view.remote_cars():
            out[name] = DrawCar(name, color, st, False, connected)
        local = self.view.local_car()
        if local is not None:
            out[self.local_name] = DrawCar(self.local_name, self.local_color, local, True)
        return out

    def cars(self, alpha: float) -> list[DrawCar]:
        res = []
        for name, c in self.cur.items():
            p = self.prev.get(name)
            if p is not None and p.state.tick <= c.state.tick:
                st = lerp_state(p.state, c.state, alpha)
                dt = max(1, c.state.tick - p.state.tick) * DT
                lateral = (c.state.x - p.state.x) / dt  # m/s sideways
                tilt = max(-1.0, min(1.0, lateral / 8.0))
                # coasting loses ~0.03 m/s a tick, braking ~0.47: the lights tell them apart
                braking = (c.state.speed - p.state.speed) / max(1, c.state.tick - p.state.tick) < -0.2
            else:
                st, tilt, braking = c.state, 0.0, False
            res.append(DrawCar(name, c.color, st, c.local, c.connected, tilt, braking,
                               self._effects() if c.local else {}))
        return res

    def _sim(self):
        """The local CarSim when the view has one (pickup effects, collected pickups)."""
        return getattr(self.view, "local_sim", None) or getattr(self.view, "sim", None)

    def _effects(self) -> dict[str, float]:
        sim = self._sim()
        return sim.effects() if sim is not None and hasattr(sim, "effects") else {}

    def _pickups(self, y0: float, y1: float) -> list:
        """Pickups on the visible road, without those the local car already took."""
        sim = self._sim()
        road = getattr(sim, "traffic", None)
        if road is None or not hasattr(road, "pickups_between"):
            return []
        taken = set(getattr(sim, "collected", ()))
        return [p for p in road.pickups_between(y0, y1) if p.id not in taken]

    @property
    def local_state(self):
        c = self.cur.get(self.local_name)
        return c.state if c else None

    # -- input -------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.WINDOWFOCUSLOST and self.phase == "racing":
            self._pause()
            return
        if ev.type != pygame.KEYDOWN:
            return
        if getattr(ev, "from_pad", False) and getattr(ev, "pad_button", -1) in (0, 1):
            return  # A/B drive the car; only Start pauses
        if self.app.controls.is_action(ev, "pause") and self.phase != "finished":
            self._pause()
        elif self.phase in ("crashed", "spectating") and ev.key in (pygame.K_LEFT, pygame.K_RIGHT):
            self.switch_follow(1 if ev.key == pygame.K_RIGHT else -1)
        elif self.phase == "spectating" and ev.key in (pygame.K_SPACE, pygame.K_RETURN) and self.can_skip:
            self.skip_to_end()

    @property
    def can_skip(self) -> bool:
        """Practice can fast-forward to the end; a match runs on the host's clock."""
        return getattr(self.view, "fast_forward", None) is not None

    def switch_follow(self, step: int) -> None:
        """Watch the next / previous car (by name, cars still racing first)."""
        others = [c for c in self.cur.values() if not c.local]
        if not others:
            return
        names = sorted(c.name for c in others if not c.state.crashed) + sorted(
            c.name for c in others if c.state.crashed)
        cur = self.follow if self.follow in names else self.watching
        i = names.index(cur) if cur in names else (-1 if step > 0 else 0)
        self.follow = names[(i + step) % len(names)]
        if self.phase == "crashed":
            self.phase = "spectating"

    def on_enter(self) -> None:
        if self._paused:  # back from the pause menu
            self._paused = False
            if self.phase == "racing" and self.mode != "match":
                self.resume_left = RESUME_COUNT
                self._last_count = None

    def leave(self) -> None:
        """Leave the match (pause menu, or Esc after a crash): the lobby takes over."""
        self.app.audio.engine(None)
        if self.on_leave is not None:
            self.on_leave()

    def _pause(self) -> None:
        from p2p_race.ui.screens.pause import PauseScreen

        self._paused = True
        self.app.audio.engine(None)
        self.app.controls.release_all()
        self.app.push(PauseScreen(self.app, self))

    def skip_to_end(self) -> None:
        ff = getattr(self.view, "fast_forward", None)
        if ff is not None:
            ff(int(self.view.rules.time_limit / DT) + 1)
            self.cur = self._snapshot()
            self.cur_t = self.view.time
        self.finish()

    # -- simulation --------------------------------------------------------------------
    def update(self, dt: float) -> None:
        if self.phase == "finished":
            return
        if self.phase == "countdown":
            self._update_countdown(dt)
            return
        if self.resume_left > 0:
            self._update_resume(dt)
            return
        self.prev, self.prev_t, self.prev_cam = self.cur, self.cur_t, self.cam_y
        if self.phase == "racing":
            # under the pause menu of a match the car rolls on without the menu's keys
            steer, throttle = self.app.controls.steer_throttle() if self.app.top is self else (0, 0)
            self.view.step(Inputs(steer, throttle))
        elif self.phase == "spectating" and getattr(self.view, "fast_forward", None) is not None:
            self._ff = min(FF_TICKS, self._ff + 1)  # ramp up: the wreck fades, the race speeds on
            self.view.fast_forward(self._ff)
        else:
            self.view.step(Inputs())
        self.cur, self.cur_t = self._snapshot(), self.view.time
        self._events()
        self._camera()
        self.renderer.shake = max(0.0, self.renderer.shake - dt * 12)
        local = self.local_state
        if local is not None and not local.crashed and self.phase == "racing":
            self.app.audio.engine(local.speed / MAX_SPEED)
        if self.view.finished:
            self._end_timer += dt
            if self._end_timer > (0.8 if self.phase == "racing" else 0.3):
                self.finish()
        elif self.phase == "crashed" and self.cur_t - (self.crash_at or 0) > CRASH_HOLD:
            self.phase = "spectating"

    def _update_countdown(self, dt: float) -> None:
        rem_fn = getattr(self.view, "countdown_remaining", None)
        if rem_fn is not None:
            rem = rem_fn()
            self.cd_left = 0.0 if rem is None else float(rem)
        else:
            self.cd_left -= dt
        n = math.ceil(self.cd_left)
        if n != self._last_count and n > 0:
            self._last_count = n
            self.app.audio.play("beep")
        if self.cd_left <= 0:
            self.phase = "racing"
            self.go_time = self.app.time
            self.app.audio.play("go")
            self.app.audio.music("race")

    def _update_resume(self, dt: float) -> None:
        self.resume_left = max(0.0, self.resume_left - dt)
        n = math.ceil(self.resume_left / (RESUME_COUNT / 3))
        if n != self._last_count and n > 0:
            self._last_count = n
            self.app.audio.play("beep")
        if self.resume_left <= 0:
            self.app.audio.play("go")
            self.go_time = self.app.time

    def _events(self) -> None:
        local = self.local_state
        for name, c in self.cur.items():
            p = self.prev.get(name)
            if p is not None and c.state.crashed and not p.state.crashed:
                if c.local:
                    self.app.audio.play("crash")
                    self.app.audio.engine(None)
                    self.renderer.shake = 6.0
                    self.phase = "crashed"
                    self.crash_at = self.cur_t
                elif local is not None and abs(c.state.y - self.cam_y) < 45:
                    self.app.audio.play("crash", 0.4)
        sim = getattr(self.view, "local_sim", None)
        if sim is not None:
            counters = (sim.overtakes, sim.near_misses)
            if counters[1] > self._counters[1]:
                self._popup("NEAR MISS", 25, style.ACCENT2)
                self.app.audio.play("select", 0.5)
            elif counters[0] > self._counters[0]:
                self._popup("OVERTAKE", 5, style.GOOD)
            self._counters = counters
        self.popups = [p for p in self.popups if self.app.time - p[4] < 1.4]

    def _popup(self, label: str, points: int, color: tuple) -> None:
        """Show a bonus; the same bonus again within half a second adds up ("x2") instead."""
        last = self.popups[-1] if self.popups else None
        if last is not None and last[0] == label and self.app.time - last[4] < 0.5:
            last[2] += 1
            last[4] = self.app.time
        else:
            self.popups.append([label, points, 1, color, self.app.time])

    def _camera(self) -> None:
        """Follow the local car; after its crash, glide over to the leading car still racing.

        The camera keeps an offset to its target that decays each tick, so switching targets
        is smooth and a fast-moving target (fast-forward) never runs away from the view."""
        local = self.local_state
        target, who = None, None
        picked = self.cur.get(self.follow) if self.follow else None
        if picked is not None and not picked.local and (local is None or local.crashed):
            target, who = picked.state.y, picked.name
        elif local is not None and (not local.crashed or self.phase == "crashed"):
            target, who = local.y, self.local_name
        else:
            alive = [c for c in self.cur.values() if not c.state.crashed and not c.local]
            if alive:
                lead = max(alive, key=lambda c: c.state.y)
                target, who = lead.state.y, lead.name
            elif local is not None:
                target, who = local.y, self.local_name
        self.watching = who if who != self.local_name else None
        if target is None:
            return
        if who != self._cam_who:
            self._cam_who = who
            self._cam_off = target - self.cam_y
        self._cam_off *= 0.9
        if abs(self._cam_off) < 0.01:
            self._cam_off = 0.0
        self.cam_y = target - self._cam_off

    def finish(self) -> None:
        if self.phase == "finished":
            return
        self.phase = "finished"
        self.app.audio.engine(None)
        self.app.audio.music("menu")
        self.result = standings(list(self.cur.values()))
        if self.on_finish is not None:
            self.on_finish(self, self.result)
            return
        from p2p_race.ui.screens.results import ResultScreen

        snap = self.app.logical.copy()
        self.draw(snap)
        me = next((s for s in self.result if s.local), None)
        new_best = False
        best_before = self.best
        if me is not None:
            new_best = self.app.scores.record(self.app.player_name, me.score, mode=self.mode, distance=me.distance)
        rank = next((i for i, s in enumerate(self.result, 1) if s.local), 0)
        survived = me is not None and not me.crashed
        victory = me is not None and rank == 1 and (len(self.result) > 1 or survived)
        self.app.replace(ResultScreen(self.app, self.result, victory=victory, new_best=new_best,
                                      best=max(best_before, me.score if me else 0), backdrop=snap,
                                      restart=self.restart, rules=self.view.rules))

    # -- drawing -----------------------------------------------------------------------
    def draw(self, surface: pygame.Surface) -> None:
        a = self.app.alpha if self.phase not in ("countdown", "finished") else 1.0
        cars = self.cars(a)
        cam = self.prev_cam + (self.cam_y - self.prev_cam) * a
        t = self.prev_t + (self.cur_t - self.prev_t) * a
        speed = 0.0
        local = next((c.state for c in cars if c.local), None)
        if local is None and self.watching:  # spectating: the HUD follows the watched car
            local = next((c.state for c in cars if c.name == self.watching), None)
        if local is not None and not local.crashed:
            speed = local.speed
        traffic = self.view.traffic(t, cam - 45, cam + 160)  # beyond the top edge: warning marks
        self.renderer.keep_clear = []  # the renderer's name tags give way to the popups
        for msg, (x, y), _col, _a in self._popup_layout(local if local is not None and not local.crashed else None):
            w, h = style.font(30).size(msg)
            self.renderer.keep_clear.append(pygame.Rect(int(x - w / 2), int(y - h / 2), w, h))
        self.renderer.draw(surface, cam, t, cars, traffic, speed, self._pickups(cam - 45, cam + 45))
        self._own_label(surface, cars, cam)
        self._hud(surface, cars, local)
        self._overlays(surface, local)

    def _hud(self, surface: pygame.Surface, cars: list[DrawCar], local) -> None:
        # left: score, speed, distance
        r = style.panel(surface, (12, 12, 200, 172), alpha=200)
        score = local.score if local else 0
        style.text(surface, "SCORE", (r.left + 16, r.top + 12), 20, style.DIM, shadow=1)
        style.text(surface, f"{score:,}", (r.left + 16, r.top + 32), 48, style.ACCENT)
        spd = local.speed if local else 0.0
        style.text(surface, "SPEED", (r.left + 16, r.top + 82), 20, style.DIM, shadow=1)
        style.text(surface, f"{spd * 3.6:.0f} km/h", (r.right - 16, r.top + 80), 26, style.TEXT, anchor="topright")
        bar = pygame.Rect(r.left + 16, r.top + 106, r.w - 32, 10)
        pygame.draw.rect(surface, (10, 12, 26), bar, border_radius=5)
        k = max(0.0, min(1.0, spd / MAX_SPEED))
        col = style.GOOD if k < 0.6 else style.ACCENT if k < 0.85 else style.DANGER
        pygame.draw.rect(surface, col, (bar.left, bar.top, int(bar.w * k), bar.h), border_radius=5)
        dist = local.distance if local else 0.0
        style.text(surface, "DISTANCE", (r.left + 16, r.top + 130), 20, style.DIM, shadow=1)
        style.text(surface, f"{dist / 1000:.2f} km", (r.right - 16, r.top + 128), 26, style.TEXT, anchor="topright")
        y = self._effect_badges(surface, r.left, r.bottom + 8)
        self._sweeper_badge(surface, r.left, y)
        # right: time and best
        r2 = style.panel(surface, (style.WIDTH - 212, 12, 200, 96), alpha=200)
        left = max(0.0, self.view.rules.time_limit - self.cur_t)
        style.text(surface, "TIME", (r2.left + 16, r2.top + 12), 20, style.DIM, shadow=1)
        tcol = style.DANGER if left < 10 and math.sin(self.app.time * 10) > 0 else style.TEXT
        style.text(surface, f"{int(left) // 60}:{int(left) % 60:02d}", (r2.right - 16, r2.top + 8), 34, tcol,
                   anchor="topright")
        best = max(self.best, score)
        style.text(surface, "BEST", (r2.left + 16, r2.top + 56), 20, style.DIM, shadow=1)
        style.text(surface, f"{best:,}", (r2.right - 16, r2.top + 52), 34,
                   style.GOOD if score > self.best > 0 or (score > 0 and self.best == 0) else style.TEXT,
                   anchor="topright")
        # right: standings
        rows = standings(cars)
        if len(rows) > 1:
            shown = rows[:8]
            me = next((i for i, s in enumerate(rows) if s.local), None)
            if me is not None and me >= 8:
                shown = rows[:7] + [rows[me]]
            h = 38 + 24 * len(shown)
            r3 = style.panel(surface, (style.WIDTH - 212, 118, 200, h), alpha=190)
            style.text(surface, "STANDINGS", (r3.left + 16, r3.top + 10), 20, style.DIM, shadow=1)
            for i, s in enumerate(shown):
                rank = rows.index(s) + 1
                y = r3.top + 34 + 24 * i
                col = style.ACCENT if s.local else (style.DIM if s.crashed or not s.connected else style.TEXT)
                style.text(surface, f"{rank}", (r3.left + 24, y), 20, col, anchor="midtop", shadow=1)
                pygame.draw.rect(surface, CAR_COLORS.get(s.color, style.TEXT), (r3.left + 38, y + 2, 10, 14),
                                 border_radius=3)
                name = s.name if len(s.name) <= 11 else s.name[:10] + "."
                style.text(surface, name, (r3.left + 56, y), 20, col, shadow=1)
                if s.crashed:
                    pygame.draw.line(surface, style.DANGER, (r3.left + 56, y + 8),
                                     (r3.left + 56 + style.font(20).size(name)[0], y + 8), 2)
                style.text(surface, f"{s.score:,}", (r3.right - 14, y), 20, col, anchor="topright", shadow=1)

    EFFECT_LABELS = (("boost", "BOOST", (255, 150, 40)), ("shield", "SHIELD", (90, 175, 255)),
                     ("multiplier", "POINTS x2", (205, 110, 235)))

    def _effect_badges(self, surface: pygame.Surface, x: int, y: int) -> int:
        """The local car's active pickups with the seconds they have left; returns the y below."""
        fx = self._effects()
        for key, label, col in self.EFFECT_LABELS:
            if key not in fx:
                continue
            r = style.panel(surface, (x, y, 200, 28), alpha=200, radius=8, edge=col)
            style.text(surface, label, (r.left + 12, r.centery), 20, col, anchor="midleft", shadow=1)
            style.text(surface, f"{fx[key]:.0f} s", (r.right - 12, r.centery), 20, style.TEXT, anchor="midright")
            y += 34
        return y

    def _sweeper_badge(self, surface: pygame.Surface, x: int, y: int) -> None:
        """A warning while the sweeper is within SWEEPER_WARN metres of the local car."""
        sim = self._sim()
        if sim is None or not hasattr(sim, "caught") or sim.finished:
            return
        gap = sim.state.y - CAR_H / 2 - sim.rules.sweeper_y(sim.time)
        if gap < SWEEPER_WARN:
            r = style.panel(surface, (x, y, 200, 28), alpha=200, radius=8, edge=style.DANGER)
            style.text(surface, "SWEEPER", (r.left + 12, r.centery), 20, style.DANGER, anchor="midleft", shadow=1)
            style.text(surface, f"{max(0.0, gap):.0f} m", (r.right - 12, r.centery), 20, style.TEXT,
                       anchor="midright")

    def _popup_layout(self, local) -> list[tuple[str, tuple[float, float], tuple, int]]:
        """Where the bonus popups go (text, centre, colour, alpha): above the local car."""
        out = []
        if local is None:
            return out
        now = self.app.time
        for i, (label, points, count, col, t0) in enumerate(self.popups):
            msg = f"{label} +{points}" if count == 1 else f"{label} x{count} +{points * count}"
            k = (now - t0) / 1.4
            x = self.renderer.sx(local.x)
            y = self.renderer.car_y - 80 - 50 * k - 30 * (len(self.popups) - 1 - i)  # older ones above
            out.append((msg, (x, y), col, int(255 * (1 - k * k))))
        return out

    def _overlays(self, surface: pygame.Surface, local) -> None:
        now = self.app.time
        for msg, (x, y), col, alpha in self._popup_layout(local):
            style.text(surface, msg, (x, y), 30, col, anchor="center", alpha=alpha)
        cx, cy = style.WIDTH // 2, style.HEIGHT // 2 - 40
        if self.phase == "countdown":
            cy -= 65  # leave the cars on the start line in view
            n = max(1, math.ceil(self.cd_left))
            frac = self.cd_left - math.floor(self.cd_left) if self.cd_left > 0 else 0
            size = int(110 + 90 * frac)
            pygame.draw.circle(surface, (20, 24, 48), (cx, cy), 95)
            pygame.draw.circle(surface, style.ACCENT, (cx, cy), 95, 5)
            pygame.draw.arc(surface, style.ACCENT2, (cx - 105, cy - 105, 210, 210), math.pi / 2,
                            math.pi / 2 + 2 * math.pi * frac, 6)
            style.text(surface, str(n), (cx, cy), size, style.ACCENT, anchor="center", shadow=5)
            style.text(surface, "GET READY", (cx, cy + 120), 34, style.TEXT, anchor="midtop")
            k = self._key_label
            hint = f"{k('left')} {k('right')} steer    {k('accelerate')} faster    {k('brake')} brake    {k('pause')} pause"
            r = style.panel(surface, (cx - 290, cy + 166, 580, 32), alpha=200, radius=10)
            style.text(surface, hint, r.center, 20, style.DIM, anchor="center", shadow=1)
        elif self.go_time is not None and now - self.go_time < 0.9 and self.phase == "racing":
            k = (now - self.go_time) / 0.9
            style.text(surface, "GO!", (cx, cy), int(140 + 80 * k), style.GOOD, anchor="center", shadow=6,
                       alpha=int(255 * (1 - k)))
        elif self.phase == "crashed":
            style.panel(surface, (cx - 170, cy - 50, 340, 90), edge=style.DANGER)
            caught = getattr(self._sim(), "caught", False)
            style.text(surface, "CAUGHT!" if caught else "CRASHED!", (cx, cy - 5), 64, style.DANGER,
                       anchor="center", shadow=4)
        elif self.phase == "spectating":
            who = self.watching or "the race"
            pause = self._key_label("pause")
            self.side_panel(surface, "YOU CRASHED", style.DANGER, [
                f"watching {who}" + ("  >>" if self.can_skip else ""), "<- ->: another car",
                "Space: skip to the end" if self.can_skip else f"{pause}: leave match"])
        if self.resume_left > 0:
            n = max(1, math.ceil(self.resume_left / (RESUME_COUNT / 3)))
            pygame.draw.circle(surface, (20, 24, 48), (cx, cy - 40), 60)
            pygame.draw.circle(surface, style.ACCENT, (cx, cy - 40), 60, 4)
            style.text(surface, str(n), (cx, cy - 40), 110, style.ACCENT, anchor="center", shadow=4)

    def side_panel(self, surface: pygame.Surface, head: str, color: tuple, lines: list[str]) -> pygame.Rect:
        """A small panel on the verge under the score panel (the road's ends carry the
        renderer's labels of cars ahead and behind, the bottom-left the chat)."""
        r = style.panel(surface, (12, 196, 200, 38 + 22 * len(lines)), alpha=210, edge=color, radius=10)
        style.text(surface, head, (r.left + 14, r.top + 10), 22, color, shadow=1)
        for i, line in enumerate(lines):
            while len(line) > 4 and style.font(18).size(line)[0] > r.w - 24:
                line = line[:-2].rstrip() + "."
            style.text(surface, line, (r.left + 14, r.top + 36 + 22 * i), 18, style.TEXT if i == 0 else style.DIM,
                       shadow=1)
        return r

    def _key_label(self, action: str) -> str:
        names = self.app.config.keys.get(action) or ["?"]
        return "/".join(n.upper() if len(n) == 1 else n.capitalize() for n in names[:2])

    def _own_label(self, surface: pygame.Surface, cars: list[DrawCar], cam: float) -> None:
        """The player's own name under their car (the renderer tags only the others)."""
        me = next((c for c in cars if c.local), None)
        if me is None or me.state.crashed:
            return
        half = CAR_H * self.renderer.ppm / 2
        x, y = self.renderer.sx(me.state.x), self.renderer.sy(me.state.y, cam)
        name = me.name if len(me.name) <= 12 else me.name[:11] + "."
        w, h = style.font(16).size(name)
        mine = pygame.Rect(0, 0, w, h)
        mine.midtop = (int(x), int(y + half + 2))
        f = style.font(16)
        for c in cars:  # the renderer tags the others above their cars (stacked upwards): give way
            if c.local:
                continue
            cw, _ = f.size(c.name if c.connected else f"{c.name} (lost)")
            tag = pygame.Rect(0, 0, cw + 4, h * len(cars))
            tag.midbottom = (int(self.renderer.sx(c.state.x)), int(self.renderer.sy(c.state.y, cam) - half - 4))
            if tag.colliderect(mine):
                return
        style.text(surface, name, mine.topleft, 16, style.ACCENT, shadow=1)


def start_practice(app, *, bots: int = 3, seed: int | None = None, seconds: float | None = None,
                   difficulty: str = "normal", bot_skill: float | None = None, replace: bool = False,
                   ghost: bool = False) -> RaceScreen:
    """Push (or replace the top with) a practice race; restarting draws a new seed unless fixed.
    `ghost`: race your own best run on this road (p2p_race.replay.ghosts)."""
    fixed_seed = seed
    use_seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    rules = Rules(int(use_seed), time_limit=float(seconds or 180.0), difficulty=difficulty)
    extra = {}
    if ghost:
        from p2p_race.replay.ghosts import keep_run, load_ghost

        store = getattr(app.scores, "store", None)
        extra = {"ghost": load_ghost(store, app.player_name, rules),
                 "on_run_end": lambda codes, score: keep_run(store, app.player_name, rules, codes, score)}
    view = PracticeView(rules, app.player_name, app.config.car_color, bots=int(bots), bot_skill=bot_skill, **extra)

    def again() -> None:
        start_practice(app, bots=bots, seed=fixed_seed, seconds=seconds, difficulty=difficulty,
                       bot_skill=bot_skill, replace=True, ghost=ghost)

    screen = RaceScreen(app, view, restart=again)
    if replace:
        app.replace(screen)
    else:
        app.push(screen)
    return screen
