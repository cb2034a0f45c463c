"""The LAN lobby: who is nearby, the matches running, quick play, hosting, ready-up, bots.

Everything network lives in a `PeerRuntime` (its own thread); this screen only reads
`runtime.snapshot()` and posts intents, so a slow network never stalls a frame. When the
match counts down, the race screen (racer) or the spectate screen (spectator) is pushed
over the lobby; the signed result comes back as `MatchResultScreen`. The lobby keeps
running under them (`live`): host changes become a small toast, not chat lines mid-race.

Keys: Space quick play (join the open match with the most racers, or host one), Up/Down
pick a match, Enter join, S spectate, H host, R ready, G start now (host), B add a bot,
X leave the match, I details (ids, terms), Esc back to the menu.
"""

from __future__ import annotations

import logging
import math
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygame

from assets.sprites import CAR_COLORS
from p2p_race.match import messages as m
from p2p_race.match.events import (
    CountdownSet,
    Diverged,
    HostChanged,
    Joined,
    Kicked,
    Refused,
    RematchOffered,
    Started,
)
from p2p_race.match.state import Listing, MatchRules
from p2p_race.ranking import pick_match, ranked
from p2p_race.ui import style
from p2p_race.ui.screen import Screen

log = logging.getLogger(__name__)

TIME_LIMITS = (30.0, 60.0, 90.0, 120.0, 180.0, 300.0)
DIFFICULTIES = ("easy", "normal", "hard")
BOT_NAMES = ("Ada", "Blaze", "Comet", "Dash", "Echo", "Flint", "Gale", "Hex", "Ivy", "Jet", "Kite", "Lux",
             "Moss", "Nova", "Onyx")


def make_runtime(app: Any, args: Any = None) -> Any:
    """The app's peer runtime (one per game process), started on first use."""
    rt = getattr(app, "runtime", None)
    if rt is not None:
        return rt
    from discovery import bind_host
    from p2p_race import netinfo
    from p2p_race.identity import load_or_create
    from p2p_race.runtime import PeerRuntime
    from p2p_race.sim import plausible

    cfg = app.config
    interface = (getattr(args, "interface", None) or cfg.interface) or None
    peers = [*(getattr(args, "peer", None) or []), *cfg.peers]
    from p2p_race.match.state import MatchConfig

    # the host starts by itself once at least two racers are all ready, after a countdown
    # everyone sees in the lobby (so a latecomer can still join); G starts at once
    rt = PeerRuntime(load_or_create(app.data_dir), app.player_name, data_dir=app.data_dir,
                     config=MatchConfig(auto_start=2, auto_start_delay=AUTO_START_DELAY),
                     host=bind_host(interface), port=cfg.game_port or netinfo.DEFAULT_GAME_PORT, interface=interface,
                     peers=peers, mdns=not getattr(args, "no_mdns", False),
                     mongodb_uri=getattr(args, "mongodb_uri", None) or cfg.mongodb_uri or None, plausible=plausible,
                     notify=_chat_notifier(app), chat_port=_chat_port(app))
    rt.start_thread()
    app.runtime = rt
    return rt


def _chat_port(app: Any) -> int:
    """The port of this peer's running chat service, advertised in our DNS-SD TXT `cp`."""
    try:
        from chat.supervisor import running_info

        info = running_info(app.data_dir)
    except Exception:  # noqa: BLE001 - no chat service: advertise none
        return 0
    return int(info.get("port", 0)) if info else 0


def _chat_notifier(app: Any) -> Any:
    """Posts match notices (host changed, winner) through the game's chat client, if any."""
    overlay = app.chat
    client = getattr(overlay, "client", None)
    if client is None:
        return None

    def notify(text: str, channel: str) -> None:
        client.notice(text, channel)

    return notify


PHASE_WORDS = {"lobby": "open", "countdown": "starting", "racing": "racing", "finished": "over"}
STATE_WORDS = {"lobby": "in the lobby", "hosting": "hosting", "racing": "in a match", "spectating": "watching"}
AUTO_START_DELAY = 5.0  # s from "everyone is ready" to the host's countdown
QUICK_WAIT = 1.5  # s a quick play waits for the LAN's announcements before hosting its own
PANEL_H = 334  # the three panels; under them the status lines and the chat feed
ROWS = 12


def quick_pick(listings: list[Any], exclude: set[str] | frozenset = frozenset()) -> Any | None:
    """Quick play's match (`p2p_race.ranking.pick_match`); None when there is none (then we host)."""
    return pick_match(listings, to_race=True, exclude=exclude)


class LobbyScreen(Screen):
    name = "lobby"
    chat_enabled = True
    live = True  # follows the match (events, toasts) while the race screen is on top

    def __init__(self, app, *, runtime: Any = None, spectate: str | None = None, args: Any = None,
                 quick: bool = False) -> None:
        super().__init__(app)
        self.rt = runtime or make_runtime(app, args)
        if hasattr(self.rt, "set_color"):
            self.rt.set_color(app.config.car_color)  # our wish; the roster decides (match/colors.py)
        self.owns_runtime = runtime is None
        self.auto_spectate = spectate  # "*" = the first match seen
        self.quick_at: float | None = QUICK_WAIT if quick else None  # `play --join`: quick play then
        self.details = False
        self.clock = 0.0
        self.kick_sel = 0
        self._all_ready_since: float | None = None  # members' estimate of the host's auto-start
        self._host_seen: tuple[Any, Any] = (None, None)  # (match, host) of the last host event
        self._rematching = False  # our rematch is on its way (its Joined says so)
        self.mode = "browse"
        self.sel = 0
        self.host_field = 0
        self.host_opts = {"racers": 4, "limit": 2, "difficulty": 1}
        self.snap = self.rt.snapshot()
        self.racing_match: str | None = None
        self._chat_match: str | None = None
        self.bots: list[subprocess.Popen] = []
        self.message = ""

    # -- life cycle -----------------------------------------------------------------------
    def on_exit(self) -> None:
        for p in self.bots:
            if p.poll() is None:
                p.terminate()
        if self.owns_runtime:
            self.rt.stop_thread()
            if getattr(self.app, "runtime", None) is self.rt:
                self.app.runtime = None

    # -- input ------------------------------------------------------------------------------
    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type != pygame.KEYDOWN:
            return
        if self.mode == "host":
            self._host_keys(ev)
            return
        if self.mode == "kick":
            self._kick_keys(ev)
            return
        k = ev.key
        listings = self.listings()
        if k in (pygame.K_UP, pygame.K_DOWN) and listings:
            self.sel = (self.sel + (1 if k == pygame.K_DOWN else -1)) % len(listings)
        elif k == pygame.K_SPACE:
            self.quick_play()
        elif k == pygame.K_i:
            self.details = not self.details
        elif k == pygame.K_h:
            self.mode = "host"
        elif k in (pygame.K_RETURN, pygame.K_j) and listings:
            pick = listings[self.sel % len(listings)]
            if self.snap.match is not None and pick.match_id == self.snap.match.match_id:
                self.message = "you are in this match: R when ready"
            else:
                self.rt.join(pick.match_id, m.ROLE_RACER)  # not ready: R says so
                self.message = "joining..."
        elif k == pygame.K_s and listings:
            self.rt.join(listings[self.sel % len(listings)].match_id, m.ROLE_SPECTATOR)
            self.message = "joining as spectator..."
        elif k == pygame.K_r:
            ms = self.snap.match
            me = next((r for r in ms.racers if r.peer_id == self.snap.peer_id), None) if ms else None
            self.rt.ready(not (me.ready if me else False))
        elif k == pygame.K_g:
            self.rt.start_match()
        elif k == pygame.K_k:
            if self.kick_choices():
                self.mode, self.kick_sel = "kick", 0
            else:
                self.message = "only the host can kick, and only someone else in the match"
        elif k == pygame.K_b:
            self.add_bot()
        elif k == pygame.K_x:
            self.rt.leave()
            self.racing_match = None
        elif k == pygame.K_ESCAPE:
            self.rt.leave()
            self.app.pop()
        self.app.audio.play("select")

    def _host_keys(self, ev: pygame.event.Event) -> None:
        k = ev.key
        fields = ("racers", "limit", "difficulty")
        if k in (pygame.K_UP, pygame.K_DOWN):
            self.host_field = (self.host_field + (1 if k == pygame.K_DOWN else -1)) % len(fields)
        elif k in (pygame.K_LEFT, pygame.K_RIGHT):
            d = 1 if k == pygame.K_RIGHT else -1
            f = fields[self.host_field]
            if f == "racers":
                self.host_opts[f] = max(1, min(m.MAX_RACERS, self.host_opts[f] + d))
            elif f == "limit":
                self.host_opts[f] = (self.host_opts[f] + d) % len(TIME_LIMITS)
            else:
                self.host_opts[f] = (self.host_opts[f] + d) % len(DIFFICULTIES)
        elif k == pygame.K_RETURN:
            self.host_match()
            self.mode = "browse"
        elif k == pygame.K_ESCAPE:
            self.mode = "browse"

    def kick_choices(self) -> list[tuple[str, str]]:
        """(peer id, name) of whom the host may kick: everyone else in the match, in its lobby."""
        ms = self.snap.match
        if ms is None or not ms.is_host or ms.phase != "lobby":
            return []
        names = {p.id: p.name for p in self.snap.peers}
        return [(r.peer_id, r.name) for r in ms.racers if r.peer_id != self.snap.peer_id] + [
            (sid, names.get(sid, sid[:8])) for sid in ms.spectators if sid != self.snap.peer_id]

    def _kick_keys(self, ev: pygame.event.Event) -> None:
        choices = self.kick_choices()
        k = ev.key
        if not choices or k == pygame.K_ESCAPE:
            self.mode = "browse"
        elif k in (pygame.K_UP, pygame.K_DOWN):
            self.kick_sel = (self.kick_sel + (1 if k == pygame.K_DOWN else -1)) % len(choices)
        elif k == pygame.K_RETURN:
            pid, name = choices[self.kick_sel % len(choices)]
            self.rt.kick(pid)
            self.message = f"{name} was removed from the match"
            self.mode = "browse"

    # -- actions ---------------------------------------------------------------------------
    def host_rules(self) -> MatchRules:
        import random

        o = self.host_opts
        return MatchRules(seed=random.SystemRandom().getrandbits(48), time_limit=TIME_LIMITS[o["limit"]],
                          difficulty=DIFFICULTIES[o["difficulty"]], max_racers=o["racers"])

    def host_match(self) -> None:
        self.rt.host(self.host_rules())
        self.message = "hosting: waiting for racers (B adds a bot)"

    def quick_play(self) -> None:
        """One key to race: join the open match with the most racers, else host one."""
        ms = self.snap.match
        if ms is not None and ms.phase == "lobby":
            self.message = "you are in a match: R when ready"
            return
        if ms is not None:
            self.rt.leave()
        pick = quick_pick(self.snap.listings)
        if pick is not None:
            self.rt.join(pick.match_id, m.ROLE_RACER)
            self.message = f"joining {pick.host_name}'s match: R when ready"
        else:
            self.host_match()
            self.message = "no open match: hosting one (B adds a bot)"

    def add_bot(self) -> subprocess.Popen | None:
        """A `p2p-race bot` process that joins our match (for players who are alone)."""
        ms = self.snap.match
        if ms is None or ms.phase != "lobby":
            self.message = "host or join a match first"
            return None
        n = len(self.bots)
        name = BOT_NAMES[n % len(BOT_NAMES)] + ("" if n < len(BOT_NAMES) else str(n))
        data = Path(self.app.data_dir) / "bots" / name
        data.mkdir(parents=True, exist_ok=True)
        # it stays for the rematches (it follows the host's rematch) until kicked or the lobby closes
        cmd = [sys.executable, "-m", "p2p_race", "bot", "--name", name, "--data-dir", str(data),
               "--match-id", ms.match_id, "--peer", f"127.0.0.1:{self.rt.transport.port}",
               "--matches", "0", "--linger", "3600"]
        if not self.rt._discovery_args.get("mdns", True):
            cmd += ["--no-mdns", "--interface", "127.0.0.1"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.bots.append(proc)
        self.message = f"bot {name} is joining"
        return proc

    # -- state ------------------------------------------------------------------------------
    def listings(self) -> list[Any]:
        """The LAN's matches, ours included (the host does not hear its own announcements)."""
        out = list(self.snap.listings)
        ms = self.snap.match
        if ms is not None and ms.is_host and all(li.match_id != ms.match_id for li in out):
            out.append(Listing(ms.match_id, self.snap.peer_id, ms.host_name, ms.term, ms.rules,
                               m.PHASE_NAMES.index(ms.phase), len(ms.racers), len(ms.spectators), self.snap.now))
        return sorted(out, key=lambda li: (li.phase, li.host_name, li.match_id))

    def update(self, dt: float) -> None:
        super().update(dt)
        self.clock += dt
        self.snap = self.rt.snapshot()
        self._sync_chat_channel()
        ms = self.snap.match
        everyone = ms is not None and ms.phase == "lobby" and len(ms.racers) >= 2 and all(r.ready for r in ms.racers)
        if not everyone:
            self._all_ready_since = None
        elif self._all_ready_since is None:
            self._all_ready_since = self.clock
        if self.quick_at is not None and (self.clock >= self.quick_at or quick_pick(self.snap.listings)):
            self.quick_at = None
            self.quick_play()
        if self.auto_spectate and self.snap.match is None:
            pick = pick_match(self.snap.listings, to_race=False, match_id=self.auto_spectate)
            if pick is not None:
                self.rt.join(pick.match_id, m.ROLE_SPECTATOR)
                self.auto_spectate = None
        while True:
            try:
                ev = self.rt.events.get_nowait()
            except queue.Empty:
                break
            self.on_match_event(ev)
            self._toast_for(ev)
        ms = self.snap.match
        if ms is not None and ms.role == "spectator" and ms.phase in ("countdown", "racing") \
                and self.racing_match != ms.match_id and ms.start_local is not None:
            self.open_race()

    def _sync_chat_channel(self) -> None:
        """The chat overlay follows the match: its channel while in one, the lobby after."""
        match_id = self.snap.match.match_id if self.snap.match is not None else None
        if match_id != self._chat_match:
            self._chat_match = match_id
            overlay = self.app.chat
            if overlay is not None and hasattr(overlay, "set_match"):
                overlay.set_match(match_id)

    def on_match_event(self, ev: Any) -> None:
        match ev:
            case Refused(reason=reason):
                self.message = f"refused: {reason}"
            case Joined(role=role, host=created):
                if self._rematching and created:
                    self.message = "rematch: the group follows you here; R when ready"
                elif created:
                    self.message = "you host this match (B adds a bot)"
                else:
                    self.message = f"you joined as a {role}" + (": R when ready" if role == "racer" else "")
                self._rematching = False
            case Kicked(host_name=host_name):
                self.message = f"{host_name or 'the host'} removed you from the match"
            case RematchOffered(host_name=host_name):
                self.app.toast(f"{host_name or 'the host'} starts a rematch: you are in")
            case CountdownSet() | Started():
                ms = self.rt.snapshot().match
                if ms is not None and self.racing_match != ms.match_id:
                    self.open_race()

    def _toast_for(self, ev: Any) -> None:
        """A new host mid-match is news for a moment, not a chat line: a toast."""
        if isinstance(ev, Diverged):  # a racer whose states its inputs do not produce: never silent
            self.app.toast(f"{ev.racer} is out of the result: {ev.reason}")
            return
        if not isinstance(ev, HostChanged):
            return
        match_id, host, host_name = ev.match_id, ev.host, ev.host_name or "someone"
        if match_id != self._host_seen[0]:  # the first host of a match we join is no change
            self._host_seen = (match_id, host)
            return
        if host != self._host_seen[1]:
            self._host_seen = (match_id, host)
            who = "you are" if host == self.snap.peer_id else f"{host_name} is"
            self.app.toast(f"{who} now hosting the match")

    def open_race(self) -> None:
        from p2p_race.match.view import NetworkRaceView
        from p2p_race.ui.screens.race import RaceScreen
        from p2p_race.ui.spectate import SpectateScreen

        self.snap = self.rt.snapshot()
        ms = self.snap.match
        if ms is None:
            return
        self.racing_match = ms.match_id
        self._back_to_lobby()  # the next race starts even if the results are still open
        view = NetworkRaceView(self.rt, local_name=self.app.player_name, local_color=self.app.config.car_color)
        if ms.role == "racer":
            self.app.push(RaceScreen(self.app, view, mode="match", on_finish=self.race_finished,
                                     on_leave=self.leave_race))
        else:
            self.app.push(SpectateScreen(self.app, view, on_finish=self.race_finished, on_leave=self.leave_race))

    def _back_to_lobby(self) -> None:
        """Close the race screen and whatever menu is open over it."""
        while self.app.top is not None and self.app.top is not self:
            self.app.pop()

    def leave_race(self) -> None:
        """"Leave match" (pause menu, or Esc while spectating): back to the lobby."""
        self.rt.leave()
        self._back_to_lobby()
        self.message = "you left the match"

    def race_finished(self, screen: Any, standings: list) -> None:
        result = getattr(screen.view, "result", None)
        snap = self.app.logical.copy()
        screen.draw(snap)
        self._back_to_lobby()
        colors = {rv.peer_id: rv.color for rv in self.snap.match.racers} if self.snap.match is not None else {}
        self.app.push(MatchResultScreen(self.app, result, self.snap.peer_id, standings, backdrop=snap,
                                        on_rematch=self.rematch, colors=colors))

    def rematch(self) -> None:
        """Space on the result: the host opens the next match (same rules, a new road) and
        the group follows it; anyone else waits for the host's rematch (they follow it)."""
        ms = self.snap.match
        if ms is not None and ms.is_host and ms.phase == "finished":
            self._rematching = True
            self.rt.rematch()
            self.message = "rematch: the group follows you here; R when ready"
        elif ms is not None and ms.phase == "finished":
            self.message = f"waiting for {ms.host_name}'s rematch (X: leave)"
        else:
            self.message = "the rematch is on: R when ready"

    # -- drawing ----------------------------------------------------------------------------
    def chat_feed_rect(self) -> pygame.Rect:
        """The closed chat feed: under the status lines, above the key hints."""
        return pygame.Rect(10, 476, 780, style.HEIGHT - 486)

    def ping_of(self, peer_id: str) -> str:
        if peer_id == self.snap.peer_id:
            return "you"
        p = next((p for p in self.snap.peers if p.id == peer_id), None)
        rtt = getattr(p, "rtt", None)
        return f"{rtt * 1000:.0f} ms" if rtt is not None else "-"

    def status_line(self) -> str:
        """What happens next in our match, in words."""
        ms = self.snap.match
        if ms is None:
            return "Space: quick play (joins the busiest open match, or hosts one)"
        if ms.phase != "lobby":
            return {"countdown": "starting!", "racing": "the race is on", "finished": "match over"}[ms.phase]
        me = next((r for r in ms.racers if r.peer_id == self.snap.peer_id), None)
        waiting = [r.name for r in ms.racers if not r.ready]
        if me is not None and not me.ready:
            return "press R when you are ready"
        if len(ms.racers) < 2:
            return "waiting for racers to join (B adds a bot)"
        if waiting:
            return f"waiting for {', '.join(waiting[:3])}" + (" ..." if len(waiting) > 3 else "")
        left = self.auto_start_in()
        if left is not None:
            return f"everyone is ready: starting in {max(1, math.ceil(left))}" + ("  (G: now)" if ms.is_host else "")
        return "everyone is ready" + ("  (G: start now)" if ms.is_host else ": the host starts")

    def auto_start_in(self) -> float | None:
        """Seconds to the host's auto-start: its own timer on the host; on a member, counted
        from when this lobby saw everyone ready (the same delay, so within a roster update)."""
        ms = self.snap.match
        at = getattr(ms, "auto_start_at", None) if ms is not None else None
        if ms is not None and ms.is_host:
            return None if at is None else at - self.snap.now
        if self._all_ready_since is None or ms is None:
            return None
        delay = getattr(self.rt.cfg, "auto_start_delay", 0.0) if self.rt.cfg.auto_start else 0.0
        return delay - (self.clock - self._all_ready_since) if delay else None

    def draw(self, surface: pygame.Surface) -> None:
        surface.fill(style.BG)
        style.text(surface, "PLAY ON LAN", (style.WIDTH // 2, 16), 48, style.ACCENT, anchor="midtop", shadow=3)
        snap = self.snap
        ids = self.details
        # players nearby
        r = style.panel(surface, (16, 80, 250, PANEL_H), alpha=220)
        style.text(surface, "PLAYERS NEARBY", (r.left + 12, r.top + 10), 20, style.DIM)
        for i, p in enumerate(snap.peers[:ROWS]):
            y = r.top + 40 + 24 * i
            style.text(surface, p.name[:12], (r.left + 12, y), 18, style.TEXT)
            what = p.id[:8] if ids else STATE_WORDS.get(p.state, p.state)[:12]
            style.text(surface, what, (r.left + 118, y), 16, style.DIM)
            style.text(surface, self.ping_of(p.id), (r.right - 10, y), 16, style.DIM, anchor="topright")
        if not snap.peers:
            style.text(surface, "nobody yet...", (r.left + 12, r.top + 40), 18, style.DIM)
        # matches (ours too)
        r2 = style.panel(surface, (276, 80, 250, PANEL_H), alpha=220)
        style.text(surface, "MATCHES", (r2.left + 12, r2.top + 10), 20, style.DIM)
        mine = snap.match.match_id if snap.match is not None else None
        listings = self.listings()
        for i, li in enumerate(listings[:ROWS]):
            y = r2.top + 40 + 24 * i
            col = style.ACCENT if i == self.sel % max(1, len(listings)) else style.TEXT
            label = li.match_id[:8] if ids else ("your match" if li.match_id == mine and snap.match.is_host
                                                 else f"{li.host_name[:10]}'s")
            style.text(surface, label, (r2.left + 12, y), 18, col)
            word = f"t{li.term}" if ids else PHASE_WORDS.get(m.PHASE_NAMES[li.phase], "")
            style.text(surface, f"{word} {li.racers}/{li.rules.max_racers}", (r2.right - 10, y), 16, style.DIM,
                       anchor="topright")
        if not listings:
            style.text(surface, "no matches yet", (r2.left + 12, r2.top + 40), 18, style.DIM)
        # our match: roster with ready marks and ping
        r3 = style.panel(surface, (536, 80, 248, PANEL_H), alpha=220)
        ms = snap.match
        if ms is None:
            style.text(surface, "NOT IN A MATCH", (r3.left + 12, r3.top + 10), 20, style.DIM)
        else:
            head = "YOUR MATCH" if ms.is_host else f"{ms.host_name[:10].upper()}'S MATCH"
            style.text(surface, head, (r3.left + 12, r3.top + 10), 20, style.DIM)
            sub = (f"host {(ms.host or '')[:8]}  term {ms.term}" if ids else
                   f"{ms.rules.difficulty}, {ms.rules.time_limit:.0f} s" + ("" if ms.role == "racer" else ", watching"))
            style.text(surface, sub, (r3.left + 12, r3.top + 34), 16, style.TEXT)
            for i, rv in enumerate(ms.racers[:ROWS - 2]):
                y = r3.top + 62 + 24 * i
                col = style.GOOD if rv.ready else style.TEXT
                mark = "ready" if rv.ready else "..."
                pygame.draw.rect(surface, CAR_COLORS.get(rv.color, style.TEXT), (r3.left + 10, y + 3, 8, 13),
                                 border_radius=2)
                style.text(surface, (rv.peer_id[:8] if ids else rv.name[:11]), (r3.left + 24, y), 18, col)
                style.text(surface, mark, (r3.left + 150, y), 16, col)
                style.text(surface, self.ping_of(rv.peer_id), (r3.right - 10, y), 16, style.DIM, anchor="topright")
            style.text(surface, f"{len(ms.spectators)} watching", (r3.left + 12, r3.bottom - 28), 16, style.DIM)
        if self.mode == "host":
            self._draw_host(surface)
            return
        if self.mode == "kick":
            self._draw_kick(surface)
            return
        style.text(surface, self.message or self.status_line(), (style.WIDTH // 2, 426), 22, style.ACCENT2,
                   anchor="midtop")
        if self.message and self.message != self.status_line():
            style.text(surface, self.status_line(), (style.WIDTH // 2, 452), 18, style.DIM, anchor="midtop")
        style.key_hint(surface, self.key_hints())

    def key_hints(self) -> str:
        ms = self.snap.match
        details = "I: " + ("hide details" if self.details else "details")
        if ms is None:
            return f"Space: quick play   Enter: join   S: watch   H: host   {details}   Esc: back"
        if ms.role == "racer" and ms.phase == "lobby":
            host = "   G: start   B: bot   K: kick" if ms.is_host else ""
            return f"R: ready{host}   X: leave   {details}   T: chat   Esc: back"
        return f"X: leave   {details}   T: chat   Esc: back"

    def _draw_kick(self, surface: pygame.Surface) -> None:
        choices = self.kick_choices()
        style.dim(surface, 150)
        h = 110 + 30 * min(8, len(choices))
        r = style.panel(surface, (220, 300 - h // 2, 360, h), edge=style.DANGER)
        style.text(surface, "REMOVE FROM THE MATCH", (r.centerx, r.top + 14), 26, style.DANGER, anchor="midtop")
        for i, (_pid, name) in enumerate(choices[:8]):
            col = style.ACCENT if i == self.kick_sel % max(1, len(choices)) else style.TEXT
            style.text(surface, name, (r.centerx, r.top + 56 + 30 * i), 24, col, anchor="midtop")
        style.text(surface, "Enter: remove   Esc: cancel", (r.centerx, r.bottom - 14), 18, style.DIM,
                   anchor="midbottom")

    def _draw_host(self, surface: pygame.Surface) -> None:
        style.dim(surface, 150)
        r = style.panel(surface, (200, 170, 400, 220), edge=style.ACCENT2)
        style.text(surface, "HOST A MATCH", (r.centerx, r.top + 14), 32, style.ACCENT, anchor="midtop")
        o = self.host_opts
        rows = (("Max racers", str(o["racers"])), ("Time limit", f"{TIME_LIMITS[o['limit']]:.0f} s"),
                ("Difficulty", DIFFICULTIES[o["difficulty"]]))
        for i, (label, value) in enumerate(rows):
            y = r.top + 70 + 36 * i
            col = style.ACCENT if i == self.host_field else style.TEXT
            style.text(surface, label, (r.left + 30, y), 24, col)
            style.text(surface, f"< {value} >", (r.right - 30, y), 24, col, anchor="topright")
        style.text(surface, "Enter: host   Esc: cancel", (r.centerx, r.bottom - 14), 18, style.DIM, anchor="midbottom")


class MatchResultScreen(Screen):
    """Victory or game over, from the host's signed result (the same on every peer)."""

    name = "match_result"
    chat_enabled = True

    def __init__(self, app, result: Any, my_id: str, standings: list | None = None, backdrop: Any = None,
                 on_rematch: Any = None, colors: dict[str, str] | None = None) -> None:
        super().__init__(app)
        self.result = result
        self.on_rematch = on_rematch
        self.my_id = my_id
        self.backdrop = backdrop
        self.rows: list[tuple[str, int, bool, bool, str | None]] = []  # name, score, crashed, me, colour
        if result is not None:
            colors = colors or {}
            self.rows = [(r.name, r.score, r.crashed, r.peer_id == my_id, colors.get(r.peer_id))
                         for r in ranked(result.racers)]
            mine = result.racer(my_id)
            # a replicated score board already holds the signed result: recording it again as
            # a local run would list the same race twice among the best runs
            if mine is not None and getattr(app.scores, "store", None) is None:
                try:
                    app.scores.record(app.player_name, mine.score, mode="match", distance=mine.distance)
                except Exception:  # noqa: BLE001 - a score board problem must not block the screen
                    log.exception("could not record the high score")
        elif standings:
            self.rows = [(s.name, s.score, s.crashed, s.local, s.color) for s in standings]
        self.victory = result is not None and result.winner_id == my_id
        self.raced = result is not None and result.racer(my_id) is not None
        self.details = False  # D: who signed the result, in which term

    @property
    def title(self) -> str:
        """VICTORY / GAME OVER for a racer; a spectator (or a racer who left) sees MATCH OVER."""
        if self.victory:
            return "VICTORY!"
        if self.raced:
            return "GAME OVER"
        return "MATCH OVER" if self.result is not None else "RACE OVER"

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.KEYDOWN and ev.key == pygame.K_d:
            self.details = not self.details
        elif ev.type == pygame.KEYDOWN and ev.key == pygame.K_r and self.result is not None:
            from p2p_race.ui.screens.replay import open_replay  # R: watch the replay

            if not open_replay(self.app, self.result.match_id):
                self.details = True  # (the details line then says why)
                self.replay_missing = True
        elif ev.type == pygame.KEYDOWN and ev.key == pygame.K_SPACE and self.on_rematch is not None:
            self.app.pop()
            self.on_rematch()
        elif ev.type == pygame.KEYDOWN and ev.key in (pygame.K_RETURN, pygame.K_ESCAPE, pygame.K_SPACE):
            self.app.pop()

    def draw(self, surface: pygame.Surface) -> None:
        if self.backdrop is not None:
            surface.blit(self.backdrop, (0, 0))
            style.dim(surface, 170)
        else:
            surface.fill(style.BG)
        style.text(surface, self.title, (style.WIDTH // 2, 40), 72, style.GOOD if self.victory else style.ACCENT,
                   anchor="midtop", shadow=4)
        if self.result is not None:
            style.text(surface, f"winner: {self.result.winner_name}", (style.WIDTH // 2, 124), 30, style.TEXT,
                       anchor="midtop")
        r = style.panel(surface, (200, 170, 400, 40 + 28 * max(1, len(self.rows[:12]))), alpha=220)
        for i, (name, score, crashed, me, car) in enumerate(self.rows[:12]):
            y = r.top + 20 + 28 * i
            col = style.ACCENT if me else (style.DIM if crashed else style.TEXT)
            if car is not None:
                pygame.draw.rect(surface, CAR_COLORS.get(car, style.TEXT), (r.left + 10, y + 4, 8, 14),
                                 border_radius=2)
            style.text(surface, f"{i + 1}. {name}", (r.left + 24, y), 22, col)
            style.text(surface, f"{score:,}", (r.right - 20, y), 22, col, anchor="topright")
        if self.result is not None and self.details:
            note = "  - no replay: this peer lacks its inputs" if getattr(self, "replay_missing", False) else ""
            style.text(surface, f"result {self.result.match_id} signed by host {self.result.host_id[:8]} "
                       f"(term {self.result.term}){note}", (style.WIDTH // 2, style.HEIGHT - 70), 18, style.DIM,
                       anchor="midtop")
        rematch = "Space: rematch   " if self.on_rematch is not None else ""
        style.key_hint(surface, f"{rematch}Enter: back to the lobby   R: watch replay   D: details")
