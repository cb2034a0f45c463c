"""The game's `ScoreBoard` (p2p_race.highscores) backed by the replicated result store.

Match scores come from signed, synced results, so "your best" is the same on every peer;
practice runs (no host signed them) are kept locally next to them. The first time it opens
a data dir it imports the old `highscores.json` runs, so nobody loses a personal best.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from p2p_race.highscores import FILE_NAME, ScoreEntry
from replication.store import ResultStore

log = logging.getLogger(__name__)

MIGRATED_KEY = "highscores.json imported"


class ReplicatedScoreBoard:
    def __init__(self, data_dir: Path | str, store: ResultStore | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store = store or ResultStore(self.data_dir)
        self._import_legacy()

    def best(self, name: str) -> int:
        return self.store.best(name)

    def record(self, name: str, score: int, *, mode: str = "practice", distance: float = 0.0) -> bool:
        return self.store.record_practice(name, int(score), mode=mode, distance=distance)

    def top(self, n: int = 10) -> list[ScoreEntry]:
        return [ScoreEntry(name, int(score), float(t), mode, float(distance))
                for name, score, t, mode, distance in self.store.top_runs(n)]

    def _import_legacy(self) -> None:
        path = self.data_dir / FILE_NAME
        marker = self.data_dir / (FILE_NAME + ".imported")
        if not path.exists() or marker.exists():
            return
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = raw.get("entries", [])
            for e in entries:
                self.store.record_practice(str(e["name"]), int(e["score"]), mode=str(e.get("mode", "practice")),
                                           distance=float(e.get("distance", 0.0)), t=float(e["t"]))
            marker.write_text(f"{len(entries)} runs imported into the score store\n", encoding="utf-8")
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("could not import %s (%s); old high scores stay in that file", path, exc)
