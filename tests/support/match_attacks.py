"""Forged match messages of the attacks in issue 10, built with the real message types and
an attacker's own keys. Used by the simulator tests (tests/test_match_attacks.py) and by the
attacker process on LAN test hosts (tests/support/match_attacker.py).

Every attack is what a hostile peer can build from what it hears on the LAN (the lobby
announcement) plus its own identities; none needs another peer's private key.
"""

from __future__ import annotations

import time

from p2p_race.identity import Identity
from p2p_race.match import messages as m
from p2p_race.match.proof import TermProof, sign_vote
from p2p_race.match.state import result_to_wire
from replication.records import RacerResult, adjudicate

ATTACKS = ("result_term0", "heartbeat_next_term", "heartbeat_max_term", "announce_next_term",
           "roster_next_term", "proof_next_term", "countdown_next_term", "vote_request_next_term",
           "roster_seal")
MAX_U32 = 2**32 - 1
# Attacks for the simulator only (a member's own moves; not in the LAN attack matrix).
SIM_ATTACKS = ("self_elect",)


def sybil_proof(ann: m.Announce, attacker: Identity, term: int, sybils: int = 8) -> TermProof:
    """A term proof with valid signatures: the attacker's own vote plus fresh identities'."""
    proof = m.proof_from_wire(ann.proof)
    voters = [attacker] + [Identity.from_seed(b"sybil-%d-%s" % (i, attacker.peer_id.encode())) for i in range(sybils)]
    votes = tuple(sign_vote(ann.match_id, term, attacker.peer_id_bytes, v.public_key, v.sign) for v in voters)
    return TermProof(ann.match_id, term, attacker.public_key, proof.creator_key, proof.nonce, votes)


def forge(attack: str, ann: m.Announce, attacker: Identity, members: list[str] = ()) -> list:
    """The messages of one round of `attack` against the match `ann` announces."""
    mid, term = ann.match_id, ann.proof.term
    nxt = term + 1
    if attack == "result_term0":
        ids = sorted({attacker.peer_id, *members})
        racers = [RacerResult(pid, "evil" if pid == attacker.peer_id else "x", 50 if pid == attacker.peer_id else 0,
                              100.0, pid != attacker.peer_id, 1.0 if pid != attacker.peer_id else -1.0) for pid in ids]
        now = time.time()
        res = adjudicate(mid.hex(), ann.rules.seed, ann.rules.time_limit, attacker.peer_id, 0, now - 30, now - 29,
                         racers).signed(attacker)
        return [result_to_wire(res)]
    if attack == "heartbeat_next_term":
        return [m.Heartbeat(mid, nxt, m.PHASE_RACING, 10**6, 0.0, False)]
    if attack == "heartbeat_max_term":
        return [m.Heartbeat(mid, MAX_U32, m.PHASE_RACING, MAX_U32, 0.0, False)]
    if attack == "announce_next_term":
        wire = m.proof_to_wire(sybil_proof(ann, attacker, nxt))
        return [m.Announce(mid, ann.host_name, ann.rules, ann.phase, ann.racers, ann.spectators, wire)]
    if attack == "roster_next_term":
        abandoned = tuple(m.RosterRacer(bytes.fromhex(p), "x", 0, m.ST_ABANDONED, 0, 0.0, 0.0) for p in members)
        return [m.Roster(mid, nxt, 10**6, ann.rules, m.PHASE_RACING, 0.0, 1.0, abandoned[:m.MAX_RACERS], ())]
    if attack == "proof_next_term":
        return [m.HostProof(mid, m.proof_to_wire(sybil_proof(ann, attacker, nxt)))]
    if attack == "self_elect":  # a member's own vote for itself, and acting as that term's host
        wire = m.proof_to_wire(sybil_proof(ann, attacker, nxt, sybils=0))
        return [m.HostProof(mid, wire), m.Heartbeat(mid, nxt, m.PHASE_RACING, 10**6, 0.0, False)]
    if attack == "countdown_next_term":
        return [m.CountdownStart(mid, nxt, 0.0, 1.0)]
    if attack == "vote_request_next_term":
        return [m.VoteRequest(mid, nxt, MAX_U32, MAX_U32, False), m.VoteRequest(mid, MAX_U32, MAX_U32, MAX_U32, True)]
    if attack == "roster_seal":  # a seal of this term's roster and of a next one: not the host's
        return [m.RosterSeal(mid, term, 10**6, bytes(64)), m.RosterSeal(mid, nxt, 1, attacker.sign(b"seal"))]
    raise ValueError(f"unknown attack {attack}")
