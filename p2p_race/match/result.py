"""Who adjudicates the result, and how every peer ends with the same one.

**The proven host of the current term adjudicates**, and only it: once every racer has a
final report (its own signed crash / time-limit report) or was abandoned by the host
(silent > `abandon_after`), the host builds the result with
`replication.records.adjudicate` (a pure function of those reports, so any host reaches the
same winner), signs it, and repeats it to the members for `result_linger` seconds.

A member adopts a `Result` only when it verifies (host signature) and its host is proven for
its term (`Match.proofs`: creator for term 1, a quorum of signed votes above). Two proven
results of one match (two hosts across a partition) resolve by `records.preferred`, the one
rule every peer and store applies, and a peer holding the preferred one sends it back, so
all converge on one record.

Racer states stream here too: a state counts only from a racer of the roster, newer than the
last one, and passing the plausibility check; accepted states are reported as
`StateAccepted` so adapters draw and sample only those.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from p2p_race.match import authz
from p2p_race.match import messages as m
from p2p_race.match.events import (
    Action,
    Diverged,
    Excluded,
    RejectReason,
    ResultAdopted,
    Send,
    StateAccepted,
    Won,
)
from p2p_race.match.machine import Phase, Role, move
from p2p_race.match.roster import EMPTY
from p2p_race.match.seal import ChainLink, chain_bytes
from p2p_race.match.state import (
    NEVER,
    TICK_RATE,
    CarReport,
    Match,
    Racer,
    _preferred,
    mid_bytes,
    report_of,
    result_from_wire,
    result_to_wire,
)
from replication.records import MatchResult, RacerResult, adjudicate

log = logging.getLogger(__name__)


class ResultDuty:
    """Mixin of `MatchCore`: racer reports in, one adjudicated result out."""

    # ------------------------------------------------------------------ our own car
    def local_state(self, rep: CarReport, now: float) -> list[Action]:
        """This racer's car after a sim tick: stream it; report the crash / time limit."""
        self._observe(now)
        mt = self.match
        if mt is None or mt.member != m.ROLE_RACER or mt.result is not None:
            return []
        if not mt.started:  # our car may start a moment before the core: keep its inputs
            if mt.phase >= Phase.COUNTDOWN:
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
        first, window, key, attest = 0, b"", bytes(32), bytes(64)
        mv = self._verifier(mt)
        out: list[Action] = [StateAccepted(self.id, rep)]
        if mv is not None:
            due, first, window = mv.local(rep.tick, rep.inputs)
            if not due:
                return out  # several ticks per datagram: the window carries the ticks between
        if rep.crashed or rep.tick >= mt.rules.limit_ticks:
            if mv is not None:
                key, attest = self.keys.public_key, mv.attest()
            final = m.FinalReport(mb, rep.tick, rep.input_seq, rep.x, rep.y, rep.speed, rep.score, rep.distance,
                                  rep.crashed, rep.crash_time if rep.crashed else -1.0, first, window, key, attest)
            mt.my_final = final
            out += self._accept_final(mt, self.id, final, now)
            out.append(Send(self._others(mt), final))
            mt.next_final = now + self.cfg.final_every
        else:
            out.insert(0, Send(self._others(mt), m.RacerState(
                mb, rep.tick, rep.input_seq, rep.x, rep.y, rep.speed, rep.score, rep.distance,
                rep.crashed, rep.crash_time, first, window)))
        return out

    # ------------------------------------------------------------------ others' cars
    def _on_state(self, mt: Match, sender: str, msg: m.RacerState, now: float) -> list[Action]:
        r = mt.racers[sender]  # authz: a racer of the roster
        rep = report_of(msg)
        if r.last is not None and rep.tick <= r.last.tick:
            return []  # reordered: older than what we have
        if r.final is not None or r.status != m.ST_RACING:
            return []
        mv = self._verifier(mt)
        if mv is not None:
            why = mv.on_state(sender, msg)
            if why is not None:
                return self._diverged(mt, sender, why)
        if (mv is None or mv.unverifiable(sender)) and not self.plausible(r.last, rep, mt.rules):
            return self._reject(sender, RejectReason.IMPLAUSIBLE_STATE)
        r.last, r.state_at, r.last_heard = rep, now, now
        return [StateAccepted(sender, rep)]

    def _on_final(self, mt: Match, sender: str, msg: m.FinalReport, now: float) -> list[Action]:
        mt.racers[sender].last_heard = now
        return self._accept_final(mt, sender, msg, now)

    def _accept_final(self, mt: Match, sender: str, msg: m.FinalReport, now: float) -> list[Action]:
        r = mt.racers[sender]
        mv = self._verifier(mt)
        if mv is not None and sender != self.id and not mv.attested(sender):
            # checked even when the host's roster already told us the racer is done: the
            # attestation and the last inputs are what our copy of the record needs
            why = mv.on_final(sender, msg, self.verify)
            if why is not None:
                return self._diverged(mt, sender, why)
            if mt.result is not None and not mt.result.has_evidence:
                return self._complete(mt, mt.result)  # a late final: maybe the last piece
        if r.final is not None or r.status != m.ST_RACING:
            return []
        rep = report_of(msg)
        if not msg.crashed and msg.tick < mt.rules.limit_ticks:
            return self._reject(sender, RejectReason.EARLY_FINAL)
        prev = r.last if r.last is not None and r.last.tick <= rep.tick else None
        if mv is None and sender != self.id and not self.plausible(prev, rep, mt.rules):
            return self._reject(sender, RejectReason.IMPLAUSIBLE_FINAL)
        r.final = rep
        r.last = rep
        r.status = m.ST_CRASHED if msg.crashed else m.ST_TIME
        out: list[Action] = []
        if msg.crashed:
            out.append(self._crash_event(r, abandoned=False))
        if mt.role == Role.HOST:
            out += self._bump(mt, now)
        return out

    # ------------------------------------------------------------------ abandonment is checked
    def _abandon_refuted(self, mt: Match, r: Racer, crash_time: float, now: float) -> RejectReason | None:
        """Why our own evidence refutes the host's word that `r` was abandoned at `crash_time`
        (a roster status or a result entry), or None when it is consistent with silence.

        Abandoned means silent for `abandon_after` (or gone with a Leave): a peer that heard
        the racer within `disconnect_after` refuses it (we judge ourselves by whether we were
        out of touch); and a racer cannot be abandoned earlier than its last state we hold by
        more than `disconnect_after` of ticks (what trailing losses can keep from an honest
        host), so its score cannot be cut below what it reported to us. A racer we saw
        diverge may stand abandoned (docs/ARCHITECTURE.md, threat model)."""
        if self._is_diverged(mt, r.peer_id):
            return None
        cfg = self.cfg
        if not r.abandon_believed:
            if r.peer_id == self.id:
                silent = mt.out_of_touch
            else:
                silent = not authz.hears(mt, r.peer_id, self.id, now, cfg.disconnect_after)
            if not (silent or r.peer_id in mt.left):
                return RejectReason.ABANDONED_WHILE_HEARD
        if r.peer_id == self.id:  # cut off: what we drove meanwhile never reached the host
            r.abandon_believed = True
            return None
        heard = r.last.tick if r.last is not None else 0
        if heard > round(crash_time * TICK_RATE) + round(cfg.disconnect_after * TICK_RATE):
            return RejectReason.ABANDONED_TOO_EARLY
        r.abandon_believed = True
        return None

    def _result_refuted(self, mt: Match, result: MatchResult, now: float) -> RejectReason | None:
        """Why a proven host's result contradicts what the racers themselves told us."""
        mv = mt.verifier
        for x in result.racers:
            r = mt.racers.get(x.peer_id)
            if r is None:
                continue
            if x.abandoned:
                why = self._abandon_refuted(mt, r, x.crash_time, now)
                if why is not None:
                    return why
            elif mv is not None and mv.attested(x.peer_id):
                out = mv.outcome(x.peer_id)  # what the racer signed: the host cannot lower it
                if (x.score, x.crashed) != (out.score, out.crashed):
                    return RejectReason.RESULT_BELOW_SIGNED
            elif x.crashed and r.last is not None and r.last.tick > round(x.crash_time * TICK_RATE) + 1:
                return RejectReason.RESULT_BELOW_SIGNED  # "crashed" before a state it sent us
        return None

    def _abandon(self, mt: Match, r: Racer) -> None:
        last = r.last or EMPTY
        t = min(max(last.tick / TICK_RATE, 0.0), mt.rules.time_limit)
        r.status = m.ST_ABANDONED
        r.final = replace(last, crashed=True, crash_time=t)

    # ------------------------------------------------------------------ the host's duty
    def _result_duty(self, mt: Match, now: float) -> tuple[list[Action], bool]:
        """Host, racing: abandon the silent, adjudicate once all are final. (events, changed)"""
        out: list[Action] = []
        changed = False
        if mt.phase != Phase.RACING or mt.result is not None:
            return out, changed
        cfg = self.cfg
        late = mt.start_local is not None and now > mt.start_local + mt.rules.time_limit + cfg.abandon_after + 2
        for r in mt.racers.values():
            if r.status == m.ST_RACING and r.final is None and (late or now - r.last_heard > cfg.abandon_after):
                self._abandon(mt, r)
                changed = True
                out.append(self._crash_event(r, abandoned=True))
        if mt.racers and now >= mt.adjudicate_after and all(
                r.status != m.ST_RACING or r.final is not None or self._is_diverged(mt, r.peer_id)
                for r in mt.racers.values()):
            if changed:
                out += self._bump(mt, now)
                changed = False
            out += self._adjudicate(mt, now)
        return out, changed

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
            racers.append(RacerResult(r.peer_id, r.name, int(f.score), float(f.distance), crashed, ct,
                                      abandoned=r.status == m.ST_ABANDONED))
        try:
            unsigned = adjudicate(mt.match_id, mt.rules.seed, mt.rules.time_limit, self.id, mt.term,
                                  mt.started_at, mt.started_at + end, racers)
        except ValueError as exc:  # cannot happen with accepted reports; never wedge the match
            log.error("adjudication failed: %s", exc)
            return []
        return self._publish(mt, self._chained(mt, self.sign(unsigned)), now)

    def _publish(self, mt: Match, result: MatchResult, now: float) -> list[Action]:
        out = self._adopt_result(mt, result, now)
        if out:  # the host tells the match's chat who won (members do not repeat it)
            out.append(Won(mt.match_id, result))
        return out

    # ------------------------------------------------------------------ input-verified racing
    def _verifier(self, mt: Match):
        """The match's replay verifier (cfg.verify_inputs), made when the race starts."""
        if not self.cfg.verify_inputs or not mt.started:
            return None
        if mt.verifier is None:
            from p2p_race.match.replays import MatchVerifier
            from p2p_race.sim.rules import Rules

            rules = Rules(mt.rules.seed, mt.rules.time_limit, mt.rules.difficulty)
            mt.verifier = MatchVerifier(mt.match_id, rules, self.id, self.keys.public_key, self.keys.sign)
        return mt.verifier

    def _ask_for_inputs(self, mt: Match, now: float) -> list[Action]:
        """Every `input_request_every`, ask each racer whose inputs we lost for more than a
        window (a gap) for the ticks we lack: one request per racer, to that racer only."""
        mv = mt.verifier
        if mv is None or now < mt.next_input_request:
            return []
        mt.next_input_request = now + self.cfg.input_request_every
        mb = mid_bytes(mt.match_id)
        return [Send((pid,), m.InputRequest(mb, first)) for pid, first in mv.live.wanted()
                if pid in mt.racers and pid != self.id]

    def _on_input_request(self, mt: Match, sender: str, msg: m.InputRequest, now: float) -> list[Action]:
        """A member asks for our inputs from a tick: at most one window, at most one answer
        per member every `input_request_every` (a flood of requests gets no more), never
        larger than the padded request."""
        mv = self._verifier(mt)
        if mv is None or mt.member != m.ROLE_RACER:
            return []
        if now - mt.fills_sent.get(sender, NEVER) < self.cfg.input_request_every:
            return []
        window = mv.live.window_from(self.id, msg.first_tick)
        if window is None:
            return []
        if len(mt.fills_sent) >= 64:
            mt.fills_sent.clear()
        mt.fills_sent[sender] = now
        return [Send((sender,), m.InputFill(msg.match_id, msg.first_tick, window))]

    def _on_input_fill(self, mt: Match, sender: str, msg: m.InputFill, now: float) -> list[Action]:
        mv = self._verifier(mt)
        if mv is None:
            return []
        why = mv.live.fill(sender, msg.first_tick, msg.inputs)
        return self._diverged(mt, sender, why) if why is not None else []

    def _is_diverged(self, mt: Match, peer_id: str) -> bool:
        return mt.verifier is not None and mt.verifier.diverged(peer_id) is not None

    def _diverged(self, mt: Match, sender: str, why: str) -> list[Action]:
        """A racer's stream is not what its inputs drive: it is out of this match's result,
        and the UI says so (once per racer; the host tells the match's chat)."""
        out = self._reject(sender, RejectReason.DIVERGED)
        mv = mt.verifier
        if mv is not None and sender not in mv.reported:
            mv.reported.add(sender)
            r = mt.racers.get(sender)
            name = r.name if r is not None else sender
            log.warning("racer %s (%s) excluded from match %s: %s", name, sender, mt.match_id, why)
            out.append(Diverged(sender, name, why))
            if mt.role == Role.HOST:
                out.append(Excluded(mt.match_id, name, why))
        return out

    def _adjudicate_verified(self, mt: Match, now: float) -> list[Action]:
        """The result from the replayed outcomes, with its evidence (p2p_race.match.replays):
        diverged racers are left out; a racer that signed nothing counts as abandoned."""
        entries, logs = mt.verifier.entries([(r.peer_id, r.name) for r in mt.racers.values()])
        if not entries:
            log.error("no racer of match %s drove verifiably: no result", mt.match_id)
            return []
        end = max((x.crash_time if x.crashed else mt.rules.time_limit) for x in entries)
        try:
            unsigned = adjudicate(mt.match_id, mt.rules.seed, mt.rules.time_limit, self.id, mt.term,
                                  mt.started_at, mt.started_at + end, entries, difficulty=mt.rules.difficulty,
                                  term_proof=self._proof_bytes(mt, mt.term, self.id), logs=logs)
        except ValueError as exc:
            log.error("adjudication failed: %s", exc)
            return []
        return self._publish(mt, self._chained(mt, self.sign(unsigned)), now)

    def _complete(self, mt: Match, result: MatchResult) -> list[Action]:
        """Our adopted result, now with its evidence rebuilt (adapters store it again)."""
        full = mt.verifier.complete(result, self._proof_bytes(mt, result.term, result.host_id))
        if full is None or mt.result is None or full.signature != mt.result.signature:
            return []
        full = self._chained(mt, full)
        mt.result = full
        return [ResultAdopted(full, mt.proofs.get(full.term))]

    def _proof_bytes(self, mt: Match, term: int, host: str) -> bytes:
        """The verified proof of `host`'s `term` in the record's form, or b"" when we lack it."""
        from replication.evidence import proof_bytes

        proof = mt.proofs.get(term)
        return proof_bytes(proof) if proof is not None and proof.host == host else b""

    def _chained(self, mt: Match, result: MatchResult) -> MatchResult:
        """`result` with the term chain from the creator to its term, as far as we hold it
        (p2p_race.match.seal): each replaced host's sealed roster and its successor's proof.
        Without every link a store cannot count a later term's votes, so it refuses the record."""
        if result.term < 2:
            return result
        proof = mt.proofs.get(result.term)
        terms = sorted(t for t in mt.proofs if t <= result.term)
        if proof is None or proof.host != result.host_id or terms[0] != 1:
            return result
        links = []
        for before, after in zip(terms, terms[1:], strict=False):
            base = mt.seals.get(before)
            if base is None:
                log.warning("match %s: no sealed roster of term %d: stores will refuse the record of term %d",
                            mt.match_id, before, result.term)
                return result
            links.append(ChainLink(base, mt.proofs[after]))
        return replace(result, term_chain=chain_bytes(links))

    def _rechain(self, mt: Match) -> list[Action]:
        """Our record of a later term had no chain for want of a seal: one came, try again."""
        r = mt.result
        if r is None or r.term < 2 or r.term_chain:
            return []
        chained = self._chained(mt, r)
        if not chained.term_chain:
            return []
        mt.result = chained
        return [ResultAdopted(chained, mt.proofs.get(chained.term))]

    def _adopt_result(self, mt: Match, result: MatchResult, now: float) -> list[Action]:
        if mt.result is not None:
            keep = _preferred(mt.result, result)
            if keep is mt.result:
                return []
        mt.result = result
        move(mt, phase=Phase.FINISHED)
        mt.result_until = now + self.cfg.result_linger
        mt.next_result = now
        return [ResultAdopted(result, mt.proofs.get(result.term))]

    def _send_result(self, mt: Match, to: tuple[str, ...]) -> list[Action]:
        """The result, preceded by the proof of its host's term (so any member can check it)."""
        assert mt.result is not None
        out: list[Action] = []
        proof = mt.proofs.get(mt.result.term)
        if proof is not None and proof.term > 1:
            out.append(Send(to, m.HostProof(mt.mid, m.proof_to_wire(proof))))
            if mt.role == Role.HOST:  # and the seals its chain rests on, for members that missed them
                out += [Send(to, relay) for relay in self._seal_relays(mt)]
        out.append(Send(to, result_to_wire(mt.result)))
        return out

    def _on_result(self, mt: Match, sender: str, msg: m.Result, now: float) -> list[Action]:
        result = result_from_wire(msg)
        if result is None or result.match_id != mt.match_id:
            return self._reject(sender, RejectReason.BAD_RESULT)
        if mt.result is not None and mt.result.signature == result.signature:
            rechained = self._rechain(mt)  # the seal we lacked may have come since
            if rechained:
                return rechained
            if mt.verifier is None or mt.result.has_evidence:
                return []
            return self._complete(mt, result)  # again, while we lacked some evidence
        proof = mt.proofs.get(result.term)
        if proof is None or proof.host != result.host_id:
            return self._reject(sender, RejectReason.RESULT_NOT_HOST)
        if mt.verifier is not None:
            # A racer we caught lying may appear only as abandoned (unsigned, the honest prefix
            # of its drive: a host that missed the lie stopped hearing it); never as a driver.
            if any(self._is_diverged(mt, x.peer_id) and not x.abandoned for x in result.racers):
                return self._reject(sender, RejectReason.RESULT_COUNTS_DIVERGED)
        why = self._result_refuted(mt, result, now)
        if why is not None:
            return self._reject(sender, why)
        if mt.verifier is not None:
            full = mt.verifier.complete(result, self._proof_bytes(mt, result.term, result.host_id))
            if full is not None:
                result = full  # the whole record (evidence rebuilt from our replays): any store checks it
        result = self._chained(mt, result)  # with the seals we hold (a datagram has no room for them)
        before = mt.result
        out = self._adopt_result(mt, result, now)
        if before is not None and mt.result is before and sender != self.id:
            out += self._send_result(mt, (sender,))  # converge on one record
        return out
