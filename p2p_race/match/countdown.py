"""The start of the race: the host's countdown, and the clock sync that lets every member
start it at the same moment in its own clock (`ClockSync`, NTP-style ping / pong)."""

from __future__ import annotations

from p2p_race.match import messages as m
from p2p_race.match.events import Action, Send
from p2p_race.match.machine import Phase, Role, advance_phase
from p2p_race.match.state import Match, mid_bytes

RESULT_REFETCH = 2.0  # seconds between result copies a member's pings fetch after the linger
RESULT_REFETCHES = 10  # copies per member in all


class Countdown:
    """Mixin of `MatchCore`."""

    def _countdown_at(self, mt: Match) -> float | None:
        """The start in our clock, once we may trust it (host, synced, or frozen)."""
        if mt.phase != Phase.COUNTDOWN or mt.started:
            return None
        if not (self.clock.synced or mt.role == Role.HOST or mt.start_local is not None):
            return None
        return self._start_local(mt)

    def _begin_countdown(self, mt: Match, now: float) -> list[Action]:
        advance_phase(mt, Phase.COUNTDOWN)
        mt.start_at_host = now + self.cfg.countdown
        mt.start_local = mt.start_at_host
        mt.start_host_id = self.id
        mt.started_at = mt.start_at_host + self.wall_offset
        out = self._bump(mt, now)
        out.append(Send(self._others(mt), m.CountdownStart(
            mid_bytes(mt.match_id), mt.term, mt.start_at_host, mt.started_at)))
        return out

    def _on_countdown(self, mt: Match, sender: str, msg: m.CountdownStart, now: float) -> list[Action]:
        if mt.start_host_id != sender:
            mt.start_at_host, mt.start_host_id = msg.start_at, sender
        mt.started_at = msg.started_at
        advance_phase(mt, Phase.COUNTDOWN)
        return []

    def _on_ping(self, mt: Match, sender: str, msg: m.Ping, now: float) -> list[Action]:
        if mt.role != Role.HOST:
            return []
        out: list[Action] = [Send((sender,), m.Pong(msg.match_id, msg.nonce, msg.t0, now))]
        sent, next_at = mt.result_replies.get(sender, (0, 0.0))
        if mt.result is not None and now >= mt.result_until and now >= next_at and sent < RESULT_REFETCHES:
            # A member still pinging after the result's linger may have missed every copy of
            # it (cut off, or it joined late): its pings fetch it, one copy per RESULT_REFETCH,
            # at most RESULT_REFETCHES in all (one that refuses it gains nothing by asking).
            mt.result_replies = {p: v for p, v in mt.result_replies.items() if mt.is_member(p)}
            mt.result_replies[sender] = (sent + 1, now + RESULT_REFETCH)
            out += self._send_result(mt, (sender,))
        return out

    def _on_pong(self, mt: Match, sender: str, msg: m.Pong, now: float) -> list[Action]:
        t0 = mt.pings.pop(msg.nonce, None)
        if t0 is None or t0 != msg.t0:
            return []
        self.clock.add(t0, msg.t1, now)
        return []

