"""The durable outbox drainer: results go from the local store to MongoDB, never lost.

`ResultStore.add` enqueues every new result in the same SQLite transaction that stores it,
so a crash right after a result arrived still leaves it queued. The drainer writes queued
results with the sink's idempotent upserts and deletes an entry only after MongoDB
acknowledged the write (majority write concern). While no primary answers it backs off
exponentially with jitter; results keep piling up safely in SQLite meanwhile.

`drain_once` is the whole policy (injected clock and RNG, no sleeping); `DrainerThread` only
waits between calls, woken early when a new result is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from p2p_race.backoff import Backoff
from replication.mongo import is_document_error, is_transient, safe_error
from replication.records import MatchResult
from replication.store import ResultStore

log = logging.getLogger(__name__)

IDLE = 30.0  # re-check the outbox this often even when nothing new was stored
POISON_DELAY = 3600.0  # a record MongoDB refuses outright is retried hourly, not in a loop


class Sink(Protocol):
    uri: str

    def write(self, r: MatchResult) -> None: ...


class OutboxDrainer:
    def __init__(self, store: ResultStore, sink: Sink, *, clock: Callable[[], float] = time.time,
                 backoff: Backoff | None = None, batch: int = 100) -> None:
        self.store, self.sink, self.clock = store, sink, clock
        self.backoff = backoff or Backoff()
        self.batch = batch
        self.written = 0
        self.last_error = ""
        self.connected: bool | None = None  # None: not tried yet

    def drain_once(self) -> float:
        """Write what is due; returns seconds until the next call should happen."""
        now = self.clock()
        due = self.store.outbox_due(now, self.batch)
        for r in due:
            try:
                self.sink.write(r)
            except Exception as exc:  # noqa: BLE001 - classified below, never propagated
                msg = safe_error(exc, self.sink.uri)
                self.last_error = msg
                if is_document_error(exc):
                    log.error("MongoDB refused result %s (%s); retrying it in %.0f s",
                              r.match_id, msg, POISON_DELAY)
                    self.store.outbox_defer(r.match_id, now + POISON_DELAY)
                    continue
                delay = self.backoff.fail()
                if self.connected is not False or self.backoff.failures in (1, 5, 10) or \
                        self.backoff.failures % 50 == 0:
                    what = "unavailable" if is_transient(exc) else "refusing writes"
                    log.warning("MongoDB %s (%s); %d result(s) kept in the outbox, retrying in %.1f s",
                                what, msg, self.store.outbox_count(), delay)
                self.connected = False
                return delay
            self.store.outbox_done([r.match_id])
            self.written += 1
            if self.connected is False:
                log.warning("MongoDB reachable again; draining the outbox")
            self.connected = True
            self.backoff.reset()
        if len(due) >= self.batch:
            return 0.0
        nxt = self.store.outbox_next_try()
        return IDLE if nxt is None else max(0.0, min(IDLE, nxt - self.clock()))


class DrainerThread:
    """Runs an OutboxDrainer in a daemon thread; `kick()` wakes it for a new result."""

    def __init__(self, drainer: OutboxDrainer) -> None:
        self.drainer = drainer
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-drainer", daemon=True)

    def start(self) -> DrainerThread:
        self._thread.start()
        return self

    def kick(self, *_args: object) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.drainer.drain_once()
            except Exception:  # keep draining later; the outbox is still on disk
                log.exception("outbox drain failed")
                delay = IDLE
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()

    def wait_empty(self, timeout: float) -> bool:
        """For tests and shutdown: True once the outbox is empty (polls, bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.drainer.store.outbox_count() == 0:
                return True
            self._stop.wait(0.02)
        return self.drainer.store.outbox_count() == 0
