"""The chat log on disk: SQLite (WAL) in the data dir, one row per message.

The log in memory (History) decides what is kept; the store mirrors its additions and
removals so a restarted service starts with what it had, and pulls only the rest.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from chat.history import CAPACITY, History
from chat.message import ChatMessage, InvalidMessage

log = logging.getLogger(__name__)
DB_NAME = "chat.sqlite3"


class ChatStore:
    def __init__(self, data_dir: Path, capacity: int = CAPACITY) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.capacity = capacity
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, clock INTEGER, "
                        "author TEXT, wire TEXT NOT NULL)")

    def load_into(self, history: History) -> int:
        """Add every stored message to `history` (newest first, so the bound keeps them)."""
        n = 0
        rows = self.db.execute("SELECT wire FROM messages ORDER BY clock DESC, author DESC, id DESC "
                               "LIMIT ?", (self.capacity,)).fetchall()
        for (wire,) in rows:
            try:
                msg = ChatMessage.from_wire(json.loads(wire))
            except (ValueError, InvalidMessage):
                log.warning("skipping a corrupt chat row")
                continue
            if history.add(msg, trusted=True).new is not None:
                n += 1
        return n

    def save(self, added: Iterable[ChatMessage | None], removed: Iterable[str] = ()) -> None:
        rows = [(m.id, m.clock, m.author_id, json.dumps(m.to_wire())) for m in added if m is not None]
        gone = [(i,) for i in removed]
        if not rows and not gone:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?)", rows)
            self.db.executemany("DELETE FROM messages WHERE id = ?", gone)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def close(self) -> None:
        self.db.close()


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
