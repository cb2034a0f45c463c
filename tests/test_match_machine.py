"""The match state machine and its edges: the table of legal moves, term proofs, bounded
terms, deadlines with the stall guard, and the runtime drawing only accepted states."""

from __future__ import annotations

import random

import pytest

from p2p_race.identity import Identity, verify
from p2p_race.match import MatchConfig, MatchCore, MatchRules
from p2p_race.match import messages as m
from p2p_race.match.events import ElectionStarted, Rejected, RejectReason, Send
from p2p_race.match.machine import IllegalTransition, Phase, Role, move
from p2p_race.match.proof import (
    ProofProblem,
    TermProof,
    creator_proof,
    match_id_for,
    sign_vote,
    verify_proof,
)
from p2p_race.match.state import Match
from p2p_race.match.state import MatchRules as Rules
from p2p_race.wire import Codec


def ident(i: int) -> Identity:
    return Identity.from_seed(b"machine-%d" % i)


def core(i: int, **cfg) -> MatchCore:
    me = ident(i)
    return MatchCore(me.peer_id, f"p{i}", sign=lambda r: r.signed(me), keys=me, rng=random.Random(i),
                     config=MatchConfig(**cfg))


# -- the table -----------------------------------------------------------------------------
def test_illegal_moves_are_refused_and_fields_cannot_be_assigned():
    mt = Match("00" * 8, Rules(1), m.ROLE_RACER)
    assert move(mt, phase=Phase.COUNTDOWN) and mt.phase == Phase.COUNTDOWN
    assert not move(mt, phase=Phase.COUNTDOWN)  # staying put is no move
    with pytest.raises(IllegalTransition):
        move(mt, phase=Phase.LOBBY)
    move(mt, phase=Phase.FINISHED)
    with pytest.raises(IllegalTransition):
        move(mt, phase=Phase.RACING)
    with pytest.raises(IllegalTransition):
        move(mt, role=Role.HOST)  # a follower cannot skip the election
    with pytest.raises(AttributeError):
        mt.phase = Phase.LOBBY  # only through `move`
    move(mt, role=Role.PRE_CANDIDATE)
    move(mt, role=Role.CANDIDATE)
    move(mt, role=Role.HOST)
    with pytest.raises(IllegalTransition):
        move(mt, role=Role.CANDIDATE)


# -- proofs ------------------------------------------------------------------------------------
def test_term_proofs_bind_the_creator_and_need_a_quorum_of_signed_votes():
    creator, a, b, c = ident(1), ident(2), ident(3), ident(4)
    nonce = b"\x01" * 8
    p1 = creator_proof(creator.public_key, nonce)
    assert p1.match_id == match_id_for(creator.public_key, nonce) and verify_proof(p1, verify) is None
    # someone else claiming term 1 of that match id
    assert verify_proof(TermProof(p1.match_id, 1, a.public_key, a.public_key, nonce), verify) is not None
    assert verify_proof(TermProof(p1.match_id, 1, a.public_key, creator.public_key, nonce), verify) \
        == ProofProblem.NOT_CREATOR
    votes = tuple(sign_vote(p1.match_id, 2, a.peer_id_bytes, v.public_key, v.sign) for v in (a, b))
    p2 = TermProof(p1.match_id, 2, a.public_key, creator.public_key, nonce, votes)
    electorate = [x.peer_id for x in (a, b, c)]
    assert verify_proof(p2, verify, electorate) is None
    assert verify_proof(TermProof.from_json(p2.to_json()), verify, electorate) is None
    assert verify_proof(p2, verify, electorate + [ident(5).peer_id, ident(6).peer_id]) == ProofProblem.NO_QUORUM
    # a vote for another term, or another candidate, does not count
    stale = sign_vote(p1.match_id, 3, a.peer_id_bytes, b.public_key, b.sign)
    assert verify_proof(TermProof(p1.match_id, 2, a.public_key, creator.public_key, nonce, (votes[0], stale)),
                        verify, electorate) == ProofProblem.BAD_VOTE
    assert verify_proof(TermProof(p1.match_id, 2, b.public_key, creator.public_key, nonce, votes), verify,
                        electorate) == ProofProblem.BAD_VOTE
    dup = TermProof(p1.match_id, 2, a.public_key, creator.public_key, nonce, (votes[0], votes[0]))
    assert verify_proof(dup, verify, electorate) == ProofProblem.DUPLICATE_VOTER


def test_the_match_id_is_bound_to_its_host_key():
    c = core(1)
    c.host(MatchRules(seed=3), 0.0)
    mt = c.match
    assert bytes.fromhex(mt.match_id) == match_id_for(ident(1).public_key, mt.nonce)
    assert mt.proof == creator_proof(ident(1).public_key, mt.nonce)


# -- bounded terms -------------------------------------------------------------------------------
def _joined_member() -> tuple[MatchCore, MatchCore]:
    host, member = core(1), core(2)
    acts = host.host(MatchRules(seed=3), 0.0)
    ann = next(a.msg for a in acts if hasattr(a, "msg") and isinstance(a.msg, m.Announce))
    member.on_message(host.id, ann, 0.0)
    for a in member.join(host.match.match_id, 0.0):
        for b in host.on_message(member.id, a.msg, 0.0):
            if isinstance(b, Send) and member.id in b.to:
                member.on_message(host.id, b.msg, 0.0)
    assert member.match.joined
    return host, member


def test_far_terms_are_ignored_and_nothing_overflows_a_wire_field():
    host, member = _joined_member()
    codec = Codec(ident(2))
    mid = host.match.mid
    for term in (2**32 - 1, host.match.term + 1000):
        for target, msg in ((member, m.Heartbeat(mid, term, 2, 1, 0.0, False)),
                            (member, m.VoteRequest(mid, term, term, term, False)),
                            (host, m.VoteRequest(mid, term, term, term, True))):
            acts = target.on_message(host.id if target is member else member.id, msg, 0.1)
            assert [a.reason for a in acts if isinstance(a, Rejected)] == [RejectReason.TERM_TOO_FAR]
            for a in acts:
                if isinstance(a, Send):
                    codec.encode(a.msg, 1.0)  # never an EncodeError
    assert member.match.term == 1 and host.match.term == 1 and host.is_host


# -- deadlines and the stall guard ---------------------------------------------------------------
def test_a_stalled_member_does_not_call_its_own_stall_the_hosts_silence():
    host, member = _joined_member()
    member.handle_timer(member.get_timer())  # its first ping
    due = member.get_timer()
    assert due is not None and due > 0.0
    # we were not running for 5 s (suspended): the first call comes far past the deadline
    acts = member.handle_timer(5.0)
    assert not [a for a in acts if isinstance(a, ElectionStarted)]
    assert member.stalled > 4.0
    # the host's queued heartbeat arrives now: all is well, no election
    hb = m.Heartbeat(host.match.mid, 1, 0, host.match.version, 0.0, False)
    member.on_message(host.id, hb, 5.001)
    assert member.match.role == Role.FOLLOWER
    # but real silence while we do run is noticed: an election starts, after the patience
    # a stall that long earned (this machine is turbulent: a host may stall as we did)
    assert member.turbulence(5.001) > 4.0
    t, started = 5.001, False
    while t < 15.0 and not started:
        t = max(member.get_timer(), t)
        started = any(isinstance(a, ElectionStarted) for a in member.handle_timer(t))
    cfg = MatchConfig()
    assert started and cfg.election_min < t - 5.001 <= cfg.patience_max + cfg.election_max + 0.01


def test_an_on_time_timer_is_not_a_stall():
    _host, member = _joined_member()
    t = 0.0
    for _ in range(50):
        t = member.get_timer()
        member.handle_timer(t)
    assert member.stalled == 0.0


# -- the runtime draws and samples only accepted states --------------------------------------------
def test_runtime_history_holds_only_states_the_core_accepted():
    from p2p_race.runtime import PeerRuntime
    from p2p_race.wire import Packet

    me, racer = ident(1), ident(2)
    rt = PeerRuntime(me, "host", mdns=False, store_results=False)
    now = 0.0
    rt.core.host(MatchRules(seed=3, time_limit=30), now)
    rt.core.on_message(racer.peer_id, m.Join(rt.core.match.mid, m.ROLE_RACER, "r"), now)
    rt.core.start(now)
    import time as _t

    t0 = _t.monotonic()
    rt.core.tick(t0 + 10)  # past the countdown (the core clock is the monotonic one)
    mid = rt.core.match.mid
    # a real drive (the runtime replays every racer from its inputs): 60 ticks of throttle
    from p2p_race.replay.codec import encode_log
    from p2p_race.replay.verify import start_x
    from p2p_race.sim import CarSim, Inputs, Rules

    car = CarSim(Rules(3, rt.core.match.rules.time_limit), racer.peer_id, start_x=start_x(racer.peer_id))
    for _ in range(60):
        car.step(Inputs(0, 1))
    st = car.state
    window = encode_log(bytes([5]) * 60)
    ok = m.RacerState(mid, 60, 60, st.x, st.y, st.speed, st.score, st.distance, False, -1.0, 1, window)
    teleport = m.RacerState(mid, 61, 61, st.x, 9000.0, st.speed, st.score, 9000.0, False, -1.0, 2, window)
    rt._apply = lambda acts: PeerRuntime._apply(rt, [a for a in acts if not isinstance(a, Send)])
    for msg in (ok, teleport):
        rt._on_packet(Packet(racer.peer_id, racer.public_key, 0, 1, 0.0, msg), ("127.0.0.1", 1))
    assert [rep.y for _t, rep in rt.history[racer.peer_id]] == [st.y]
    assert rt.core.rejected == {RejectReason.DIVERGED.value: 1}
    assert rt.samples[racer.peer_id] == [0, st.score]  # second 1 of the race: the accepted score
