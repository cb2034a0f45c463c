"""The scores screen: one place for every score, three tabs, one meaning of "best".

- Mine: your best run (any race: practice or match, the number the menu's badge shows),
  your best match score, matches and wins, and your best runs;
- LAN: every player of the LAN's signed match results by best match score (bots hidden
  unless B shows them); Enter opens a player's page;
- Recent: the latest matches, named by time and players; Enter opens the chart of one
  (score over time, or the final scores) with values on both axes.

Data comes from the replicated result store at once (local, instant) and from MongoDB in a
background thread when a URI is configured; the header says which source is shown. Another
background thread first pulls the results this peer lacks from the LAN's live peers
(p2p_race/lanpull.py) and reloads the board. The screen never waits on the network: it only
reads the latest loaded `board`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

import pygame

from p2p_race import lanpull
from p2p_race.ui import style
from p2p_race.ui.screen import Screen
from replication.records import MatchResult
from replication.service import local_leaderboard, read_leaderboard, resolve_uri
from replication.store import ResultStore

log = logging.getLogger(__name__)

TABS = ("Mine", "LAN", "Recent")
ROWS = 12
LINE_COLORS = [style.ACCENT, style.ACCENT2, style.GOOD, style.DANGER, (200, 120, 255),
               (255, 140, 60), (120, 200, 255), (230, 230, 120)]


def match_name(t: float, names: list[str], most: int = 3) -> str:
    """A match as people remember it: when, and who raced ("01 Dec 20:41  Ada, Zoe, Max +2")."""
    when = dt.datetime.fromtimestamp(t).strftime("%d %b %H:%M")
    who = ", ".join(names[:most]) + (f" +{len(names) - most}" if len(names) > most else "")
    return f"{when}  {who}"


def bot_identities(data_dir: Path | str | None) -> set[str]:
    """Peer ids of the bots this machine's lobby started (their keys live in <data>/bots/)."""
    out: set[str] = set()
    if data_dir is None:
        return out
    from p2p_race.identity import KEY_FILE, load_or_create

    for key in sorted(Path(data_dir, "bots").glob(f"*/{KEY_FILE}"))[:64]:
        try:
            out.add(load_or_create(key.parent).peer_id)
        except Exception:  # noqa: BLE001 - an unreadable bot key only means it is not filtered
            continue
    return out


def is_bot(player: dict, bot_ids: set[str]) -> bool:
    """A lobby bot of this machine, or a racer under one of the bot names."""
    from p2p_race.bots import BOT_NAMES

    return player.get("peer_id") in bot_ids or str(player.get("name", "")).rstrip("0123456789") in BOT_NAMES


def nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round axis values from 0 to at least `top` (1, 2 or 5 times a power of ten apart)."""
    import math

    top = max(1.0, float(top))
    raw = top / n
    mag = 10 ** math.floor(math.log10(raw))
    step = max(1.0, next(k * mag for k in (1, 2, 5, 10) if k * mag >= raw))  # scores are whole numbers
    count = math.ceil(top / step - 1e-9)
    return [i * step for i in range(count + 1)]


class LeaderboardScreen(Screen):
    name = "scores"
    chat_enabled = True

    def __init__(self, app, *, store: ResultStore | None = None, uri: str | None = None,
                 player: str | None = None, tab: str = "Mine", lan_pull: bool | None = None) -> None:
        super().__init__(app)
        scores_store = getattr(getattr(app, "scores", None), "store", None)
        self.store = store or scores_store or ResultStore(app.data_dir)
        self._own_store = store is None and scores_store is None
        config_uri = getattr(getattr(app, "config", None), "mongodb_uri", "") or ""
        self.uri = uri if uri is not None else resolve_uri(None, config_uri)
        self.tab = TABS.index(tab)
        self.index = 0
        self.me = getattr(app, "player_name", "Player")
        self.player: str | None = player  # a player's page (from the LAN tab), None = the tabs
        self.show_bots = False
        self.bot_ids = bot_identities(getattr(app, "data_dir", None))
        self.chart: MatchResult | None = None
        self.chart_scores: dict[str, int] = {}
        self.chart_t = 0.0  # when the charted match finished (its name when the record is not here)
        self.boards: dict[str | None, dict] = {}
        self._lock = threading.Lock()
        self._loading: set[str | None] = set()
        self._load(None)
        self._load(self.me)
        if player:
            self._load(player)
        self.lan_note = ""
        self._pulling = False
        self._exited = False
        if lanpull.enabled_in_game() if lan_pull is None else lan_pull:
            self._pulling = True
            self.lan_note = "pulling results from the LAN..."
            threading.Thread(target=self._pull, daemon=True, name="leaderboard-lan-pull").start()

    def _pull(self) -> None:
        try:
            report = lanpull.pull_for_app(self.app, self.store)
            note = (f"+{report.added} from {len(report.peers)} LAN peer(s)" if report.peers
                    else "no LAN peer answered")
        except Exception:  # noqa: BLE001 - the local board stays on screen
            log.exception("leaderboard LAN pull failed")
            report, note = None, "LAN pull failed"
        with self._lock:
            self._pulling = False
            self.lan_note = note
            exited = self._exited
        if exited:
            if self._own_store:
                self.store.close()
            return
        if report is not None and report.added:
            for key in (None, self.me, self.player):
                self._load(key)

    # -- data -------------------------------------------------------------------------
    def _load(self, player: str | None) -> None:
        """Local data now; MongoDB's (when configured) as soon as the worker has it."""
        with self._lock:
            self.boards[player] = local_leaderboard(self.store, 50, player, ROWS)
            if not self.uri or player in self._loading:
                return
            self._loading.add(player)
        threading.Thread(target=self._fetch, args=(player,), daemon=True, name="leaderboard-fetch").start()

    def _fetch(self, player: str | None) -> None:
        try:
            board = read_leaderboard(self.store, self.uri, 50, player, ROWS)
        except Exception:  # noqa: BLE001 - the local board stays on screen
            log.exception("leaderboard fetch failed")
            board = None
        with self._lock:
            if board is not None:
                self.boards[player] = board
            self._loading.discard(player)

    @property
    def view(self) -> str:
        return f"Player: {self.player}" if self.player else TABS[self.tab]

    def board(self, player: str | None = None) -> dict:
        key = player if player is not None else (self.player if self.player else None)
        with self._lock:
            return self.boards.get(key) or {"source": "local", "players": [], "recent": []}

    def players(self) -> list[dict]:
        rows = self.board_all()["players"]
        return [p for p in rows if self.show_bots or not is_bot(p, self.bot_ids)]

    def board_all(self) -> dict:
        with self._lock:
            return self.boards.get(None) or {"source": "local", "players": [], "recent": []}

    def my_runs(self, n: int = 8) -> list[tuple[str, int, float, str, float]]:
        """Your best runs, practice and matches: (name, score, t, mode, distance)."""
        scores = getattr(self.app, "scores", None)
        if scores is not None:
            runs = [(e.name, e.score, e.t, e.mode, e.distance) for e in scores.top(200)]
        else:
            runs = self.store.top_runs(200)
        return [r for r in runs if r[0] == self.me][:n]

    def rows(self) -> list:
        """The selectable rows of the current view."""
        if self.player:
            return self.board()["recent"]
        tab = TABS[self.tab]
        if tab == "LAN":
            return self.players()[:ROWS]
        if tab == "Recent":
            return self.board_all()["recent"]
        return self.board(self.me)["recent"]

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
            if self.player:
                self.player, self.index = None, 0
            else:
                self.app.pop()
        elif ev.key in (pygame.K_LEFT, pygame.K_a, pygame.K_RIGHT, pygame.K_d, pygame.K_TAB):
            step = -1 if ev.key in (pygame.K_LEFT, pygame.K_a) else 1
            self.player = None
            self.tab = (self.tab + step) % len(TABS)
            self.index = 0
            self._sound("move")
        elif ev.key in (pygame.K_UP, pygame.K_w):
            self.index = max(0, self.index - 1)
        elif ev.key in (pygame.K_DOWN, pygame.K_s):
            self.index = min(max(0, len(self.rows()) - 1), self.index + 1)
        elif ev.key == pygame.K_b:
            self.show_bots = not self.show_bots
            self.index = 0
        elif ev.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
            self.open_selected()
        elif ev.key == pygame.K_r:
            self.watch_selected()

    def watch_selected(self) -> None:
        """R: watch the selected match again (p2p_race.ui.screens.replay)."""
        from p2p_race.ui.screens.replay import open_replay

        rows = self.rows()
        row = rows[min(self.index, len(rows) - 1)] if rows else {}
        if "match_id" in row and open_replay(self.app, row["match_id"]):
            self._sound("select")

    def open_selected(self) -> None:
        rows = self.rows()
        if not rows:
            return
        row = rows[min(self.index, len(rows) - 1)]
        if "match_id" not in row:  # a player of the LAN tab: their page
            self.player = row["name"]
            self._load(self.player)
            self.index = 0
        else:
            self.open_chart(row)
        self._sound("select")

    def open_chart(self, recent_row: dict) -> None:
        found = self.store.get(recent_row["match_id"])
        self.chart = self.store.with_samples(found) if found is not None else None
        self.chart_scores = dict(recent_row["scores"]) or {"-": 0}
        self.chart_t = recent_row.get("t", 0.0)

    def _sound(self, name: str) -> None:
        audio = getattr(self.app, "audio", None)
        if audio is not None:
            try:
                audio.play(name)
            except Exception:  # noqa: BLE001 - a missing sound is not worth a crash
                pass

    def on_exit(self) -> None:
        with self._lock:
            self._exited = True
            pulling = self._pulling
        if self._own_store and not pulling:  # else the pull thread closes it when done
            self.store.close()

    # -- drawing ----------------------------------------------------------------------
    def draw(self, surface: pygame.Surface) -> None:
        surface.blit(style.gradient((style.WIDTH, style.HEIGHT), style.BG, style.BG2), (0, 0))
        style.title(surface, "SCORES", 18, self.app.time, 56)
        b = self.board_all()
        src = "MongoDB" if b["source"] == "mongodb" else "this machine"
        note = "  (MongoDB unavailable)" if b.get("mongodb_error") else ""
        if self.lan_note:
            note += f"  -  {self.lan_note}"
        style.text(surface, f"from {src}{note}", (style.WIDTH // 2, 80), 20, style.DIM, anchor="midtop", shadow=1)
        if self.chart_scores:
            self.draw_chart(surface)
            style.key_hint(surface, "Esc / Enter: back")
            return
        for i, name in enumerate(TABS):
            r = pygame.Rect(style.WIDTH // 2 - 270 + i * 180, 106, 170, 34)
            sel = i == self.tab
            style.panel(surface, r, alpha=230 if sel else 150, edge=style.ACCENT if sel else (70, 80, 140), radius=8)
            style.text(surface, name, r.center, 24, style.ACCENT if sel else style.TEXT, anchor="center", shadow=1)
        panel = style.panel(surface, (style.WIDTH // 2 - 340, 150, 680, 410))
        if self.player:
            self.draw_player(surface, panel, self.player)
            hint = "Up/Down: select   Enter: chart   R: replay   Esc: back to LAN"
        elif TABS[self.tab] == "Mine":
            self.draw_mine(surface, panel)
            hint = "Left/Right: tab   Up/Down: select   Enter: chart   R: replay   Esc: back"
        elif TABS[self.tab] == "LAN":
            self.draw_players(surface, panel, self.players())
            hint = f"Left/Right: tab   Enter: player   B: {'hide' if self.show_bots else 'show'} bots   Esc: back"
        else:
            self.draw_recent(surface, panel, b["recent"], 12)
            hint = "Left/Right: tab   Up/Down: select   Enter: chart   R: replay   Esc: back"
        style.key_hint(surface, hint)

    def _highlight(self, surface: pygame.Surface, panel: pygame.Rect, y: int, i: int) -> None:
        if i == self.index:
            pygame.draw.rect(surface, (70, 60, 120), (panel.left + 8, y - 3, panel.w - 16, 28), border_radius=6)

    def _stats(self, surface: pygame.Surface, panel: pygame.Rect, items: list[tuple[str, int]]) -> None:
        w = (panel.w - 40) // len(items)
        for k, (label, value) in enumerate(items):
            cx = panel.left + 20 + k * w + w // 2
            style.text(surface, label, (cx, panel.top + 12), 20, style.DIM, anchor="midtop", shadow=1)
            style.text(surface, f"{value:,}", (cx, panel.top + 34), 36, style.ACCENT2, anchor="midtop", shadow=2)

    def draw_mine(self, surface: pygame.Surface, panel: pygame.Rect) -> None:
        stats = (self.board(self.me)["players"] or [{"best": 0, "matches": 0, "wins": 0}])[0]
        best = self.app.scores.best(self.me) if hasattr(self.app, "scores") else stats["best"]
        self._stats(surface, panel, [("BEST RUN", best), ("BEST MATCH", stats["best"]),
                                     ("MATCHES", stats["matches"]), ("WINS", stats["wins"])])
        y = panel.top + 92
        style.text(surface, "YOUR BEST RUNS", (panel.left + 30, y), 20, style.DIM, shadow=1)
        runs = self.my_runs(4)
        if not runs:
            style.text(surface, "No races yet: choose Practice or Play on LAN!", (panel.centerx, y + 30), 24,
                       anchor="midtop")
        for i, (_name, score, t, mode, distance) in enumerate(runs):
            yy = y + 26 + i * 26
            style.text(surface, dt.datetime.fromtimestamp(t).strftime("%d %b %H:%M"), (panel.left + 30, yy), 22,
                       style.DIM, shadow=1)
            style.text(surface, mode, (panel.left + 190, yy), 22, style.TEXT, shadow=1)
            style.text(surface, f"{distance / 1000:.2f} km", (panel.left + 420, yy), 22, style.TEXT,
                       anchor="topright", shadow=1)
            style.text(surface, f"{score:,}", (panel.right - 30, yy), 22, style.ACCENT, anchor="topright", shadow=1)
        top = pygame.Rect(panel.left, y + 140, panel.w, panel.bottom - y - 140)
        style.text(surface, "YOUR MATCHES", (panel.left + 30, top.top), 20, style.DIM, shadow=1)
        self.draw_recent(surface, pygame.Rect(top.left, top.top + 28, top.w, top.h - 28), self.rows(), 5,
                         header=False)

    def draw_players(self, surface: pygame.Surface, panel: pygame.Rect, players: list[dict]) -> None:
        y = panel.top + 14
        for label, x, anchor in (("#", 30, "topleft"), ("PLAYER", 70, "topleft"), ("BEST MATCH", 440, "topright"),
                                 ("MATCHES", 550, "topright"), ("WINS", 650, "topright")):
            style.text(surface, label, (panel.left + x, y), 20, style.DIM, anchor=anchor, shadow=1)
        if not players:
            style.text(surface, "No match results yet: race on the LAN!", (panel.centerx, panel.top + 160), 28,
                       anchor="midtop")
        for i, p in enumerate(players[:ROWS]):
            yy = y + 32 + i * 30
            self._highlight(surface, panel, yy, i)
            c = style.ACCENT if p["name"] == self.me else style.TEXT
            style.text(surface, str(i + 1), (panel.left + 30, yy), 24, c, shadow=1)
            label = p["name"][:20] + (" (bot)" if is_bot(p, self.bot_ids) else "")
            style.text(surface, label, (panel.left + 70, yy), 24, c, shadow=1)
            for key, x in (("best", 440), ("matches", 550), ("wins", 650)):
                style.text(surface, f"{p[key]:,}", (panel.left + x, yy), 24, c, anchor="topright", shadow=1)

    def draw_player(self, surface: pygame.Surface, panel: pygame.Rect, player: str) -> None:
        b = self.board(player)
        stats = b["players"][0] if b["players"] else None
        if stats is None:
            style.text(surface, f"No matches for {player} yet", (panel.centerx, panel.top + 40), 28,
                       anchor="midtop")
            return
        style.text(surface, player, (panel.left + 30, panel.top + 12), 26, style.ACCENT, shadow=1)
        inner = pygame.Rect(panel.left + 200, panel.top, panel.w - 200, 80)
        self._stats(surface, inner, [("BEST MATCH", stats["best"]), ("MATCHES", stats["matches"]),
                                     ("WINS", stats["wins"])])
        self.draw_recent(surface, pygame.Rect(panel.left, panel.top + 80, panel.w, panel.h - 80), b["recent"], 10)

    def draw_recent(self, surface: pygame.Surface, panel: pygame.Rect, recent: list[dict], size: int,
                    header: bool = True) -> None:
        y = panel.top + 14
        if header:
            for label, x, anchor in (("MATCH", 30, "topleft"), ("WINNER", 470, "topleft"),
                                     ("SCORE", 650, "topright")):
                style.text(surface, label, (panel.left + x, y), 20, style.DIM, anchor=anchor, shadow=1)
        if not recent:
            style.text(surface, "No matches yet", (panel.centerx, y + 40), 26, anchor="midtop")
        for i, m in enumerate(recent[:size]):
            yy = (y + 30 if header else panel.top) + i * 30
            if yy > panel.bottom - 30:
                break
            self._highlight(surface, panel, yy, i)
            names = [n for n, _s in sorted(m["scores"].items(), key=lambda kv: -kv[1])]
            title = match_name(m["t"], names)
            while len(title) > 8 and style.font(22).size(title)[0] > 420:
                title = title[:-3].rstrip(", ") + "."
            style.text(surface, title, (panel.left + 30, yy), 22, style.TEXT, shadow=1)
            style.text(surface, m["winner"][:12], (panel.left + 470, yy), 22, style.ACCENT, shadow=1)
            style.text(surface, f"{max(m['scores'].values(), default=0):,}", (panel.left + 650, yy), 22,
                       style.TEXT, anchor="topright", shadow=1)

    def draw_chart(self, surface: pygame.Surface) -> None:
        """Score over time when the result carries samples, else a bar chart of final scores."""
        panel = style.panel(surface, (style.WIDTH // 2 - 340, 110, 680, 450))
        r = self.chart
        names = [n for n, _s in sorted(self.chart_scores.items(), key=lambda kv: -kv[1])]
        title = match_name(r.finished_at if r else self.chart_t, names, most=4)  # as Recent names it
        winner = r.winner_name if r else names[0]
        style.text(surface, f"{title}: {winner} won", (panel.centerx, panel.top + 12), 24, style.ACCENT,
                   anchor="midtop")
        area = pygame.Rect(panel.left + 80, panel.top + 60, panel.w - 120, panel.h - 130)
        if r is not None and any(x.samples for x in r.racers):
            self._line_chart(surface, area, r)
        else:
            self._bar_chart(surface, area, winner)
        pygame.draw.line(surface, style.DIM, area.bottomleft, area.bottomright, 2)
        pygame.draw.line(surface, style.DIM, area.bottomleft, area.topleft, 2)

    def _y_axis(self, surface: pygame.Surface, area: pygame.Rect, top: float) -> float:
        """Score values along the left edge, with faint grid lines; returns the axis' top value."""
        ticks = nice_ticks(top)
        high = ticks[-1] or 1
        for v in ticks:
            y = area.bottom - area.h * v / high
            if v:
                pygame.draw.line(surface, (60, 66, 110), (area.left, y), (area.right, y), 1)
            style.text(surface, f"{int(v):,}", (area.left - 8, y), 18, style.DIM, anchor="midright", shadow=1)
        return high

    def _bar_chart(self, surface: pygame.Surface, area: pygame.Rect, winner: str) -> None:
        items = sorted(self.chart_scores.items(), key=lambda kv: -kv[1])
        high = self._y_axis(surface, area, max(1, max(s for _, s in items)))
        w = area.w // max(1, len(items))
        for i, (n, s) in enumerate(items):
            h = int(area.h * s / high)
            bar = pygame.Rect(area.left + i * w + w // 6, area.bottom - h, w * 2 // 3, h)
            pygame.draw.rect(surface, style.ACCENT if n == winner else style.ACCENT2, bar, border_radius=4)
            style.text(surface, n[:10], (bar.centerx, area.bottom + 8), 22, style.DIM, anchor="midtop", shadow=1)

    def _line_chart(self, surface: pygame.Surface, area: pygame.Rect, r: MatchResult) -> None:
        top = max(1, max((max(x.samples) for x in r.racers if x.samples), default=1))
        high = self._y_axis(surface, area, top)
        longest = max(len(x.samples) for x in r.racers)
        span = max(1, longest - 1)  # one sample per race second
        for v in nice_ticks(span, 5):
            if v > span:
                break
            x = area.left + area.w * v / span
            style.text(surface, f"{int(v)}", (x, area.bottom + 6), 18, style.DIM, anchor="midtop", shadow=1)
        for i, racer in enumerate(sorted(r.racers, key=lambda x: -x.score)):
            color = LINE_COLORS[i % len(LINE_COLORS)]
            pts = [(area.left + area.w * k / span, area.bottom - area.h * s / high)
                   for k, s in enumerate(racer.samples)]
            if len(pts) >= 2:
                pygame.draw.lines(surface, color, False, pts, 3)
            style.text(surface, f"{racer.name} {racer.score:,}", (area.left + 12, area.top + 4 + i * 24), 22,
                       color, shadow=1)
        style.text(surface, "time (s)", (area.right, area.bottom + 28), 18, style.DIM, anchor="topright", shadow=1)
