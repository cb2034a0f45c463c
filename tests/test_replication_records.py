"""Match result records: canonical bytes, signatures, validation, adjudication."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest

from p2p_race.identity import Identity
from replication.evidence import accept_problem
from replication.fixtures import identity, make_result
from replication.records import MatchResult, RacerResult, adjudicate


def racer(name: str, score: int, crash: float | None) -> RacerResult:
    return RacerResult(identity(name).peer_id, name, score, 10.0, crash is not None,
                       -1.0 if crash is None else crash)


def result_of(racers, host="ann"):
    return adjudicate("m1", 7, 180.0, identity(host).peer_id, 3, 1e9, 1e9 + 190, racers)


def test_winner_is_highest_score():
    r = result_of([racer("ann", 10, 5.0), racer("bob", 30, 2.0), racer("cyd", 20, None)])
    assert r.winner_name == "bob"


def test_tie_goes_to_longer_survival_and_not_crashed_beats_crashed():
    r = result_of([racer("ann", 10, 50.0), racer("bob", 10, 60.0)])
    assert r.winner_name == "bob"
    r = result_of([racer("ann", 10, 170.0), racer("bob", 10, None)])
    assert r.winner_name == "bob"


def test_full_tie_goes_to_lower_peer_id():
    a, b = racer("ann", 10, None), racer("bob", 10, None)
    lower = min((a, b), key=lambda x: x.peer_id)
    assert result_of([a, b]).winner_id == lower.peer_id
    assert result_of([b, a]).winner_id == lower.peer_id


def test_adjudication_is_independent_of_report_order_and_host():
    rs = [racer(n, random.Random(n).randint(0, 9), None) for n in ("ann", "bob", "cyd", "dee")]
    a = result_of(rs, host="ann")
    b = result_of(list(reversed(rs)), host="bob")
    assert a.outcome_bytes() == b.outcome_bytes()
    assert a.canonical_bytes() != b.canonical_bytes()  # the host and term are signed too


def test_sign_verify_and_json_round_trip():
    r = make_result(1, samples=True)
    assert r.verify()
    back = MatchResult.from_json(json.loads(json.dumps(r.to_json())))
    assert back == r and back.verify()
    assert back.canonical_bytes() == r.canonical_bytes()


def test_only_the_host_can_sign():
    r = result_of([racer("ann", 1, None)], host="ann")
    with pytest.raises(ValueError):
        r.signed(identity("bob"))


def test_tampering_breaks_the_signature():
    r = make_result(2)
    first = r.racers[0]
    tampered = replace(r, racers=(replace(first, name=first.name + "x"),) + r.racers[1:])
    assert not tampered.verify()
    assert replace(r, term=r.term + 1).problem() == "bad signature"
    assert not replace(r, signature=bytes(64)).verify()
    assert replace(r, signature=b"").problem() == "unsigned"


def test_signer_must_be_the_host():
    r = make_result(3)
    mallory = Identity.from_seed(b"mallory")
    forged = replace(r, signer_key=mallory.public_key, signature=b"")
    forged = replace(forged, signature=mallory.sign(forged.canonical_bytes()))
    assert forged.problem() == "signer is not the host"


def _signed_json_with(mutator) -> dict:
    d = make_result(4).to_json()
    mutator(d)
    return d


@pytest.mark.parametrize("mutate, why", [
    (lambda d: d.update(winner_id=d["racers"][-1]["peer_id"] if d["racers"][0]["peer_id"] == d["winner_id"]
                        else d["racers"][0]["peer_id"]), "winner"),
    (lambda d: d["racers"].append(dict(d["racers"][0])), "duplicate"),
    (lambda d: d["racers"][0].update(score=-5), "score"),
    (lambda d: d["racers"][0].update(score=10**12), "score"),
    (lambda d: d["racers"][0].update(distance=float("inf")), "distance"),
    (lambda d: d["racers"][0].update(crashed=False, crash_time=12.0), "crash_time"),
    (lambda d: d.update(finished_at=d["started_at"] - 1), "finished"),
    (lambda d: d.update(finished_at=d["started_at"] + 10_000), "longer"),
    (lambda d: d.update(match_id=""), "match_id"),
    (lambda d: d.update(match_id="a b"), "match_id"),
    (lambda d: d.update(seed=1.5), "seed"),
    (lambda d: d.update(host_id="XYZ"), "host_id"),
    (lambda d: d.update(racers=[]), "racers"),
    (lambda d: d["racers"][0].update(name="a\nb"), "control"),
    (lambda d: d["racers"][0].update(name="x" * 65), "longer"),
    (lambda d: d["racers"][0].pop("score"), "missing"),
    (lambda d: d.update(racers="nope"), "list"),
    (lambda d: d["racers"].reverse(), "sorted"),
])
def test_inconsistent_content_is_refused(mutate, why):
    d = _signed_json_with(mutate)
    with pytest.raises(ValueError, match=why):
        MatchResult.from_json(d)


def test_from_json_fuzz_never_raises_anything_but_value_error():
    base = make_result(5).to_json()
    rng = random.Random(5)
    junk = [None, 1, -1, 1.5, math.nan, "x", "", [], {}, True, 2**70, "zz" * 40]
    accepted = 0
    for _ in range(3000):
        d = json.loads(json.dumps(base))
        target = d if rng.random() < 0.5 else rng.choice(d["racers"])
        target[rng.choice(list(target))] = rng.choice(junk)
        try:
            r = MatchResult.from_json(d)
        except ValueError:
            continue
        accepted += 1
        assert accept_problem(r) is not None or r == make_result(5)
    assert accepted < 3000


@pytest.mark.parametrize("change, why", [
    (dict(crashed=True, crash_time=2.0, distance=5000.0), "distance is impossible"),
    (dict(crashed=True, crash_time=1.0, distance=1.0, score=5000), "score is impossible"),
    (dict(crashed=False, crash_time=-1.0, distance=200_000.0), "distance is impossible"),
])
def test_physically_impossible_reports_are_refused(change, why):
    r = make_result(6)
    host = identity(next(n for n in ("ann", "bob", "cyd", "dee", "eve", "fay", "gus", "hal", "ivy", "jon",
                                     "kim", "lou") if identity(n).peer_id == r.host_id))
    racers = (replace(r.racers[0], **change),) + r.racers[1:]
    bad = adjudicate(r.match_id, r.seed, r.time_limit, r.host_id, r.term, r.started_at, r.finished_at,
                     racers).signed(host)
    assert why in bad.problem()
    assert not bad.verify()
