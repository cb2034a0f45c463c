"""Deadlines, not polling (aioquic's `get_timer` / `handle_timer`), and the stall guard.

The core reports when it next needs to run; the adapter arms one timer for it. A call much
later than that deadline (more than `MatchConfig.stall`) means this process was not running:
its loop was starved, it was suspended, or the machine slept. That gap is credited to every
silence timer (the election deadline, the host's last word, each member's last word, lobby
listings) before anything is judged, so a starved peer neither starts an election nor drops
peers because of its own stall. Queued datagrams then arrive and are judged normally.
"""

from __future__ import annotations

from p2p_race.match.events import Action
from p2p_race.match.machine import Role
from p2p_race.match.state import NEVER


class Deadlines:
    """Mixin of `MatchCore`."""

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
        for r in mt.racers.values():
            r.last_heard += gap
        for sid in mt.spectators:
            mt.spectators[sid] += gap

