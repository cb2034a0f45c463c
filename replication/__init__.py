"""Match results that are never lost: signed records, a local SQLite store, peer sync and a
MongoDB sink through a durable outbox (DESIGN.md section 2, "Scores")."""

from replication.records import MatchResult, RacerResult, adjudicate

__all__ = ["MatchResult", "RacerResult", "adjudicate"]
