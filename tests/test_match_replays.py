"""Input-verified racing between peers, without sockets: racers stream windows of inputs,
every peer replays every car, the host's record verifies and members rebuild it exactly."""

from __future__ import annotations

import random
from dataclasses import replace

from p2p_race.bots import BotDriver
from p2p_race.identity import Identity, verify
from p2p_race.match import messages as m
from p2p_race.match.proof import creator_proof
from p2p_race.match.replays import STATE_EVERY, MatchVerifier
from p2p_race.replay.codec import code_of, encode_log
from p2p_race.replay.verify import start_x
from p2p_race.sim import CarSim, Rules
from replication.evidence import accept_problem, proof_bytes
from replication.records import adjudicate

RULES = Rules(31, 20.0, "normal")


def _peers(n: int):
    ids = [Identity.from_seed(f"mv{i}".encode()) for i in range(n)]
    proof = creator_proof(ids[0].public_key, b"\x00" * 7 + b"\x01")
    mid = proof.match_id.hex()
    mvs = {i.peer_id: MatchVerifier(mid, RULES, i.peer_id, i.public_key, i.sign) for i in ids}
    return ids, proof, mid, mvs


def _race(ids, mid, mvs, *, cheat: dict | None = None, loss: float = 0.0, seed: int = 1):
    """Every racer drives (a bot) and streams to every other peer; returns (messages, drops)."""
    rng = random.Random(seed)
    cars = {i.peer_id: CarSim(RULES, i.peer_id, start_x=start_x(i.peer_id)) for i in ids}
    bots = {i.peer_id: BotDriver(i.peer_id, 0.8) for i in ids}
    mb = bytes.fromhex(mid)
    rejected: dict[str, str] = {}
    done = set()
    while len(done) < len(ids):
        for me in ids:
            pid = me.peer_id
            car = cars[pid]
            if pid in done:
                continue
            move = bots[pid].decide(car, car.traffic)
            car.step(move)
            st = car.state
            due, first, window = mvs[pid].local(st.tick, bytes([code_of(move)]))
            if not due:
                continue
            fields = dict(x=st.x, y=st.y, speed=st.speed, score=st.score, distance=st.distance,
                          crashed=st.crashed, crash_time=st.crash_time if st.crashed else -1.0)
            if cheat and pid in cheat:
                fields = cheat[pid](st, fields)
            if car.finished:
                msg = m.FinalReport(mb, st.tick, st.tick, *fields.values(), first, window, me.public_key,
                                    mvs[pid].attest())
                done.add(pid)
            else:
                msg = m.RacerState(mb, st.tick, st.tick, *fields.values(), first, window)
            for other in ids:
                if other.peer_id == pid or (rng.random() < loss and not car.finished):
                    continue
                v = mvs[other.peer_id]
                why = v.on_final(pid, msg, verify) if isinstance(msg, m.FinalReport) else v.on_state(pid, msg)
                if why:
                    rejected.setdefault(f"{other.peer_id}<-{pid}", why)
    return rejected


def _record(ids, proof, mid, mvs):
    host = ids[0]
    entries, logs = mvs[host.peer_id].entries([(i.peer_id, f"p{k}") for k, i in enumerate(ids)])
    return adjudicate(mid, RULES.seed, RULES.time_limit, host.peer_id, 1, 1.7e9, 1.7e9 + 21, entries,
                      difficulty=RULES.difficulty, term_proof=proof_bytes(proof), logs=logs).signed(host)


def test_honest_match_with_heavy_loss_verifies_everywhere_and_members_rebuild_the_record():
    ids, proof, mid, mvs = _peers(3)
    assert _race(ids, mid, mvs, loss=0.6) == {}
    rec = _record(ids, proof, mid, mvs)
    assert accept_problem(rec) is None
    assert all(r.attestation and not r.abandoned for r in rec.racers)
    from p2p_race.match.state import result_from_wire, result_to_wire

    wire = result_from_wire(result_to_wire(rec))  # what a member receives: no evidence inside
    assert wire is not None and not wire.has_evidence
    for member in ids[1:]:
        full = mvs[member.peer_id].complete(wire, rec.term_proof)
        assert full == rec


def test_a_cheater_streaming_states_its_inputs_do_not_produce_is_caught_by_every_peer():
    ids, proof, mid, mvs = _peers(3)
    cheater = ids[2].peer_id

    def inflate(st, fields):  # +1 point a tick, and never crashes
        return {**fields, "score": fields["score"] + st.tick, "crashed": False, "crash_time": -1.0}

    rejected = _race(ids, mid, mvs, cheat={cheater: inflate})
    assert {k.split("<-")[1] for k in rejected} == {cheater}
    assert len(rejected) == 2  # every other peer
    for i in ids[:2]:
        assert mvs[i.peer_id].diverged(cheater)
    rec = _record(ids, proof, mid, mvs)
    assert cheater not in {r.peer_id for r in rec.racers} and accept_problem(rec) is None


def test_a_later_crash_time_is_caught():
    ids, proof, mid, mvs = _peers(2)

    def late_crash(st, fields):
        return {**fields, "crash_time": fields["crash_time"] + 5.0} if st.crashed else fields

    rejected = _race(ids, mid, mvs, cheat={ids[1].peer_id: late_crash}, seed=3)
    car = mvs[ids[0].peer_id].live.car(ids[1].peer_id)
    if car.replay.state.crashed:  # the bot crashed in this race: its late crash time is refused
        assert rejected == {f"{ids[0].peer_id}<-{ids[1].peer_id}": "states its inputs do not produce"}
    else:
        assert rejected == {}


def test_states_are_sent_every_few_ticks_and_windows_cover_the_gaps():
    ids, proof, mid, mvs = _peers(1)
    mv = mvs[ids[0].peer_id]
    sent = [mv.local(t, bytes([4]))[0] for t in range(1, 31)]
    assert sum(sent) == 30 // STATE_EVERY


def test_a_racer_without_attestation_is_counted_as_abandoned_before_the_end():
    ids, proof, mid, mvs = _peers(2)
    _race(ids, mid, mvs)
    host = mvs[ids[0].peer_id]
    car = host.live.car(ids[1].peer_id)
    car.attestation = b""  # its final report never arrived
    rec = _record(ids, proof, mid, mvs)
    entry = rec.racer(ids[1].peer_id)
    assert entry.abandoned and not entry.attestation and not entry.key
    assert accept_problem(rec) is None
    assert replace(rec, logs=()).has_evidence is False


def test_a_peer_that_joined_late_cannot_replay_but_never_calls_it_a_lie():
    ids, proof, mid, mvs = _peers(2)
    late = MatchVerifier(mid, RULES, "00000000000000ff", b"", lambda d: bytes(64))
    pid = ids[1].peer_id
    # ticks 1..499 never reached the late peer: its first window starts at tick 500
    msg = m.RacerState(bytes.fromhex(mid), 600, 600, 1.0, 2.0, 3.0, 4, 5.0, False, -1.0, 500,
                       encode_log(bytes([4]) * 101))
    assert late.on_state(pid, msg) is None
    assert late.unverifiable(pid) and late.diverged(pid) is None
    final = m.FinalReport(*[getattr(msg, f) for f in msg.__dataclass_fields__], bytes(32), bytes(64))
    assert late.on_final(pid, final, verify) is None  # not checkable here: the host checks it
