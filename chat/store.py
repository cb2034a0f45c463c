"""The chat log on disk: SQLite (WAL) in the data dir, one row per message.

The log in memory (History) decides what is kept; the store mirrors its additions and
removals so a restarted service starts with what it had, and pulls only the rest.
`save` returns only once the rows are on disk (synchronous=FULL): the service acks a line
after that, never before, and on a full disk says so and acks nothing.

A file SQLite cannot read is moved aside (`chat.sqlite3.corrupt-<time>`) and a new one is
started, with one line saying so: every other peer holds the same history, so the mesh
fills it again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from chat.history import CAPACITY, History
from chat.message import ChatMessage, InvalidMessage

log = logging.getLogger(__name__)
DB_NAME = "chat.sqlite3"


class StoreError(Exception):
    """A write did not reach the disk (full, read-only, I/O error): nothing was stored."""


class ChatStore:
    def __init__(self, data_dir: Path, capacity: int = CAPACITY) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.capacity = capacity
        self.moved_aside: Path | None = None
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            self.moved_aside = self.path.with_name(f"{DB_NAME}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    src.replace(f"{self.moved_aside}{suffix}")
            log.warning("chat history %s is unreadable (%s): moved it to %s and started an empty "
                        "one; the other peers' services send the history again",
                        self.path, exc, self.moved_aside.name)
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, clock INTEGER, "
                       "author TEXT, wire TEXT NOT NULL)")
            db.execute("SELECT COUNT(*) FROM messages").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def load_into(self, history: History, now_wall: float | None = None) -> int:
        """Add every stored message to `history` (newest first, so the bound keeps them).

        `now_wall` bounds clocks as for any received line: a stored line whose clock is far
        ahead (written by an older version) is skipped, not adopted."""
        n = 0
        rows = self.db.execute("SELECT wire FROM messages ORDER BY clock DESC, author DESC, id DESC "
                               "LIMIT ?", (self.capacity,)).fetchall()
        for (wire,) in rows:
            try:
                msg = ChatMessage.from_wire(json.loads(wire))
            except (ValueError, InvalidMessage):
                log.warning("skipping a corrupt chat row")
                continue
            if history.add(msg, now_wall if now_wall is not None else time.time(), trusted=True).new is not None:
                n += 1
        return n

    def save(self, added: Iterable[ChatMessage | None], removed: Iterable[str] = ()) -> None:
        """Store additions and removals in one transaction; raises StoreError if not durable."""
        rows = [(m.id, m.clock, m.author_id, json.dumps(m.to_wire())) for m in added if m is not None]
        gone = [(i,) for i in removed]
        if not rows and not gone:
            return
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?)", rows)
                self.db.executemany("DELETE FROM messages WHERE id = ?", gone)
        except sqlite3.Error as exc:
            with_rollback(self.db)
            raise StoreError(f"cannot write chat history {self.path}: {exc}") from exc

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def with_rollback(db: sqlite3.Connection) -> None:
    try:
        if db.in_transaction:
            db.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def read_history(data_dir: Path) -> History:
    """The log as stored on disk (for `chat --history` when no service answers)."""
    history = History()
    path = Path(data_dir) / DB_NAME
    if path.exists():
        store = ChatStore(data_dir)
        try:
            store.load_into(history)
        finally:
            store.close()
    return history
