"""Who is in the match: the lobby listing, joining, leaving, readiness, and the replicated
roster the host publishes (what a new host continues from after a failover).

The host alone changes membership (`Join`, `Leave`, silence); every change bumps the roster
version and is replicated in `Roster`, which members accept only from the proven host
(`p2p_race.match.authz`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from p2p_race.match import authz
from p2p_race.match import messages as m
from p2p_race.match.colors import clean_wish
from p2p_race.match.events import (
    Action,
    Broadcast,
    ConnectionChanged,
    Crashed,
    Joined,
    MemberJoined,
    Refused,
    RejectReason,
    RosterUpdated,
    Send,
)
from p2p_race.match.machine import Membership, Phase, Role, advance_phase
from p2p_race.match.proof import creator_proof
from p2p_race.match.seal import RosterStatement, SealedRoster, seal, statement_of
from p2p_race.match.state import (
    CarReport,
    Listing,
    Match,
    MatchRules,
    Racer,
    clean_name,
    mid_bytes,
    pid_bytes,
)

EMPTY = CarReport(0, 0.0, 0.0, 0.0, 0, 0.0, False, -1.0)
MAX_PENDING = 64  # vote-proven listings waiting to settle (bounded against floods)
JOIN_REPLY_EVERY = 0.5  # a member's repeated Join (it rejoins until it hears us) is answered twice a second at most


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def roster_statement(msg: m.Roster) -> RosterStatement:
    """The part of a roster a host seals: who races (and is abandoned), who watches, the phase."""
    return statement_of(msg.match_id, msg.term, msg.version, msg.phase,
                        [(rr.peer_id, rr.status == m.ST_ABANDONED) for rr in msg.racers], msg.spectators)


class Roster:
    """Mixin of `MatchCore`: membership and its replication."""

    # ------------------------------------------------------------------ lobby listings
    def _on_announce(self, sender: str, msg: m.Announce, now: float) -> list[Action]:
        proof = m.proof_from_wire(msg.proof)
        mid = msg.match_id.hex()
        if proof.match_id != msg.match_id:
            return self._reject(sender, RejectReason.NOT_THE_CREATOR)
        if proof.term > authz.MAX_TERM:
            return self._reject(sender, RejectReason.TERM_TOO_FAR)
        old = self.listings.get(mid)
        creator_live = proof.term == 1 and proof.host == sender  # unforgeable: always believed
        if old is not None and old.host_id == sender and old.term == proof.term:
            if old.proof != proof:  # same host and term, other proof: forged or confused
                return self._reject(sender, RejectReason.BAD_PROOF)
        else:
            if old is not None:
                if proof.term < old.term and not creator_live and now - old.seen < self.cfg.listing_ttl:
                    return []
                if proof.term > old.term + self.cfg.max_term_jump:
                    return self._reject(sender, RejectReason.TERM_TOO_FAR)
                # A newcomer cannot check the electorate: the listed host keeps the listing
                # while it is alive; a newer (signature-checked) term takes over only after.
                if not creator_live and now - old.seen < self.cfg.announce_every + 0.25:
                    return self._reject(sender, RejectReason.NOT_THE_HOST)
            why = authz.check_listing(proof, sender, self.verify)
            if why is not None:
                return self._reject(sender, why)
            if not creator_live and not self._settled(mid, sender, proof.term, now):
                return []
        self.pending_listings.pop(mid, None)
        try:
            rules = MatchRules.from_wire(msg.rules)
        except (TypeError, ValueError):
            return []
        self.peer_names[sender] = msg.host_name
        self.listings[mid] = Listing(mid, sender, msg.host_name, proof.term, rules, msg.phase,
                                     msg.racers, msg.spectators, now, proof)
        mt = self.match
        if mt is not None and mt.match_id == mid and not mt.joined and mt.host != sender:
            # still joining: follow the host the lobby now trusts (the creator over a claim)
            mt.host, mt.term, mt.host_name = sender, proof.term, msg.host_name
            mt.proofs = {1: creator_proof(proof.creator_key, proof.nonce), proof.term: proof}
            self.clock.reset()
            self.clock_host = sender
        return []

    def _settled(self, mid: str, sender: str, term: int, now: float) -> bool:
        """A vote-proven listing is believed only once it has stood a whole announcement
        period without the creator announcing its own term 1 (a newcomer cannot check the
        voters: a forger's claim must not win just by being heard first)."""
        first = self.pending_listings.get(mid)
        if first is None or first[:2] != (sender, term):
            if len(self.pending_listings) >= MAX_PENDING:
                self.pending_listings.pop(next(iter(self.pending_listings)))
            self.pending_listings[mid] = (sender, term, now)
            return False
        return now - first[2] >= self.cfg.announce_every + 0.25

    def _announce(self, mt: Match) -> m.Announce:
        return m.Announce(mid_bytes(mt.match_id), self.name, mt.rules.to_wire(), mt.phase,
                          len(mt.racers), len(mt.spectators), m.proof_to_wire(mt.proof))

    def _send_join(self, mt: Match, now: float) -> list[Action]:
        mt.next_join = now + self.cfg.join_retry
        if mt.host is None:
            return []
        return [Send((mt.host,), m.Join(mid_bytes(mt.match_id), mt.member, self.name, self.color))]

    # ------------------------------------------------------------------ host side
    def _on_join(self, mt: Match, sender: str, msg: m.Join, now: float) -> list[Action]:
        if mt.role != Role.HOST:
            return []
        name = clean_name(msg.name)
        self.peer_names[sender] = name
        mb = mid_bytes(mt.match_id)
        if mt.is_member(sender):
            if sender in mt.racers:
                mt.racers[sender].last_heard = now
            else:
                mt.spectators[sender] = now
            if now < mt.join_replies.get(sender, float("-inf")):
                return []  # answered a moment ago: a repeated Join gets no second copy of it all
            mt.join_replies = {p: t for p, t in mt.join_replies.items() if mt.is_member(p) and t > now}
            mt.join_replies[sender] = now + JOIN_REPLY_EVERY
            out = self._roster_sends(mt, (sender,))
            return out + (self._send_result(mt, (sender,)) if mt.result is not None else [])  # (rejoining late)
        if msg.role == m.ROLE_RACER:
            if self._machine_full(mt, sender):  # (first: the reason that holds in every phase)
                return [Send((sender,), m.JoinRefused(mb, "one racer per machine: join as a spectator"))]
            if mt.phase != Phase.LOBBY:
                return [Send((sender,), m.JoinRefused(mb, "the race has started; join as a spectator"))]
            if len(mt.racers) >= mt.rules.max_racers:
                return [Send((sender,), m.JoinRefused(mb, "the match is full"))]
            mt.racers[sender] = Racer(sender, name, last_heard=now, color=clean_wish(msg.color),
                                      origin=self.origin(sender))
        elif msg.role == m.ROLE_SPECTATOR:
            if self._machine_watching(mt, sender):
                return [Send((sender,), m.JoinRefused(mb, "too many spectators from one machine"))]
            if len(mt.spectators) >= mt.rules.max_spectators:
                return [Send((sender,), m.JoinRefused(mb, "no room for more spectators"))]
            mt.spectators[sender] = now
            mt.watch_origin = {s: o for s, o in mt.watch_origin.items() if s in mt.spectators}
            mt.watch_origin[sender] = self.origin(sender)
        else:
            return []
        out: list[Action] = [MemberJoined(sender, name, Membership(msg.role).label)]
        out += self._bump(mt, now)
        if mt.phase == Phase.COUNTDOWN:
            out.append(Send((sender,), m.CountdownStart(mb, mt.term, mt.start_at_host, mt.started_at)))
        if mt.result is not None:
            out += self._send_result(mt, (sender,))
        return out

    def _machine_full(self, mt: Match, sender: str) -> bool:
        """Whether `sender`'s machine already has `racers_per_address` racers in the match.

        Who may race is the host's call, and votes count per racer: without a bound, one
        machine could join a majority of cheap identities and elect a host of its own. The
        address is the one discovery proved for the peer (a cookie echo), never a datagram's
        source. Loopback (the host's own processes: practice, tests) and unknown origins are
        not bounded."""
        cap = self.cfg.racers_per_address
        where = self.origin(sender) if cap > 0 else None
        if where is None or is_loopback(where):
            return False
        # each racer counts where it was admitted from: one that left discovery since (a
        # Leave, silence) still races and votes, so it still holds its machine's seat
        return sum(1 for pid, r in mt.racers.items()
                   if pid != sender and where in (r.origin, self.origin(pid))) >= cap

    def _machine_watching(self, mt: Match, sender: str) -> bool:
        """Whether `sender`'s machine already has `spectators_per_address` spectators here.
        Identities are free: without a bound one machine could take every spectator slot
        (and, when every racer is gone, be the electorate). Same exemptions as racers."""
        cap = self.cfg.spectators_per_address
        where = self.origin(sender) if cap > 0 else None
        if where is None or is_loopback(where):
            return False
        return sum(1 for sid in mt.spectators
                   if sid != sender and where in (mt.watch_origin.get(sid), self.origin(sid))) >= cap

    def _on_leave(self, mt: Match, sender: str, msg: m.Leave, now: float) -> list[Action]:
        mt.left.add(sender)  # whoever hosts next applies it too
        if sender == mt.host and mt.role != Role.HOST:
            mt.deadline = now  # graceful leave: elect at once, no timeout
            mt.failed_host = sender
        if mt.role != Role.HOST:
            return []
        return self._apply_leave(mt, sender, now) + self._bump(mt, now)

    def _apply_leave(self, mt: Match, sender: str, now: float) -> list[Action]:
        out: list[Action] = []
        r = mt.racers.get(sender)
        if r is not None:
            if mt.phase == Phase.LOBBY:
                del mt.racers[sender]
            elif r.final is None and mt.result is None:
                self._abandon(mt, r)
                out.append(self._crash_event(r, abandoned=True))
        mt.spectators.pop(sender, None)
        return out

    def _on_ready(self, mt: Match, sender: str, msg: m.Ready, now: float) -> list[Action]:
        r = mt.racers.get(sender)
        if mt.role != Role.HOST or r is None:
            return []
        r.last_heard = now
        if r.ready == msg.ready:
            return []
        r.ready = msg.ready
        return self._bump(mt, now)

    def _membership_tick(self, mt: Match, now: float) -> tuple[list[Action], bool]:
        """Host: who went silent (disconnected, abandoned, gone). Returns (events, changed)."""
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
                out.append(ConnectionChanged(r.peer_id, r.name, connected))
        for sid, heard in list(mt.spectators.items()):
            if sid != self.id and now - heard > cfg.spectator_timeout:
                del mt.spectators[sid]
                changed = True
        if mt.phase == Phase.LOBBY:
            for r in list(mt.racers.values()):
                if r.peer_id != self.id and now - r.last_heard > cfg.abandon_after:
                    del mt.racers[r.peer_id]
                    changed = True
        return out, changed

    def _bump(self, mt: Match, now: float) -> list[Action]:
        mt.version += 1
        mt.roster_term = mt.term
        mt.next_roster = now + self.cfg.roster_every
        return self._roster_sends(mt, self._others(mt))

    def _roster_sends(self, mt: Match, to: tuple[str, ...]) -> list[Action]:
        """The host's replicated state for `to`: the roster, its seal, and the kick list once
        there is one."""
        roster = self._roster(mt)
        out: list[Action] = [Send(to, roster), Send(to, self._roster_seal(mt, roster))]
        if mt.kicked:
            out.append(Send(to, m.KickList(mid_bytes(mt.match_id), mt.term,
                                           tuple(pid_bytes(p) for p in mt.kicked))))
        return out

    def _roster(self, mt: Match) -> m.Roster:
        racers = []
        for r in sorted(mt.racers.values(), key=lambda r: r.peer_id):
            f = r.final
            flags = (m.FLAG_READY if r.ready else 0) | (m.FLAG_CONNECTED if r.connected else 0)
            racers.append(m.RosterRacer(
                pid_bytes(r.peer_id), r.name, flags, r.status,
                int(f.score) if f else 0, float(f.distance) if f else 0.0,
                float(f.crash_time) if f else -1.0, r.color))
        return m.Roster(mid_bytes(mt.match_id), mt.term, mt.version, mt.rules.to_wire(), mt.phase,
                        mt.start_at_host if mt.phase >= Phase.COUNTDOWN else 0.0, mt.started_at,
                        tuple(racers), tuple(pid_bytes(s) for s in sorted(mt.spectators)))

    def _roster_seal(self, mt: Match, roster: m.Roster) -> m.RosterSeal:
        """Our seal of this roster version (signed once per version, kept as members keep it:
        if we are replaced and stay, our own record of a later term needs it too)."""
        held = mt.seals.get(roster.term)
        st = roster_statement(roster)
        if held is None or held.statement != st:
            held = mt.seals[roster.term] = seal(st, self.keys.sign)
            mt.rosters[roster.term] = st
        return m.RosterSeal(roster.match_id, roster.term, roster.version, held.signature)

    def _on_roster_seal(self, mt: Match, sender: str, msg: m.RosterSeal, now: float) -> list[Action]:
        """The proven host's seal of the roster version we hold of it: kept once it verifies."""
        st = mt.rosters.get(msg.term)
        proof = mt.proofs.get(msg.term)
        if proof is None:
            return []
        if st is None or st.version != msg.version:
            if st is None or msg.version > st.version:
                mt.early_seal = msg  # ahead of its roster (reordered): checked when that arrives
            return []
        held = mt.seals.get(msg.term)
        if held is not None and held.statement == st:
            return []
        sealed = SealedRoster(st, msg.signature)
        if not sealed.valid(proof.host_key, self.verify):
            return self._reject(sender, RejectReason.BAD_PROOF)
        mt.seals[msg.term] = sealed
        for t in [t for t in mt.seals if t not in mt.proofs]:
            del mt.seals[t]
        return self._rechain(mt)

    def _seal_relays(self, mt: Match) -> list[m.SealRelay]:
        """The sealed rosters of the terms before ours that we hold, for our members."""
        out = []
        for t in sorted(t for t in mt.seals if t < mt.term):
            st, sig = mt.seals[t].statement, mt.seals[t].signature
            out.append(m.SealRelay(mt.mid, mt.term, t, st.version, st.phase,
                                   tuple(m.SealedRacer(p, a) for p, a in st.racers), st.spectators, sig))
        return out

    def _on_seal_relay(self, mt: Match, sender: str, msg: m.SealRelay, now: float) -> list[Action]:
        """Our host's copy of an older term's seal: kept when we hold none of that term."""
        proof = mt.proofs.get(msg.sealed_term)
        if proof is None or msg.sealed_term >= msg.term or msg.sealed_term in mt.seals:
            return []
        st = statement_of(msg.match_id, msg.sealed_term, msg.version, msg.phase,
                          [(r.peer_id, r.abandoned) for r in msg.racers], msg.spectators)
        sealed = SealedRoster(st, msg.signature)
        if not sealed.valid(proof.host_key, self.verify):
            return self._reject(sender, RejectReason.BAD_PROOF)
        mt.seals[msg.sealed_term] = sealed
        return self._rechain(mt)

    def _others(self, mt: Match) -> tuple[str, ...]:
        return tuple(p for p in list(mt.racers) + list(mt.spectators) if p != self.id)

    # ------------------------------------------------------------------ member side
    def _on_join_refused(self, mt: Match, sender: str, msg: m.JoinRefused, now: float) -> list[Action]:
        if mt.joined:
            return []
        self.match = None
        return [Refused(mt.match_id, msg.reason)]

    def _on_roster(self, mt: Match, sender: str, msg: m.Roster, now: float) -> list[Action]:
        out: list[Action] = self._follow(mt, sender, msg.term, now)
        if mt.member == Membership.RACER and msg.phase == Phase.LOBBY:
            mine = self.id_b
            for rr in msg.racers:
                if rr.peer_id == mine and bool(rr.flags & m.FLAG_READY) != mt.want_ready:
                    out.append(Send((sender,), m.Ready(mt.mid, mt.want_ready)))  # (re)assert our flag
        if (msg.term, msg.version) <= (mt.roster_term, mt.version):
            return out
        try:
            rules = MatchRules.from_wire(msg.rules)
            phase = Phase(msg.phase)
        except (TypeError, ValueError):
            return out
        mt.roster_term, mt.version = msg.term, msg.version
        mt.rosters[msg.term] = roster_statement(msg)
        for t in [t for t in mt.rosters if t not in mt.proofs]:
            del mt.rosters[t]
        early, mt.early_seal = mt.early_seal, None
        if early is not None and (early.term, early.version) == (msg.term, msg.version):
            out += self._on_roster_seal(mt, sender, early, now)
        mt.rules = rules
        if phase >= Phase.COUNTDOWN:
            advance_phase(mt, min(phase, Phase.COUNTDOWN))  # racing starts in our own clock
            if mt.start_host_id != sender:
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
            r.color = clean_wish(rr.color)
            r.ready = bool(rr.flags & m.FLAG_READY)
            r.connected = bool(rr.flags & m.FLAG_CONNECTED)
            if rr.status == m.ST_ABANDONED and r.status != m.ST_ABANDONED:
                why = self._abandon_refuted(mt, r, rr.crash_time, now)
                if why is not None:  # we heard it lately: it still races here, its word counts
                    out += self._reject(sender, why)
                    continue
            if rr.status != m.ST_RACING and rr.status < len(m.ST_NAMES) and (r.status != rr.status or r.final is None):
                was_final = r.final is not None
                r.status = rr.status
                r.final = replace(r.last or EMPTY, score=rr.score, distance=rr.distance,
                                  crashed=rr.status != m.ST_TIME, crash_time=rr.crash_time)
                if not was_final and r.final.crashed:
                    out.append(self._crash_event(r, abandoned=rr.status == m.ST_ABANDONED))
        for pid in [p for p in mt.racers if p not in seen]:
            del mt.racers[pid]
        mt.spectators = {s.hex(): mt.spectators.get(s.hex(), now) for s in msg.spectators}
        if not mt.joined and mt.is_member(self.id):
            mt.joined = True
            mt.deadline = self._new_deadline(now)
            out.append(Joined(mt.match_id, mt.member.label, False))
            out.append(self._host_event(mt))
        out.append(RosterUpdated(msg.version))
        return out

    def _crash_event(self, r: Racer, abandoned: bool) -> Crashed:
        f = r.final
        return Crashed(r.peer_id, r.name, f.score if f else 0, f.crash_time if f else 0.0, abandoned)

    def _broadcast_announce(self, mt: Match) -> Broadcast:
        return Broadcast(self._announce(mt))
