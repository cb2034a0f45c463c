"""The sans-I/O match core: one peer's view of the lobby and of the match it is in.

No sockets, no sleeps, no wall clock: the adapter (p2p_race.runtime) or the simulator
(tests) calls `on_message(sender_id, msg, now)`, `tick(now)` and the intent methods, and
carries out the returned actions (`Send`, `Broadcast`, `Event`). `now` is this peer's own
monotonic clock in seconds; clocks of different peers are never compared directly (the
start time goes through `ClockSync`).

Life cycle: lobby -> countdown -> racing -> finished. The host (elected, numbered terms)
owns the roster, the start time and the result; everything it decides is replicated to
every member in `Roster`, so whoever is elected next continues the same match.

Election (Raft-like, adapted to a match):
- voters are the connected members of the replicated roster, minus the host of the term
  that failed (so a 2-peer match can fail over); a quorum is a majority of them;
- a silent host is noticed after a randomized timeout (150-300 ms, heartbeats every 50 ms);
- a pre-vote round first (no term change), so a peer cut off for a while cannot come back
  with an inflated term and depose a healthy host;
- one vote per term; a voter refuses a candidate whose replicated state is older than its
  own; two candidates of one term: the one with the lower peer id wins the tie;
- any message of an older term is ignored; a host that hears a newer term steps down.

Result: a pure function of the racers' final reports (crash or time limit, each sent by the
racer itself, signed by the wire) and of the host's replicated abandonments (silent > 10 s),
adjudicated by `replication.records.adjudicate` and signed by the host.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from p2p_race.match import messages as m
from p2p_race.match.clock import ClockSync
from p2p_race.match.state import (
    CANDIDATE,
    FOLLOWER,
    HOST,
    NEVER,
    PRE_CANDIDATE,
    TICK_RATE,
    Action,
    Broadcast,
    CarReport,
    Event,
    Listing,
    Match,
    MatchConfig,
    MatchRules,
    Racer,
    Send,
    StateCheck,
    _preferred,
    clean_name,
    default_plausible,
    mid_bytes,
    pid_bytes,
    result_from_wire,
    result_to_wire,
)
from replication.records import MatchResult, RacerResult, adjudicate

log = logging.getLogger(__name__)


class MatchCore:
    """One peer: lobby listings plus at most one match it is a member of."""

    def __init__(
        self,
        peer_id: str,
        name: str,
        *,
        sign: Callable[[MatchResult], MatchResult],
        rng: random.Random | None = None,
        config: MatchConfig | None = None,
        plausible: StateCheck = default_plausible,
        wall_offset: float = 0.0,
        public_key: bytes = b"",
        sign_bytes: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.id = peer_id
        self.public_key = public_key  # with sign_bytes: our racer attestations (verify_inputs)
        self.sign_bytes = sign_bytes
        self.id_b = bytes.fromhex(peer_id)
        self.name = clean_name(name)
        self.sign = sign
        self.rng = rng or random.Random()
        self.cfg = config or MatchConfig()
        self.plausible = plausible
        self.wall_offset = wall_offset  # unix time = now + wall_offset
        self.match: Match | None = None
        self.listings: dict[str, Listing] = {}
        self.clock = ClockSync()
        self.clock_host: str | None = None  # whose clock `clock` estimates
        self.rejected: dict[str, int] = {}
        self.peer_names: dict[str, str] = {}

    # ================================================================== intents
    def host(self, rules: MatchRules, now: float, role: int = m.ROLE_RACER) -> list[Action]:
        """Create a match with this peer as its host (term 1)."""
        rules = rules.normalized()
        nonce = self.rng.getrandbits(64).to_bytes(8, "big")
        if self.public_key:  # the match id is bound to our key: term 1's proof (match.proof)
            from p2p_race.match.proof import match_id_for

            match_id = match_id_for(self.public_key, nonce).hex()
        else:
            match_id = nonce.hex()
        self.creator_nonce = nonce
        mt = Match(match_id, rules, role, joined=True, term=1, host=self.id, state=HOST,
                   voted_for=self.id, roster_term=1, version=1, host_name=self.name)
        if role == m.ROLE_RACER:
            mt.racers[self.id] = Racer(self.id, self.name, ready=True, last_heard=now)
        else:
            mt.spectators[self.id] = now
        self.match = mt
        self.clock.reset()
        self.clock_host = self.id
        out: list[Action] = [Event("joined", {"match_id": match_id, "role": _role(role), "host": True}),
                             Event("host", self._host_event())]
        out += self._host_broadcasts(now)
        return out

    def join(self, match_id: str, now: float, role: int = m.ROLE_RACER) -> list[Action]:
        listing = self.listings.get(match_id)
        if listing is None:
            return [Event("refused", {"match_id": match_id, "reason": "unknown match"})]
        self.match = Match(match_id, listing.rules, role, phase=listing.phase, term=listing.term,
                           host=listing.host_id, host_name=listing.host_name,
                           deadline=now + 10.0)  # no elections before we are in the roster
        self.clock.reset()
        self.clock_host = listing.host_id
        return self._send_join(now)

    def leave(self, now: float) -> list[Action]:
        mt = self.match
        if mt is None:
            return []
        out: list[Action] = []
        if mt.joined:
            out.append(Send(self._others(mt), m.Leave(mid_bytes(mt.match_id))))
        self.match = None
        out.append(Event("left", {"match_id": mt.match_id}))
        return out

    def set_ready(self, ready: bool, now: float) -> list[Action]:
        mt = self.match
        if mt is None or mt.role != m.ROLE_RACER:
            return []
        mt.want_ready = ready
        me = mt.racers.get(self.id)
        if me is not None:
            me.ready = ready
        if mt.state == HOST:
            return self._bump(mt, now)
        return [Send((mt.host,), m.Ready(mid_bytes(mt.match_id), ready))] if mt.host else []

    def start(self, now: float) -> list[Action]:
        """Host: start the countdown now (the lobby's Start button)."""
        mt = self.match
        if mt is None or mt.state != HOST or mt.phase != m.PHASE_LOBBY or not mt.racers:
            return []
        return self._begin_countdown(mt, now)

    def local_state(self, rep: CarReport, now: float) -> list[Action]:
        """This racer's car after a sim tick: stream it; report the crash / time limit."""
        mt = self.match
        if mt is None or mt.role != m.ROLE_RACER or mt.result is not None:
            return []
        if not mt.started:  # our car may start a moment before the core: keep its inputs
            if mt.phase >= m.PHASE_COUNTDOWN:
                mt.pending_inputs += rep.inputs
            return []
        if mt.pending_inputs:
            rep = replace(rep, inputs=bytes(mt.pending_inputs) + rep.inputs)
            mt.pending_inputs.clear()
        me = mt.racers.get(self.id)
        if me is None or me.final is not None:
            return []
        me.last, me.state_at, me.last_heard = rep, now, now
        mb = mid_bytes(mt.match_id)
        first, window, key, attest, out = 0, b"", bytes(32), bytes(64), []
        mv = self._verifier(mt)
        if mv is not None:
            due, first, window = mv.local(rep.tick, rep.inputs)
            if not due:
                return []  # several ticks per datagram: the window carries the ticks between
        if rep.crashed or rep.tick >= mt.rules.limit_ticks:
            if mv is not None:
                key, attest = self.public_key, mv.attest()
            final = m.FinalReport(mb, rep.tick, rep.input_seq, rep.x, rep.y, rep.speed, rep.score, rep.distance,
                                  rep.crashed, rep.crash_time if rep.crashed else -1.0, first, window, key, attest)
            mt.my_final = final
            out += self._accept_final(mt, self.id, final, now)
            out.append(Send(self._others(mt), final))
            mt.next_final = now + self.cfg.final_every
        else:
            out.append(Send(self._others(mt), m.RacerState(
                mb, rep.tick, rep.input_seq, rep.x, rep.y, rep.speed, rep.score, rep.distance,
                rep.crashed, rep.crash_time, first, window)))
        return out

    # ================================================================== input
    def on_message(self, sender: str, msg: Any, now: float) -> list[Action]:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return []
        if isinstance(msg, m.Announce):
            return self._on_announce(sender, msg, now)
        mt = self.match
        if mt is None or msg.match_id != mt.mid:
            return []
        mt.suspects.discard(sender)
        r = mt.racers.get(sender)
        if r is not None:
            r.last_heard = now
        elif sender in mt.spectators and mt.state == HOST:
            mt.spectators[sender] = now
        return handler(self, mt, sender, msg, now)

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        for k in [k for k, v in self.listings.items() if now - v.seen > self.cfg.listing_ttl]:
            del self.listings[k]
        mt = self.match
        if mt is None:
            return out
        if not mt.joined:
            if now >= mt.next_join:
                out += self._send_join(now)
            return out
        if mt.state == HOST:
            out += self._host_tick(mt, now)
        else:
            out += self._member_tick(mt, now)
        # start of the race (host and members alike, in local time)
        if mt.phase == m.PHASE_COUNTDOWN and not mt.started and (
                self.clock.synced or mt.state == HOST or mt.start_local is not None):
            at = self._start_local(mt)
            if at is not None and not mt.countdown_emitted:
                mt.countdown_emitted = True
                out.append(Event("countdown", {"at": at, "started_at": mt.started_at}))
            if at is not None and now >= at:
                mt.started = True
                mt.start_local = at
                mt.phase = m.PHASE_RACING
                out.append(Event("start", {"at": at}))
        if mt.my_final is not None and mt.result is None and now >= mt.next_final:
            mt.next_final = now + self.cfg.final_every
            out.append(Send(self._others(mt), mt.my_final))
        return out

    # ================================================================== host side
    def _host_tick(self, mt: Match, now: float) -> list[Action]:
        out: list[Action] = []
        cfg = self.cfg
        changed = False
        for r in mt.racers.values():
            if r.peer_id == self.id:
                r.last_heard = now
                continue
            connected = now - r.last_heard <= cfg.disconnect_after and r.peer_id not in mt.suspects
            if connected != r.connected:
                r.connected = connected
                changed = True
                out.append(Event("connection", {"peer": r.peer_id, "name": r.name, "connected": connected}))
        for sid, heard in list(mt.spectators.items()):
            if sid != self.id and now - heard > cfg.spectator_timeout:
                del mt.spectators[sid]
                changed = True
        if mt.phase == m.PHASE_LOBBY:
            for r in list(mt.racers.values()):
                if r.peer_id != self.id and now - r.last_heard > cfg.abandon_after:
                    del mt.racers[r.peer_id]
                    changed = True
            if cfg.auto_start and len(mt.racers) >= cfg.auto_start and all(
                    r.ready for r in mt.racers.values()):
                out += self._begin_countdown(mt, now)
        elif mt.phase == m.PHASE_RACING and mt.result is None:
            late = mt.start_local is not None and now > mt.start_local + mt.rules.time_limit + cfg.abandon_after + 2
            for r in mt.racers.values():
                if r.status == m.ST_RACING and r.final is None and (
                        late or now - r.last_heard > cfg.abandon_after):
                    self._abandon(mt, r)
                    changed = True
                    out.append(Event("crash", self._crash_event(r, abandoned=True)))
        if changed:
            out += self._bump(mt, now)
        if mt.phase == m.PHASE_RACING and mt.result is None and mt.racers and all(
                r.status != m.ST_RACING or r.final is not None or self._is_diverged(mt, r.peer_id)
                for r in mt.racers.values()):
            out += self._adjudicate(mt, now)
        members = self._others(mt)
        if now >= mt.next_heartbeat and (mt.result is None or now < mt.result_until):
            mt.next_heartbeat = now + cfg.heartbeat
            out.append(Send(members, self._heartbeat(mt)))
        if now >= mt.next_roster and (mt.result is None or now < mt.result_until):
            mt.next_roster = now + cfg.roster_every
            out.append(Send(members, self._roster(mt)))
        if now >= mt.next_announce and (mt.result is None or now < mt.result_until):
            mt.next_announce = now + cfg.announce_every
            out.append(Broadcast(self._announce(mt)))
        if mt.result is not None and now < mt.result_until and now >= mt.next_result:
            mt.next_result = now + cfg.result_every
            out.append(Send(members, result_to_wire(mt.result)))
        return out

    def _host_broadcasts(self, now: float) -> list[Action]:
        mt = self.match
        assert mt is not None
        mt.next_heartbeat = now + self.cfg.heartbeat
        mt.next_roster = now + self.cfg.roster_every
        mt.next_announce = now + self.cfg.announce_every
        members = self._others(mt)
        out: list[Action] = [Send(members, self._heartbeat(mt)), Send(members, self._roster(mt)),
                             Broadcast(self._announce(mt))]
        return out

    def _begin_countdown(self, mt: Match, now: float) -> list[Action]:
        mt.phase = m.PHASE_COUNTDOWN
        mt.start_at_host = now + self.cfg.countdown
        mt.start_local = mt.start_at_host
        mt.start_host_id = self.id
        mt.started_at = mt.start_at_host + self.wall_offset
        out = self._bump(mt, now)
        out.append(Send(self._others(mt), m.CountdownStart(
            mid_bytes(mt.match_id), mt.term, mt.start_at_host, mt.started_at)))
        return out

    def _abandon(self, mt: Match, r: Racer) -> None:
        last = r.last or CarReport(0, 0.0, 0.0, 0.0, 0, 0.0, False, -1.0)
        t = min(max(last.tick / TICK_RATE, 0.0), mt.rules.time_limit)
        r.status = m.ST_ABANDONED
        r.final = replace(last, crashed=True, crash_time=t)

    def _adjudicate(self, mt: Match, now: float) -> list[Action]:
        if mt.verifier is not None:
            return self._adjudicate_verified(mt, now)
        racers = []
        end = 0.0
        for r in mt.racers.values():
            f = r.final
            assert f is not None
            crashed = r.status != m.ST_TIME
            ct = min(max(float(f.crash_time), 0.0), mt.rules.time_limit) if crashed else -1.0
            end = max(end, ct if crashed else mt.rules.time_limit)
            racers.append(RacerResult(r.peer_id, r.name, int(f.score), float(f.distance), crashed, ct))
        try:
            unsigned = adjudicate(mt.match_id, mt.rules.seed, mt.rules.time_limit, self.id, mt.term,
                                  mt.started_at, mt.started_at + end, racers)
        except ValueError as exc:  # cannot happen with accepted reports; never wedge the match
            log.error("adjudication failed: %s", exc)
            return []
        return self._publish(mt, self.sign(unsigned), now)

    def _publish(self, mt: Match, result: MatchResult, now: float) -> list[Action]:
        out = self._adopt_result(mt, result, now)
        if out:  # the host tells the match's chat who won (members do not repeat it)
            scores = ", ".join(f"{r.name} {r.score}" for r in sorted(result.racers, key=lambda r: -r.score))
            out.append(Event("notice", {"match_id": mt.match_id,
                                        "text": f"{result.winner_name} wins the match ({scores})"}))
        return out

    def _adjudicate_verified(self, mt: Match, now: float) -> list[Action]:
        """The result from the replayed outcomes, with its evidence (p2p_race.match.replays):
        diverged racers are left out; a racer that signed nothing counts as abandoned."""
        mv = mt.verifier
        entries, logs = mv.entries([(r.peer_id, r.name) for r in mt.racers.values()])
        if not entries:
            log.error("no racer of match %s drove verifiably: no result", mt.match_id)
            return []
        end = max((x.crash_time if x.crashed else mt.rules.time_limit) for x in entries)
        try:
            unsigned = adjudicate(mt.match_id, mt.rules.seed, mt.rules.time_limit, self.id, mt.term,
                                  mt.started_at, mt.started_at + end, entries, difficulty=mt.rules.difficulty,
                                  term_proof=self._term_proof(mt), logs=logs)
        except ValueError as exc:
            log.error("adjudication failed: %s", exc)
            return []
        return self._publish(mt, self.sign(unsigned), now)

    def _proof_for(self, mt: Match, result: MatchResult) -> bytes:
        """The term proof a received result's host holds (term 1: the creator's binding)."""
        proof = getattr(mt, "proofs", {}).get(result.term)
        if proof is None or proof.host != result.host_id:
            return b""
        from replication.evidence import proof_bytes

        return proof_bytes(proof)

    def _term_proof(self, mt: Match) -> bytes:
        """The proof of our term for the record (term 1: we created the match)."""
        nonce = getattr(self, "creator_nonce", None)
        if mt.term != 1 or nonce is None or not self.public_key:
            return b""
        from p2p_race.match.proof import creator_proof
        from replication.evidence import proof_bytes

        return proof_bytes(creator_proof(self.public_key, nonce))

    def _verifier(self, mt: Match):
        """The match's replay verifier (verify_inputs), made when the race starts."""
        if not self.cfg.verify_inputs or not mt.started:
            return None
        if mt.verifier is None:
            from p2p_race.match.replays import MatchVerifier
            from p2p_race.sim.rules import Rules

            rules = Rules(mt.rules.seed, mt.rules.time_limit, mt.rules.difficulty)
            mt.verifier = MatchVerifier(mt.match_id, rules, self.id, self.public_key,
                                        self.sign_bytes or (lambda data: bytes(64)))
        return mt.verifier

    def _is_diverged(self, mt: Match, peer_id: str) -> bool:
        return mt.verifier is not None and mt.verifier.diverged(peer_id) is not None

    def _diverged(self, mt: Match, sender: str, why: str) -> list[Action]:
        """A racer's stream is not what its inputs drive: it is out of this match's result,
        and the UI says so (once per racer)."""
        out = self._reject(sender, f"diverged: {why}")
        mv = mt.verifier
        if mv is not None and sender not in mv.reported:
            mv.reported.add(sender)
            r = mt.racers.get(sender)
            name = r.name if r is not None else sender
            log.warning("racer %s (%s) excluded from match %s: %s", name, sender, mt.match_id, why)
            text = f"{name} is out of the result: {why}"
            out.append(Event("diverged", {"peer": sender, "name": name, "reason": why, "text": text}))
            if mt.state == HOST:  # the match chat hears it once, from the peer in charge
                out.append(Event("notice", {"match_id": mt.match_id, "text": text}))
        return out

    def _adopt_result(self, mt: Match, result: MatchResult, now: float) -> list[Action]:
        if mt.result is not None:
            keep = _preferred(mt.result, result)
            if keep is mt.result:
                return []
        mt.result = result
        mt.phase = m.PHASE_FINISHED
        mt.result_until = now + self.cfg.result_linger
        mt.next_result = now
        return [Event("result", {"result": result})]

    def _bump(self, mt: Match, now: float) -> list[Action]:
        mt.version += 1
        mt.roster_term = mt.term
        mt.next_roster = now + self.cfg.roster_every
        return [Send(self._others(mt), self._roster(mt))]

    # ================================================================== member side
    def _member_tick(self, mt: Match, now: float) -> list[Action]:
        out: list[Action] = []
        cfg = self.cfg
        if mt.result is not None:
            return out
        if mt.host and mt.state == FOLLOWER and now >= mt.next_ping:
            every = cfg.ping_every if mt.phase in (m.PHASE_LOBBY, m.PHASE_COUNTDOWN) else cfg.ping_every_racing
            mt.next_ping = now + every
            mt.ping_nonce = (mt.ping_nonce + 1) & 0xFFFFFFFF
            mt.pings[mt.ping_nonce] = now
            if len(mt.pings) > 64:
                mt.pings.pop(next(iter(mt.pings)))
            out.append(Send((mt.host,), m.Ping(mid_bytes(mt.match_id), mt.ping_nonce, now)))
        if now >= mt.deadline:
            out += self._campaign(mt, now)
        elif mt.state in (PRE_CANDIDATE, CANDIDATE) and now >= mt.next_vote_resend:
            mt.next_vote_resend = now + cfg.heartbeat
            pending = tuple(v for v in self._voters(mt) if v not in mt.votes and v != self.id)
            if pending:
                out.append(Send(pending, self._vote_request(mt, pre=mt.state == PRE_CANDIDATE)))
        # a racer that vanished from the roster (host restarted the lobby) rejoins
        if self.id not in mt.racers and self.id not in mt.spectators and mt.joined:
            mt.joined = False
            mt.next_join = now
        return out

    def _new_deadline(self, now: float) -> float:
        return now + self.rng.uniform(self.cfg.election_min, self.cfg.election_max)

    def _voters(self, mt: Match) -> list[str]:
        failed = mt.failed_host
        voters = [r.peer_id for r in mt.racers.values()
                  if r.connected and r.status != m.ST_ABANDONED and r.peer_id != failed]
        voters += [s for s in mt.spectators if s != failed]
        return sorted(voters)

    def _quorum(self, voters: list[str]) -> int:
        return len(voters) // 2 + 1

    def _campaign(self, mt: Match, now: float) -> list[Action]:
        """The host went silent: start (or restart) a pre-vote round."""
        if mt.host is not None and mt.state == FOLLOWER:
            mt.failed_host = mt.host
            self._freeze_start(mt)
        mt.state = PRE_CANDIDATE
        mt.votes = {self.id}
        mt.deadline = self._new_deadline(now)
        mt.next_vote_resend = now + self.cfg.heartbeat
        out: list[Action] = [Event("election", {"term": mt.term + 1, "failed_host": mt.failed_host})]
        out += self._check_votes(mt, now)
        if mt.state == PRE_CANDIDATE:
            out.append(Send(tuple(v for v in self._voters(mt) if v != self.id), self._vote_request(mt, pre=True)))
        return out

    def _vote_request(self, mt: Match, pre: bool) -> m.VoteRequest:
        term = mt.term + 1 if pre else mt.term
        return m.VoteRequest(mid_bytes(mt.match_id), term, mt.roster_term, mt.version, pre)

    def _check_votes(self, mt: Match, now: float) -> list[Action]:
        voters = self._voters(mt)
        got = len([v for v in mt.votes if v in voters])
        if got < self._quorum(voters):
            return []
        if mt.state == PRE_CANDIDATE:
            mt.term += 1
            mt.state = CANDIDATE
            mt.voted_for = self.id
            mt.votes = {self.id}
            mt.host = None
            mt.deadline = self._new_deadline(now)
            mt.next_vote_resend = now + self.cfg.heartbeat
            out = self._check_votes(mt, now)
            if mt.state == CANDIDATE:
                out.append(Send(tuple(v for v in voters if v != self.id), self._vote_request(mt, pre=False)))
            return out
        if mt.state == CANDIDATE:
            return self._become_host(mt, now)
        return []

    def _become_host(self, mt: Match, now: float) -> list[Action]:
        mt.state = HOST
        mt.host = self.id
        mt.host_name = self.name
        if mt.failed_host is not None and mt.failed_host != self.id:
            # The host we replace is silent: it stops counting as a voter at once (not after
            # the usual 2 s), so a second failure soon after can still be survived.
            mt.suspects.add(mt.failed_host)
            mt.spectators.pop(mt.failed_host, None)
        mt.failed_host = None
        self._reset_clock(mt, self.id)
        # continue from the replicated state; give everyone we never heard from a grace period
        for r in mt.racers.values():
            if r.last_heard == NEVER:
                r.last_heard = now
        for sid in list(mt.spectators):
            mt.spectators[sid] = now
        me = mt.racers.get(self.id)
        if me is not None and mt.phase == m.PHASE_LOBBY:
            me.ready = mt.want_ready
        if mt.phase == m.PHASE_COUNTDOWN and not mt.started:
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
        out: list[Action] = [Event("host", self._host_event()),
                             Event("notice", {"match_id": mt.match_id,
                                              "text": f"{self.name} took over as host (term {mt.term})"})]
        for gone in mt.left:  # e.g. the old host that left gracefully: not a racer any more
            out += self._apply_leave(mt, gone, now)
        out += self._bump(mt, now)
        out += self._host_broadcasts(now)
        if mt.phase == m.PHASE_COUNTDOWN:
            out.append(Send(self._others(mt), m.CountdownStart(
                mid_bytes(mt.match_id), mt.term, mt.start_at_host, mt.started_at)))
        if mt.result is not None:
            mt.result_until = now + self.cfg.result_linger
            mt.next_result = now
        return out

    def _step_down(self, mt: Match, term: int, host: str | None, now: float) -> list[Action]:
        """A newer term (or its host) was seen."""
        out: list[Action] = []
        if term > mt.term:
            mt.term = term
            mt.voted_for = None
        was_host = mt.state == HOST
        mt.state = FOLLOWER
        mt.votes = set()
        mt.deadline = self._new_deadline(now)
        if host is not None and host != mt.host:
            self._reset_clock(mt, host)
            mt.host = host
            mt.host_name = self.peer_names.get(host, host)
            mt.failed_host = None
            mt.next_ping = now
            out.append(Event("host", self._host_event()))
        if was_host:
            out.append(Event("stepped_down", {"term": mt.term}))
        return out

    def _reset_clock(self, mt: Match, host: str) -> None:
        """Our reference clock becomes `host`'s (after freezing a start synced to the old one)."""
        self._freeze_start(mt)
        self.clock.reset()
        self.clock_host = host

    def _freeze_start(self, mt: Match) -> None:
        """The host is changing mid-countdown: keep the start we synced to the old one."""
        if mt.phase == m.PHASE_COUNTDOWN and mt.start_local is None and self.clock.synced:
            mt.start_local = self._start_local(mt)

    def _start_local(self, mt: Match) -> float | None:
        if mt.start_local is not None:
            return mt.start_local
        if mt.start_host_id is None or mt.start_host_id != self.clock_host:
            return None
        return self.clock.to_local(mt.start_at_host)

    # ================================================================== handlers
    def _on_announce(self, sender: str, msg: m.Announce, now: float) -> list[Action]:
        mid = msg.match_id.hex()
        self.peer_names[sender] = msg.host_name
        old = self.listings.get(mid)
        if old is not None and msg.term < old.term and now - old.seen < self.cfg.listing_ttl:
            return []
        try:
            rules = MatchRules.from_wire(msg.rules)
        except (TypeError, ValueError):
            return []
        self.listings[mid] = Listing(mid, sender, msg.host_name, msg.term, rules, msg.phase,
                                     msg.racers, msg.spectators, now)
        mt = self.match
        if mt is not None and mt.match_id == mid and not mt.joined and msg.term >= mt.term:
            mt.host, mt.term, mt.host_name = sender, msg.term, msg.host_name
        return []

    def _on_join(self, mt: Match, sender: str, msg: m.Join, now: float) -> list[Action]:
        if mt.state != HOST:
            return []
        name = clean_name(msg.name)
        self.peer_names[sender] = name
        mb = mid_bytes(mt.match_id)
        if sender in mt.racers or sender in mt.spectators:
            if sender in mt.racers:
                mt.racers[sender].last_heard = now
            else:
                mt.spectators[sender] = now
            return [Send((sender,), self._roster(mt))]
        if msg.role == m.ROLE_RACER:
            if mt.phase != m.PHASE_LOBBY:
                return [Send((sender,), m.JoinRefused(mb, "the race has started; join as a spectator"))]
            if len(mt.racers) >= mt.rules.max_racers:
                return [Send((sender,), m.JoinRefused(mb, "the match is full"))]
            mt.racers[sender] = Racer(sender, name, last_heard=now)
        else:
            if len(mt.spectators) >= mt.rules.max_spectators:
                return [Send((sender,), m.JoinRefused(mb, "no room for more spectators"))]
            mt.spectators[sender] = now
        out: list[Action] = [Event("member", {"peer": sender, "name": name, "role": _role(msg.role)})]
        out += self._bump(mt, now)
        if mt.phase == m.PHASE_COUNTDOWN:
            out.append(Send((sender,), m.CountdownStart(mb, mt.term, mt.start_at_host, mt.started_at)))
        if mt.result is not None:
            out.append(Send((sender,), result_to_wire(mt.result)))
        return out

    def _on_join_refused(self, mt: Match, sender: str, msg: m.JoinRefused, now: float) -> list[Action]:
        if mt.joined or sender != mt.host:
            return []
        self.match = None
        return [Event("refused", {"match_id": mt.match_id, "reason": msg.reason})]

    def _on_leave(self, mt: Match, sender: str, msg: m.Leave, now: float) -> list[Action]:
        mt.left.add(sender)  # whoever hosts next applies it too
        if sender == mt.host and mt.state != HOST:
            mt.deadline = now  # graceful leave: elect at once, no timeout
            mt.failed_host = sender
        if mt.state != HOST:
            return []
        return self._apply_leave(mt, sender, now) + self._bump(mt, now)

    def _apply_leave(self, mt: Match, sender: str, now: float) -> list[Action]:
        out: list[Action] = []
        r = mt.racers.get(sender)
        if r is not None:
            if mt.phase == m.PHASE_LOBBY:
                del mt.racers[sender]
            elif r.final is None and mt.result is None:
                self._abandon(mt, r)
                out.append(Event("crash", self._crash_event(r, abandoned=True)))
        mt.spectators.pop(sender, None)
        return out

    def _on_ready(self, mt: Match, sender: str, msg: m.Ready, now: float) -> list[Action]:
        r = mt.racers.get(sender)
        if mt.state != HOST or r is None:
            return []
        r.last_heard = now
        if r.ready == msg.ready:
            return []
        r.ready = msg.ready
        return self._bump(mt, now)

    def _on_vote_request(self, mt: Match, sender: str, msg: m.VoteRequest, now: float) -> list[Action]:
        mb = mid_bytes(mt.match_id)
        out: list[Action] = []
        if mt.result is not None:
            out.append(Send((sender,), result_to_wire(mt.result)))
        if sender not in mt.racers and sender not in mt.spectators:
            return out
        deny = [Send((sender,), m.Vote(mb, mt.term if mt.term > msg.term else msg.term, False, msg.pre))]
        if msg.term < mt.term or (msg.pre and msg.term == mt.term):
            return out + deny
        # a live host (or one heard from very recently) keeps its job
        if mt.state == HOST or (mt.host is not None and mt.state == FOLLOWER
                                and now - mt.last_host_at < self.cfg.election_min):
            return out + deny
        if (msg.last_term, msg.roster_version) < (mt.roster_term, mt.version):
            return out + deny
        if msg.pre:
            return out + [Send((sender,), m.Vote(mb, msg.term, True, True))]
        if msg.term > mt.term:
            out += self._step_down(mt, msg.term, None, now)
            mt.host = None
        if mt.voted_for is None or mt.voted_for == sender:
            grant = True
        elif mt.state == CANDIDATE and mt.voted_for == self.id and sender < self.id:
            grant = True  # tie between two candidates of one term: the lower peer id wins
            mt.state = FOLLOWER
            mt.votes = set()
        else:
            grant = False
        if grant:
            mt.voted_for = sender
            mt.deadline = self._new_deadline(now)
        return out + [Send((sender,), m.Vote(mb, mt.term, grant, False))]

    def _on_vote(self, mt: Match, sender: str, msg: m.Vote, now: float) -> list[Action]:
        if msg.pre:
            if mt.state != PRE_CANDIDATE or msg.term != mt.term + 1 or not msg.granted:
                if msg.term > mt.term + 1 and not msg.granted:
                    return self._step_down(mt, msg.term, None, now)
                return []
        else:
            if msg.term > mt.term:
                return self._step_down(mt, msg.term, None, now)
            if mt.state != CANDIDATE or msg.term != mt.term or not msg.granted:
                return []
        mt.votes.add(sender)
        return self._check_votes(mt, now)

    def _on_heartbeat(self, mt: Match, sender: str, msg: m.Heartbeat, now: float) -> list[Action]:
        if msg.term < mt.term:
            return []
        out: list[Action] = []
        if msg.term > mt.term or mt.state != FOLLOWER or mt.host != sender:
            if mt.state == HOST and msg.term == mt.term:
                log.error("two hosts in term %d: %s and %s", mt.term, self.id, sender)
            out += self._step_down(mt, msg.term, sender, now)
        mt.last_host_at = now
        mt.deadline = self._new_deadline(now)
        if msg.phase >= m.PHASE_COUNTDOWN and mt.start_host_id != sender:
            mt.start_at_host = msg.start_at
            mt.start_host_id = sender
        if msg.phase >= m.PHASE_COUNTDOWN and mt.phase == m.PHASE_LOBBY:
            mt.phase = m.PHASE_COUNTDOWN  # (the start itself happens in our own clock)
        if mt.result is not None and not msg.has_result:
            out.append(Send((sender,), result_to_wire(mt.result)))
        return out

    def _on_roster(self, mt: Match, sender: str, msg: m.Roster, now: float) -> list[Action]:
        if msg.term < mt.term or (msg.term == mt.term and mt.host not in (None, sender)):
            return []
        out: list[Action] = []
        if msg.term > mt.term or mt.host != sender or mt.state != FOLLOWER:
            out += self._step_down(mt, msg.term, sender, now)
            mt.last_host_at = now
        if mt.role == m.ROLE_RACER and msg.phase == m.PHASE_LOBBY:
            mine = self.id_b
            for rr in msg.racers:
                if rr.peer_id == mine and bool(rr.flags & m.FLAG_READY) != mt.want_ready:
                    out.append(Send((sender,), m.Ready(mt.mid, mt.want_ready)))  # (re)assert our flag
        if (msg.term, msg.version) <= (mt.roster_term, mt.version):
            return out
        mt.roster_term, mt.version = msg.term, msg.version
        try:
            mt.rules = MatchRules.from_wire(msg.rules)
        except (TypeError, ValueError):
            return out
        if msg.phase >= m.PHASE_COUNTDOWN and mt.phase == m.PHASE_LOBBY:
            mt.phase = m.PHASE_COUNTDOWN
        if msg.phase >= m.PHASE_COUNTDOWN and mt.start_host_id != sender:
            mt.start_at_host, mt.start_host_id = msg.start_at, sender
        if msg.started_at > 0:
            mt.started_at = msg.started_at
        seen = set()
        for rr in msg.racers:
            pid = rr.peer_id.hex()
            seen.add(pid)
            self.peer_names[pid] = rr.name
            r = mt.racers.get(pid)
            if r is None:
                r = mt.racers[pid] = Racer(pid, rr.name)
            r.name = rr.name
            r.ready = bool(rr.flags & m.FLAG_READY)
            r.connected = bool(rr.flags & m.FLAG_CONNECTED)
            if rr.status != m.ST_RACING and (r.status != rr.status or r.final is None):
                was_final = r.final is not None
                r.status = rr.status
                last = r.last or CarReport(0, 0.0, 0.0, 0.0, 0, 0.0, False, -1.0)
                r.final = replace(last, score=rr.score, distance=rr.distance,
                                  crashed=rr.status != m.ST_TIME, crash_time=rr.crash_time)
                if not was_final and r.final.crashed:
                    out.append(Event("crash", self._crash_event(r, abandoned=rr.status == m.ST_ABANDONED)))
        for pid in [p for p in mt.racers if p not in seen]:
            del mt.racers[pid]
        mt.spectators = {s.hex(): mt.spectators.get(s.hex(), now) for s in msg.spectators}
        if not mt.joined and (self.id in mt.racers or self.id in mt.spectators):
            mt.joined = True
            mt.deadline = self._new_deadline(now)
            out.append(Event("joined", {"match_id": mt.match_id, "role": _role(mt.role), "host": False}))
            out.append(Event("host", self._host_event()))
        out.append(Event("roster", {"version": msg.version}))
        return out

    def _on_ping(self, mt: Match, sender: str, msg: m.Ping, now: float) -> list[Action]:
        if mt.state != HOST:
            return []
        return [Send((sender,), m.Pong(msg.match_id, msg.nonce, msg.t0, now))]

    def _on_pong(self, mt: Match, sender: str, msg: m.Pong, now: float) -> list[Action]:
        t0 = mt.pings.pop(msg.nonce, None)
        if sender != mt.host or t0 is None or t0 != msg.t0:
            return []
        self.clock.add(t0, msg.t1, now)
        return []

    def _on_countdown(self, mt: Match, sender: str, msg: m.CountdownStart, now: float) -> list[Action]:
        if msg.term < mt.term or (mt.host is not None and sender != mt.host):
            return []
        out: list[Action] = []
        if mt.start_host_id != sender:
            mt.start_at_host, mt.start_host_id = msg.start_at, sender
        mt.started_at = msg.started_at
        if mt.phase == m.PHASE_LOBBY:
            mt.phase = m.PHASE_COUNTDOWN
        return out

    def _on_state(self, mt: Match, sender: str, msg: m.RacerState, now: float) -> list[Action]:
        r = mt.racers.get(sender)
        if r is None:
            return self._reject(sender, "state from a peer that is not a racer of this match")
        rep = CarReport(msg.tick, msg.x, msg.y, msg.speed, msg.score, msg.distance, msg.crashed,
                        msg.crash_time, msg.input_seq)
        if r.last is not None and rep.tick <= r.last.tick:
            return []  # reordered: older than what we have
        if r.final is not None or r.status != m.ST_RACING:
            return []
        mv = self._verifier(mt)
        if mv is not None:
            why = mv.on_state(sender, msg)
            if why is not None:
                return self._diverged(mt, sender, why)
        elif not self.plausible(r.last, rep, mt.rules):
            return self._reject(sender, "implausible state")
        r.last, r.state_at, r.last_heard = rep, now, now
        return []

    def _on_final(self, mt: Match, sender: str, msg: m.FinalReport, now: float) -> list[Action]:
        r = mt.racers.get(sender)
        if r is None:
            return self._reject(sender, "final report from a peer that is not a racer of this match")
        r.last_heard = now
        return self._accept_final(mt, sender, msg, now)

    def _accept_final(self, mt: Match, sender: str, msg: m.FinalReport, now: float) -> list[Action]:
        r = mt.racers[sender]
        if r.final is not None or r.status != m.ST_RACING:
            return []
        rep = CarReport(msg.tick, msg.x, msg.y, msg.speed, msg.score, msg.distance, msg.crashed,
                        msg.crash_time, msg.input_seq)
        if not msg.crashed and msg.tick < mt.rules.limit_ticks:
            return self._reject(sender, "final report before the time limit without a crash")
        prev = r.last if r.last is not None and r.last.tick <= rep.tick else None
        mv = self._verifier(mt)
        if mv is not None:
            if sender != self.id:
                from p2p_race.identity import verify

                why = mv.on_final(sender, msg, verify)
                if why is not None:
                    return self._diverged(mt, sender, why)
        elif sender != self.id and not self.plausible(prev, rep, mt.rules):
            return self._reject(sender, "implausible final report")
        r.final = rep
        r.last = rep
        r.status = m.ST_CRASHED if msg.crashed else m.ST_TIME
        out: list[Action] = []
        if msg.crashed:
            out.append(Event("crash", self._crash_event(r, abandoned=False)))
        if mt.state == HOST:
            out += self._bump(mt, now)
        return out

    def _on_result(self, mt: Match, sender: str, msg: m.Result, now: float) -> list[Action]:
        result = result_from_wire(msg)
        if result is None or result.match_id != mt.match_id:
            return self._reject(sender, "result that does not verify")
        if mt.verifier is not None:
            if mt.result is not None and mt.result.signature == result.signature:
                return []
            if any(mt.verifier.diverged(r.peer_id) for r in result.racers):
                return self._reject(sender, "result that counts a diverged racer")
            full = mt.verifier.complete(result, self._proof_for(mt, result))
            if full is not None:
                result = full  # the whole record, checkable by any store
        if mt.result is not None and mt.result.signature == result.signature:
            return []
        before = mt.result
        out = self._adopt_result(mt, result, now)
        if before is not None and mt.result is before and sender != self.id:
            out.append(Send((sender,), result_to_wire(before)))  # converge on one record
        return out

    def _reject(self, sender: str, why: str) -> list[Action]:
        n = self.rejected[why] = self.rejected.get(why, 0) + 1
        # Logged, but a flood cannot fill the log. A non-racer's state is usually only a
        # roster update still in flight (a newcomer), so that one is debug level.
        level = logging.DEBUG if "not a racer" in why else logging.WARNING
        if n <= 10 or n % 1000 == 0:
            log.log(level, "rejected from %s: %s (%d so far)", sender, why, n)
        return [Event("rejected", {"peer": sender, "reason": why})]

    # ================================================================== helpers
    def _send_join(self, now: float) -> list[Action]:
        mt = self.match
        assert mt is not None
        mt.next_join = now + self.cfg.join_retry
        if mt.host is None:
            return []
        return [Send((mt.host,), m.Join(mid_bytes(mt.match_id), mt.role, self.name))]

    def _others(self, mt: Match) -> tuple[str, ...]:
        return tuple(p for p in list(mt.racers) + list(mt.spectators) if p != self.id)

    def _heartbeat(self, mt: Match) -> m.Heartbeat:
        return m.Heartbeat(mid_bytes(mt.match_id), mt.term, mt.phase, mt.version,
                           mt.start_at_host if mt.phase >= m.PHASE_COUNTDOWN else 0.0,
                           mt.result is not None)

    def _roster(self, mt: Match) -> m.Roster:
        racers = []
        for r in sorted(mt.racers.values(), key=lambda r: r.peer_id):
            f = r.final
            flags = (m.FLAG_READY if r.ready else 0) | (m.FLAG_CONNECTED if r.connected else 0)
            racers.append(m.RosterRacer(
                pid_bytes(r.peer_id), r.name, flags, r.status,
                int(f.score) if f else 0, float(f.distance) if f else 0.0,
                float(f.crash_time) if f else -1.0))
        return m.Roster(mid_bytes(mt.match_id), mt.term, mt.version, mt.rules.to_wire(), mt.phase,
                        mt.start_at_host if mt.phase >= m.PHASE_COUNTDOWN else 0.0, mt.started_at,
                        tuple(racers), tuple(pid_bytes(s) for s in sorted(mt.spectators)))

    def _announce(self, mt: Match) -> m.Announce:
        return m.Announce(mid_bytes(mt.match_id), mt.term, self.name, mt.rules.to_wire(), mt.phase,
                          len(mt.racers), len(mt.spectators))

    def _host_event(self) -> dict:
        mt = self.match
        assert mt is not None
        return {"host": mt.host, "host_name": mt.host_name or self.peer_names.get(mt.host or "", ""),
                "term": mt.term, "match_id": mt.match_id}

    def _crash_event(self, r: Racer, abandoned: bool) -> dict:
        f = r.final
        return {"peer": r.peer_id, "name": r.name, "score": f.score if f else 0,
                "crash_time": f.crash_time if f else 0.0, "abandoned": abandoned}

    # ================================================================== views
    def start_time(self) -> float | None:
        """When the race starts (or started) in this peer's clock, once known."""
        mt = self.match
        return None if mt is None else self._start_local(mt)

    def announcement(self) -> m.Announce | None:
        """Our match's lobby announcement when we host one (for a newcomer)."""
        mt = self.match
        return self._announce(mt) if mt is not None and self.is_host else None

    @property
    def is_host(self) -> bool:
        return self.match is not None and self.match.state == HOST

    def ranking(self) -> list[tuple[str, str, int, bool]]:
        """(peer id, name, score, still racing) best first: the live ranking."""
        mt = self.match
        if mt is None:
            return []
        rows = []
        for r in mt.racers.values():
            rep = r.final or r.last
            rows.append((r.peer_id, r.name, rep.score if rep else 0, r.final is None))
        rows.sort(key=lambda x: (-x[2], x[0]))
        return rows

    def disconnected(self, now: float) -> set[str]:
        """Racers we have not heard from for longer than `disconnect_after`."""
        mt = self.match
        if mt is None or mt.phase != m.PHASE_RACING:
            return set()
        return {r.peer_id for r in mt.racers.values() if r.peer_id != self.id and r.final is None
                and r.last_heard != NEVER and now - r.last_heard > self.cfg.disconnect_after}


def _role(role: int) -> str:
    return "racer" if role == m.ROLE_RACER else "spectator"


_HANDLERS: dict[type, Callable[..., list[Action]]] = {
    m.Announce: MatchCore._on_announce,
    m.Join: MatchCore._on_join,
    m.JoinRefused: MatchCore._on_join_refused,
    m.Leave: MatchCore._on_leave,
    m.Ready: MatchCore._on_ready,
    m.VoteRequest: MatchCore._on_vote_request,
    m.Vote: MatchCore._on_vote,
    m.Heartbeat: MatchCore._on_heartbeat,
    m.Roster: MatchCore._on_roster,
    m.Ping: MatchCore._on_ping,
    m.Pong: MatchCore._on_pong,
    m.CountdownStart: MatchCore._on_countdown,
    m.RacerState: MatchCore._on_state,
    m.FinalReport: MatchCore._on_final,
    m.Result: MatchCore._on_result,
}

__all__ = ["Action", "Broadcast", "CarReport", "Event", "MatchConfig", "MatchCore", "MatchRules", "Send",
           "default_plausible"]
