"""The in-game leaderboard: all time, one player, recent matches, and a chart of one match.

Data comes from the replicated result store at once (local, instant) and from MongoDB in a
background thread when a URI is configured; the header says which source is shown. The
screen never waits on the network: it only reads the latest loaded `board`.

Keys: Left/Right switch tabs, Up/Down pick a row, Enter opens a player (All time) or the
chart of a match (Recent), Esc goes back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pygame

from p2p_race.ui import style
from p2p_race.ui.screen import Screen
from replication.records import MatchResult
from replication.service import local_leaderboard, read_leaderboard, resolve_uri
from replication.store import ResultStore

log = logging.getLogger(__name__)

TABS = ("All time", "Player", "Recent")
ROWS = 12
LINE_COLORS = [style.ACCENT, style.ACCENT2, style.GOOD, style.DANGER, (200, 120, 255),
               (255, 140, 60), (120, 200, 255), (230, 230, 120)]


class LeaderboardScreen(Screen):
    name = "leaderboard"
    chat_enabled = True

    def __init__(self, app, *, store: ResultStore | None = None, uri: str | None = None,
                 player: str | None = None) -> None:
        super().__init__(app)
        scores_store = getattr(getattr(app, "scores", None), "store", None)
        self.store = store or scores_store or ResultStore(app.data_dir)
        self._own_store = store is None and scores_store is None
        config_uri = getattr(getattr(app, "config", None), "mongodb_uri", "") or ""
        self.uri = uri if uri is not None else resolve_uri(None, config_uri)
        self.tab = 0
        self.index = 0
        self.player = player or getattr(app, "player_name", "Player")
        self.chart: MatchResult | None = None
        self.chart_scores: dict[str, int] = {}
        self.boards: dict[str | None, dict] = {}
        self._lock = threading.Lock()
        self._loading: set[str | None] = set()
        self._load(None)
        self._load(self.player)

    # -- data -------------------------------------------------------------------------
    def _load(self, player: str | None) -> None:
        """Local data now; MongoDB's (when configured) as soon as the worker has it."""
        with self._lock:
            self.boards[player] = local_leaderboard(self.store, ROWS, player, ROWS)
            if not self.uri or player in self._loading:
                return
            self._loading.add(player)
        threading.Thread(target=self._fetch, args=(player,), daemon=True, name="leaderboard-fetch").start()

    def _fetch(self, player: str | None) -> None:
        try:
            board = read_leaderboard(self.store, self.uri, ROWS, player, ROWS)
        except Exception:  # noqa: BLE001 - the local board stays on screen
            log.exception("leaderboard fetch failed")
            board = None
        with self._lock:
            if board is not None:
                self.boards[player] = board
            self._loading.discard(player)

    def board(self) -> dict:
        key = self.player if TABS[self.tab] == "Player" else None
        with self._lock:
            return self.boards.get(key) or {"source": "local", "players": [], "recent": []}

    def rows(self) -> list:
        b = self.board()
        return b["players"] if TABS[self.tab] == "All time" else b["recent"]

    # -- input ------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type != pygame.KEYDOWN:
            return
        if self.chart_scores:
            if ev.key in (pygame.K_ESCAPE, pygame.K_BACKSPACE, pygame.K_RETURN, pygame.K_SPACE):
                self.chart, self.chart_scores = None, {}
            return
        if ev.key in (pygame.K_ESCAPE, pygame.K_BACKSPACE):
            self._sound("select")
            self.app.pop()
        elif ev.key in (pygame.K_LEFT, pygame.K_a, pygame.K_RIGHT, pygame.K_d, pygame.K_TAB):
            step = -1 if ev.key in (pygame.K_LEFT, pygame.K_a) else 1
            self.tab = (self.tab + step) % len(TABS)
            self.index = 0
            self._sound("move")
        elif ev.key in (pygame.K_UP, pygame.K_w):
            self.index = max(0, self.index - 1)
        elif ev.key in (pygame.K_DOWN, pygame.K_s):
            self.index = min(max(0, len(self.rows()) - 1), self.index + 1)
        elif ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            self.open_selected()
        elif ev.key == pygame.K_r and TABS[self.tab] != "All time" and self.rows():
            from p2p_race.ui.screens.replay import open_replay  # R: watch the selected match again

            row = self.rows()[min(self.index, len(self.rows()) - 1)]
            if open_replay(self.app, row["match_id"]):
                self._sound("select")

    def open_selected(self) -> None:
        rows = self.rows()
        if not rows:
            return
        row = rows[min(self.index, len(rows) - 1)]
        if TABS[self.tab] == "All time":
            self.player = row["name"]
            self._load(self.player)
            self.tab, self.index = TABS.index("Player"), 0
        else:
            self.open_chart(row)
        self._sound("select")

    def open_chart(self, recent_row: dict) -> None:
        found = self.store.get(recent_row["match_id"])
        self.chart = self.store.with_samples(found) if found is not None else None
        self.chart_scores = dict(recent_row["scores"]) or {"-": 0}

    def _sound(self, name: str) -> None:
        audio = getattr(self.app, "audio", None)
        if audio is not None:
            try:
                audio.play(name)
            except Exception:  # noqa: BLE001 - a missing sound is not worth a crash
                pass

    def on_exit(self) -> None:
        if self._own_store:
            self.store.close()

    # -- drawing ----------------------------------------------------------------------
    def draw(self, surface: pygame.Surface) -> None:
        surface.blit(style.gradient((style.WIDTH, style.HEIGHT), style.BG, style.BG2), (0, 0))
        style.title(surface, "LEADERBOARD", 18, self.app.time, 56)
        b = self.board()
        src = "MongoDB" if b["source"] == "mongodb" else "this peer (local)"
        note = "  (MongoDB unavailable)" if b.get("mongodb_error") else ""
        style.text(surface, f"source: {src}{note}", (style.WIDTH // 2, 80), 20, style.DIM, anchor="midtop", shadow=1)
        if self.chart_scores:
            self.draw_chart(surface)
            style.key_hint(surface, "Esc / Enter: back")
            return
        for i, name in enumerate(TABS):
            r = pygame.Rect(style.WIDTH // 2 - 270 + i * 180, 106, 170, 34)
            sel = i == self.tab
            style.panel(surface, r, alpha=230 if sel else 150, edge=style.ACCENT if sel else (70, 80, 140), radius=8)
            label = f"{name}: {self.player}"[:18] if name == "Player" else name
            style.text(surface, label, r.center, 24, style.ACCENT if sel else style.TEXT, anchor="center", shadow=1)
        panel = style.panel(surface, (style.WIDTH // 2 - 340, 150, 680, 410))
        if TABS[self.tab] == "All time":
            self.draw_players(surface, panel, b["players"])
        elif TABS[self.tab] == "Player":
            self.draw_player(surface, panel, b)
        else:
            self.draw_recent(surface, panel, b["recent"], 16)
        style.key_hint(surface, "Left/Right: tab   Up/Down: select   Enter: open   R: replay   Esc: back")

    def _highlight(self, surface: pygame.Surface, panel: pygame.Rect, y: int, i: int) -> None:
        if i == self.index:
            pygame.draw.rect(surface, (70, 60, 120), (panel.left + 8, y - 3, panel.w - 16, 28), border_radius=6)

    def draw_players(self, surface: pygame.Surface, panel: pygame.Rect, players: list[dict]) -> None:
        y = panel.top + 14
        for label, x, anchor in (("#", 30, "topleft"), ("PLAYER", 70, "topleft"), ("BEST", 420, "topright"),
                                 ("MATCHES", 540, "topright"), ("WINS", 640, "topright")):
            style.text(surface, label, (panel.left + x, y), 20, style.DIM, anchor=anchor, shadow=1)
        if not players:
            style.text(surface, "No match results yet: race on the LAN!", (panel.centerx, panel.top + 160), 28,
                       anchor="midtop")
        for i, p in enumerate(players[:ROWS]):
            yy = y + 32 + i * 30
            self._highlight(surface, panel, yy, i)
            c = style.ACCENT if p["name"] == self.player else style.TEXT
            style.text(surface, str(i + 1), (panel.left + 30, yy), 24, c, shadow=1)
            style.text(surface, p["name"][:24], (panel.left + 70, yy), 24, c, shadow=1)
            for key, x in (("best", 420), ("matches", 540), ("wins", 640)):
                style.text(surface, f"{p[key]:,}", (panel.left + x, yy), 24, c, anchor="topright", shadow=1)

    def draw_player(self, surface: pygame.Surface, panel: pygame.Rect, b: dict) -> None:
        stats = b["players"][0] if b["players"] else None
        if stats is None:
            style.text(surface, f"No matches for {self.player} yet", (panel.centerx, panel.top + 40), 28,
                       anchor="midtop")
            return
        x = panel.left + 30
        for k, (label, key) in enumerate((("Best", "best"), ("Matches", "matches"), ("Wins", "wins"))):
            cx = x + 40 + k * 210
            style.text(surface, label, (cx, panel.top + 14), 20, style.DIM, shadow=1)
            style.text(surface, f"{stats[key]:,}", (cx, panel.top + 36), 36, style.ACCENT2, shadow=2)
        top = pygame.Rect(panel.left, panel.top + 80, panel.w, panel.h - 80)
        self.draw_recent(surface, top, b["recent"], 10)

    def draw_recent(self, surface: pygame.Surface, panel: pygame.Rect, recent: list[dict], size: int) -> None:
        y = panel.top + 14
        for label, x in (("WHEN", 30), ("WINNER", 160), ("SCORES", 330)):
            style.text(surface, label, (panel.left + x, y), 20, style.DIM, shadow=1)
        if not recent:
            style.text(surface, "No matches yet", (panel.centerx, panel.top + 120), 28, anchor="midtop")
        for i, m in enumerate(recent[:size]):
            yy = y + 32 + i * 30
            if yy > panel.bottom - 30:
                break
            if TABS[self.tab] == "Recent":
                self._highlight(surface, panel, yy, i)
            when = dt.datetime.fromtimestamp(m["t"]).strftime("%d %b %H:%M")
            style.text(surface, when, (panel.left + 30, yy), 22, style.DIM, shadow=1)
            style.text(surface, m["winner"][:14], (panel.left + 160, yy), 24, style.ACCENT, shadow=1)
            scores = "  ".join(f"{n} {s:,}" for n, s in sorted(m["scores"].items(), key=lambda kv: -kv[1]))
            style.text(surface, scores[:40], (panel.left + 330, yy), 22, style.TEXT, shadow=1)

    def draw_chart(self, surface: pygame.Surface) -> None:
        """Score over time when the result carries samples, else a bar chart of final scores."""
        panel = style.panel(surface, (style.WIDTH // 2 - 340, 110, 680, 450))
        r = self.chart
        name = r.match_id if r else "match"
        winner = r.winner_name if r else max(self.chart_scores, key=self.chart_scores.get)
        style.text(surface, f"{name}: winner {winner}", (panel.centerx, panel.top + 12), 26, style.ACCENT,
                   anchor="midtop")
        area = pygame.Rect(panel.left + 70, panel.top + 60, panel.w - 110, panel.h - 130)
        pygame.draw.line(surface, style.DIM, area.bottomleft, area.bottomright, 2)
        pygame.draw.line(surface, style.DIM, area.bottomleft, area.topleft, 2)
        if r is not None and any(x.samples for x in r.racers):
            self._line_chart(surface, area, r)
        else:
            self._bar_chart(surface, area, winner)

    def _bar_chart(self, surface: pygame.Surface, area: pygame.Rect, winner: str) -> None:
        items = sorted(self.chart_scores.items(), key=lambda kv: -kv[1])
        top = max(1, max(s for _, s in items))
        w = area.w // max(1, len(items))
        for i, (n, s) in enumerate(items):
            h = int(area.h * s / top)
            bar = pygame.Rect(area.left + i * w + w // 6, area.bottom - h, w * 2 // 3, h)
            pygame.draw.rect(surface, style.ACCENT if n == winner else style.ACCENT2, bar, border_radius=4)
            style.text(surface, f"{s:,}", (bar.centerx, bar.top - 24), 22, anchor="midtop", shadow=1)
            style.text(surface, n[:10], (bar.centerx, area.bottom + 8), 22, style.DIM, anchor="midtop", shadow=1)

    def _line_chart(self, surface: pygame.Surface, area: pygame.Rect, r: MatchResult) -> None:
        top = max(1, max((max(x.samples) for x in r.racers if x.samples), default=1))
        longest = max(len(x.samples) for x in r.racers)
        for i, racer in enumerate(sorted(r.racers, key=lambda x: -x.score)):
            color = LINE_COLORS[i % len(LINE_COLORS)]
            pts = [(area.left + area.w * k / max(1, longest - 1), area.bottom - area.h * s / top)
                   for k, s in enumerate(racer.samples)]
            if len(pts) >= 2:
                pygame.draw.lines(surface, color, False, pts, 3)
            style.text(surface, f"{racer.name} {racer.score:,}", (area.right - 150, area.top + 4 + i * 24), 22,
                       color, shadow=1)
        style.text(surface, "score", (area.left - 8, area.top), 18, style.DIM, anchor="topright", shadow=1)
        style.text(surface, "time (s)", (area.right, area.bottom + 8), 18, style.DIM, anchor="topright", shadow=1)
