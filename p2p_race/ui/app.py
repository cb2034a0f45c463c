"""The game window: a logical 800x600 surface scaled (letterboxed) into a resizable or
fullscreen window, a stack of screens, a fixed 60 Hz update step with render
interpolation, input (keys, gamepads), audio, config and the chat overlay slot.

`App.frame(events, real_dt)` runs exactly one frame; `App.run()` loops it with real events
and the real clock. Tests drive `frame` with synthetic events, so no test depends on
wall-clock timing.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygame

from p2p_race.config import Config
from p2p_race.display import init_display
from p2p_race.errors import UserError
from p2p_race.highscores import LocalScoreBoard, ScoreBoard
from p2p_race.paths import resolve_data_dir
from p2p_race.ui import registry, style
from p2p_race.ui.audio import Audio
from p2p_race.ui.controls import Controls
from p2p_race.ui.screen import Screen
from p2p_race.ui.style import HEIGHT, WIDTH

log = logging.getLogger(__name__)

DT = 1.0 / 60.0
MAX_FRAME = 0.25  # never simulate more than this per frame (after a stall)
TITLE = "p2p-race"
TOAST_FOR = 3.5  # s a toast stays


class App:
    def __init__(self, config: Config, data_dir: Path, *, scoreboard: ScoreBoard | None = None,
                 window_size: tuple[int, int] | None = None, audio: Callable[[], Audio] | None = None,
                 make_scores: Callable[[], ScoreBoard] | None = None) -> None:
        """`audio` / `make_scores` build the audio and the score board (defaults: the real
        ones); they run while the loading screen shows."""
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        init_display()  # one clear error where no one could see the window
        pygame.font.init()
        try:
            pygame.joystick.init()
        except pygame.error:
            pass
        self.config = config
        self.data_dir = Path(data_dir)
        self.logical = pygame.Surface((WIDTH, HEIGHT))
        self.window_size = window_size or _saved_size(config)
        self.fullscreen = bool(config.fullscreen)
        self.window: pygame.Surface = self._open_window()
        pygame.display.set_caption(TITLE)
        self.loading_frames = 0
        self.quit_requested = False
        self._draw_loading(0.0)  # the first thing on the window, before any slow start-up work
        pygame.key.set_repeat(350, 40)
        self.controls = Controls(config.keys)
        worker = self._start_audio(audio or (lambda: Audio(config.sound_volume, config.music_volume)))
        self.scores: ScoreBoard = scoreboard or (make_scores or (lambda: LocalScoreBoard(self.data_dir)))()
        from assets.sprites import SpriteCache

        self.sprites = SpriteCache()
        self._set_icon()
        self.audio = self._await_audio(*worker)
        self.stack: list[Screen] = []
        self.running = True
        self.alpha = 0.0
        self.time = 0.0
        self.frames = 0
        self._acc = 0.0
        self._chat: Any = None
        self._chat_loaded = False
        self.toasts: list[tuple[str, float]] = []  # (text, app time shown)
        self.last_frame_ms = 0.0

    # -- start-up ----------------------------------------------------------------------
    def _start_audio(self, make_audio: Callable[[], Audio]) -> tuple[threading.Thread, dict[str, Any]]:
        """Build the audio in a worker thread: on a first start it synthesizes every sound
        (seconds of CPU), and the window must show the loading screen meanwhile, not black."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["audio"] = make_audio()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the UI thread
                box["error"] = exc

        worker = threading.Thread(target=work, name="asset-boot", daemon=True)
        worker.start()
        return worker, box

    def _await_audio(self, worker: threading.Thread, box: dict[str, Any]) -> Audio:
        """Keep the loading screen animated (and the window answering) until the audio is built."""
        t0 = time.perf_counter()
        while worker.is_alive():
            self._draw_loading(time.perf_counter() - t0)
            for ev in pygame.event.get():
                if ev.type == pygame.QUIT:
                    self.quit_requested = True
            worker.join(1 / 30)
        if "error" in box:
            raise box["error"]
        return box["audio"]

    def _draw_loading(self, t: float) -> None:
        surf = self.logical
        surf.blit(style.gradient((WIDTH, HEIGHT), style.BG, style.BG2), (0, 0))
        style.title(surf, "P2P RACE", 170, t, 84)
        cx, cy = WIDTH // 2, 360
        for i in range(8):  # a spinner: dots round a circle, the bright one going round
            a = i / 8 * 2 * math.pi
            k = (i - t * 10) % 8 / 8
            pygame.draw.circle(surf, style.ACCENT2 if k < 0.15 else style.DIM,
                               (int(cx + 30 * math.cos(a)), int(cy + 30 * math.sin(a))), 6 if k < 0.15 else 4)
        style.text(surf, "Tuning the engines... (first start only)", (cx, 420), 24, style.TEXT, anchor="midtop")
        self.present()
        self.loading_frames += 1

    # -- window ------------------------------------------------------------------------
    def _set_icon(self) -> None:
        from assets import sprites

        try:
            rgb = sprites.CAR_COLORS.get(self.config.car_color, sprites.CAR_COLORS["red"])
            icon = pygame.Surface((32, 32), pygame.SRCALPHA)
            car = pygame.transform.rotate(sprites.car(rgb, 12, 28), -30)
            icon.blit(car, car.get_rect(center=(16, 16)))
            pygame.display.set_icon(icon)
        except pygame.error:
            pass

    def _open_window(self) -> pygame.Surface:
        if self.fullscreen:
            try:
                return pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
            except pygame.error as exc:
                log.warning("fullscreen failed (%s); using a window", exc)
                self.fullscreen = False
        try:
            return pygame.display.set_mode(self.window_size, pygame.RESIZABLE)
        except pygame.error as exc:
            raise UserError(f"cannot open the game window ({exc}); on a machine without a display "
                            "use `practice --headless`, or SDL_VIDEODRIVER=dummy") from exc

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen = bool(on)
        self.window = self._open_window()

    def viewport(self) -> pygame.Rect:
        """Where the logical surface goes in the window: as large as fits, aspect kept."""
        ww, wh = self.window.get_size()
        k = min(ww / WIDTH, wh / HEIGHT)
        w, h = max(1, int(WIDTH * k)), max(1, int(HEIGHT * k))
        return pygame.Rect((ww - w) // 2, (wh - h) // 2, w, h)

    def to_logical(self, pos: tuple[int, int]) -> tuple[int, int]:
        vp = self.viewport()
        return (int((pos[0] - vp.x) * WIDTH / vp.w), int((pos[1] - vp.y) * HEIGHT / vp.h))

    # -- screens -----------------------------------------------------------------------
    @property
    def top(self) -> Screen | None:
        return self.stack[-1] if self.stack else None

    def push(self, screen: Screen) -> None:
        self.stack.append(screen)
        screen.on_enter()

    def pop(self) -> Screen | None:
        if not self.stack:
            return None
        s = self.stack.pop()
        s.on_exit()
        if self.top is not None:
            self.top.on_enter()
        else:
            self.running = False
        return s

    def replace(self, screen: Screen) -> None:
        if self.stack:
            self.stack.pop().on_exit()
        self.push(screen)

    def reset_to(self, screen: Screen) -> None:
        """Clear the stack (e.g. back to the menu) and show `screen`."""
        while self.stack:
            self.stack.pop().on_exit()
        self.push(screen)

    def open(self, name: str, **kwargs: Any) -> bool:
        """Open a screen owned by another area by its registry name (see registry.py)."""
        return registry.open_screen(self, name, **kwargs)

    def toast(self, text: str) -> None:
        """A short note over any screen for a few seconds (host changes and the like)."""
        self.toasts = [*self.toasts[-2:], (text, self.time)]

    def _draw_toasts(self) -> None:
        self.toasts = [(t, at) for t, at in self.toasts if self.time - at < TOAST_FOR]
        if not self.toasts:
            return
        x, y = getattr(self.top, "toast_pos", (WIDTH - 14, 14))
        for text, at in self.toasts:
            alpha = int(255 * min(1.0, (TOAST_FOR - (self.time - at)) / 0.5))
            w, h = style.font(20).size(text)
            r = pygame.Rect(0, 0, w + 24, h + 12)
            r.topright = (x, y)
            style.panel(self.logical, r, alpha=min(220, alpha), edge=style.ACCENT2, radius=8)
            style.text(self.logical, text, r.center, 20, style.TEXT, anchor="center", shadow=1, alpha=alpha)
            y += r.h + 6

    @property
    def chat(self) -> Any:
        if not self._chat_loaded:
            self._chat_loaded = True
            self._chat = registry.load_overlay(self, "chat")
        return self._chat

    # -- config ------------------------------------------------------------------------
    def save_config(self) -> None:
        self.config.fullscreen = self.fullscreen
        try:
            self.config.save(self.data_dir)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)
        self.controls.set_bindings(self.config.keys)
        self.audio.set_volumes(self.config.sound_volume, self.config.music_volume)

    @property
    def player_name(self) -> str:
        return self.config.name or "Player"

    # -- loop --------------------------------------------------------------------------
    def dispatch(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.QUIT:
            self.running = False
            return
        if ev.type in (pygame.MOUSEMOTION, pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
            d = dict(ev.dict)
            d["pos"] = self.to_logical(ev.pos)
            ev = pygame.event.Event(ev.type, d)
        if ev.type == pygame.VIDEORESIZE and not self.fullscreen:
            self.window_size = (max(320, ev.w), max(240, ev.h))
            self.window = pygame.display.get_surface() or self.window
            return
        if ev.type == pygame.WINDOWFOCUSLOST:
            self.controls.release_all()  # key-ups sent while unfocused never arrive
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_F11:
            self.set_fullscreen(not self.fullscreen)
            self.save_config()
            return
        synthesized = self.controls.feed(ev) if not getattr(ev, "from_pad", False) else []
        top = self.top
        chat = self.chat if (top is not None and top.chat_enabled) else None
        if chat is not None:
            if getattr(chat, "open", False):
                if chat.handle_event(ev):
                    return
            elif self.controls.is_action(ev, "chat"):
                if hasattr(chat, "toggle"):
                    chat.toggle()
                else:
                    chat.open = True
                self.controls.release_all()
                return
        if top is not None:
            top.handle_event(ev)
        for extra in synthesized:
            self.dispatch(extra)

    def frame(self, events: list[pygame.event.Event], real_dt: float = DT) -> None:
        """One frame: input, as many fixed steps as the elapsed time asks for, draw, present."""
        t0 = time.perf_counter()
        for ev in events:
            self.dispatch(ev)
            if not self.running:
                return
        self._acc += min(max(0.0, real_dt), MAX_FRAME)
        while self._acc >= DT - 1e-9:
            self._acc -= DT
            self.time += DT
            top = self.top
            for below in self.stack[:-1]:
                if getattr(below, "live", False):  # a match runs on under its pause menu
                    below.update(DT)
            if top is not None:
                top.age += DT
                top.update(DT)
            chat = self._chat
            if chat is not None and top is not None and top.chat_enabled:
                chat.update(DT)
        self.alpha = max(0.0, min(1.0, self._acc / DT))
        self.draw()
        self.present()
        self.frames += 1
        self.last_frame_ms = (time.perf_counter() - t0) * 1000

    def draw(self) -> None:
        """The top screen over the screens it overlays; an overlay marked `covers_overlays`
        (settings opened from pause) hides the overlays under it (the pause menu)."""
        start = len(self.stack) - 1
        while start > 0 and self.stack[start].overlay:
            start -= 1
        shown = self.stack[max(0, start):]
        for i in range(len(shown) - 1, 0, -1):
            if getattr(shown[i], "covers_overlays", False):
                shown = [shown[0], *shown[i:]]
                break
        for s in shown:
            s.draw(self.logical)
        top = self.top
        chat = self._chat
        if chat is not None and top is not None and top.chat_enabled:
            chat.draw(self.logical)
        self._draw_toasts()

    def present(self) -> None:
        vp = self.viewport()
        if vp.size == (WIDTH, HEIGHT):
            self.window.blit(self.logical, vp.topleft)
        else:
            self.window.fill((0, 0, 0))
            try:
                sub = self.window.subsurface(vp)
                pygame.transform.scale(self.logical, vp.size, sub)
            except ValueError:
                self.window.blit(pygame.transform.scale(self.logical, vp.size), vp.topleft)
        pygame.display.flip()

    def run(self) -> int:
        if self.quit_requested:  # the window was closed on the loading screen
            self.running = False
        clock = pygame.time.Clock()
        self.audio.music(True)
        while self.running and self.stack:
            real_dt = clock.tick(120) / 1000.0
            self.frame(pygame.event.get(), real_dt)
        self.close()
        return 0

    def screenshot(self, path: str | Path) -> None:
        pygame.image.save(self.logical, str(path))

    def close(self) -> None:
        size = list(self.window_size)
        if size != list(self.config.extra.get("window_size", [WIDTH, HEIGHT])):
            self.config.extra["window_size"] = size  # reopen at the size the player chose
            self.save_config()
        chat = self._chat
        if chat is not None and hasattr(chat, "close"):
            try:
                chat.close()
            except Exception:  # noqa: BLE001
                log.exception("chat overlay close")
        self.audio.close()
        pygame.display.quit()


def _saved_size(config: Config) -> tuple[int, int]:
    raw = config.extra.get("window_size")
    try:
        w, h = int(raw[0]), int(raw[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return (WIDTH, HEIGHT)
    return (max(320, min(7680, w)), max(240, min(4320, h)))


def make_app(args: argparse.Namespace) -> App:
    data_dir = resolve_data_dir(getattr(args, "data_dir", None))
    config = Config.load(data_dir)
    if getattr(args, "name", None):
        config.name = args.name
    if getattr(args, "fullscreen", False):
        config.fullscreen = True
    if getattr(args, "windowed", False):
        config.fullscreen = False
    # High scores come from the replicated score store (practice runs and match results),
    # so the game, `p2p-race leaderboard` and peer sync all read one source.
    def scores() -> ScoreBoard:
        from replication.scoreboard import ReplicatedScoreBoard

        return ReplicatedScoreBoard(data_dir)

    return App(config, data_dir, make_scores=scores)


def run_game(args: argparse.Namespace) -> int:
    """`p2p-race play`: the intro, name entry and menu (`--join`: then the lobby's quick play)."""
    from p2p_race.ui.screens.intro import IntroScreen

    app = make_app(args)
    _ = app.chat  # the chat client starts the local chat service now (it outlives the game)
    then = (lambda: app.open("lobby", quick=True, args=args)) if getattr(args, "join", False) else None
    app.push(IntroScreen(app, then=then))
    return app.run()


def run_practice(args: argparse.Namespace) -> int:
    """`p2p-race practice` with a window: straight into a race against `args.bots` bots.

    Uses `args.bots`, `args.seed`, `args.seconds` and `args.difficulty` when present.
    """
    from p2p_race.ui.screens.intro import IntroScreen
    from p2p_race.ui.screens.race import start_practice

    app = make_app(args)
    app.push(IntroScreen(app, skip_to_menu=True))
    start_practice(app, bots=int(getattr(args, "bots", 3) or 0), seed=getattr(args, "seed", None),
                   seconds=getattr(args, "seconds", None), difficulty=getattr(args, "difficulty", None) or "normal",
                   bot_skill=getattr(args, "bot_skill", None), ghost=bool(getattr(args, "ghost", False)))
    return app.run()
