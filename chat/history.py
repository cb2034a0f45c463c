"""The ordered, bounded, deduplicated message log of one peer (sans-I/O).

Convergence: what a log holds is a pure function of the set of messages it has seen, not
of the order they arrived in, so peers that have seen the same messages hold the same log
in the same order. Every rule below keeps that property:

- order: (Lamport clock, author id, message id), a total order;
- bound: at most `capacity` messages; when over, the oldest line of the author holding the
  most lines goes (ties: the greater author id). Each author thus keeps a fair share: one
  identity, or a swarm of fresh ones, can only push other authors down to the share the
  swarm itself gets, never evict an author that holds fewer lines than each swarm member;
- per-author rate: at most `burst` messages per author and kind (lines; system notices)
  per aligned `window_ms` of the author's own clock; when more arrive, the ones with the smallest (t, id) stay, whichever
  came first. A flood is therefore dropped the same way on every peer, and counted;
- refused ids are remembered (bounded) so sync never asks for them again.

Two checks read what the receiver holds, and neither refuses for good (the message is
accepted later, once it fits), so they cannot split histories:
- "from the future": stamped more than FUTURE_MS ahead of the receiver's wall clock;
- "clock_ahead": a Lamport clock beyond `clock_ceiling` (the highest clock held plus
  CLOCK_AHEAD, or the milliseconds since CLOCK_EPOCH_MS by the receiver's wall clock,
  whichever is higher). Honest clocks count messages, never milliseconds, so they stay far
  below the wall bound; a line at 2**62 - 1 is refused, never adopted, and an attacker
  can raise the clock by at most CLOCK_AHEAD per accepted line.
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from chat.message import ChatMessage, InvalidMessage, content_id
from p2p_race import reconcile
from p2p_race.identity import Verifier

CAPACITY = 5000
RATE_BURST = 5
RATE_WINDOW_MS = 5000
FUTURE_MS = 300_000  # a message stamped more than 5 min ahead of our clock waits
CLOCK_AHEAD = 1000  # how far past the highest held clock a line may jump
CLOCK_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: the wall bound on clocks counts ms from here
REFUSED_MEMORY = 20_000
BUCKETS = 64  # second-level digests: on a mismatch only the differing buckets' ids travel


def bucket_of(msg_id: str) -> int:
    return reconcile.bucket_of(msg_id, BUCKETS)


@dataclass
class AddResult:
    """What `History.add` did: `new` is the stored message (None if not stored), `removed`
    the ids that left the log because of it, `reason` why it was not stored."""

    new: ChatMessage | None = None
    removed: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.reason == "duplicate"


class History:
    def __init__(self, capacity: int = CAPACITY, *, rate_burst: int = RATE_BURST,
                 rate_window_ms: int = RATE_WINDOW_MS, verifier: Verifier | None = None) -> None:
        self.capacity = capacity
        self.rate_burst = rate_burst
        self.rate_window_ms = rate_window_ms
        self.verifier = verifier or Verifier()
        self.by_id: dict[str, ChatMessage] = {}
        self._keys: list[tuple[int, str, str]] = []
        self._windows: dict[tuple[str, int, int], list[tuple[int, str]]] = {}
        self._by_author: dict[str, list[tuple[int, str, str]]] = {}
        self._largest: list[tuple[int, int, str]] = []  # lazy heap of (-count, -author, author)
        self.refused: OrderedDict[str, str] = OrderedDict()
        self.drops: Counter[str] = Counter()
        self.clock = 0  # the highest Lamport clock seen (the next own message uses clock + 1)
        self._sums = reconcile.BucketSums(BUCKETS)

    # -- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, msg_id: str) -> bool:
        return msg_id in self.by_id

    def digest(self) -> str:
        """Count and XOR of all ids: equal digests mean (with overwhelming odds) equal logs."""
        return f"{len(self.by_id)}:{self._sums.total_xor:032x}"

    def ids(self) -> list[str]:
        return [k[2] for k in self._keys]

    def buckets(self) -> list[str]:
        """Per-bucket digests (p2p_race.reconcile: ids spread by a hash)."""
        return [f"{n}:{x:032x}" for n, x in zip(self._sums.count, self._sums.xor, strict=True)]

    def ids_in(self, buckets: set[int]) -> list[str]:
        return [k[2] for k in self._keys if bucket_of(k[2]) in buckets]

    def messages(self, channel: str | None = None, limit: int | None = None) -> list[ChatMessage]:
        """Messages in display order (oldest first), optionally one channel, the last `limit`."""
        out = [self.by_id[k[2]] for k in self._keys]
        if channel is not None:
            out = [m for m in out if m.channel == channel]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def would_rate_limit(self, msg: ChatMessage) -> bool:
        """True when the author's window for `msg` is full: an own new message must wait
        (even one that would win the window's tie-break and push out an earlier line)."""
        window = self._windows.get((msg.author_id, msg.kind, msg.t_ms // self.rate_window_ms), [])
        return len(window) >= self.rate_burst

    def clock_ceiling(self, now_wall: float | None) -> int:
        """The highest Lamport clock a new line may carry here (see the module docstring)."""
        wall = int(now_wall * 1000) - CLOCK_EPOCH_MS if now_wall is not None else 0
        return max(self.clock + CLOCK_AHEAD, wall)

    def author_count(self, author_id: str) -> int:
        return len(self._by_author.get(author_id, ()))

    def known(self, msg_id: str) -> bool:
        """Stored or refused for good: no need to fetch it."""
        return msg_id in self.by_id or msg_id in self.refused

    # -- writing --------------------------------------------------------------------------
    def add(self, msg: ChatMessage, now_wall: float | None = None, *, trusted: bool = False) -> AddResult:
        """Check and store `msg` (parsed, not yet verified). Never raises on bad input.

        `trusted` skips the signature check (our own disk, already verified once).
        """
        try:
            msg_id = msg.id or content_id(msg.content())
        except InvalidMessage as exc:
            return self._drop(exc.reason)
        if msg_id in self.by_id:
            return AddResult(reason="duplicate")
        if msg_id in self.refused:
            return self._drop(self.refused[msg_id], count=False)
        try:
            if trusted:
                msg.check_rules()
                msg = _with_id(msg, msg_id)
            else:
                msg = msg.verified(self.verifier)
        except InvalidMessage as exc:
            # the id hashes the content, not the signature: a forged copy must not poison
            # the id of the real message, so bad signatures are never remembered
            if exc.reason != "bad_signature":
                self._refuse(msg_id, exc.reason)
            return self._drop(exc.reason)
        if now_wall is not None and msg.t_ms > now_wall * 1000 + FUTURE_MS:
            return self._drop("future")
        if msg.clock > self.clock_ceiling(now_wall):
            return self._drop("clock_ahead")
        result = AddResult()
        wkey = (msg.author_id, msg.kind, msg.t_ms // self.rate_window_ms)
        window = self._windows.setdefault(wkey, [])
        slot = (msg.t_ms, msg.id)
        if len(window) >= self.rate_burst:
            if slot > window[-1]:
                self._refuse(msg.id, "rate_limited")
                return self._drop("rate_limited")
            evicted = window[-1][1]
            self._remove(evicted)
            self._refuse(evicted, "rate_limited")
            self.drops["rate_limited"] += 1
            result.removed.append(evicted)
            window = self._windows.setdefault(wkey, [])
        bisect.insort(window, slot)
        self.by_id[msg.id] = msg
        bisect.insort(self._keys, msg.key)
        mine = self._by_author.setdefault(msg.author_id, [])
        bisect.insort(mine, msg.key)
        self._push_count(msg.author_id)
        self._flip(msg.id, 1)
        while len(self.by_id) > self.capacity:
            oldest = self._by_author[self._largest_author()][0][2]
            self._remove(oldest)
            self._refuse(oldest, "too_old")
            if oldest != msg.id:
                result.removed.append(oldest)
        if msg.id in self.by_id:
            self.clock = max(self.clock, msg.clock)
            result.new = msg
        else:
            self.drops["too_old"] += 1
            result.reason = "too_old"
        return result

    def add_many(self, msgs: Iterable[ChatMessage], now_wall: float | None = None,
                 *, trusted: bool = False) -> list[AddResult]:
        return [self.add(m, now_wall, trusted=trusted) for m in msgs]

    def forget(self, ids: Iterable[str]) -> None:
        """Take lines back out without refusing them (they could not be stored: they may
        come again once they can)."""
        for msg_id in ids:
            self._remove(msg_id)

    # -- internals ------------------------------------------------------------------------
    def _remove(self, msg_id: str) -> None:
        msg = self.by_id.pop(msg_id, None)
        if msg is None:
            return
        _discard(self._keys, msg.key)
        mine = self._by_author.get(msg.author_id)
        if mine is not None:
            _discard(mine, msg.key)
            if not mine:
                del self._by_author[msg.author_id]
            self._push_count(msg.author_id)
        self._flip(msg_id, -1)
        wkey = (msg.author_id, msg.kind, msg.t_ms // self.rate_window_ms)
        window = self._windows.get(wkey)
        if window is not None:
            slot = (msg.t_ms, msg.id)
            if slot in window:
                window.remove(slot)
            if not window:
                del self._windows[wkey]

    def _push_count(self, author_id: str) -> None:
        n = len(self._by_author.get(author_id, ()))
        if n:
            heapq.heappush(self._largest, (-n, -int(author_id, 16), author_id))
        if len(self._largest) > 4 * len(self._by_author) + 64:  # drop stale entries
            self._largest = [(-len(v), -int(a, 16), a) for a, v in self._by_author.items()]
            heapq.heapify(self._largest)

    def _largest_author(self) -> str:
        """The author holding the most lines (ties: the greatest id), via the lazy heap."""
        while True:
            neg, _, author = self._largest[0]
            if len(self._by_author.get(author, ())) == -neg:
                return author
            heapq.heappop(self._largest)

    def _flip(self, msg_id: str, delta: int) -> None:
        self._sums.flip(msg_id, int(msg_id, 16), delta)

    def _refuse(self, msg_id: str, reason: str) -> None:
        self.refused[msg_id] = reason
        self.refused.move_to_end(msg_id)
        while len(self.refused) > REFUSED_MEMORY:
            self.refused.popitem(last=False)

    def _drop(self, reason: str, count: bool = True) -> AddResult:
        if count:
            self.drops[reason] += 1
        return AddResult(reason=reason)


def _discard(keys: list, key: tuple) -> None:
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        del keys[i]


def _with_id(msg: ChatMessage, msg_id: str) -> ChatMessage:
    return ChatMessage(msg.author_key, msg.name, msg.channel, msg.kind, msg.clock, msg.t_ms,
                       msg.text, msg.signature, msg_id)
