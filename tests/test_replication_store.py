"""The local SQLite result store: first valid record wins, derived stats, digest, outbox."""

from __future__ import annotations

from dataclasses import replace

from replication.fixtures import identity, make_result, rehost, rival
from replication.store import AddStatus, ResultStore, bucket_of


def test_add_get_and_first_record_wins(data_dir):
    store = ResultStore(data_dir)
    r = make_result(1)
    assert store.add(r) is True
    assert store.add(r) is False
    assert store.get(r.match_id) == r
    assert store.count() == 1


def test_equivalent_record_from_another_host_is_a_duplicate(data_dir):
    store = ResultStore(data_dir)
    r = make_result(1)
    store.add(r)
    again = rehost(r, r.racers[-1].name, r.term + 1, finished_at=r.finished_at + 1)
    assert store.offer(again) is AddStatus.DUPLICATE
    assert store.get(r.match_id) == r


def test_conflicting_record_is_refused_and_logged(data_dir, caplog):
    store = ResultStore(data_dir)
    r = make_result(1)
    store.add(r)
    # a later term never outranks the stored record (records.preferred), so it is refused
    other = rival(r, r.racers[1].name, r.term + 1)
    assert store.offer(other) is AddStatus.CONFLICT
    assert store.get(r.match_id) == r
    assert store.rejected[AddStatus.CONFLICT] == 1
    assert "different result" in caplog.text


def test_invalid_signature_is_refused(data_dir):
    store = ResultStore(data_dir)
    r = replace(make_result(1), signature=bytes(64))
    assert store.offer(r) is AddStatus.INVALID
    assert store.count() == 0 and store.outbox_count() == 0


def test_stats_are_derived_from_results(data_dir):
    store = ResultStore(data_dir)
    results = [make_result(i, players=("ann", "bob", "cyd")) for i in range(30)]
    for r in results:
        store.add(r)
    store.add(results[3])  # a duplicate counts once
    board = {p.name: p for p in store.leaderboard()}
    for name in ("ann", "bob", "cyd"):
        pid = identity(name).peer_id
        mine = [r.racer(pid) for r in results]
        assert board[name].best == max(x.score for x in mine)
        assert board[name].matches == 30
        assert board[name].wins == sum(r.winner_id == pid for r in results)
        assert abs(board[name].distance - sum(x.distance for x in mine)) < 0.001 * len(mine)  # mm
        assert store.best(name) == board[name].best
    bests = [p.best for p in store.leaderboard()]
    assert bests == sorted(bests, reverse=True)
    recent = store.recent(5)
    assert [r.match_id for r in recent] == [r.match_id for r in results[::-1][:5]]
    assert len(store.player_matches("ann", 50)) == 30


def test_practice_scores_count_for_best_but_are_not_results(data_dir):
    store = ResultStore(data_dir)
    assert store.record_practice("zed", 10) is True
    assert store.record_practice("zed", 5) is False
    assert store.best("zed") == 10 and store.count() == 0


def test_digest_is_order_independent_and_reopened_store_keeps_everything(data_dir, tmp_path):
    a = ResultStore(data_dir)
    b = ResultStore(path=str(tmp_path / "b.sqlite3"))
    results = [make_result(i) for i in range(50)]
    for r in results:
        a.add(r)
    for r in reversed(results):
        b.add(r)
    assert a.digest() == b.digest()
    assert sum(n for _, n in a.digest().values()) == 50
    r = results[7]
    assert r.match_id in a.ids_in_buckets([bucket_of(r.match_id)])[bucket_of(r.match_id)]
    a.close()
    again = ResultStore(data_dir)
    assert again.digest() == b.digest() and again.count() == 50


def test_every_new_result_is_in_the_outbox_until_done(data_dir):
    store = ResultStore(data_dir)
    for i in range(5):
        store.add(make_result(i))
    store.add(make_result(0))
    assert store.outbox_count() == 5
    due = store.outbox_due(now=1e12)
    assert [r.match_id for r in due] == [make_result(i).match_id for i in range(5)]
    store.outbox_defer(due[0].match_id, next_try=2e12)
    assert len(store.outbox_due(now=1e12)) == 4
    store.outbox_done([due[1].match_id])
    assert store.outbox_count() == 4


def test_listener_runs_for_new_results_only(data_dir):
    store = ResultStore(data_dir)
    seen = []
    store.listeners.append(seen.append)
    store.add(make_result(1))
    store.add(make_result(1))
    assert [r.match_id for r in seen] == [make_result(1).match_id]


def test_outranking_result_replaces_and_stats_follow(tmp_path):
    """Whichever of two rival results arrives first, every store ends with the one that
    records.preferred ranks first (lower term), and stats/digest as if only it had come."""
    players = ("ann", "bob", "cyd")
    base = make_result(5, players=players, term=2, host="bob")
    low_term = rival(base, "ann", term=1)  # the creator's own term
    a_dir, b_dir, ref_dir = (tmp_path / n for n in ("a", "b", "ref"))
    for d in (a_dir, b_dir, ref_dir):
        d.mkdir()
    a, b, ref = ResultStore(a_dir), ResultStore(b_dir), ResultStore(ref_dir)
    extra = make_result(6, players=tuple(x.name for x in base.racers))  # stats from another match too
    for s in (a, b, ref):
        s.add(extra)
    assert a.offer(base) is AddStatus.NEW
    assert a.offer(low_term) is AddStatus.REPLACED
    assert b.offer(low_term) is AddStatus.NEW
    assert b.offer(base) is AddStatus.CONFLICT
    ref.add(low_term)
    for s in (a, b):
        assert s.get(base.match_id) == low_term
        assert s.digest() == ref.digest()
        assert s.leaderboard(20) == ref.leaderboard(20)
        assert s.count() == 2
