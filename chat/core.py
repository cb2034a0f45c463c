"""The mesh sync protocol between chat services (sans-I/O, Briar-style).

A node talks to each neighbour over a reliable, ordered link (TCP in the service; the
simulator also drops, duplicates and reorders frames, and the protocol still converges):

    push   {"t": "push", "m": msg}            a new message, flooded to every other link
    digest {"t": "digest", "d": "n:xor"}      every `digest_interval`, and on link up
    buckets {"t": "buckets", "b": [64 x "n:xor"]}  on a digest mismatch: ids split by first byte
    offer  {"t": "offer", "ids": [...]}       answer to buckets: our ids in the differing ones
    req    {"t": "req", "ids": [...]}         the offered ids we lack (chunked)
    msgs   {"t": "msgs", "m": [msg, ...]}     answer to req (chunked)
    ack    {"t": "ack", "ids": [...]}         ids of a msgs/push frame now stored here

Digest first: two peers with the same log exchange ~60 bytes per interval. When they
differ, both send bucket digests (~3 KB), both offer the ids of the buckets that differ
(one missing message among 5,000: ~80 ids, not 5,000), each requests what it lacks, from whichever neighbour offered it
first (a request not answered within `request_timeout` may go to another neighbour).
A late joiner or a restarted peer thus pulls the whole history from any peer.

Frames are plain dicts; the adapter serializes them. Every input is bounded and checked;
garbage is counted in `drops`, never raised.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from chat.history import BUCKETS, AddResult, History
from chat.limits import KeyedBuckets
from chat.message import ChatMessage, InvalidMessage, content_id
from p2p_race.reconcile import differing

Link = Hashable
_ID = re.compile(r"^[0-9a-f]{32}$")

DIGEST_INTERVAL = 1.0
IDLE_WAKE = 1.0  # the longest the adapter sleeps between ticks
DIGEST_COALESCE = 0.05  # digests due this soon after the first one go out with it
DIGEST_EARLY = 0.5  # ... and those due within this after it go out early with it
OFFER_INTERVAL = 1.0
REQUEST_TIMEOUT = 1.0
REQ_CHUNK = 500
MSGS_CHUNK = 100
MAX_IDS = 12_000
# Per-link budgets (receiver's clock). Pushes over budget are dropped and counted, not
# refused: sync (which we pace by what we request) brings them later, so histories still
# converge while a flood of fresh keys costs the flooder, not us. Serving is capped so a
# peer cannot make us send the whole log over and over.
PUSH_BURST, PUSH_RATE = 200.0, 50.0
# Per author, by our clock, over all links: the unsolicited new lines of one identity we
# take (the log's own rate rule counts by the author's clock, which the author picks).
AUTHOR_BURST, AUTHOR_RATE = 20.0, 2.0
# Per link source (the peer's address in the service), by our clock, pushed or synced alike:
# lines of identities we hold nothing of. Identities are free, so without this one hostile
# peer service could sync in thousands of fresh authors and shrink every honest author's
# share of the history (chat.history); an honest LAN has a few hundred authors at most.
NEW_AUTHOR_BURST, NEW_AUTHOR_RATE = 256.0, 2.0
SERVE_BURST, SERVE_RATE = 12_000.0, 5_000.0


@dataclass(frozen=True, slots=True)
class Actions:
    """What the adapter must do after feeding the node an event: frames to send, messages
    newly stored (for subscribed clients), ids evicted. Built by the node as it handles the
    event (the lists fill), then only read."""

    sends: list[tuple[Link, dict[str, Any]]] = field(default_factory=list)
    delivered: list[ChatMessage] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def extend(self, other: Actions) -> None:
        self.sends.extend(other.sends)
        self.delivered.extend(other.delivered)
        self.removed.extend(other.removed)


@dataclass
class _LinkState:
    last_offer: float = -1e9
    last_digest: float = -1e9
    push_tokens: float = PUSH_BURST  # unsolicited messages this link may still send now
    serve_tokens: float = SERVE_BURST  # messages we still answer requests with now
    refilled: float | None = None

    def refill(self, now: float) -> None:
        if self.refilled is not None:
            dt = max(0.0, now - self.refilled)
            self.push_tokens = min(PUSH_BURST, self.push_tokens + dt * PUSH_RATE)
            self.serve_tokens = min(SERVE_BURST, self.serve_tokens + dt * SERVE_RATE)
        self.refilled = now


class ChatNode:
    def __init__(self, history: History | None = None, *, wall: Callable[[], float] = time.time,
                 digest_interval: float = DIGEST_INTERVAL, offer_interval: float = OFFER_INTERVAL,
                 request_timeout: float = REQUEST_TIMEOUT,
                 source_of: Callable[[Link], Hashable] | None = None) -> None:
        self.history = history if history is not None else History()
        self.wall = wall
        self.digest_interval = digest_interval
        self.offer_interval = offer_interval
        self.request_timeout = request_timeout
        self.links: dict[Link, _LinkState] = {}
        self._wanted: dict[str, float] = {}  # id -> when requested
        self.drops: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.authors = KeyedBuckets(AUTHOR_BURST, AUTHOR_RATE)
        self.new_authors = KeyedBuckets(NEW_AUTHOR_BURST, NEW_AUTHOR_RATE)
        self._source_of = source_of or (lambda link: link)

    # -- links ----------------------------------------------------------------------------
    def link_up(self, link: Link, now: float) -> Actions:
        self.links[link] = st = _LinkState()
        st.last_digest = now
        return Actions(sends=[(link, self._digest())])

    def link_down(self, link: Link) -> None:
        self.links.pop(link, None)

    # -- local input ----------------------------------------------------------------------
    def submit(self, msg: ChatMessage, now: float, source: Link | None = None) -> tuple[AddResult, Actions]:
        """A message from a client (or the local service itself): store and flood it."""
        res = self.history.add(msg, self.wall())
        acts = Actions()
        if res.new is not None:
            acts.delivered.append(res.new)
            self._flood(res.new, acts, exclude=source)
        acts.removed.extend(res.removed)
        return res, acts

    def tick(self, now: float) -> Actions:
        acts = Actions()
        # when one link's digest is due, those due within DIGEST_EARLY go with it: links
        # brought up at different times fall into one round (one wake-up a second)
        first = min((st.last_digest for st in self.links.values()), default=now)
        early = DIGEST_EARLY if now - first >= self.digest_interval else 0.0
        for link, st in self.links.items():
            if now - st.last_digest >= self.digest_interval - early:
                st.last_digest = now
                acts.sends.append((link, self._digest()))
        if len(self._wanted) > MAX_IDS:
            self._wanted = {i: t for i, t in self._wanted.items() if now - t < self.request_timeout}
        return acts

    def next_deadline(self, now: float) -> float:
        """When `tick` must next run: the first link's digest due (links due within
        DIGEST_COALESCE of it share the wake-up), at most IDLE_WAKE away."""
        at = now + IDLE_WAKE
        if self.links:
            at = min(at, min(st.last_digest for st in self.links.values()) + self.digest_interval
                     + DIGEST_COALESCE)
        return max(at, now)

    # -- frames from a neighbour ----------------------------------------------------------
    def on_frame(self, link: Link, frame: Any, now: float) -> Actions:
        if link not in self.links:
            self.links[link] = _LinkState()
        kind = frame.get("t") if isinstance(frame, dict) else None
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            self.drops["bad_frame"] += 1
            return Actions()
        try:
            return handler(self, link, frame, now)
        except (InvalidMessage, TypeError, ValueError, KeyError):
            self.drops["bad_frame"] += 1
            return Actions()

    def _on_push(self, link: Link, frame: dict, now: float) -> Actions:
        st = self.links[link]
        st.refill(now)
        if st.push_tokens < 1:
            self.drops["push_over_budget"] += 1
            return Actions()
        st.push_tokens -= 1
        return self._store([frame["m"]], link, now, flood=True)

    def _on_msgs(self, link: Link, frame: dict, now: float) -> Actions:
        items = frame["m"]
        if not isinstance(items, list) or len(items) > MSGS_CHUNK * 2:
            raise ValueError("msgs")
        return self._store(items, link, now, flood=False, solicited=True)

    def _on_digest(self, link: Link, frame: dict, now: float) -> Actions:
        theirs = frame["d"]
        if not isinstance(theirs, str):
            raise ValueError("digest")
        st = self.links[link]
        if theirs == self.history.digest() or now - st.last_offer < self.offer_interval:
            return Actions()
        st.last_offer = now
        self.stats["bucket_digests"] += 1
        return Actions(sends=[(link, {"t": "buckets", "b": self.history.buckets()})])

    def _on_buckets(self, link: Link, frame: dict, now: float) -> Actions:
        theirs = frame["b"]
        if not isinstance(theirs, list) or len(theirs) != BUCKETS:
            raise ValueError("buckets")
        differ = set(differing(dict(enumerate(theirs)), dict(enumerate(self.history.buckets()))))
        if not differ:
            return Actions()
        self.stats["offers"] += 1
        return Actions(sends=[(link, {"t": "offer", "ids": self.history.ids_in(differ)})])

    def _on_offer(self, link: Link, frame: dict, now: float) -> Actions:
        ids = _ids(frame["ids"])
        missing = []
        for i in ids:
            if self.history.known(i):
                continue
            asked = self._wanted.get(i)
            if asked is not None and now - asked < self.request_timeout:
                continue
            self._wanted[i] = now
            missing.append(i)
        acts = Actions()
        for k in range(0, len(missing), REQ_CHUNK):
            acts.sends.append((link, {"t": "req", "ids": missing[k:k + REQ_CHUNK]}))
        return acts

    def _on_req(self, link: Link, frame: dict, now: float) -> Actions:
        st = self.links[link]
        st.refill(now)
        have = [self.history.by_id[i] for i in _ids(frame["ids"]) if i in self.history.by_id]
        if len(have) > st.serve_tokens:
            self.drops["serve_over_budget"] += len(have) - int(st.serve_tokens)
            have = have[:int(st.serve_tokens)]  # the rest is asked again after a timeout
        st.serve_tokens -= len(have)
        self.stats["served"] += len(have)
        return Actions(sends=[(link, {"t": "msgs", "m": [m.to_wire() for m in have[k:k + MSGS_CHUNK]]})
                              for k in range(0, len(have), MSGS_CHUNK)])

    def _on_ack(self, link: Link, frame: dict, now: float) -> Actions:
        self.stats["acked"] += len(_ids(frame["ids"]))
        return Actions()

    _handlers: dict[str, Callable[[ChatNode, Link, dict, float], Actions]] = {
        "push": _on_push, "msgs": _on_msgs, "digest": _on_digest, "buckets": _on_buckets,
        "offer": _on_offer,
        "req": _on_req, "ack": _on_ack,
    }

    # -- internals ------------------------------------------------------------------------
    def _store(self, items: list, link: Link, now: float, flood: bool,
               solicited: bool = False) -> Actions:
        acts = Actions()
        stored = []
        wall = self.wall()
        st = self.links[link]
        src = self._source_of(link)
        for item in items:
            try:
                msg = ChatMessage.from_wire(item)
                msg_id = content_id(msg.content())
                new_author = not self.history.known(msg_id) and not self.history.author_count(msg.author_id)
                if new_author and not self.new_authors.allows(src, now):
                    # dropped unverified and uncharged: still wanted, so sync asks again later
                    self.drops["new_author_over_budget"] += 1
                    continue
                unsolicited = not solicited or msg_id not in self._wanted
                if solicited and unsolicited:
                    # answers we never asked for count against the push budget
                    st.refill(now)
                    if st.push_tokens < 1:
                        self.drops["push_over_budget"] += 1
                        continue
                    st.push_tokens -= 1
                trusted = False
                if unsolicited and not self.history.known(msg_id):
                    # verified first: a forged line must not spend the real author's budget
                    msg, trusted = msg.verified(self.history.verifier), True
                    if not self.authors.take(msg.author_key, now):
                        self.drops["author_over_budget"] += 1  # sync brings it later, at our pace
                        continue
            except InvalidMessage as exc:
                self.history.drops[exc.reason] += 1
                continue
            res = self.history.add(msg, wall, trusted=trusted)
            acts.removed.extend(res.removed)
            if res.new is not None:
                if new_author:
                    self.new_authors.take(src, now)
                self._wanted.pop(res.new.id, None)
                stored.append(res.new.id)
                acts.delivered.append(res.new)
                if flood:
                    self._flood(res.new, acts, exclude=link)
            elif res.duplicate and msg.id:
                stored.append(msg.id)
        if stored:
            acts.sends.append((link, {"t": "ack", "ids": stored}))
        return acts

    def _flood(self, msg: ChatMessage, acts: Actions, exclude: Link | None) -> None:
        wire = msg.to_wire()
        for link in self.links:
            if link != exclude:
                acts.sends.append((link, {"t": "push", "m": wire}))

    def _digest(self) -> dict[str, Any]:
        return {"t": "digest", "d": self.history.digest()}


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise ValueError("id list")
    return [i for i in value if isinstance(i, str) and _ID.match(i)]
