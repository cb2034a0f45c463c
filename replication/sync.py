"""Peer sync of match results, sans-I/O (digest, then offer / request / records, like Briar).

Every message is handled on its own (no session state), so loss, duplication and reordering
cost only a retry at the next round; nothing can wedge. One round, started by either peer:

    A -> B  Digest   per-bucket XOR hashes and counts of A's results (256 numbers)
    B -> A  Offer    for each bucket that differs: all of B's match ids in it (whole buckets)
            Done     end of B's offers (lets a stream adapter know when to stop)
    A -> B  Request  the offered ids A lacks
    A -> B  Records  A's results in those buckets that B did not offer (push)
    B -> A  Records  what A requested

Records are self-authenticating (signed by the match host, proven by their evidence: term
proof, racers' signatures, input logs that replay to every score), so the channel needs no
trust: each one is checked by `ResultStore.offer` and bad ones are dropped and counted. A
record's input logs travel inside it. One connection gets at most `MAX_PER_KEY` records per
signing key and `MAX_VERIFIED` in all checked: each costs a replay.

Frames are JSON objects `{"t": kind, ...}` with hard bounds on every list and on the frame
size; `decode` raises ValueError for anything else and never anything worse.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from p2p_race.reconcile import differing
from replication.records import MatchResult
from replication.store import BUCKETS, AddStatus, ResultStore

log = logging.getLogger(__name__)

MAX_FRAME = 4 * 1024 * 1024
MAX_IDS = 20_000  # per Offer / Request frame
MAX_RECORDS_BYTES = 512 * 1024  # a Records frame is cut after about this much JSON
MAX_RECORDS = 2_000
MAX_ID_LEN = 64
MAX_PER_KEY = 200  # records one signing key (a host) may get verified per sync connection
MAX_VERIFIED = 2_000  # records verified (each a replay of its logs) per sync connection


@dataclass(frozen=True)
class Digest:
    buckets: dict[int, tuple[int, int]]  # bucket -> (xor, count)


@dataclass(frozen=True)
class Offer:
    buckets: tuple[int, ...]  # the buckets this offer covers completely
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Records:
    records: tuple[dict, ...]  # MatchResult.to_json() objects, validated on receipt


@dataclass(frozen=True)
class Done:
    pass


Msg = Digest | Offer | Request | Records | Done


# -- framing ------------------------------------------------------------------------------
def encode(msg: Msg) -> bytes:
    if isinstance(msg, Digest):
        d: dict[str, Any] = {"t": "digest", "b": [[b, x, n] for b, (x, n) in sorted(msg.buckets.items())]}
    elif isinstance(msg, Offer):
        d = {"t": "offer", "b": list(msg.buckets), "ids": list(msg.ids)}
    elif isinstance(msg, Request):
        d = {"t": "request", "ids": list(msg.ids)}
    elif isinstance(msg, Records):
        d = {"t": "records", "r": list(msg.records)}
    elif isinstance(msg, Done):
        d = {"t": "done"}
    else:
        raise TypeError(f"not a sync message: {msg!r}")
    data = json.dumps(d, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise ValueError("sync frame too large")
    return data


def _int(v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError("bad integer")
    return v


def _ids(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or len(v) > MAX_IDS:
        raise ValueError("bad id list")
    for i in v:
        if not isinstance(i, str) or not 0 < len(i) <= MAX_ID_LEN:
            raise ValueError("bad id")
    return tuple(v)


def _buckets(v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) > BUCKETS:
        raise ValueError("bad bucket list")
    return tuple(_int(b, 0, BUCKETS - 1) for b in v)


def decode(data: bytes) -> Msg:
    """Parse one frame; ValueError on anything malformed or out of bounds."""
    if len(data) > MAX_FRAME:
        raise ValueError("sync frame too large")
    try:
        d = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise ValueError("frame must be an object")
    t = d.get("t")
    if t == "digest":
        rows = d.get("b")
        if not isinstance(rows, list) or len(rows) > BUCKETS:
            raise ValueError("bad digest")
        buckets: dict[int, tuple[int, int]] = {}
        for row in rows:
            if not isinstance(row, list) or len(row) != 3:
                raise ValueError("bad digest row")
            b = _int(row[0], 0, BUCKETS - 1)
            buckets[b] = (_int(row[1], -(2**63), 2**63 - 1), _int(row[2], 0, 2**63 - 1))
        return Digest(buckets)
    if t == "offer":
        return Offer(_buckets(d.get("b")), _ids(d.get("ids")))
    if t == "request":
        return Request(_ids(d.get("ids")))
    if t == "records":
        recs = d.get("r")
        if not isinstance(recs, list) or len(recs) > MAX_RECORDS or not all(isinstance(r, dict) for r in recs):
            raise ValueError("bad records")
        return Records(tuple(recs))
    if t == "done":
        return Done()
    raise ValueError(f"unknown frame type {str(t)[:20]!r}")


# -- the core -----------------------------------------------------------------------------
class SyncPeer:
    """One peer's side of result sync over its `ResultStore`. Pure: messages in, messages out."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.stats: Counter[str] = Counter()
        self._per_key: Counter[bytes] = Counter()  # records checked per host key, this connection

    def start(self) -> list[Msg]:
        """Open a round: send this to the other peer."""
        return [Digest(self.store.digest())]

    def handle(self, msg: Msg) -> list[Msg]:
        """React to one message from the other peer; returns the messages to send back."""
        if isinstance(msg, Digest):
            return self._on_digest(msg)
        if isinstance(msg, Offer):
            return self._on_offer(msg)
        if isinstance(msg, Request):
            return self._records(msg.ids)
        if isinstance(msg, Records):
            self._on_records(msg)
        return []

    def handle_bytes(self, data: bytes) -> list[Msg]:
        try:
            msg = decode(data)
        except ValueError as exc:
            self.stats["malformed"] += 1
            log.debug("dropped malformed sync frame: %s", exc)
            return []
        return self.handle(msg)

    def _on_digest(self, msg: Digest) -> list[Msg]:
        mine = self.store.digest()
        differ = differing(mine, msg.buckets)
        out: list[Msg] = []
        if differ:
            by_bucket = self.store.ids_in_buckets(differ)
            group: list[int] = []
            ids: list[str] = []
            for b in differ:
                bucket_ids = by_bucket[b][:MAX_IDS]
                if group and len(ids) + len(bucket_ids) > MAX_IDS:
                    out.append(Offer(tuple(group), tuple(ids)))
                    group, ids = [], []
                group.append(b)
                ids.extend(bucket_ids)
            out.append(Offer(tuple(group), tuple(ids)))
        out.append(Done())
        return out

    def _on_offer(self, msg: Offer) -> list[Msg]:
        offered = set(msg.ids)
        mine_by_bucket = self.store.ids_in_buckets(msg.buckets)
        mine = {i for ids in mine_by_bucket.values() for i in ids}
        missing = sorted(i for i in offered - mine)
        extra = sorted(mine - offered)
        out: list[Msg] = []
        for k in range(0, len(missing), MAX_IDS):
            out.append(Request(tuple(missing[k:k + MAX_IDS])))
        if extra:
            self.stats["pushed"] += len(extra)
            out.extend(self._records(extra))
        return out

    def _records(self, ids: Any) -> list[Msg]:
        out: list[Msg] = []
        batch: list[dict] = []
        size = 0
        for result in self.store.get_many(ids):
            d = result.to_json()
            n = len(json.dumps(d, separators=(",", ":")))
            if batch and (size + n > MAX_RECORDS_BYTES or len(batch) >= MAX_RECORDS):
                out.append(Records(tuple(batch)))
                batch, size = [], 0
            batch.append(d)
            size += n
        if batch:
            out.append(Records(tuple(batch)))
        self.stats["sent_records"] += sum(len(m.records) for m in out)
        return out

    def _on_records(self, msg: Records) -> None:
        parsed: list[MatchResult] = []
        for d in msg.records:
            try:
                r = MatchResult.from_json(d)
            except (ValueError, TypeError) as exc:
                self.stats["rejected"] += 1
                log.info("refused synced record: %s", exc)
                continue
            # Bound the work one key (or one connection) can make us do: every record is
            # replayed before it is stored, and keys cost nothing to make.
            if self.store.holds(r):
                parsed.append(r)  # a copy of what we hold: no replay, no quota
                continue
            if self._per_key[r.signer_key] >= MAX_PER_KEY or sum(self._per_key.values()) >= MAX_VERIFIED:
                self.stats["over_limit"] += 1
                continue
            self._per_key[r.signer_key] += 1
            parsed.append(r)
        if self.stats["over_limit"]:
            log.info("sync: %d record(s) over the per-key / per-connection limit were dropped",
                     self.stats["over_limit"])
        for status in self.store.offer_many(parsed):
            if status is AddStatus.NEW:
                self.stats["added"] += 1
            elif status is AddStatus.REPLACED:
                self.stats["replaced"] += 1
            elif status is AddStatus.DUPLICATE:
                self.stats["duplicate"] += 1
            else:
                self.stats["rejected"] += 1
