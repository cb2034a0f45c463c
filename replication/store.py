"""The local result store: SQLite in the data dir, the embedded default.

Durability: WAL with `synchronous=FULL`, so a committed result survives a power cut, not just
a process crash (results are rare, a few per minute, so one fsync per commit costs nothing).
Every `add` is one transaction that writes the result, its racers, the per-player stats, the
sync digest bucket *and* the MongoDB outbox entry: a crash leaves all or none of them.

A record is stored only when its evidence checks out (replication.evidence: proven host,
racers' signatures, replay of the input logs, sane times); its input logs are kept in
`input_logs` beside it. Rows from before records carried evidence are moved to
`legacy_results` when the store is opened (see `_migrate`).

One match id holds one result. The first valid record wins. A later record with the same
outcome (another host after a failover signs the same adjudication) is an equivalent copy
and ignored; one with a different outcome is a conflict: refused and logged.

Sync digest: results are spread over `BUCKETS` buckets by a hash of the match id; each bucket
keeps the XOR of its items' 64-bit hashes (of match id + outcome), maintained in the same
transaction, so two stores compare 256 numbers instead of every id (replication.sync).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from p2p_race import reconcile
from p2p_race.errors import UserError
from replication.evidence import accept_problem
from replication.records import MatchResult, preferred

log = logging.getLogger(__name__)

DB_NAME = "scores.sqlite3"
BUCKETS = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    match_id    TEXT PRIMARY KEY,
    outcome     BLOB NOT NULL,
    finished_at REAL NOT NULL,
    winner_id   TEXT NOT NULL,
    winner_name TEXT NOT NULL,
    record      TEXT NOT NULL,
    received_at REAL NOT NULL,
    bucket      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_finished ON results(finished_at);
CREATE INDEX IF NOT EXISTS results_bucket ON results(bucket);
CREATE TABLE IF NOT EXISTS racers (
    match_id TEXT NOT NULL,
    peer_id  TEXT NOT NULL,
    name     TEXT NOT NULL,
    score    INTEGER NOT NULL,
    distance REAL NOT NULL,
    won      INTEGER NOT NULL,
    t        REAL NOT NULL,
    PRIMARY KEY (match_id, peer_id)
);
CREATE INDEX IF NOT EXISTS racers_name_t ON racers(name, t DESC);
CREATE INDEX IF NOT EXISTS racers_peer ON racers(peer_id);
CREATE TABLE IF NOT EXISTS players (
    peer_id  TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    name_t   REAL NOT NULL,
    best     INTEGER NOT NULL,
    matches  INTEGER NOT NULL,
    wins     INTEGER NOT NULL,
    distance_mm INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS players_best ON players(best DESC, wins DESC);
CREATE INDEX IF NOT EXISTS players_name ON players(name);
CREATE TABLE IF NOT EXISTS buckets (
    b INTEGER PRIMARY KEY,
    x INTEGER NOT NULL,
    n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    match_id   TEXT NOT NULL UNIQUE,
    enqueued_at REAL NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_try   REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS practice (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    name     TEXT NOT NULL,
    score    INTEGER NOT NULL,
    t        REAL NOT NULL,
    mode     TEXT NOT NULL,
    distance REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS practice_score ON practice(score DESC);
CREATE INDEX IF NOT EXISTS practice_name ON practice(name, score);
CREATE TABLE IF NOT EXISTS samples (
    match_id TEXT NOT NULL,
    peer_id  TEXT NOT NULL,
    scores   TEXT NOT NULL,
    PRIMARY KEY (match_id, peer_id)
);
CREATE INDEX IF NOT EXISTS racers_score ON racers(score DESC);
CREATE INDEX IF NOT EXISTS racers_name ON racers(name, score);
CREATE TABLE IF NOT EXISTS input_logs (
    match_id TEXT NOT NULL,
    peer_id  TEXT NOT NULL,
    log      BLOB NOT NULL,
    PRIMARY KEY (match_id, peer_id)
);
CREATE TABLE IF NOT EXISTS ghosts (
    name  TEXT NOT NULL,
    road  TEXT NOT NULL,
    score INTEGER NOT NULL,
    log   BLOB NOT NULL,
    PRIMARY KEY (name, road)
);
CREATE TABLE IF NOT EXISTS legacy_results (
    match_id    TEXT PRIMARY KEY,
    record      TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""
SCHEMA_VERSION = 2  # 2: results carry evidence (input logs, attestations, term proof)


class AddStatus(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # the very same record, or an equivalent one (same outcome)
    REPLACED = "replaced"  # a different outcome that `records.preferred` ranks first: it replaces ours
    CONFLICT = "conflict"  # a different outcome for a match id we already hold: refused
    INVALID = "invalid"  # bad signature or inconsistent content: refused


@dataclass(frozen=True)
class PlayerStats:
    peer_id: str
    name: str
    best: int
    matches: int
    wins: int
    distance: float

    def to_json(self) -> dict:
        return {"name": self.name, "best": self.best, "matches": self.matches, "wins": self.wins,
                "distance": round(self.distance, 1), "peer_id": self.peer_id}


def bucket_of(match_id: str) -> int:
    return reconcile.bucket_of(match_id, BUCKETS)


def item_hash(match_id: str, outcome: bytes) -> int:
    """A signed 64-bit hash (fits SQLite INTEGER) of one result, XORed into its bucket."""
    h = hashlib.sha256(match_id.encode("utf-8") + b"\x00" + outcome).digest()
    return int.from_bytes(h[:8], "big", signed=True)


def recent_json(r: MatchResult) -> dict:
    """One entry of the leaderboard's `recent` list (docs/ARCHITECTURE.md section 10)."""
    return {"match_id": r.match_id, "winner": r.winner_name, "scores": r.scores, "t": r.finished_at}


class StoreCorrupt(UserError):
    """The score file cannot be read as SQLite: one line naming it and how to recover."""


class ResultStore:
    """Results, stats, digest and outbox in one SQLite file (`<data_dir>/scores.sqlite3`).

    Thread-safe (one connection behind a lock): the UI thread reads while the runtime's
    asyncio thread adds synced results. Pass `path=":memory:"` for simulations.
    """

    def __init__(self, data_dir: Path | str | None = None, *, path: str | None = None,
                 synchronous: str = "FULL") -> None:
        if path is None:
            if data_dir is None:
                raise ValueError("ResultStore needs a data_dir or a path")
            path = str(Path(data_dir) / DB_NAME)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            # scores are never deleted or replaced behind the user's back
            raise StoreCorrupt(
                f"score store {path} is unreadable ({exc}); it was left untouched. To recover: "
                f"stop p2p-race, try `sqlite3 {path} .recover | sqlite3 {path}.recovered` and move "
                f"that in place, or move the file away to start empty (results come back from "
                f"LAN peers and MongoDB)") from exc
        self.rejected: dict[AddStatus, int] = {AddStatus.CONFLICT: 0, AddStatus.INVALID: 0}
        self.listeners: list = []  # callables(result) run after a NEW result is committed

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        """Results stored before records carried evidence cannot be verified by replay: they
        move to `legacy_results` (kept, readable with `legacy()`), out of the leaderboard,
        the stats, score sync and the MongoDB outbox."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version >= SCHEMA_VERSION:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                n = db.execute("SELECT count(*) FROM results").fetchone()[0]
                db.execute("INSERT OR IGNORE INTO legacy_results SELECT match_id, record, received_at FROM results")
                for table in ("results", "racers", "players", "buckets", "outbox", "samples"):
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if n:
            log.warning("%d result(s) stored before results carried evidence were moved to legacy_results: "
                        "they cannot be verified by replay and no longer count on the leaderboard", n)

    def legacy(self) -> list[dict]:
        """Records kept from before evidence existed (unverified, excluded from everything)."""
        return [json.loads(row[0]) for row in self._query("SELECT record FROM legacy_results ORDER BY match_id")]

    # -- writing --------------------------------------------------------------------
    def add(self, result: MatchResult) -> bool:
        """Store a signed result; True when it was new. Invalid or conflicting ones are refused."""
        return self.offer(result) is AddStatus.NEW

    def offer(self, result: MatchResult) -> AddStatus:
        statuses = self.offer_many([result])
        return statuses[0]

    def offer_many(self, results: Iterable[MatchResult]) -> list[AddStatus]:
        """Verify and store several results in one transaction (sync batches, benchmarks)."""
        results = list(results)
        held = self._outcomes([r.match_id for r in results if isinstance(r, MatchResult)])
        # An equivalent copy of what we hold changes nothing: it is not worth a replay.
        checked: list[tuple[MatchResult, str | None]] = [
            (r, None if held.get(r.match_id) == _outcome_or_none(r) else accept_problem(r)) for r in results]
        statuses: list[AddStatus] = []
        new: list[MatchResult] = []
        now = time.time()
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for result, problem in checked:
                    if problem is not None:
                        log.warning("refused result %s: %s", _safe_id(result), problem)
                        self.rejected[AddStatus.INVALID] += 1
                        statuses.append(AddStatus.INVALID)
                        continue
                    status = self._insert(cur, result, now)
                    statuses.append(status)
                    if status in (AddStatus.NEW, AddStatus.REPLACED):
                        new.append(result)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        for result in new:
            for fn in list(self.listeners):
                try:
                    fn(result)
                except Exception:  # a listener must never undo or block a stored result
                    log.exception("result listener failed")
        return statuses

    def holds(self, r: MatchResult) -> bool:
        """We hold a result of this match with the same outcome (an offer of it changes nothing)."""
        return self._outcomes([r.match_id]).get(r.match_id) == _outcome_or_none(r)

    def _outcomes(self, match_ids: list[str]) -> dict[str, bytes]:
        out = {}
        for mid in set(match_ids):
            rows = self._query("SELECT outcome FROM results WHERE match_id=?", (mid,))
            if rows:
                out[mid] = bytes(rows[0][0])
        return out

    def _insert(self, cur: sqlite3.Cursor, r: MatchResult, now: float) -> AddStatus:
        outcome = r.outcome_hash()
        row = cur.execute("SELECT outcome, record FROM results WHERE match_id=?", (r.match_id,)).fetchone()
        if row is not None:
            if bytes(row[0]) == outcome:
                return AddStatus.DUPLICATE
            held = self._load(row[1])
            if preferred(held, r) is r:
                log.warning("result %s: host %s (term %d) outranks the stored one of host %s (term %d); "
                            "replacing it", r.match_id, r.host_id, r.term, held.host_id, held.term)
                self._remove(cur, held, bytes(row[0]))
                self._insert(cur, r, now)
                return AddStatus.REPLACED
            log.warning("refused result %s: a different result for this match is already stored "
                        "(host %s, term %d)", r.match_id, r.host_id, r.term)
            self.rejected[AddStatus.CONFLICT] += 1
            return AddStatus.CONFLICT
        b = bucket_of(r.match_id)
        cur.execute(
            "INSERT INTO results VALUES (?,?,?,?,?,?,?,?)",
            (r.match_id, outcome, r.finished_at, r.winner_id, r.winner_name,
             json.dumps(r.to_json(logs=False), separators=(",", ":")), now, b),
        )
        cur.executemany("INSERT OR REPLACE INTO input_logs VALUES (?,?,?)",
                        [(r.match_id, x.peer_id, lg) for x, lg in zip(r.racers, r.logs, strict=True)])
        for racer in r.racers:
            if racer.abandoned:
                continue  # unsigned (the racer went silent): shown with the match, not in its stats
            won = 1 if racer.peer_id == r.winner_id else 0
            cur.execute("INSERT INTO racers VALUES (?,?,?,?,?,?,?)",
                        (r.match_id, racer.peer_id, racer.name, racer.score, racer.distance, won,
                         r.finished_at))
            cur.execute(
                """INSERT INTO players VALUES (?,?,?,?,1,?,?)
                   ON CONFLICT(peer_id) DO UPDATE SET
                     best=max(best, excluded.best), matches=matches+1, wins=wins+excluded.wins,
                     distance_mm=distance_mm+excluded.distance_mm,
                     name=CASE WHEN excluded.name_t >= name_t THEN excluded.name ELSE name END,
                     name_t=max(name_t, excluded.name_t)""",
                (racer.peer_id, racer.name, r.finished_at, racer.score, won,
                 round(racer.distance * 1000)),
            )
        row = cur.execute("SELECT x, n FROM buckets WHERE b=?", (b,)).fetchone()
        x, n = row if row else (0, 0)
        cur.execute("INSERT OR REPLACE INTO buckets VALUES (?,?,?)",
                    (b, x ^ item_hash(r.match_id, outcome), n + 1))
        cur.execute("INSERT OR IGNORE INTO outbox (match_id, enqueued_at) VALUES (?,?)",
                    (r.match_id, now))
        return AddStatus.NEW

    def _remove(self, cur: sqlite3.Cursor, r: MatchResult, outcome: bytes) -> None:
        """Take a superseded result out again: its racers, the players' stats derived from
        them (recomputed: `best` cannot be un-maxed), and its term in the bucket digest."""
        cur.execute("DELETE FROM results WHERE match_id=?", (r.match_id,))
        cur.execute("DELETE FROM racers WHERE match_id=?", (r.match_id,))
        cur.execute("DELETE FROM input_logs WHERE match_id=?", (r.match_id,))
        for racer in r.racers:
            if racer.abandoned:
                continue
            agg = cur.execute("SELECT max(score), count(*), sum(won), sum(distance) FROM racers WHERE peer_id=?",
                              (racer.peer_id,)).fetchone()
            if not agg[1]:
                cur.execute("DELETE FROM players WHERE peer_id=?", (racer.peer_id,))
            else:
                cur.execute("UPDATE players SET best=?, matches=?, wins=?, distance_mm=? WHERE peer_id=?",
                            (agg[0], agg[1], agg[2], round(agg[3] * 1000), racer.peer_id))
        b = bucket_of(r.match_id)
        x, n = cur.execute("SELECT x, n FROM buckets WHERE b=?", (b,)).fetchone()
        cur.execute("UPDATE buckets SET x=?, n=? WHERE b=?", (x ^ item_hash(r.match_id, outcome), n - 1, b))

    def set_samples(self, match_id: str, samples: dict[str, list[int]]) -> None:
        """Keep the score-over-time this peer saw during a match (one score per second per
        racer, from the state stream). Local only: it is not part of the signed record, which
        must fit one datagram, so it is never replicated or sent to MongoDB."""
        rows = [(match_id, pid, json.dumps([int(x) for x in scores[:3600]]))
                for pid, scores in samples.items() if scores]
        with self._lock:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO samples VALUES (?,?,?)", rows)

    def samples(self, match_id: str) -> dict[str, tuple[int, ...]]:
        rows = self._query("SELECT peer_id, scores FROM samples WHERE match_id=?", (match_id,))
        return {pid: tuple(json.loads(scores)) for pid, scores in rows}

    def with_samples(self, result: MatchResult) -> MatchResult:
        """`result` with the locally observed samples filled in where it carries none."""
        seen = self.samples(result.match_id)
        if not seen or any(r.samples for r in result.racers):
            return result
        try:
            return replace(result, racers=tuple(replace(r, samples=seen.get(r.peer_id, ()))
                                                for r in result.racers))
        except ValueError:  # odd local samples never hide the result itself
            return result

    # -- reading --------------------------------------------------------------------
    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _load(self, record: str) -> MatchResult:
        """A stored record with its input logs (they live in their own table)."""
        r = MatchResult.from_json(json.loads(record))
        logs = dict(self._query("SELECT peer_id, log FROM input_logs WHERE match_id=?", (r.match_id,)))
        if len(logs) == len(r.racers):
            r = replace(r, logs=tuple(bytes(logs[x.peer_id]) for x in r.racers))
        return r

    def get(self, match_id: str) -> MatchResult | None:
        rows = self._query("SELECT record FROM results WHERE match_id=?", (match_id,))
        return self._load(rows[0][0]) if rows else None

    def get_many(self, match_ids: Iterable[str]) -> list[MatchResult]:
        out = []
        for mid in match_ids:
            r = self.get(mid)
            if r is not None:
                out.append(r)
        return out

    def all(self) -> list[MatchResult]:
        rows = self._query("SELECT record FROM results ORDER BY finished_at, match_id")
        return [self._load(row[0]) for row in rows]

    def count(self) -> int:
        return self._query("SELECT count(*) FROM results")[0][0]

    def ids(self) -> set[str]:
        return {row[0] for row in self._query("SELECT match_id FROM results")}

    def has(self, match_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM results WHERE match_id=?", (match_id,)))

    def leaderboard(self, limit: int = 20) -> list[PlayerStats]:
        """Players by best score (then wins), derived from the stored results."""
        rows = self._query(
            "SELECT peer_id, name, best, matches, wins, distance_mm / 1000.0 FROM players "
            "ORDER BY best DESC, wins DESC, peer_id LIMIT ?", (limit,))
        return [PlayerStats(*row) for row in rows]

    def player(self, name: str) -> list[PlayerStats]:
        """Stats of every identity that (last) played under `name`."""
        rows = self._query(
            "SELECT peer_id, name, best, matches, wins, distance_mm / 1000.0 FROM players WHERE name=? "
            "ORDER BY best DESC", (name,))
        return [PlayerStats(*row) for row in rows]

    def player_matches(self, name: str, limit: int = 20) -> list[MatchResult]:
        rows = self._query(
            "SELECT r.record FROM results r JOIN racers p ON p.match_id=r.match_id "
            "WHERE p.name=? ORDER BY p.t DESC, r.match_id LIMIT ?", (name, limit))
        return [MatchResult.from_json(json.loads(row[0])) for row in rows]

    def best(self, name: str) -> int:
        """Best score ever under `name`: matches and practice runs."""
        rows = self._query(
            "SELECT max(s) FROM (SELECT max(score) AS s FROM racers WHERE name=? "
            "UNION ALL SELECT max(score) FROM practice WHERE name=?)", (name, name))
        return int(rows[0][0] or 0)

    def recent(self, limit: int = 10) -> list[MatchResult]:
        rows = self._query(
            "SELECT record FROM results ORDER BY finished_at DESC, match_id LIMIT ?", (limit,))
        return [MatchResult.from_json(json.loads(row[0])) for row in rows]

    def record_practice(self, name: str, score: int, *, mode: str = "practice",
                        distance: float = 0.0, t: float | None = None) -> bool:
        """A run outside a signed match (practice vs bots): kept locally, never replicated,
        since no host signed it. True when it is a new best for `name`."""
        with self._lock:
            before = self.best(name)
            self._db.execute("INSERT INTO practice (name, score, t, mode, distance) VALUES (?,?,?,?,?)",
                             (name, int(score), time.time() if t is None else t, mode, float(distance)))
        return int(score) > before

    def save_ghost(self, name: str, road: str, score: int, log: bytes) -> bool:
        """Keep a practice run's inputs as the ghost of `road` when it beats the kept one."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO ghosts VALUES (?,?,?,?) ON CONFLICT(name, road) DO UPDATE SET "
                "score=excluded.score, log=excluded.log WHERE excluded.score > ghosts.score",
                (name, road, int(score), bytes(log)))
            return cur.rowcount > 0

    def ghost(self, name: str, road: str) -> tuple[int, bytes] | None:
        rows = self._query("SELECT score, log FROM ghosts WHERE name=? AND road=?", (name, road))
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def top_runs(self, n: int = 10) -> list[tuple[str, int, float, str, float]]:
        """The best single runs, matches and practice: (name, score, t, mode, distance)."""
        return [tuple(row) for row in self._query(  # type: ignore[misc]
            "SELECT * FROM (SELECT p.name, p.score, r.finished_at, 'match', p.distance FROM racers p "
            "JOIN results r ON r.match_id=p.match_id ORDER BY p.score DESC LIMIT ?) "
            "UNION ALL SELECT * FROM (SELECT name, score, t, mode, distance FROM practice "
            "ORDER BY score DESC LIMIT ?) ORDER BY 2 DESC, 3 LIMIT ?", (n, n, n))]

    # -- sync digest ----------------------------------------------------------------
    def digest(self) -> dict[int, tuple[int, int]]:
        """bucket -> (xor of item hashes, count), only non-empty buckets."""
        return {b: (x, n) for b, x, n in self._query("SELECT b, x, n FROM buckets WHERE n > 0")}

    def ids_in_buckets(self, buckets: Iterable[int]) -> dict[int, list[str]]:
        wanted = set(buckets)
        out: dict[int, list[str]] = {b: [] for b in wanted}
        if not wanted:
            return out
        for b in wanted:
            out[b] = [row[0] for row in self._query(
                "SELECT match_id FROM results WHERE bucket=? ORDER BY match_id", (b,))]
        return out

    # -- MongoDB outbox -------------------------------------------------------------
    def outbox_due(self, now: float, limit: int = 100) -> list[MatchResult]:
        rows = self._query(
            "SELECT r.record FROM outbox o JOIN results r ON r.match_id=o.match_id "
            "WHERE o.next_try <= ? ORDER BY o.seq LIMIT ?", (now, limit))
        return [self._load(row[0]) for row in rows]

    def outbox_count(self) -> int:
        return self._query("SELECT count(*) FROM outbox")[0][0]

    def outbox_next_try(self) -> float | None:
        return self._query("SELECT min(next_try) FROM outbox")[0][0]

    def outbox_done(self, match_ids: Iterable[str]) -> None:
        """Only after MongoDB acknowledged the write."""
        with self._lock:
            self._db.executemany("DELETE FROM outbox WHERE match_id=?", [(m,) for m in match_ids])

    def outbox_defer(self, match_id: str, next_try: float) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts=attempts+1, next_try=? WHERE match_id=?",
                             (next_try, match_id))

    def outbox_retry_now(self) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET next_try=0")


def _outcome_or_none(r: MatchResult) -> bytes | None:
    try:
        return r.outcome_hash()
    except (ValueError, TypeError, AttributeError, struct.error):
        return None


def _safe_id(r: object) -> str:
    mid = getattr(r, "match_id", "?")
    return repr(mid)[:80]
