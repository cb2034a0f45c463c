"""Who hosts the match: a Raft-like election adapted to a match, with forwardable proofs.

- a quorum is more than half of the roster's voters, the failed host counted as a vote not
  given (`authz.quorum_electorates`); leaving the failed host out is believed only by a peer
  that itself stopped hearing it, so a 2-racer match fails over only once the host is silent
  to the survivor and to everyone who checks;
- a silent host is noticed after a randomized timeout (150-300 ms, heartbeats every 50 ms);
  time this process was not running is not silence (`MatchCore` stall guard);
- a pre-vote round first (no term change), so a peer cut off for a while cannot come back
  with an inflated term and depose a healthy host;
- one vote per term, signed by the voter over (match, term, candidate, voter); a voter
  refuses a candidate whose replicated state is older than its own; two candidates of one
  term: the lower peer id wins the tie;
- the winner's `TermProof` (its quorum of signed votes) is what makes anyone believe it:
  members step down to a newer host only on a verified proof (`authz.check_proof`).
"""

from __future__ import annotations

import logging

from p2p_race.match import authz
from p2p_race.match import messages as m
from p2p_race.match.events import (
    Action,
    ElectionStarted,
    HostChanged,
    RejectReason,
    Send,
    SteppedDown,
    TookOver,
)
from p2p_race.match.machine import Phase, Role, move
from p2p_race.match.proof import TermProof, quorum, sign_vote, vote_valid
from p2p_race.match.state import NEVER, Match, mid_bytes, pid_bytes

log = logging.getLogger(__name__)
MAX_PROOFS = 16


class Election:
    """Mixin of `MatchCore`: campaigning, voting, taking over and stepping down."""

    # ------------------------------------------------------------------ timers
    def _new_deadline(self, now: float) -> float:
        mt = self.match
        extra = max(0.0, self._patience(mt) - self.cfg.election_min) if mt is not None else 0.0
        return now + extra + self.rng.uniform(self.cfg.election_min, self.cfg.election_max)

    def _patience(self, mt: Match) -> float:
        """How long a silence of our host means it is gone: `election_min`, or twice the
        turbulence (`deadlines`) if that is longer (on a loaded machine every process stalls
        now and then; a dead host stops for good), at most `patience_max`. On a calm LAN
        the turbulence is 0 and failover stays at 150-300 ms."""
        return min(max(self.cfg.election_min, 2.0 * self.turbulence(self._seen)), self.cfg.patience_max)

    def _election_tick(self, mt: Match, now: float) -> list[Action]:
        if now >= mt.deadline:
            out = self._catch_up(mt, now)
            return out if out else self._campaign(mt, now)
        if mt.role in (Role.PRE_CANDIDATE, Role.CANDIDATE) and now >= mt.next_vote_resend:
            mt.next_vote_resend = now + self.cfg.heartbeat
            pending = tuple(v for v in self._voters(mt) if v not in mt.votes and v != self.id)
            if pending:
                return [Send(pending, self._vote_request(mt, pre=mt.role == Role.PRE_CANDIDATE))]
        return []

    def _voters(self, mt: Match) -> list[str]:
        """Everyone whose vote can count in the election we run or would run (not the host
        it replaces: that one is silent, or it would not be replaced)."""
        failed = authz.replaced_host(mt, self._term_sought(mt))
        return sorted({v for voters in self._electorates(mt, self._seen) for v in voters} - {failed})

    def _term_sought(self, mt: Match) -> int:
        return mt.term if mt.role == Role.CANDIDATE else mt.term + 1

    def _electorates(self, mt: Match, now: float) -> list[list[str]]:
        term = self._term_sought(mt)
        return authz.quorum_electorates(mt, term, self.id, now, self.cfg.disconnect_after, self._gone_after(mt),
                                        live=False)

    def _gone_after(self, mt: Match) -> float:
        """How long the replaced host must be silent to us before we count it out of the
        electorate: twice our election timeout (so a few lost heartbeats never let a
        member's lone vote depose a host we still hear)."""
        return 2.0 * self._patience(mt)

    def _quorum_of(self, mt: Match, now: float) -> tuple[list[str], int] | None:
        """(electorate, quorum) of the first electorate our votes reach a quorum of."""
        for voters in self._electorates(mt, now):
            need = quorum(len(voters))
            if voters and len([v for v in mt.votes if v in voters]) >= need:
                return voters, need
        return None

    # ------------------------------------------------------------------ candidate
    def _campaign(self, mt: Match, now: float) -> list[Action]:
        """The host went silent: start (or restart) a pre-vote round."""
        if mt.host is not None and mt.role == Role.FOLLOWER:
            mt.failed_host = mt.host
            self._freeze_start(mt)
        mt.deadline = self._new_deadline(now)
        if mt.term >= authz.MAX_TERM:
            return []
        # A non-voter campaigns too: its own vote does not count, but voters that already
        # hold the result answer with it, and the electorate may still choose it.
        log.info("host %s silent %.3f s (patience %.3f s, our stalls %.3f s): campaigning for term %d",
                 mt.host, now - mt.last_host_at, self._patience(mt), self.stalled, mt.term + 1)
        move(mt, role=Role.PRE_CANDIDATE)
        mt.votes = {self.id: True}
        mt.next_vote_resend = now + self.cfg.heartbeat
        out: list[Action] = [ElectionStarted(mt.term + 1, mt.failed_host)]
        out += self._check_votes(mt, now)
        if mt.role == Role.PRE_CANDIDATE:
            out.append(Send(tuple(v for v in self._voters(mt) if v != self.id), self._vote_request(mt, pre=True)))
        return out

    def _catch_up(self, mt: Match, now: float) -> list[Action]:
        """Our host has been silent a while and the lobby shows our match under a newer
        proven host (a newer term, or our own term whose proof we could not check): our
        roster was too stale to check its election (we missed members), so we follow it on
        the lobby's terms, as a newcomer would, and resync from it."""
        li = self.listings.get(mt.match_id)
        if li is None or li.proof is None or li.term < mt.term or li.term in mt.proofs or li.host_id == self.id or \
                now - mt.last_host_at <= self.cfg.disconnect_after or \
                (li.proof.creator_key, li.proof.nonce) != (mt.creator_key, mt.nonce):
            return []
        # A listing's proof is only checked for its signatures (anyone's sybils can sign). In
        # the lobby (nothing raced yet) its host must at least be one of our members; once the
        # race is on, the proof must be a quorum of our own electorate, as any proof (red team:
        # a stranger's listing took over a racer cut off from its host).
        if mt.phase == Phase.LOBBY:
            if not mt.is_member(li.host_id):
                return []
        elif authz.check_proof(mt, li.proof, self.verify, self.cfg.max_term_jump, self.id, now,
                               self.cfg.disconnect_after, self._gone_after(mt)) is not None:
            return []
        self._keep_proof(mt, li.proof)
        out = self._follow(mt, li.host_id, li.term, now)
        mt.joined = False  # ask it for the roster (it may not know us: then it admits us anew)
        return out + self._send_join(mt, now)

    def _vote_request(self, mt: Match, pre: bool) -> m.VoteRequest:
        term = mt.term + 1 if pre else mt.term
        return m.VoteRequest(mid_bytes(mt.match_id), term, mt.roster_term, mt.version, pre)

    def _my_vote(self, mt: Match, candidate: str):
        return sign_vote(mt.mid, mt.term, pid_bytes(candidate), self.keys.public_key, self.keys.sign)

    def _check_votes(self, mt: Match, now: float) -> list[Action]:
        if self._quorum_of(mt, now) is None:
            return []
        if mt.role == Role.PRE_CANDIDATE:
            mt.term += 1
            move(mt, role=Role.CANDIDATE)
            mt.voted_for = self.id
            mt.votes = {self.id: self._my_vote(mt, self.id)}
            mt.host = None
            mt.deadline = self._new_deadline(now)
            mt.next_vote_resend = now + self.cfg.heartbeat
            out = self._check_votes(mt, now)
            if mt.role == Role.CANDIDATE:
                out.append(Send(tuple(v for v in self._voters(mt) if v != self.id), self._vote_request(mt, pre=False)))
            return out
        won = self._quorum_of(mt, now)
        if mt.role == Role.CANDIDATE and won is not None:
            voters, need = won
            votes = tuple(v for pid, v in sorted(mt.votes.items()) if pid in voters)[:need]
            self._keep_proof(mt, TermProof(mt.mid, mt.term, self.keys.public_key, mt.creator_key, mt.nonce, votes))
            return self._become_host(mt, now)
        return []

    def _keep_proof(self, mt: Match, proof: TermProof) -> None:
        replaced = authz.replaced_host(mt, proof.term)
        mt.proofs[proof.term] = proof
        gone = mt.racers.get(replaced) if replaced != proof.host else None
        if gone is not None:  # the electorate replaced it: so do we, until we hear from it again
            gone.connected = False
            mt.suspects.add(gone.peer_id)
        while len(mt.proofs) > MAX_PROOFS:
            del mt.proofs[min(t for t in mt.proofs if t != 1) if len(mt.proofs) > 1 else min(mt.proofs)]

    def _become_host(self, mt: Match, now: float) -> list[Action]:
        move(mt, role=Role.HOST)
        mt.host = self.id
        mt.host_name = self.name
        if mt.failed_host is not None and mt.failed_host != self.id:
            # The host we replace is silent: it stops counting as a voter at once (not after
            # the usual 2 s), so a second failure soon after can still be survived. It stays
            # a member (until its silence drops it), so if it was only cut off it hears our
            # proof and steps down.
            mt.suspects.add(mt.failed_host)
        mt.failed_host = None
        mt.adjudicate_after = now + self.cfg.election_max  # members holding a result answer first
        self._reset_clock(mt, self.id)
        # continue from the replicated state; give everyone we never heard from a grace period
        for r in mt.racers.values():
            if r.last_heard == NEVER:
                r.last_heard = now
        for sid in list(mt.spectators):
            mt.spectators[sid] = now
        me = mt.racers.get(self.id)
        if me is not None and mt.phase == Phase.LOBBY:
            me.ready = mt.want_ready
        if mt.phase == Phase.COUNTDOWN and not mt.started:
            at = self._start_local(mt)
            if at is None and mt.started_at > 0:
                at = mt.started_at - self.wall_offset  # never synced to the old host: wall clocks
            if at is None:
                at = now + self.cfg.countdown
                mt.started_at = at + self.wall_offset
            mt.start_local = at
        if mt.start_local is not None:
            mt.start_at_host = mt.start_local
            mt.start_host_id = self.id
        members = self._others(mt)
        out: list[Action] = [Send(members, self._host_proof(mt)), self._host_event(mt),
                             TookOver(mt.match_id, self.name, mt.term)]
        out += [Send(members, relay) for relay in self._seal_relays(mt)]  # for members that missed them
        for gone in mt.left:  # e.g. the old host that left gracefully: not a racer any more
            out += self._apply_leave(mt, gone, now)
        out += self._bump(mt, now)
        out += self._host_broadcasts(mt, now)
        if mt.phase == Phase.COUNTDOWN:
            out.append(Send(self._others(mt), m.CountdownStart(
                mid_bytes(mt.match_id), mt.term, mt.start_at_host, mt.started_at)))
        if mt.result is not None:
            mt.result_until = now + self.cfg.result_linger
            mt.next_result = now
        return out

    def _host_proof(self, mt: Match) -> m.HostProof:
        proof = mt.proof
        assert proof is not None, "a host always holds the proof of its term"
        return m.HostProof(mt.mid, m.proof_to_wire(proof))

    # ------------------------------------------------------------------ follower
    def _step_down(self, mt: Match, term: int, host: str | None, now: float) -> list[Action]:
        """A newer term (or its proven host) was seen."""
        out: list[Action] = []
        if term > mt.term:
            mt.term = term
            mt.voted_for = None
        was_host = mt.role == Role.HOST
        move(mt, role=Role.FOLLOWER)
        mt.votes = {}
        mt.deadline = self._new_deadline(now)
        if host is not None and host != mt.host:
            mt.followed_at = now
            self._reset_clock(mt, host)
            mt.last_host_at = NEVER
            mt.host = host
            mt.host_name = self.peer_names.get(host, host)
            mt.failed_host = None
            mt.next_ping = now
            out.append(self._host_event(mt))
        if was_host:
            out.append(SteppedDown(mt.term))
        return out

    def _follow(self, mt: Match, sender: str, term: int, now: float) -> list[Action]:
        """An authorized host message of `term` from `sender` (its proven host)."""
        out: list[Action] = []
        if sender in mt.left:
            return out  # a host that said goodbye: its late datagrams keep no one waiting
        if term > mt.term or mt.role != Role.FOLLOWER or mt.host != sender:
            out += self._step_down(mt, term, sender, now)
        self._heard_host(mt, now)
        mt.deadline = self._new_deadline(now)
        return out

    def _heard_host(self, mt: Match, now: float) -> None:
        if mt.last_host_at != NEVER and now > mt.last_host_at:
            gap = now - mt.last_host_at
            self.longest_host_gap = max(self.longest_host_gap, gap)
            if gap >= self.cfg.disconnect_after:
                mt.out_of_touch = True  # cut off: the host may have called us abandoned
            self._rough(gap - self.cfg.heartbeat, now)
        mt.last_host_at = now

    def _host_event(self, mt: Match) -> HostChanged:
        return HostChanged(mt.match_id, mt.host, mt.host_name or self.peer_names.get(mt.host or "", ""), mt.term)

    # ------------------------------------------------------------------ handlers
    def _on_host_proof(self, mt: Match, sender: str, msg: m.HostProof, now: float) -> list[Action]:
        proof = m.proof_from_wire(msg.proof)
        if proof.host != sender:
            return self._reject(sender, RejectReason.NOT_THE_HOST)
        why = authz.check_proof(mt, proof, self.verify, self.cfg.max_term_jump, self.id, now,
                                self.cfg.disconnect_after, self._gone_after(mt))
        if isinstance(why, RejectReason):
            return self._reject(sender, why)
        if why is not None:
            return []
        self._keep_proof(mt, proof)
        if mt.role == Role.HOST and proof.term == mt.term:
            return []  # our own proof echoed back
        return self._follow(mt, sender, proof.term, now)

    def _on_vote_request(self, mt: Match, sender: str, msg: m.VoteRequest, now: float) -> list[Action]:
        mb = mid_bytes(mt.match_id)
        out: list[Action] = []
        if mt.result is not None:
            out += self._send_result(mt, (sender,))
        if mt.role == Role.HOST:  # a member that missed our takeover: show it the proof
            out.append(Send((sender,), self._host_proof(mt)))
        deny = [Send((sender,), m.Vote(mb, max(mt.term, msg.term), False, msg.pre))]
        if msg.term < mt.term or (msg.pre and msg.term == mt.term):
            return out + deny
        # a live host (or one heard from very recently) keeps its job
        if mt.role == Role.HOST or (mt.host is not None and mt.role == Role.FOLLOWER
                                    and now - mt.last_host_at < self._patience(mt)):
            return out + deny
        if (msg.last_term, msg.roster_version) < (mt.roster_term, mt.version):
            return out + deny
        # (a vote is harmless: whether it counts is every checker's own judgement)
        if not any(self.id in voters for voters in authz.quorum_electorates(
                mt, msg.term, self.id, now, self.cfg.disconnect_after, 0.0)):
            return out + deny  # not a voter: our vote would prove nothing
        log.info("%s vote to %s for term %d: host %s silent %.3f s (patience %.3f s)", "pre" if msg.pre else "real",
                 sender, msg.term, mt.host, now - mt.last_host_at, self._patience(mt))
        if msg.pre:
            return out + [Send((sender,), m.Vote(mb, msg.term, True, True))]
        if msg.term > mt.term:
            out += self._step_down(mt, msg.term, None, now)
            mt.host = None
        if mt.voted_for is None or mt.voted_for == sender:
            grant = True
        elif mt.role == Role.CANDIDATE and mt.voted_for == self.id and sender < self.id:
            grant = True  # tie between two candidates of one term: the lower peer id wins
            move(mt, role=Role.FOLLOWER)
            mt.votes = {}
        else:
            grant = False
        if not grant:
            return out + [Send((sender,), m.Vote(mb, mt.term, False, False))]
        mt.voted_for = sender
        mt.deadline = self._new_deadline(now)
        vote = self._my_vote(mt, sender)
        return out + [Send((sender,), m.Vote(mb, mt.term, True, False, vote.voter_key, vote.signature))]

    def _on_vote(self, mt: Match, sender: str, msg: m.Vote, now: float) -> list[Action]:
        if msg.pre:
            if mt.role != Role.PRE_CANDIDATE or msg.term != mt.term + 1 or not msg.granted:
                return []
            mt.votes[sender] = True
        else:
            if msg.term > mt.term and not msg.granted:
                return []  # a refusal cannot move our term: only a proven host can
            if mt.role != Role.CANDIDATE or msg.term != mt.term or not msg.granted:
                return []
            vote = m.SignedVote(msg.voter_key, msg.signature)
            if vote.voter != sender or not vote_valid(vote, mt.mid, mt.term, self.id_b, self.verify):
                return self._reject(sender, RejectReason.BAD_VOTE)
            mt.votes[sender] = vote
        return self._check_votes(mt, now)

    # ------------------------------------------------------------------ the start clock
    def _reset_clock(self, mt: Match, host: str) -> None:
        """Our reference clock becomes `host`'s (after freezing a start synced to the old one)."""
        self._freeze_start(mt)
        self.clock.reset()
        self.clock_host = host

    def _freeze_start(self, mt: Match) -> None:
        """The host is changing mid-countdown: keep the start we synced to the old one."""
        if mt.phase == Phase.COUNTDOWN and mt.start_local is None and self.clock.synced:
            mt.start_local = self._start_local(mt)

    def _start_local(self, mt: Match) -> float | None:
        if mt.start_local is not None:
            return mt.start_local
        if mt.start_host_id is None or mt.start_host_id != self.clock_host:
            return None
        return self.clock.to_local(mt.start_at_host)
