"""The in-game chat overlay (lobby, race, spectate): T to type, Enter to send, Esc to close.

It only draws and reads input; a `ChatClient` (background thread, fallback to any live
peer's chat service) does the networking, so a frame never waits on the network. The
overlay object lives as long as the App, so a half-typed line survives screen changes.

Keys while open: Enter send (and close), Esc close (keeps the line), Backspace, Ctrl+U
clear, PgUp/PgDn or the mouse wheel scroll, Tab switches lobby <-> the match channel.

Over a race the overlay keeps off the road: the screen gives it `chat_rect()` (the verge
left of the road), the closed feed shows at most two lines of what other players wrote
since the race began (no system notices: host changes are a toast, our own chat service's
"joined" is not news), and `chat_feed = False` screens (offline practice) show no feed.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import pygame

from chat.message import (
    KIND_SYSTEM,
    LOBBY,
    MAX_TEXT_CHARS,
    ChatMessage,
    InvalidMessage,
    match_channel,
)
from chat.names import NameLabels, display_body
from chat.sanitize import sanitize
from p2p_race.ui import style

log = logging.getLogger(__name__)

PANEL_W, PANEL_H = 500, 250
LINE_H = 18
FONT_SIZE = 20
MAX_LINES = 400
FADE_AFTER = 8.0  # closed: recent lines stay visible this long
FEED_LINES = 4  # closed: at most this many recent lines (2 over a race)


class ChatOverlay:
    def __init__(self, app: Any = None, client: Any = None, channel: str = LOBBY) -> None:
        self.app = app
        self.open = False
        self.buffer = ""
        self.channel = channel
        self.match_channel: str | None = None
        self.scroll = 0  # lines scrolled up from the newest
        self.unread = 0
        self.notice = ""
        self._notice_t = 0.0
        self._lines: list[tuple[float, ChatMessage]] = []  # (arrival time, message)
        self._seen: set[str] = set()
        self._clock = 0.0
        self._version = 0
        self._wrap_cache: tuple[tuple, list[tuple[str, tuple]]] | None = None
        self._top: Any = None  # the screen the overlay was last drawn over
        self._feed_since = 0.0  # lines older than this are not in the closed feed
        self.client = client if client is not None else self._make_client(app)
        self.labels = NameLabels(getattr(app, "data_dir", None))

    # -- the client ---------------------------------------------------------------------
    @staticmethod
    def _make_client(app: Any) -> Any:
        """A ChatClient for the app's data dir; it starts the local chat service when none
        runs and restarts it when it dies (the service outlives the game). Without one it
        still uses any chat service it can reach (config `peers`)."""
        if app is None:
            return None
        from chat.client import ChatClient
        from chat.peers import chat_addr_of_game_peer

        cfg = app.config
        peers = [a for a in map(chat_addr_of_game_peer, getattr(cfg, "peers", [])) if a]
        name = getattr(cfg, "name", "") or ""
        client = ChatClient(app.data_dir, name=name, peers=peers, start_service=_autostart(),
                            service_kw={"name": name or None})
        return client.start()

    def close(self) -> None:
        """The game is closing: stop the client (the chat service keeps running)."""
        if self.client is not None and hasattr(self.client, "close"):
            self.client.close()

    # -- API for screens -----------------------------------------------------------------
    def toggle(self) -> None:
        self.open = not self.open
        if self.open:
            self.unread = 0
            self.scroll = 0

    def set_match(self, match_id: str | None) -> None:
        """Screens call this when a match starts/ends: Tab then switches to its channel."""
        self.match_channel = match_channel(match_id) if match_id else None
        if self.match_channel is None and self.channel != LOBBY:
            self.channel = LOBBY
        elif self.match_channel is not None:
            self.channel = self.match_channel

    # -- input -------------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> bool:
        """True when the event was for the chat (the screen below must not see it)."""
        if not self.open:
            return False
        if ev.type == pygame.KEYDOWN:
            self._key(ev)
            return True
        if ev.type in (pygame.KEYUP, pygame.TEXTINPUT, pygame.TEXTEDITING):
            # typing uses KEYDOWN.unicode (also what headless drivers send); TEXTINPUT would
            # double every character and would type the T that opened the overlay
            return True
        if ev.type == pygame.MOUSEWHEEL:
            self._scroll_by(3 * int(ev.y))
            return True
        return False

    def _key(self, ev: pygame.event.Event) -> None:
        k = ev.key
        mods = getattr(ev, "mod", 0)
        if k == pygame.K_ESCAPE:
            self.open = False
        elif k in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self._send()
        elif k == pygame.K_BACKSPACE:
            self.buffer = self.buffer[:-1]
        elif k == pygame.K_u and mods & pygame.KMOD_CTRL:
            self.buffer = ""
        elif k == pygame.K_PAGEUP:
            self._scroll_by(8)
        elif k == pygame.K_PAGEDOWN:
            self._scroll_by(-8)
        elif k == pygame.K_TAB:
            if self.match_channel:
                self.channel = LOBBY if self.channel != LOBBY else self.match_channel
                self.scroll = 0
        else:
            ch = getattr(ev, "unicode", "") or ""
            ch = sanitize(ch)
            if ch and len(self.buffer) + len(ch) <= MAX_TEXT_CHARS:
                self.buffer += ch

    def _scroll_by(self, n: int) -> None:
        total = len(self._visible())
        self.scroll = max(0, min(max(0, total - 1), self.scroll + n))

    def _send(self) -> None:
        text = self.buffer.strip()
        if not text:
            self.open = False
            return
        if self.client is None:
            self._set_notice("chat is not available")
            return
        try:
            msg = self.client.send(text, self.channel, hold=True)
        except InvalidMessage as exc:
            self._set_notice(f"not sent: {exc.reason}")
            return
        if msg is None:
            self._set_notice("slow down: sending in a moment")
        self.buffer = ""
        self.scroll = 0
        self.open = False

    def _set_notice(self, text: str) -> None:
        self.notice = text
        self._notice_t = self._clock

    # -- state -------------------------------------------------------------------------------
    def update(self, dt: float) -> None:
        self._clock += dt
        if self.client is None:
            return
        own = getattr(getattr(self.client, "identity", None), "peer_id", None)
        fresh = self.client.poll()
        if not fresh:
            return
        for m in fresh:
            if m.id in self._seen:
                continue
            self._seen.add(m.id)
            self._lines.append((self._clock, m))
            self._version += 1
            if m.author_id != own and (not self.open or self.scroll > 0):
                if m.channel in (LOBBY, self.channel, self.match_channel):
                    self.unread += 1
        if len(self._lines) > MAX_LINES:
            drop = self._lines[:-MAX_LINES]
            self._lines = self._lines[-MAX_LINES:]
            for _t, m in drop:
                self._seen.discard(m.id)
        # display order is the log's order (Lamport clock, author, id), not arrival order
        self._lines.sort(key=lambda tm: tm[1].key)

    def _visible(self) -> list[tuple[float, ChatMessage]]:
        return [(t, m) for t, m in self._lines if m.channel in (self.channel, LOBBY)
                or (self.channel == LOBBY and m.channel == self.match_channel)]

    def status(self) -> str:
        c = self.client
        if c is None:
            return "offline"
        addr = getattr(c, "connected", None)
        if addr is None:
            return "connecting..."
        return "online" if getattr(c, "connected_local", False) else "via a nearby player"

    # -- drawing -----------------------------------------------------------------------------
    def _area(self, surface: pygame.Surface) -> tuple[pygame.Rect, bool]:
        """Where the overlay may draw, and whether it is the compact (race) layout: a
        screen's `chat_rect()` holds the panel and the feed (compact), its
        `chat_feed_rect()` only the closed feed (full lines, e.g. the lobby's)."""
        top = getattr(self.app, "top", None)
        if top is not self._top:  # a new screen: old lines are not shown again beside it
            self._top = top
            self._feed_since = self._clock
        rect_fn = getattr(top, "chat_rect", None)
        if rect_fn is not None:
            return pygame.Rect(rect_fn()), True
        feed_fn = getattr(top, "chat_feed_rect", None)
        if feed_fn is not None and not self.open:
            return pygame.Rect(feed_fn()), False
        w, h = surface.get_size()
        return pygame.Rect(10, h - PANEL_H - 10, PANEL_W, PANEL_H), False

    def draw(self, surface: pygame.Surface) -> None:
        area, compact = self._area(surface)
        if not self.open:
            if getattr(self.app.top, "chat_feed", True) if self.app is not None else True:
                self._draw_closed(surface, area, compact)
            return
        self._draw_open(surface, area)

    def _draw_open(self, surface: pygame.Surface, area: pygame.Rect) -> None:
        pw, ph = area.size
        x, y = area.topleft
        panel = pygame.Surface((pw, ph), pygame.SRCALPHA)
        panel.fill((*style.PANEL, 215))
        pygame.draw.rect(panel, style.PANEL_EDGE, panel.get_rect(), 1)
        surface.blit(panel, (x, y))
        f = style.font(FONT_SIZE)
        head = ("Match chat" if self.channel != LOBBY else "Lobby chat") + f"  ({self.status()})"
        if self.match_channel:
            head += "  Tab: " + ("lobby" if self.channel != LOBBY else "match")
        surface.blit(f.render(sanitize(head), True, style.DIM), (x + 8, y + 6))
        rows = self._wrapped(f, pw - 16)
        fit = (ph - 60) // LINE_H
        end = len(rows) - self.scroll
        for i, (txt, color) in enumerate(rows[max(0, end - fit):max(0, end)]):
            surface.blit(f.render(txt, True, color), (x + 8, y + 26 + i * LINE_H))
        if self.scroll:
            surface.blit(f.render(f"-- {self.scroll} more below (PgDn) --", True, style.ACCENT),
                         (x + 8, y + ph - 50))
        caret = "_" if int(self._clock * 2) % 2 == 0 else " "
        line = sanitize(self.buffer)
        shown = f"> {line}{caret}"
        while f.size(shown)[0] > pw - 16 and len(line) > 1:
            line = line[1:]
            shown = f"> ...{line}{caret}"
        pygame.draw.line(surface, style.PANEL_EDGE, (x, y + ph - 28), (x + pw, y + ph - 28))
        surface.blit(f.render(shown, True, style.TEXT), (x + 8, y + ph - 22))
        if self.notice and self._clock - self._notice_t < 4.0:
            surface.blit(f.render(sanitize(self.notice), True, style.DANGER), (x + 8, y - 20))

    def feed(self, compact: bool) -> list[tuple[float, ChatMessage]]:
        """The recent lines the closed overlay shows on the current screen."""
        own = getattr(getattr(self.client, "identity", None), "peer_id", None)
        out = []
        for t, m in self._visible():
            if self._clock - t >= FADE_AFTER or t < self._feed_since:
                continue
            if m.kind == KIND_SYSTEM and (compact or m.author_id == own):
                continue
            out.append((t, m))
        return out[-(2 if compact else FEED_LINES):]

    def _draw_closed(self, surface: pygame.Surface, area: pygame.Rect, compact: bool) -> None:
        f = style.font(FONT_SIZE)
        x, h = area.left, area.bottom + 10
        width = area.w if compact or area.w != PANEL_W else PANEL_W + 70
        recent = self.feed(compact)
        yy = h - 40 - LINE_H * len(recent)
        if recent:  # a dark strip keeps the lines readable
            strip = pygame.Surface((width + 10, LINE_H * len(recent) + 4), pygame.SRCALPHA)
            strip.fill((0, 0, 0, 110))
            surface.blit(strip, (x - 4, yy - 2))
        for t, m in recent:
            alpha = max(0, min(255, int(255 * (FADE_AFTER - (self._clock - t)) / 2)))
            line = _line(m, self.labels)
            while len(line) > 8 and f.size(line)[0] > width:
                line = line[:-8] + "..."
            img = f.render(line, True, _color(m))
            img.set_alpha(alpha)
            surface.blit(img, (x, yy))
            style.note_text(img.get_rect(topleft=(x, yy)), line)
            yy += LINE_H
        label = "T: chat" + (f"  ({self.unread} unread)" if self.unread else "")
        if self.buffer:
            label += "  [draft kept]"
        img = f.render(label, True, style.ACCENT if self.unread else style.DIM)
        surface.blit(img, (x, h - 26))
        style.note_text(img.get_rect(topleft=(x, h - 26)), label)

    def _wrapped(self, f: pygame.font.Font, width: int) -> list[tuple[str, tuple]]:
        key = (self._version, self.channel, self.match_channel, width)
        if self._wrap_cache is not None and self._wrap_cache[0] == key:
            return self._wrap_cache[1]
        rows = self._wrap(f, width)
        self._wrap_cache = (key, rows)
        return rows

    def _wrap(self, f: pygame.font.Font, width: int) -> list[tuple[str, tuple]]:
        rows: list[tuple[str, tuple]] = []
        for _t, m in self._visible():
            words = _line(m, self.labels).split(" ")
            cur = ""
            for word in words:
                cand = f"{cur} {word}" if cur else word
                if f.size(cand)[0] <= width:
                    cur = cand
                    continue
                if cur:
                    rows.append((cur, _color(m)))
                while f.size(word)[0] > width and len(word) > 1:  # a very long word: hard cut
                    cut = len(word)
                    while cut > 1 and f.size(word[:cut])[0] > width:
                        cut -= 1
                    rows.append((word[:cut], _color(m)))
                    word = word[cut:]
                cur = word
            rows.append((cur, _color(m)))
        return rows


def _autostart() -> bool:
    """Start (and restart) the local chat service from the game? Yes, except headless
    (SDL dummy video: tests, benchmarks), where a service would outlive the test and listen
    on the LAN; P2P_RACE_CHAT_AUTOSTART=1/0 overrides."""
    env = os.environ.get("P2P_RACE_CHAT_AUTOSTART")
    if env is not None:
        return env.strip() not in ("0", "", "no", "false")
    return os.environ.get("SDL_VIDEODRIVER") != "dummy"


def _line(m: ChatMessage, labels: NameLabels | None = None) -> str:
    return f"{time.strftime('%H:%M', time.localtime(m.t))} {display_body(m, labels)}"


def _color(m: ChatMessage) -> tuple:
    return style.ACCENT2 if m.kind == KIND_SYSTEM else style.TEXT
