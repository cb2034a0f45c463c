"""Deadlines, not polling (aioquic's `get_timer` / `handle_timer`), and the stall guard.

The core reports when it next needs to run; the adapter arms one timer for it. A call much
later than that deadline (more than `MatchConfig.stall`) means this process was not running:
its loop was starved, it was suspended, or the machine slept. That gap is credited to every
silence timer (the election deadline, the host's last word, each member's last word, lobby
listings) before anything is judged, so a starved peer neither starts an election nor drops
peers because of its own stall. Queued datagrams then arrive and are judged normally.

Turbulence: how unevenly this machine and its peers run lately, in seconds: the longest
recent excess gap (over 0.1 s beyond the expected interval) in our own calls, in the host's
words and in racers' 60 Hz states, decaying with a 10 s time constant. The election waits
twice that before calling the host gone (`Election._patience`): on a calm LAN it is 0 and
failover stays at 150-300 ms; on a starved machine, where every process stalls now and then,
the host's stall is not taken for its death.
"""

from __future__ import annotations

import math

from p2p_race.match.events import Action
from p2p_race.match.machine import Role
from p2p_race.match.state import NEVER

TURBULENCE_FLOOR = 0.1  # excess gaps below this are ordinary loss and jitter
TURBULENCE_TAU = 10.0  # seconds: how long a stall keeps us patient


class Deadlines:
    """Mixin of `MatchCore`."""

    def _rough(self, excess: float, now: float) -> None:
        """A gap of `excess` seconds beyond the expected interval was seen at `now`."""
        if excess >= TURBULENCE_FLOOR:
            self._turb = max(self.turbulence(now), excess)
            self._turb_at = now

    def turbulence(self, now: float) -> float:
        if self._turb <= 0.0:
            return 0.0
        return self._turb * math.exp(-max(0.0, now - self._turb_at) / TURBULENCE_TAU)

    def get_timer(self) -> float | None:
        """When `handle_timer` must next run (our clock), or None when nothing is pending."""
        due: list[float] = [li.seen + self.cfg.listing_ttl for li in self.listings.values()]
        mt = self.match
        if mt is not None:
            if not mt.joined:
                due.append(mt.next_join)
            elif mt.role == Role.HOST:
                if mt.result is None or self._seen < mt.result_until:  # after the linger: done
                    due += [mt.next_heartbeat, mt.next_roster, mt.next_announce]
                    if mt.result is not None:
                        due.append(mt.next_result)
                elif mt.term > 1:  # ... but for the listing after a failover (MatchCore.tick)
                    due.append(mt.next_announce)
            elif mt.result is None:
                due.append(mt.deadline)
                if mt.host and mt.role == Role.FOLLOWER:
                    due.append(mt.next_ping)
                if mt.role in (Role.PRE_CANDIDATE, Role.CANDIDATE):
                    due.append(mt.next_vote_resend)
            at = self._countdown_at(mt)
            if at is not None:
                due.append(at if mt.countdown_emitted else self._seen)
            if mt.my_final is not None and (mt.result is None or mt.next_final < mt.result_until):
                due.append(mt.next_final)
            if mt.started and mt.verifier is not None and mt.verifier.live.wanted():
                due.append(mt.next_input_request)  # inputs we lost: asked for again
        if not due:
            self._due = NEVER
            return None
        self._due = max(min(due), self._seen)  # overdue (never sent yet): due now
        return self._due

    def handle_timer(self, now: float) -> list[Action]:
        return self.tick(now)

    def _observe(self, now: float) -> None:
        """Stall guard: credit time we did not run (see the module docstring)."""
        late = now - self._due if self._due != NEVER else 0.0
        if self._seen != NEVER and late > self.cfg.stall and now - self._seen > self.cfg.stall:
            gap = min(late, now - self._seen)
            self._credit(gap)
            self._rough(gap, now)
        self._seen = now
        self._due = NEVER

    def _credit(self, gap: float) -> None:
        self.stalled += gap
        for li in self.listings.values():
            li.seen += gap
        mt = self.match
        if mt is None:
            return
        mt.deadline += gap
        mt.last_host_at += gap
        if gap >= self.cfg.disconnect_after:
            mt.out_of_touch = True  # others may have called us abandoned meanwhile
        for r in mt.racers.values():
            r.last_heard += gap
        for sid in mt.spectators:
            mt.spectators[sid] += gap

