"""The sans-I/O match core: one peer's view of the lobby and of the match it is in.

No sockets, no sleeps, no wall clock: the adapter (p2p_race.runtime) or the simulator
(tests) calls `on_message(sender_id, msg, now)`, `handle_timer(now)` when `get_timer()` is
due (aioquic style), and the intent methods, and carries out the returned actions (`Send`,
`Broadcast`, typed events). `now` is this peer's own monotonic clock in seconds; clocks of
different peers are never compared directly (the start time goes through `ClockSync`).

Where things are (docs/ARCHITECTURE.md):
- `machine`: phases and election roles, the table of legal moves;
- `authz`: who may send which message in which phase and term (checked here, first);
- `election`: who hosts (votes, proofs, taking over, stepping down);
- `roster`: who is in the match (lobby listings, joins, the replicated roster);
- `result`: who adjudicates the result (the proven host) and how everyone converges;
- `proof`: the forwardable proof of a host's term.

Stall guard: a call much later than the deadline we asked for means this process was not
running (starved loop, suspended, machine asleep). That time is not a peer's silence: every
silence timer moves forward by it before anything is judged, so a starved peer neither starts
an election nor drops peers because of its own stall.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from p2p_race.identity import verify as ed25519_verify
from p2p_race.match import authz
from p2p_race.match import messages as m
from p2p_race.match.clock import ClockSync
from p2p_race.match.colors import NO_WISH
from p2p_race.match.countdown import Countdown
from p2p_race.match.deadlines import Deadlines
from p2p_race.match.election import Election
from p2p_race.match.events import (
    Action,
    Broadcast,
    CountdownSet,
    Event,
    Joined,
    Left,
    Refused,
    Rejected,
    RejectReason,
    Send,
    Started,
)
from p2p_race.match.group import GroupDuty
from p2p_race.match.machine import Membership, Phase, Role, advance_phase
from p2p_race.match.proof import NONCE_BYTES, Verify, creator_proof
from p2p_race.match.result import ResultDuty
from p2p_race.match.roster import Roster
from p2p_race.match.state import (
    NEVER,
    CarReport,
    Listing,
    Match,
    MatchConfig,
    MatchRules,
    Racer,
    StateCheck,
    clean_name,
    default_plausible,
    mid_bytes,
)
from replication.records import MatchResult

log = logging.getLogger(__name__)


class Signer(Protocol):
    """What the core needs of an identity (an `Identity` is one): sign votes."""

    public_key: bytes

    def sign(self, data: bytes) -> bytes: ...


class MatchCore(Deadlines, Countdown, Election, Roster, ResultDuty, GroupDuty):
    """One peer: lobby listings plus at most one match it is a member of."""

    def __init__(
        self,
        peer_id: str,
        name: str,
        *,
        sign: Callable[[MatchResult], MatchResult],
        keys: Signer,
        verify: Verify = ed25519_verify,
        rng: random.Random | None = None,
        config: MatchConfig | None = None,
        plausible: StateCheck = default_plausible,
        wall_offset: float = 0.0,
        origin: Callable[[str], str | None] = lambda _peer: None,
    ) -> None:
        self.id = peer_id
        self.id_b = bytes.fromhex(peer_id)
        self.name = clean_name(name)
        self.sign = sign
        self.keys = keys
        self.verify = verify
        self.rng = rng or random.Random()
        self.cfg = config or MatchConfig()
        self.plausible = plausible
        self.wall_offset = wall_offset  # unix time = now + wall_offset
        self.origin = origin  # peer id -> the IP address discovery proved for it (or None)
        self.match: Match | None = None
        self.listings: dict[str, Listing] = {}
        self.clock = ClockSync()
        self.clock_host: str | None = None  # whose clock `clock` estimates
        self.rejected: dict[str, int] = {}
        self.peer_names: dict[str, str] = {}
        self.pending_listings: dict[str, tuple[str, int, float]] = {}  # match -> (host, term, first seen)
        self.stalled = 0.0  # seconds of our own stalls not counted as peers' silence
        self.longest_host_gap = 0.0  # the longest silence of a proven host we lived through
        self._turb = 0.0  # see `deadlines.turbulence`
        self._turb_at = 0.0
        self._due = NEVER  # the deadline we last reported
        self._seen = NEVER  # the last time any call told us the time
        self.rematch_to: tuple[str, str, str, int] | None = None  # (next match, its host, old match, role)
        self.kicked_from: set[str] = set()  # matches whose host removed us
        self.color = NO_WISH  # our colour wish, sent with each Join (p2p_race.match.colors)

    # ================================================================== intents
    def host(self, rules: MatchRules, now: float, role: int = m.ROLE_RACER) -> list[Action]:
        """Create a match with this peer as its host (term 1); its id is bound to our key."""
        self._observe(now)
        rules = rules.normalized()
        nonce = self.rng.getrandbits(8 * NONCE_BYTES).to_bytes(NONCE_BYTES, "big")
        proof = creator_proof(self.keys.public_key, nonce)
        mt = Match(proof.match_id.hex(), rules, Membership(role), joined=True, creator_key=self.keys.public_key,
                   nonce=nonce, term=1, host=self.id, _role=Role.HOST, voted_for=self.id, roster_term=1,
                   version=1, host_name=self.name)
        mt.proofs[1] = proof
        if role == m.ROLE_RACER:
            mt.racers[self.id] = Racer(self.id, self.name, ready=True, last_heard=now, color=self.color)
        else:
            mt.spectators[self.id] = now
        self.match = mt
        self.clock.reset()
        self.clock_host = self.id
        out: list[Action] = [Joined(mt.match_id, mt.member.label, True), self._host_event(mt)]
        out += self._host_broadcasts(mt, now)
        return out

    def join(self, match_id: str, now: float, role: int = m.ROLE_RACER) -> list[Action]:
        self._observe(now)
        listing = self.listings.get(match_id)
        if listing is None or listing.proof is None:
            return [Refused(match_id, "unknown match")]
        proof = listing.proof
        mt = Match(match_id, listing.rules, Membership(role), _phase=Phase(listing.phase),
                   creator_key=proof.creator_key, nonce=proof.nonce, term=listing.term,
                   host=listing.host_id, host_name=listing.host_name,
                   deadline=now + 10.0)  # no elections before we are in the roster
        mt.proofs[proof.term] = proof
        if proof.term != 1:
            mt.proofs[1] = creator_proof(proof.creator_key, proof.nonce)
        self.match = mt
        self.clock.reset()
        self.clock_host = listing.host_id
        return self._send_join(mt, now)

    def leave(self, now: float) -> list[Action]:
        self._observe(now)
        mt = self.match
        if mt is None:
            return []
        out: list[Action] = []
        if mt.joined:
            out.append(Send(self._others(mt), m.Leave(mid_bytes(mt.match_id))))
        self.match = None
        self.rematch_to = None  # leaving the group: no rematch to follow
        out.append(Left(mt.match_id))
        return out

    def set_ready(self, ready: bool, now: float) -> list[Action]:
        self._observe(now)
        mt = self.match
        if mt is None or mt.member != Membership.RACER:
            return []
        mt.want_ready = ready
        me = mt.racers.get(self.id)
        if me is not None:
            me.ready = ready
        if mt.role == Role.HOST:
            return self._bump(mt, now)
        return [Send((mt.host,), m.Ready(mid_bytes(mt.match_id), ready))] if mt.host else []

    def start(self, now: float) -> list[Action]:
        """Host: start the countdown now (the lobby's Start button)."""
        self._observe(now)
        mt = self.match
        if mt is None or mt.role != Role.HOST or mt.phase != Phase.LOBBY or not mt.racers:
            return []
        return self._begin_countdown(mt, now)

    # ================================================================== input
    def on_message(self, sender: str, msg: Any, now: float) -> list[Action]:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return []
        self._observe(now)
        if isinstance(msg, m.Announce):
            return self._on_announce(sender, msg, now) + self._follow_rematch(now)
        mt = self.match
        if mt is None or msg.match_id != mt.mid:
            return []
        if sender in mt.kicked and mt.role == Role.HOST:
            return self._kicked_reply(mt, sender)  # whatever it says: you are out
        r = mt.racers.get(sender)  # a member's signed word is a sign of life, whatever it says
        if r is not None:
            if type(msg) is m.RacerState and r.last_heard != NEVER:
                self._rough(now - r.last_heard - 1.0 / 60, now)
            r.last_heard = now
            mt.suspects.discard(sender)
        elif sender in mt.spectators:
            mt.spectators[sender] = now
            mt.suspects.discard(sender)
        why = authz.authorize(mt, self.id, sender, msg, self.cfg.max_term_jump)
        if why is authz.Drop.STALE:
            return self._correct_stale_host(mt, sender, msg, now)
        if why is RejectReason.NOT_A_MEMBER and isinstance(msg, m.VoteRequest):
            # a member we dropped while it still followed the old host: our proof lets it
            # follow us and rejoin (one datagram to its known address, rate-limited)
            return self._reject(sender, why) + self._show_proof(mt, sender, now)
        if why is not None:
            return self._reject(sender, why)
        if sender == mt.host and mt.role != Role.HOST and sender not in mt.left and \
                authz.RULES[type(msg)].who is authz.Who.HOST:
            self._heard_host(mt, now)  # any host duty of the proven host is a sign of life
            if mt.role == Role.FOLLOWER and mt.joined:
                mt.deadline = max(mt.deadline, self._new_deadline(now))
        return handler(self, mt, sender, msg, now)

    # ================================================================== timers
    def tick(self, now: float) -> list[Action]:
        self._observe(now)
        out: list[Action] = []
        for k in [k for k, v in self.listings.items() if now - v.seen >= self.cfg.listing_ttl]:
            del self.listings[k]
        mt = self.match
        if mt is None:
            return out
        if not mt.joined:
            if now >= mt.next_join:
                out += self._send_join(mt, now)
            return out + self._repeat_final(mt, now)  # (rejoining a new host: still heard)
        if mt.role == Role.HOST:
            out += self._host_tick(mt, now)
        else:
            out += self._member_tick(mt, now)
        # start of the race (host and members alike, in local time)
        at = self._countdown_at(mt)
        if at is not None:
            if not mt.countdown_emitted:
                mt.countdown_emitted = True
                out.append(CountdownSet(at, mt.started_at))
            if now >= at:
                mt.started = True
                mt.start_local = at
                advance_phase(mt, Phase.RACING)
                out.append(Started(at))
        if mt.started:
            out += self._ask_for_inputs(mt, now)
        return out + self._repeat_final(mt, now)

    def _repeat_final(self, mt: Match, now: float) -> list[Action]:
        # (a while past the result too: members rebuild the record from our attestation)
        if mt.my_final is not None and (mt.result is None or now < mt.result_until) and now >= mt.next_final:
            mt.next_final = now + self.cfg.final_every
            return [Send(self._others(mt), mt.my_final)]
        return []

    def _host_tick(self, mt: Match, now: float) -> list[Action]:
        cfg = self.cfg
        out, changed = self._membership_tick(mt, now)
        out += self._group_tick(mt, now)  # auto-start, rematch pointer
        duty, duty_changed = self._result_duty(mt, now)
        if changed or duty_changed:
            out += self._bump(mt, now)
        out += duty
        members = self._others(mt)
        live = mt.result is None or now < mt.result_until
        if now >= mt.next_heartbeat and live:
            mt.next_heartbeat = now + cfg.heartbeat
            out.append(Send(members, self._heartbeat(mt)))
        if now >= mt.next_roster and live:
            mt.next_roster = now + cfg.roster_every
            if mt.term > 1:
                out.append(Send(members, self._host_proof(mt)))
            out += self._roster_sends(mt, members)
        # After a failover the listing goes on once the result's linger is over: a member
        # still following a replaced host (it was cut off, or paused) finds its way here
        # through it (`_catch_up`), rejoins and gets the result.
        if now >= mt.next_announce and (live or mt.term > 1):
            mt.next_announce = now + cfg.announce_every
            out.append(self._broadcast_announce(mt))
        if mt.result is not None and now < mt.result_until and now >= mt.next_result:
            mt.next_result = now + cfg.result_every
            out += self._send_result(mt, members)
        return out

    def _member_tick(self, mt: Match, now: float) -> list[Action]:
        out: list[Action] = []
        cfg = self.cfg
        if mt.result is not None:
            return out
        if mt.host and mt.role == Role.FOLLOWER and now >= mt.next_ping:
            every = cfg.ping_every if mt.phase in (Phase.LOBBY, Phase.COUNTDOWN) else cfg.ping_every_racing
            mt.next_ping = now + every
            mt.ping_nonce = (mt.ping_nonce + 1) & 0xFFFFFFFF
            mt.pings[mt.ping_nonce] = now
            if len(mt.pings) > 64:
                mt.pings.pop(next(iter(mt.pings)))
            out.append(Send((mt.host,), m.Ping(mid_bytes(mt.match_id), mt.ping_nonce, now)))
        out += self._election_tick(mt, now)
        # a racer that vanished from the roster (host restarted the lobby) rejoins; so does a
        # member whose new host sends it no roster (it dropped us while we followed the old one)
        no_roster = mt.host not in (None, self.id) and mt.proofs.get(mt.term) is not None and \
            mt.roster_term < mt.term and now - mt.followed_at > 2 * cfg.roster_every
        if (not mt.is_member(self.id) or no_roster) and mt.joined:
            mt.joined = False
            out += self._send_join(mt, now)
        return out

    def _host_broadcasts(self, mt: Match, now: float) -> list[Action]:
        mt.next_heartbeat = now + self.cfg.heartbeat
        mt.next_roster = now + self.cfg.roster_every
        mt.next_announce = now + self.cfg.announce_every
        members = self._others(mt)
        return [Send(members, self._heartbeat(mt)), *self._roster_sends(mt, members), self._broadcast_announce(mt)]

    def _heartbeat(self, mt: Match) -> m.Heartbeat:
        stalls = min(int(self.turbulence(self._seen) * 1000), 65535)
        return m.Heartbeat(mid_bytes(mt.match_id), mt.term, mt.phase, mt.version,
                           mt.start_at_host if mt.phase >= Phase.COUNTDOWN else 0.0, mt.result is not None, stalls)

    # ================================================================== small handlers
    def _on_heartbeat(self, mt: Match, sender: str, msg: m.Heartbeat, now: float) -> list[Action]:
        self._rough(min(msg.stalls_ms / 1000, self.cfg.patience_max), now)  # the host's own stalls
        out = self._follow(mt, sender, msg.term, now)
        if msg.phase >= Phase.COUNTDOWN and mt.start_host_id != sender:
            mt.start_at_host = msg.start_at
            mt.start_host_id = sender
        if msg.phase >= Phase.COUNTDOWN:
            advance_phase(mt, Phase.COUNTDOWN)  # (the start itself happens in our own clock)
        if mt.result is not None and not msg.has_result:
            out += self._send_result(mt, (sender,))
        return out

    def _correct_stale_host(self, mt: Match, sender: str, msg: Any, now: float) -> list[Action]:
        """A member still acting as host of an older term (it was cut off or paused): show
        it our proof, at most every `heartbeat` per member (never to a non-member)."""
        if not mt.is_member(sender) or not isinstance(msg, (m.Heartbeat, m.Roster, m.CountdownStart)):
            return []
        return self._show_proof(mt, sender, now)

    def _show_proof(self, mt: Match, sender: str, now: float) -> list[Action]:
        if mt.role != Role.HOST or mt.term < 2 or now - mt.proof_shown.get(sender, NEVER) < self.cfg.heartbeat:
            return []
        if len(mt.proof_shown) >= 256:
            mt.proof_shown.clear()
        mt.proof_shown[sender] = now
        return [Send((sender,), self._host_proof(mt))]

    def _reject(self, sender: str, why: RejectReason) -> list[Action]:
        n = self.rejected[why.value] = self.rejected.get(why.value, 0) + 1
        # Logged, but a flood cannot fill the log.
        if n <= 10 or n % 1000 == 0:
            log.log(logging.DEBUG if why.quiet else logging.WARNING, "rejected from %s: %s (%d so far)",
                    sender, why.value, n)
        return [Rejected(sender, why)]

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
        return self.match is not None and self.match.role == Role.HOST

    def ranking(self) -> list[tuple[str, str, int, bool]]:
        """(peer id, name, score, still racing) best first: the live ranking."""
        from p2p_race.match.ranking import live_ranking

        mt = self.match
        return [] if mt is None else live_ranking(mt.racers.values())

    def disconnected(self, now: float) -> set[str]:
        """Racers we have not heard from for longer than `disconnect_after`."""
        mt = self.match
        if mt is None or mt.phase != Phase.RACING:
            return set()
        return {r.peer_id for r in mt.racers.values() if r.peer_id != self.id and r.final is None
                and r.last_heard != NEVER and now - r.last_heard > self.cfg.disconnect_after}


_HANDLERS: dict[type, Callable[..., list[Action]]] = {
    m.Announce: MatchCore._on_announce,
    m.Join: MatchCore._on_join,
    m.JoinRefused: MatchCore._on_join_refused,
    m.Leave: MatchCore._on_leave,
    m.Ready: MatchCore._on_ready,
    m.VoteRequest: MatchCore._on_vote_request,
    m.Vote: MatchCore._on_vote,
    m.HostProof: MatchCore._on_host_proof,
    m.Heartbeat: MatchCore._on_heartbeat,
    m.Roster: MatchCore._on_roster,
    m.Ping: MatchCore._on_ping,
    m.Pong: MatchCore._on_pong,
    m.CountdownStart: MatchCore._on_countdown,
    m.RacerState: MatchCore._on_state,
    m.FinalReport: MatchCore._on_final,
    m.Result: MatchCore._on_result,
    m.Kick: MatchCore._on_kick,
    m.KickList: MatchCore._on_kick_list,
    m.RosterSeal: MatchCore._on_roster_seal,
    m.SealRelay: MatchCore._on_seal_relay,
    m.Rematch: MatchCore._on_rematch,
    m.InputRequest: MatchCore._on_input_request,
    m.InputFill: MatchCore._on_input_fill,
}

__all__ = ["Action", "Broadcast", "CarReport", "Event", "MatchConfig", "MatchCore", "MatchRules", "Send",
           "default_plausible"]
