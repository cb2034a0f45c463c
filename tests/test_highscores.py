"""Local high scores: per-name bests, the top table, persistence and crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from p2p_race.highscores import FILE_NAME, LocalScoreBoard, ScoreBoard


def test_best_and_top(tmp_path: Path) -> None:
    sb = LocalScoreBoard(tmp_path)
    assert isinstance(sb, ScoreBoard)
    assert sb.best("Zoe") == 0
    assert sb.record("Zoe", 120, distance=1200.0) is True
    assert sb.record("Zoe", 80) is False  # not a new best
    assert sb.record("Ada", 300) is True
    assert sb.best("Zoe") == 120 and sb.best("Ada") == 300
    assert [(e.name, e.score) for e in sb.top(10)] == [("Ada", 300), ("Zoe", 120), ("Zoe", 80)]
    assert [e.name for e in sb.top(1)] == ["Ada"]


def test_persists_and_survives_restart(tmp_path: Path) -> None:
    LocalScoreBoard(tmp_path).record("Zoe", 555, mode="practice", distance=5000.0)
    sb = LocalScoreBoard(tmp_path)
    assert sb.best("Zoe") == 555
    e = sb.top(1)[0]
    assert (e.name, e.score, e.mode, e.distance) == ("Zoe", 555, "practice", 5000.0)
    # no temp files left behind by the atomic write
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]


def test_corrupt_file_is_set_aside_not_fatal(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("{not json")
    sb = LocalScoreBoard(tmp_path)
    assert sb.best("Zoe") == 0
    assert (tmp_path / "highscores.corrupt").exists()
    sb.record("Zoe", 10)
    assert json.loads((tmp_path / FILE_NAME).read_text())["best"] == {"Zoe": 10}


def test_failed_write_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    sb = LocalScoreBoard(tmp_path)
    sb.record("Zoe", 50)
    before = (tmp_path / FILE_NAME).read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        sb.record("Zoe", 99)
    assert (tmp_path / FILE_NAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]


def test_table_is_bounded(tmp_path: Path) -> None:
    sb = LocalScoreBoard(tmp_path)
    for i in range(130):
        sb.record(f"p{i % 7}", i)
    assert len(sb.top(1000)) == 100 and sb.top(1)[0].score == 129
