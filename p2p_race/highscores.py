"""High scores behind a small interface, so the replicated leaderboard can replace them.

Screens only use `ScoreBoard`: `best(name)`, `record(name, score, ...)` and `top(n)`.
`LocalScoreBoard` keeps them in `highscores.json` in the data dir, written atomically
(temp file, fsync, rename) so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

FILE_NAME = "highscores.json"
MAX_ENTRIES = 100


@dataclass(frozen=True)
class ScoreEntry:
    name: str
    score: int
    t: float
    mode: str = "practice"
    distance: float = 0.0


@runtime_checkable
class ScoreBoard(Protocol):
    def best(self, name: str) -> int:
        """The best score recorded for `name` (0 when none)."""
        ...

    def record(self, name: str, score: int, *, mode: str = "practice", distance: float = 0.0) -> bool:
        """Store a finished run; True when it is a new personal best for `name`."""
        ...

    def top(self, n: int = 10) -> list[ScoreEntry]:
        """The `n` best runs, best first."""
        ...


class LocalScoreBoard:
    """Per-name bests and the top runs, in one JSON file in the data dir."""

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._lock = threading.Lock()
        self._best: dict[str, int] = {}
        self._entries: list[ScoreEntry] = []
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            best = {str(k): int(v) for k, v in dict(raw.get("best", {})).items()}
            entries = [ScoreEntry(str(e["name"]), int(e["score"]), float(e["t"]), str(e.get("mode", "practice")),
                                  float(e.get("distance", 0.0))) for e in raw.get("entries", [])]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # A damaged file must not stop the game; keep it aside for inspection.
            log.warning("high score file %s unreadable (%s); starting empty", self.path, exc)
            try:
                self.path.replace(self.path.with_suffix(".corrupt"))
            except OSError:
                pass
            return
        self._best, self._entries = best, entries

    def best(self, name: str) -> int:
        with self._lock:
            return self._best.get(name, 0)

    def record(self, name: str, score: int, *, mode: str = "practice", distance: float = 0.0) -> bool:
        score = int(score)
        with self._lock:
            new_best = score > self._best.get(name, 0)
            if new_best:
                self._best[name] = score
            self._entries.append(ScoreEntry(name, score, time.time(), mode, float(distance)))
            self._entries.sort(key=lambda e: (-e.score, e.t))
            del self._entries[MAX_ENTRIES:]
            self._save()
            return new_best

    def top(self, n: int = 10) -> list[ScoreEntry]:
        with self._lock:
            return list(self._entries[:n])

    def _save(self) -> None:
        data = {"best": self._best, "entries": [e.__dict__ for e in self._entries]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=str(self.path.parent), prefix=".highscores-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
