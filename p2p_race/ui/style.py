"""One look for every screen: palette, fonts, text with shadows, panels, menus."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pygame

WIDTH, HEIGHT = 800, 600

BG = (16, 18, 34)
BG2 = (34, 22, 58)
PANEL = (20, 24, 48)
PANEL_EDGE = (90, 110, 200)
TEXT = (240, 242, 250)
DIM = (150, 158, 190)
ACCENT = (255, 196, 40)
ACCENT2 = (40, 215, 255)
DANGER = (245, 75, 85)
GOOD = (90, 225, 130)
SHADOW = (0, 0, 0)

NAV_KEYS = {
    pygame.K_UP: "up", pygame.K_w: "up", pygame.K_DOWN: "down", pygame.K_s: "down",
    pygame.K_LEFT: "left", pygame.K_a: "left", pygame.K_RIGHT: "right", pygame.K_d: "right",
    pygame.K_RETURN: "ok", pygame.K_KP_ENTER: "ok", pygame.K_SPACE: "ok",
}


def nav(key: int) -> str | None:
    """The menu meaning of a key (arrows and WASD move, Enter/Space choose): one mapping for
    every list-like screen, so they all answer the same keys."""
    return NAV_KEYS.get(key)


_fonts: dict[tuple[int, bool], pygame.font.Font] = {}
_quit_hooked = False


def _forget_fonts() -> None:
    """Called by pygame.quit(): a Font used after the font module quit would crash SDL_ttf."""
    global _quit_hooked
    _fonts.clear()
    _text_cache.clear()
    _quit_hooked = False


def font(size: int, bold: bool = True) -> pygame.font.Font:
    """pygame's bundled freesansbold at `size` px (cached until pygame.quit())."""
    global _quit_hooked
    if not _quit_hooked:
        pygame.register_quit(_forget_fonts)  # pygame forgets its quit hooks after each quit
        _quit_hooked = True
    key = (size, bold)
    f = _fonts.get(key)
    if f is None:
        if not pygame.font.get_init():
            pygame.font.init()
        f = pygame.font.Font(None, size)  # None = the bundled freesansbold.ttf
        f.set_bold(False)
        _fonts[key] = f
    return f


_recorders: list[list[tuple[pygame.Rect, str]]] = []


@contextmanager
def recording_text() -> Iterator[list[tuple[pygame.Rect, str]]]:
    """Collect (rect, text) of every text drawn meanwhile: layout tests check that no two
    labels overlap (see ui.testing.text_overlaps)."""
    rec: list[tuple[pygame.Rect, str]] = []
    _recorders.append(rec)
    try:
        yield rec
    finally:
        _recorders.remove(rec)


def note_text(rect: pygame.Rect, s: str) -> None:
    """Record text drawn without `text()` (the chat overlay blits its own lines)."""
    for rec in _recorders:
        rec.append((pygame.Rect(rect), s))


def text(surface: pygame.Surface, s: str, pos: tuple[float, float], size: int = 28,
         color=TEXT, anchor: str = "topleft", shadow: int = 2, alpha: int = 255) -> pygame.Rect:
    """Draw `s` with a drop shadow; `anchor` is a pygame.Rect attribute name for `pos`."""
    img, sh = rendered(s, size, tuple(color))
    rect = img.get_rect(**{anchor: (int(pos[0]), int(pos[1]))})
    if _recorders and s.strip() and alpha > 0:
        note_text(rect, s)
    if shadow:
        sh.set_alpha(alpha // 2 if alpha < 255 else 150)
        surface.blit(sh, rect.move(shadow, shadow))
    img.set_alpha(alpha)
    surface.blit(img, rect)
    return rect


_text_cache: dict[tuple, tuple[pygame.Surface, pygame.Surface]] = {}


def rendered(s: str, size: int, color: tuple) -> tuple[pygame.Surface, pygame.Surface]:
    """Text and shadow images, cached: the HUD redraws the same strings every frame."""
    key = (s, size, color)
    hit = _text_cache.get(key)
    if hit is None:
        if len(_text_cache) > 800:
            _text_cache.clear()
        f = font(size)
        hit = (f.render(s, True, color), f.render(s, True, SHADOW))
        _text_cache[key] = hit
    return hit


def panel(surface: pygame.Surface, rect: pygame.Rect | tuple, alpha: int = 215,
          edge=PANEL_EDGE, radius: int = 12, fill=PANEL) -> pygame.Rect:
    """A translucent rounded panel with a soft shadow and a thin light edge."""
    rect = pygame.Rect(rect)
    s = pygame.Surface((rect.w + 8, rect.h + 8), pygame.SRCALPHA)
    pygame.draw.rect(s, (0, 0, 0, 90), (6, 6, rect.w, rect.h), border_radius=radius)
    pygame.draw.rect(s, (*fill, alpha), (0, 0, rect.w, rect.h), border_radius=radius)
    pygame.draw.rect(s, (*edge, 200), (0, 0, rect.w, rect.h), 2, border_radius=radius)
    pygame.draw.line(s, (255, 255, 255, 40), (radius, 2), (rect.w - radius, 2), 1)
    surface.blit(s, rect.topleft)
    return rect


def dim(surface: pygame.Surface, alpha: int = 150) -> None:
    """Veil what is drawn so far (a menu or dialog goes on top); text under it no longer
    counts as a label for the layout check (`recording_text`)."""
    for rec in _recorders:
        rec.clear()
    veil = pygame.Surface(surface.get_size(), pygame.SRCALPHA)
    veil.fill((8, 10, 22, alpha))
    surface.blit(veil, (0, 0))


_grad_cache: dict[tuple, pygame.Surface] = {}


def gradient(size: tuple[int, int], top, bottom) -> pygame.Surface:
    key = (size, top, bottom)
    g = _grad_cache.get(key)
    if g is None:
        g = pygame.Surface(size)
        h = size[1]
        for y in range(h):
            k = y / max(1, h - 1)
            c = tuple(int(top[i] + (bottom[i] - top[i]) * k) for i in range(3))
            pygame.draw.line(g, c, (0, y), (size[0], y))
        _grad_cache[key] = g
    return g


def title(surface: pygame.Surface, s: str, y: int, t: float, size: int = 72) -> None:
    """Big title with a pulsing glow line under it."""
    text(surface, s, (WIDTH // 2, y), size, ACCENT, anchor="midtop", shadow=4)
    w = 220 + int(30 * math.sin(t * 2.5))
    pygame.draw.line(surface, ACCENT2, (WIDTH // 2 - w // 2, y + size - 4), (WIDTH // 2 + w // 2, y + size - 4), 3)


class Menu:
    """A vertical list of buttons: arrows/W/S move, Enter/Space choose, mouse hovers/clicks."""

    def __init__(self, items: list[str], center: tuple[int, int], width: int = 300, row: int = 50) -> None:
        self.items = list(items)
        self.index = 0
        self.center = center
        self.width = width
        self.row = row

    @property
    def selected(self) -> str:
        return self.items[self.index]

    def rects(self) -> list[pygame.Rect]:
        x, y = self.center
        top = y - self.row * len(self.items) // 2
        return [pygame.Rect(x - self.width // 2, top + i * self.row, self.width, self.row - 10)
                for i in range(len(self.items))]

    def handle(self, ev: pygame.event.Event) -> str | None:
        """Return the chosen item on confirm, else None (and move the selection)."""
        if ev.type == pygame.KEYDOWN:
            move = nav(ev.key)
            if move in ("up", "down"):
                self.index = (self.index + (1 if move == "down" else -1)) % len(self.items)
            elif move == "ok":
                return self.selected
        elif ev.type == pygame.MOUSEMOTION:
            for i, r in enumerate(self.rects()):
                if r.collidepoint(ev.pos):
                    self.index = i
        elif ev.type == pygame.MOUSEBUTTONDOWN and getattr(ev, "button", 1) == 1:
            for i, r in enumerate(self.rects()):
                if r.collidepoint(ev.pos):
                    self.index = i
                    return self.selected
        return None

    def draw(self, surface: pygame.Surface, t: float) -> None:
        for i, (item, r) in enumerate(zip(self.items, self.rects(), strict=True)):
            sel = i == self.index
            if sel:
                glow = int(40 + 25 * math.sin(t * 5))
                panel(surface, r.inflate(8, 4), alpha=235, edge=ACCENT, fill=(60 + glow // 2, 45, 90))
                pygame.draw.polygon(surface, ACCENT, [(r.left + 14, r.centery - 8), (r.left + 14, r.centery + 8),
                                                      (r.left + 26, r.centery)])
                text(surface, item, r.center, 32, ACCENT, anchor="center")
            else:
                panel(surface, r, alpha=170, edge=(70, 80, 140))
                text(surface, item, r.center, 30, TEXT, anchor="center")


def key_hint(surface: pygame.Surface, s: str, y: int = HEIGHT - 28) -> None:
    text(surface, s, (WIDTH // 2, y), 20, DIM, anchor="midtop", shadow=1)
