"""`p2p-race bot`: a headless AI racer that hosts or joins LAN matches on its own.

For players who are alone, and for tests, benchmarks and soak runs: it is a full peer
(discovery, election, results stored like any player's). `--json-events FILE` writes one
JSON line per event, `{"event", "t", ...}` (docs/ARCHITECTURE.md section 10): joined, host, countdown,
start, crash, result (plus election, connection, left, refused for the curious).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sys
import time
from typing import Any

from p2p_race.commands._headless import open_runtime
from p2p_race.errors import UserError
from p2p_race.match import messages as m
from p2p_race.match.events import (
    ConnectionChanged,
    CountdownSet,
    Crashed,
    Diverged,
    ElectionStarted,
    Event,
    HostChanged,
    Joined,
    Kicked,
    Left,
    Refused,
    RematchOffered,
    ResultAdopted,
    Started,
    SteppedDown,
)
from p2p_race.match.state import CarReport, MatchConfig, MatchRules
from p2p_race.ranking import pick_match

HELP = "a headless AI racer: hosts (--host) or joins LAN matches; --json-events logs what it sees"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", action="store_true", help="create the match(es) instead of joining one")
    parser.add_argument("--racers", type=int, default=2,
                        help="host: start the countdown once this many racers are ready (default 2)")
    parser.add_argument("--matches", type=int, default=1,
                        help="race this many matches, then exit (default 1; 0: until stopped or kicked). "
                             "Between them it follows its host's rematch; a hosting bot hosts its rematches")
    parser.add_argument("--time-limit", type=float, default=60.0, help="host: seconds per race (default 60)")
    parser.add_argument("--difficulty", choices=("easy", "normal", "hard"), default="normal")
    parser.add_argument("--seed", type=int, default=None, help="host: traffic seed of the first match")
    parser.add_argument("--max-racers", type=int, default=m.MAX_RACERS, help="host: racer slots (1-16)")
    parser.add_argument("--countdown", type=float, default=3.0, help="host: countdown seconds (default 3)")
    parser.add_argument("--skill", type=float, default=0.7, help="driving skill 0.05-1 (default 0.7)")
    parser.add_argument("--match-id", default=None, help="join only this match")
    parser.add_argument("--json-events", metavar="FILE", default=None,
                        help="append one JSON line per event to FILE ('-' = stdout)")
    parser.add_argument("--port", type=int, default=None, help="UDP game port (default: a free one)")
    parser.add_argument("--no-mdns", action="store_true", help="find peers only through --peer")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--linger", type=float, default=1.5,
                        help="seconds to stay after a result so late peers get it (default 1.5)")


def validate(args: argparse.Namespace) -> None:
    if not 1 <= args.racers <= m.MAX_RACERS:
        raise UserError(f"--racers must be 1-{m.MAX_RACERS}")
    if not 1 <= args.max_racers <= m.MAX_RACERS:
        raise UserError(f"--max-racers must be 1-{m.MAX_RACERS}")
    if args.matches < 0:
        raise UserError("--matches must be 0 (no limit) or more")
    if not 1.0 <= args.time_limit <= 3600.0:
        raise UserError("--time-limit must be 1-3600 seconds")
    if not 0.05 <= args.skill <= 1.0:
        raise UserError("--skill must be 0.05-1")
    if not 0.2 <= args.countdown <= 60:
        raise UserError("--countdown must be 0.2-60 seconds")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise UserError("--seed must be between 0 and 2^63-1")


class EventLog:
    """JSON lines for tests and benchmarks; short text lines for people."""

    def __init__(self, path: str | None, as_json: bool) -> None:
        self.file = None
        if path == "-":
            self.file = sys.stdout
        elif path:
            try:
                self.file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                raise UserError(f"cannot write --json-events {path}: {exc.strerror}") from exc
        self.as_json = as_json

    def emit(self, event: str, **data: Any) -> None:
        line = {"event": event, "t": round(time.time(), 6), **data}
        text = json.dumps(line, separators=(",", ":"))
        if self.file is not None:
            self.file.write(text + "\n")
            self.file.flush()
        if self.as_json and self.file is not sys.stdout:
            print(text, flush=True)
        elif not self.as_json:
            print(_human(line), flush=True)

    def close(self) -> None:
        if self.file is not None and self.file is not sys.stdout:
            self.file.close()


def _human(ev: dict) -> str:
    kind = ev["event"]
    if kind == "result":
        scores = ", ".join(f"{k} {v}" for k, v in sorted(ev["scores"].items(), key=lambda kv: -kv[1]))
        return f"result: {ev['winner']} wins ({scores})"
    extra = " ".join(f"{k}={v}" for k, v in ev.items() if k not in ("event", "t"))
    return f"{kind}: {extra}"


LOGGED = (Joined, HostChanged, CountdownSet, Crashed, ResultAdopted, ElectionStarted, ConnectionChanged, Refused,
          Left, SteppedDown, Diverged)


def event_fields(ev: Event, wall_offset: float) -> dict:
    """The JSON shape of a core event (docs/ARCHITECTURE.md section 10)."""
    match ev:
        case ResultAdopted(result=r):
            return {"match_id": r.match_id, "winner": r.winner_name, "winner_id": r.winner_id, "scores": r.scores,
                    "host": r.host_id, "term": r.term,
                    "racers": [{"id": x.peer_id, "name": x.name, "score": x.score, "crashed": x.crashed,
                                "crash_time": x.crash_time} for x in r.racers]}
        case CountdownSet(at=at):
            return {"at": round(at + wall_offset, 6)}
        case Started(at=at):
            return {"at": round(at + wall_offset, 6)}
        case Crashed():
            return {"peer": ev.peer, "name": ev.racer, "score": ev.score, "crash_time": ev.crash_time,
                    "abandoned": ev.abandoned}
        case ConnectionChanged():
            return {"peer": ev.peer, "name": ev.racer, "connected": ev.connected}
        case Diverged():
            return {"peer": ev.peer, "name": ev.racer, "reason": ev.reason}
    out = {}
    for f in dataclasses.fields(ev):
        v = getattr(ev, f.name)
        if hasattr(v, "value") and not isinstance(v, (int, float)):
            v = v.value  # enums (reject reasons) as their text
        if isinstance(v, (str, int, float, bool, type(None))):
            out[f.name] = v
    return out


class Bot:
    def __init__(self, args: argparse.Namespace, rt: Any, log: EventLog) -> None:
        self.args = args
        self.rt = rt
        self.log = log
        self.wall_offset = time.time() - time.monotonic()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.done: set[str] = set()
        self.drive_task: asyncio.Task | None = None
        rt.listeners.append(self.queue.put_nowait)

    async def run(self) -> int:
        args = self.args
        seed = args.seed if args.seed is not None else random.getrandbits(48)
        results = 0
        more = (lambda: True) if args.matches == 0 else (lambda: results < args.matches)
        while more():
            if args.host and results and self.rt.core.is_host:
                self.rt.rematch()  # the group follows its host into the next match
            elif args.host:
                rules = MatchRules(seed=seed + results, time_limit=args.time_limit, difficulty=args.difficulty,
                                   max_racers=args.max_racers)
                self.rt.host(rules)
            elif not self._in_next_match():
                await self._join()
            raced = await self._race()
            if raced is None:
                return 0  # kicked: told to go
            if raced:
                results += 1
                await self._linger(args.linger)
            if more() and not self._in_next_match() and not args.host:
                self.rt.leave()
        return 0

    def _in_next_match(self) -> bool:
        """In a match we have not raced yet (the host's rematch, which the core follows)."""
        with self.rt.lock:
            mt = self.rt.core.match
            return mt is not None and mt.match_id not in self.done

    async def _linger(self, seconds: float) -> None:
        """Stay after a result (late peers get it) until a rematch takes us on: then ready."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if self._in_next_match() and not self.args.host:
                self.rt.ready(True)
                return
            await asyncio.sleep(0.05)

    async def _join(self) -> None:
        """Wait for a match in its lobby (or the one asked for) and join it as a racer."""
        while True:
            with self.rt.lock:
                li = pick_match(self.rt.core.listings.values(), to_race=True, match_id=self.args.match_id,
                                exclude=self.done)
            if li is not None:
                self.rt.join(li.match_id)
                self.rt.ready(True)
                return
            await asyncio.sleep(0.05)

    async def _race(self) -> bool | None:
        """Follow one match to its result; False when we were refused or left it, None when
        its host removed us."""
        while True:
            ev = await self.queue.get()
            if isinstance(ev, LOGGED):
                self.log.emit(ev.name, **event_fields(ev, self.wall_offset))
            match ev:
                case CountdownSet(at=at) if self.drive_task is None:
                    mt = self.rt.core.match
                    if mt is not None and mt.member == m.ROLE_RACER:
                        self.drive_task = asyncio.ensure_future(self._drive(mt.match_id, mt.rules, at))
                case ResultAdopted(result=result) if result.match_id not in self.done:
                    self.done.add(result.match_id)
                    self._stop_driving()
                    return True
                case Kicked():
                    self.log.emit(ev.name, **event_fields(ev, self.wall_offset))
                    self._stop_driving()
                    return None
                case RematchOffered():
                    self.log.emit(ev.name, **event_fields(ev, self.wall_offset))
                case Joined(match_id=match_id) if match_id not in self.done and not self.args.host:
                    self.rt.ready(True)  # (a rematch we followed before our old result arrived)
                case Refused(match_id=match_id, reason=reason):
                    self.done.add(match_id)
                    if self.args.host:
                        raise UserError(f"hosting failed: {reason}")
                    await asyncio.sleep(0.2)
                    await self._join()

    def _stop_driving(self) -> None:
        if self.drive_task is not None:
            self.drive_task.cancel()
            self.drive_task = None

    async def _drive(self, match_id: str, rules: MatchRules, start: float) -> None:
        """Our car: a CarSim stepped at 60 Hz from the agreed start, steered by BotDriver."""
        from p2p_race.bots import BotDriver
        from p2p_race.replay.codec import code_of
        from p2p_race.replay.verify import start_x
        from p2p_race.sim import DT, CarSim, Rules

        sim_rules = Rules(rules.seed, rules.time_limit, rules.difficulty)
        car_id = self.rt.identity.peer_id
        sim = CarSim(sim_rules, car_id, start_x=start_x(car_id))
        driver = BotDriver(car_id, self.args.skill)
        traffic = sim.traffic
        while True:  # the estimate sharpens with every ping until the start
            with self.rt.lock:
                mt = self.rt.core.match
                if mt is not None and mt.match_id == match_id:
                    start = self.rt.core.start_time() or start
            delay = start - time.monotonic()
            if delay <= 0.001:
                break
            await asyncio.sleep(min(delay, 0.05))
        self.log.emit("start", match_id=match_id, at=round(start + self.wall_offset, 6))
        while True:
            due = int((time.monotonic() - start) / DT) + 1
            codes = bytearray()  # the inputs every peer replays (p2p_race.match.replays)
            while sim.tick < due and not sim.finished:
                move = driver.decide(sim, traffic)
                codes.append(code_of(move))
                sim.step(move)
            st = sim.state
            self.rt.post_state(CarReport(st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                                         st.crash_time if st.crashed else -1.0, st.tick, bytes(codes)))
            if sim.finished:
                return
            wait = start + sim.tick * DT - time.monotonic()
            await asyncio.sleep(max(wait, 0.0))


async def _main(args: argparse.Namespace) -> int:
    from p2p_race.runtime import from_args

    cfg = MatchConfig(auto_start=args.racers if args.host else None, countdown=args.countdown)
    rt = from_args(args, config=cfg, default_port=0)
    log = EventLog(args.json_events, args.json)
    stop = await open_runtime(rt, log)
    started = time.monotonic()
    bot = Bot(args, rt, log)
    task = asyncio.ensure_future(bot.run())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if stopper in done:
            return 130
        log.emit("timeout")
        return 1
    finally:
        task.cancel()
        stopper.cancel()
        bot._stop_driving()
        st = rt.transport.stats
        log.emit("stats", elapsed=round(time.monotonic() - started, 3), cpu=round(time.process_time(), 3),
                 sent=st["sent"], sent_bytes=st["sent_bytes"], received=st["received"],
                 drops=dict(rt.transport.codec.drops), rejected=dict(rt.core.rejected),
                 stalled=round(rt.core.stalled, 3), longest_host_gap=round(rt.core.longest_host_gap, 3))
        await rt.close()
        log.close()


def run(args: argparse.Namespace) -> int:
    validate(args)
    return asyncio.run(_main(args))
