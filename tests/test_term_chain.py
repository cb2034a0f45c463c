"""A later term is believed by a store only with the chain from the match's creator: the
replaced host's sealed roster, and votes of a quorum of that roster (p2p_race.match.seal).

The attack these tests replay (red team, issue 10): take a real match's record, drop the
other racers, re-sign it as "term 2" hosted by the forger with one signed vote, its own or a
key never in the match, and offer it to a store that lacks the real record."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from p2p_race.identity import Identity
from p2p_race.match.seal import MAX_CHAIN_BYTES, ChainLink, chain_from_bytes, statement_of
from replication.evidence import accept_problem
from replication.fixtures import identity, make_result, rehost
from replication.records import MatchResult
from replication.store import AddStatus, ResultStore
from tests.support.forge import forged as _forged
from tests.support.forge import proof as _proof
from tests.support.forge import sealed as _sealed

PLAYERS = ("ann", "bob", "cyd", "dee")  # ann created the match (term 1 host)


def _honest() -> MatchResult:
    return make_result(21, players=PLAYERS)


def test_a_failover_record_with_its_chain_is_accepted():
    r = _honest()
    copy = rehost(r, "bob", 2)
    assert copy.term_chain and accept_problem(copy) is None
    # the chain survives the record's JSON (sync, the store, MongoDB)
    again = MatchResult.from_json(json.loads(json.dumps(copy.to_json())))
    assert again == copy and accept_problem(again) is None


def test_a_record_re_signed_as_term_2_by_one_voter_is_refused():
    r = _honest()
    cyd, stranger = identity("cyd"), Identity.from_seed(b"stranger of the LAN")
    forgeries = {
        # the red team's record: no chain at all
        "member, no chain": replace(_forged(r, cyd, (cyd,), ("cyd",)), term_chain=b""),
        # with the creator's real seal (a member holds it): 1 vote of 3 voters (ann replaced)
        "member, its own vote": _forged(r, cyd, (cyd,), ("cyd",)),
        "member, all racers kept": _forged(r, cyd, (cyd,), PLAYERS),
        "stranger, its own vote": _forged(r, stranger, (stranger,), ("cyd",)),
        "stranger, votes of keys never in the match": _forged(
            r, stranger, tuple(Identity.from_seed(b"sybil %d" % i) for i in range(5)), ("cyd",)),
        # a roster the forger sealed itself, naming itself alone
        "member, a roster it sealed itself": _forged(
            r, cyd, (cyd,), ("cyd",), [ChainLink(_sealed(r, ("ann", "cyd"), by=cyd), _proof(r, 2, cyd, (cyd,)))]),
        # the creator's seal, but of another match
        "member, the seal of another match": _forged(r, cyd, (cyd,), ("cyd",), [ChainLink(
            _sealed(make_result(22, players=PLAYERS), PLAYERS), _proof(r, 2, cyd, (cyd,)))]),
        # a real seal with the others marked abandoned in it, but not by the creator
        "member, others abandoned by its own seal": _forged(r, cyd, (cyd,), ("cyd",), [ChainLink(
            _sealed(r, PLAYERS, by=cyd, abandoned=("bob", "dee")), _proof(r, 2, cyd, (cyd,)))]),
    }
    for what, bad in forgeries.items():
        why = accept_problem(bad)
        assert why is not None, what
        assert "chain" in why or "term" in why, (what, why)


def test_the_forgery_never_reaches_a_store_that_lacks_the_real_record(data_dir):
    r = _honest()
    cyd = identity("cyd")
    store = ResultStore(data_dir)
    assert store.offer(_forged(r, cyd, (cyd,), ("cyd",))) is AddStatus.INVALID
    assert store.count() == 0 and store.outbox_count() == 0 and store.leaderboard() == []
    assert store.offer(r) is AddStatus.NEW and store.get(r.match_id) == r


def test_a_quorum_of_the_sealed_roster_makes_a_term_and_less_does_not():
    r = _honest()
    bob, cyd, dee = identity("bob"), identity("cyd"), identity("dee")
    # ann (the creator) is replaced: the electorate is bob, cyd, dee; a quorum is 2
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS)) is None
    assert accept_problem(_forged(r, cyd, (cyd,), PLAYERS)) is not None
    # two votes of voters outside the sealed roster count for nothing
    outsiders = (Identity.from_seed(b"x1"), Identity.from_seed(b"x2"))
    assert accept_problem(_forged(r, cyd, (cyd, *outsiders), PLAYERS)) is not None
    # the creator's own seal marking bob and dee abandoned: cyd alone is the electorate
    alone = [ChainLink(_sealed(r, PLAYERS, abandoned=("bob", "dee")), _proof(r, 2, cyd, (cyd,)))]
    assert accept_problem(_forged(r, cyd, (cyd,), PLAYERS, alone)) is None
    # and bob's vote counts nothing there (abandoned): still no more than cyd's
    assert accept_problem(_forged(r, bob, (bob,), PLAYERS, [ChainLink(
        _sealed(r, PLAYERS, abandoned=("bob", "dee")), _proof(r, 2, bob, (bob,)))])) is not None


def test_a_record_cannot_name_a_racer_the_sealed_race_did_not_have():
    r = _honest()
    cyd, dee = identity("cyd"), identity("dee")
    three = ("ann", "cyd", "dee")  # bob is not in this race's sealed roster
    links = [ChainLink(_sealed(r, three), _proof(r, 2, cyd, (cyd, dee)))]
    why = accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, links))
    assert why is not None and "not in the race" in why
    # a lobby roster (the race started under the new host) fixes no lineup
    lobby = [ChainLink(_sealed(r, three, phase=0), _proof(r, 2, cyd, (cyd, dee)))]
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, lobby)) is None


def test_every_link_of_a_longer_chain_is_checked():
    r = _honest()
    bob, cyd, dee = identity("bob"), identity("cyd"), identity("dee")
    p2 = _proof(r, 2, bob, (bob, cyd))
    p3 = _proof(r, 3, cyd, (cyd, dee))  # bob replaced, ann abandoned in its seal: cyd and dee vote
    good = [ChainLink(_sealed(r, PLAYERS), p2),
            ChainLink(_sealed(r, PLAYERS, by=bob, term=2, abandoned=("ann",)), p3)]
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, good, term=3)) is None
    # term 2's roster sealed by someone else than term 2's host
    bad_seal = [good[0], ChainLink(_sealed(r, PLAYERS, by=dee, term=2, abandoned=("ann",)), p3)]
    assert "seal" in accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, bad_seal, term=3))
    # a missing middle link: term 3 counted against the creator's roster needs 2 of bob, cyd, dee
    # (here it has them), but the chain must end at the record's proof, with no gap in the seals
    skipped = [ChainLink(_sealed(r, PLAYERS), p3)]
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, skipped, term=3)) is None
    out_of_order = [good[1], good[0]]
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, out_of_order, term=3)) is not None
    # a chain that ends at another proof than the record's
    assert accept_problem(_forged(r, cyd, (cyd, dee), PLAYERS, good[:1], term=3)) is not None


def test_malformed_and_oversized_chains_are_refused_never_raised():
    r = rehost(_honest(), "bob", 2)
    data = r.term_chain
    rng = random.Random(5)
    for _ in range(2000):
        b = bytearray(data)
        for _k in range(rng.randint(1, 4)):
            op = rng.random()
            i = rng.randrange(len(b))
            if op < 0.5:
                b[i] = rng.randrange(256)
            elif op < 0.8:
                del b[i: i + rng.randint(1, 40)]
            else:
                b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        mutated = replace(r, term_chain=bytes(b))
        if accept_problem(mutated) is None:  # refused, never raised; accepted only as the same chain
            assert chain_from_bytes(bytes(b)) == chain_from_bytes(data)
    with pytest.raises(ValueError):
        chain_from_bytes(b"[" * (MAX_CHAIN_BYTES + 1))
    assert accept_problem(replace(r, term_chain=b"[" * 100_000)) is not None
    with pytest.raises(ValueError):
        replace(r, term_chain=b"x" * (MAX_CHAIN_BYTES + 1)).validate()



def test_one_signed_roster_has_one_reading():
    """Red team: `bytes.fromhex` skips whitespace, so a 16-character "peer id" of 1 byte and
    spaces let one seal's signed bytes be re-read as another roster (every racer abandoned,
    the member's spectator identities the electorate). Ids are exact lower-case hex now, a
    statement holds only 8-byte ids, and a chain is accepted only in its canonical text."""
    r = rehost(_honest(), "bob", 2)
    doc = json.loads(r.term_chain)
    pid = doc[0]["base"]["racers"][1][0]
    for bad in (pid[:2] + " " * 14, pid.upper(), " " + pid[1:], pid[:14] + "\n" + pid[15]):
        d = json.loads(r.term_chain)
        d[0]["base"]["racers"][1][0] = bad
        text = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        why = accept_problem(replace(r, term_chain=text))
        assert why is not None and "hex" in why, (bad, why)
    with pytest.raises(ValueError):
        statement_of(b"\x01" * 8, 1, 1, 2, [(b"\x01", True)], []).to_bytes()
    # the same links in another text: refused (spaces, key order, an ASCII-escaped copy)
    for text in (json.dumps(doc).encode(), json.dumps(doc, indent=1, sort_keys=True).encode(),
                 r.term_chain.replace(b'"phase"', b'"\\u0070hase"')):
        assert text != r.term_chain
        why = accept_problem(replace(r, term_chain=text))
        assert why is not None and "canonical" in why, why
    # not ASCII (a UTF-16 chain parsed as JSON, and crashed the store's JSON on the way in)
    assert accept_problem(replace(r, term_chain=r.term_chain.decode().encode("utf-16"))) is not None
    with pytest.raises(ValueError):
        MatchResult.from_json({**r.to_json(), "term_chain": "é" + r.term_chain.decode()})
