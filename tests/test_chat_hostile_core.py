"""Chat no one can silence, in the sans-I/O cores: clocks bounded by what the receiver holds,
a fair share of the log per author, and rate limits by the receiver's clock."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from chat.core import AUTHOR_BURST, NEW_AUTHOR_BURST, NEW_AUTHOR_RATE, ChatNode
from chat.history import CLOCK_AHEAD, History
from chat.limits import KeyedBuckets
from chat.message import MAX_CLOCK, ChatMessage
from chat.store import DB_NAME, ChatStore
from p2p_race.identity import Identity

T0 = 1_800_000_000.0  # the receivers' wall clock in these tests (2027)
HONEST = [Identity.from_seed(f"honest-{i}".encode()) for i in range(3)]
MALLORY = Identity.from_seed(b"mallory")


def line(who: Identity, text: str, clock: int, t: float = T0) -> ChatMessage:
    return ChatMessage.create(who, name="n", channel="lobby", text=text, clock=clock, t=t)


def honest_lines(h: History, n: int = 6) -> list[ChatMessage]:
    out = []
    for i in range(n):
        m = line(HONEST[i % 3], f"hi {i}", h.clock + 1, T0 + i * 2)
        assert h.add(m, T0 + 20).new is not None
        out.append(m)
    return out


def test_a_line_far_ahead_is_refused_never_adopted_and_honest_lines_go_on() -> None:
    h = History()
    honest_lines(h, 3)
    before = h.clock
    top = line(MALLORY, "the end of time", MAX_CLOCK - 1)
    assert h.add(top, T0).reason == "clock_ahead"
    assert h.clock == before
    # the honest next line (clock + 1) is accepted, as is a line a little ahead
    assert h.add(line(HONEST[0], "still here", h.clock + 1), T0).new is not None
    assert h.add(line(HONEST[1], "a partition healed", h.clock + CLOCK_AHEAD), T0).new is not None
    # not refused for good: the bound moves with what the receiver holds
    assert not h.known(top.id)


def test_a_fresh_receiver_takes_an_old_long_history_but_not_the_far_future() -> None:
    h = History()
    assert h.add(line(HONEST[0], "clock of a long-lived mesh", 3_000_000), T0).new is not None
    assert h.add(line(MALLORY, "far", 10**15), T0).reason == "clock_ahead"
    # without a wall clock only the held clock bounds
    assert History().add(line(HONEST[0], "x", CLOCK_AHEAD + 5), None).reason == "clock_ahead"


def test_attacker_can_raise_the_clock_only_by_steps() -> None:
    """Each accepted line moves the bound by at most CLOCK_AHEAD past the wall bound, so
    exhausting the 2**62 clock space would take over 10**15 lines."""
    h = History(rate_burst=10**6)
    wall_bound = h.clock_ceiling(T0)
    for i in range(50):
        m = line(MALLORY, f"jump {i}", h.clock_ceiling(T0), T0 + i)
        assert h.add(m, T0 + 60).new is not None
    assert h.clock <= wall_bound + 50 * CLOCK_AHEAD
    assert h.add(line(HONEST[0], "next", h.clock + 1), T0 + 60).new is not None


def test_a_poisoned_row_on_disk_is_not_adopted_after_restart(tmp_path) -> None:
    store = ChatStore(tmp_path)
    h = History()
    kept = honest_lines(h)
    store.save(kept)
    top = line(MALLORY, "stored by an older version", MAX_CLOCK - 1)
    store.db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)",
                     (top.id, top.clock, top.author_id, json.dumps(top.to_wire())))
    store.close()
    again = History()
    ChatStore(tmp_path).load_into(again, T0 + 20)
    assert top.id not in again and len(again) == len(kept)
    assert again.add(line(HONEST[2], "after restart", again.clock + 1), T0 + 20).new is not None


def test_one_back_dating_identity_cannot_evict_honest_history() -> None:
    """The issue's attack: 5,000 lines, five per window of the attacker's own clock, all
    stamped in the past. Each author keeps its share; the attacker only evicts itself."""
    h = History()
    kept = honest_lines(h)
    base = h.clock
    for i in range(5000):
        h.add(line(MALLORY, f"spam {i}", base + 1 + i, T0 - 100_000 + i), T0 + 20)
    assert all(m.id in h for m in kept)
    assert len(h) == h.capacity
    assert h.author_count(MALLORY.peer_id) == h.capacity - len(kept)


def test_a_swarm_of_fresh_identities_evicts_only_itself() -> None:
    h = History(capacity=1000)
    kept = honest_lines(h)
    swarm = [Identity.from_seed(f"sybil-{i}".encode()) for i in range(100)]
    clock = h.clock
    for i in range(2500):
        clock += 1
        h.add(line(swarm[i % 100], f"s{i}", clock, T0 + (i // 100) * 10), T0 + 300)
    assert all(m.id in h for m in kept)
    assert max(h.author_count(s.peer_id) for s in swarm) <= (1000 - len(kept)) // 100 + 1


@pytest.mark.parametrize(("swarm_size", "lines_each"), [(20, 20), (80, 3), (197, 1), (400, 1)])
def test_a_swarm_of_many_identities_dilutes_each_author_to_the_fair_share_and_no_further(
        swarm_size: int, lines_each: int) -> None:
    """The bound the threat model states (docs/ARCHITECTURE.md, section 8): an author keeps
    at least min(its lines, capacity // authors holding lines). Identities are free, so a
    swarm as large as the log leaves each honest author about one line, or none."""
    h = History(capacity=200)
    clock = 0
    for r in range(20):
        for i, who in enumerate(HONEST):
            clock += 1
            assert h.add(line(who, f"h{r}.{i}", clock, T0 + r * 6 + i), T0 + 300).new is not None
    swarm = [Identity.from_seed(f"swarm-{i}".encode()) for i in range(swarm_size)]
    for j in range(lines_each):
        for i, who in enumerate(swarm):
            clock += 1
            h.add(line(who, f"s{i}.{j}", clock, T0 + 200 + j * 6), T0 + 300)
    share = h.capacity // (len(HONEST) + swarm_size)
    held = [h.author_count(who.peer_id) for who in HONEST]
    assert min(held) >= min(20, share), (held, share)
    assert max(h.author_count(who.peer_id) for who in swarm) <= max(share, 1) + 1
    if swarm_size * lines_each >= h.capacity:
        assert len(h) == h.capacity and max(held) <= share + 1  # the limit: diluted, not protected


def test_fair_share_log_is_the_same_whatever_the_arrival_order() -> None:
    authors = HONEST + [MALLORY]
    ms = [line(authors[i % 4] if i % 3 else MALLORY, f"m{i}", i + 1, T0 + i * 2) for i in range(120)]
    ref = None
    for seed in range(8):
        order = list(ms)
        random.Random(seed).shuffle(order)
        h = History(capacity=40)
        for m in order:
            h.add(m, T0 + 1000)
        ref = ref or h.ids()
        assert h.ids() == ref


def test_pushes_per_author_are_limited_by_the_receivers_clock_and_forgeries_cost_nothing() -> None:
    node = ChatNode(History(rate_burst=10**6), wall=lambda: T0 + 50)
    node.link_up("a", 0.0)
    node.link_up("b", 0.0)
    forged = [dict(line(MALLORY, f"f{i}", i + 1, T0).to_wire(), k=HONEST[0].public_key.hex())
              for i in range(50)]
    for f in forged:
        node.on_frame("a", {"t": "push", "m": f}, 0.0)
    assert len(node.history) == 0
    flood = [line(HONEST[0], f"l{i}", i + 1, T0 + i * 0.001) for i in range(100)]
    for m in flood:
        node.on_frame("b", {"t": "push", "m": m.to_wire()}, 0.5)
    assert len(node.history) == AUTHOR_BURST  # the forgeries spent none of the budget
    assert node.drops["author_over_budget"] == 100 - AUTHOR_BURST
    # the same lines asked for by sync are taken (we pace that by what we request)
    node.on_frame("b", {"t": "offer", "ids": [m.id for m in flood]}, 1.0)
    node.on_frame("b", {"t": "msgs", "m": [m.to_wire() for m in flood]}, 1.0)
    assert len(node.history) == 100


def test_a_hostile_peer_service_cannot_sync_in_a_swarm_of_fresh_identities() -> None:
    """Sync is paced by what we request, but identities are free: lines of authors we hold
    nothing of are capped per link source (the peer's address), solicited or not, and a
    reconnect (a new link from the same address) brings no fresh budget. Another source's
    new authors and known authors' lines are untouched."""
    addr = {"evil-1": "10.0.0.66", "evil-2": "10.0.0.66", "honest": "10.0.0.7"}
    node = ChatNode(History(rate_burst=10**6), wall=lambda: T0 + 50, source_of=addr.__getitem__)
    for link in addr:
        node.link_up(link, 0.0)
    swarm = [line(Identity.from_seed(f"sync-sybil-{i}".encode()), f"s{i}", i + 1, T0) for i in range(600)]
    for link in ("evil-1", "evil-2"):  # a second connection from the same address
        node.on_frame(link, {"t": "offer", "ids": [m.id for m in swarm]}, 1.0)
        for k in range(0, len(swarm), 100):
            node.on_frame(link, {"t": "msgs", "m": [m.to_wire() for m in swarm[k:k + 100]]}, 1.0)
    assert len(node.history) == NEW_AUTHOR_BURST
    assert node.drops["new_author_over_budget"] == 2 * (len(swarm) - NEW_AUTHOR_BURST)
    # an author we hold goes on at its own pace; an honest peer's newcomers are not held up
    known = line(Identity.from_seed(b"sync-sybil-0"), "again", 700, T0 + 1)
    newcomer = line(HONEST[1], "first line", 701, T0 + 2)
    node.on_frame("evil-1", {"t": "push", "m": known.to_wire()}, 1.5)
    node.on_frame("honest", {"t": "push", "m": newcomer.to_wire()}, 1.5)
    assert known.id in node.history and newcomer.id in node.history
    # later the budget refills by our clock, not faster: sync brings the rest at that pace
    later = 11.0
    node.on_frame("evil-1", {"t": "offer", "ids": [m.id for m in swarm]}, later)
    node.on_frame("evil-1", {"t": "msgs", "m": [m.to_wire() for m in swarm[:200]]}, later)
    node.on_frame("evil-1", {"t": "msgs", "m": [m.to_wire() for m in swarm[200:400]]}, later)
    grown = len(node.history) - NEW_AUTHOR_BURST - 2  # the known author's line, the newcomer
    assert grown == int((later - 1.0) * NEW_AUTHOR_RATE)


def test_keyed_buckets_refill_by_the_receivers_clock_and_stay_bounded() -> None:
    b = KeyedBuckets(burst=3, rate=1.0, max_keys=10)
    assert [b.take("k", 0.0) for _ in range(4)] == [True, True, True, False]
    assert b.take("k", 1.0) and not b.take("k", 1.0)
    for i in range(1000):
        b.take(i, 2.0)
    assert len(b._b) == 10


def test_corrupt_chat_history_is_moved_aside_and_rebuilt(tmp_path, caplog) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    store = ChatStore(tmp_path)
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert store.count() == 0
    assert "moved it to" in caplog.text and "send the history again" in caplog.text
    store.close()
    sqlite3.connect(tmp_path / DB_NAME).execute("SELECT COUNT(*) FROM messages").fetchone()
