"""The group around a match (a LAN night): the host's auto-start once everyone is ready,
the host removing a member (kick), and the rematch that keeps the group together.

Authorization (the `authz` table): `Kick` and `Rematch` come only from the proven host of
the match's current term, `Kick` only in the lobby, `Rematch` only once the race is on (the
host sends it only once it holds the result; a member may not have the result yet: it
follows all the same, its record arrives by score sync).
A kicked peer is out of the roster, so nothing it sends afterwards counts: the host that
kicked it answers each of its messages (a join included) with the Kick again, one small
datagram for one, and repeats it once a second for a while, so a peer that missed its Kick
learns it and leaves. The kick list is part of the host's replicated state (`KickList`, sent with the
roster, accepted from the proven host only): whoever hosts next after a failover keeps the
kicked out the same way, and a rematch inherits the list. A rematch is only followed into
a match whose proven announcement names the same host, so a stranger cannot lead a group
elsewhere. The host's auto-start is the host's
own timer (`MatchConfig.auto_start`, `auto_start_delay`); members show their own estimate
of it (the roster tells them everyone is ready). See docs/ARCHITECTURE.md, section 4.
"""

from __future__ import annotations

from dataclasses import replace

from p2p_race.match import messages as m
from p2p_race.match.events import Action, Kicked, RematchOffered, Send
from p2p_race.match.machine import Phase, Role
from p2p_race.match.state import NEVER, Match, mid_bytes, pid_bytes

REMATCH_REPEAT = 10.0  # s the host repeats its rematch pointer to the old group (datagrams get lost)
KICK_REPEAT = 10.0  # s the host repeats a Kick (the kicked peer may not be talking to it)


class GroupDuty:
    """Mixin of `MatchCore`."""

    # ================================================================== host intents
    def kick(self, peer_id: str, now: float) -> list[Action]:
        """Host, in the lobby: remove `peer_id` (racer or spectator) from the match."""
        self._observe(now)
        mt = self.match
        if mt is None or mt.role != Role.HOST or mt.phase != Phase.LOBBY or peer_id == self.id:
            return []
        if peer_id not in mt.racers and peer_id not in mt.spectators or len(mt.kicked) >= m.MAX_KICKS:
            return []
        mt.racers.pop(peer_id, None)
        mt.spectators.pop(peer_id, None)
        mt.kicked[peer_id] = now + KICK_REPEAT
        mt.auto_start_at = None
        out: list[Action] = [Send((peer_id,), m.Kick(mid_bytes(mt.match_id), mt.term, pid_bytes(peer_id)))]
        return out + self._bump(mt, now)

    def rematch(self, now: float) -> list[Action]:
        """Host of a finished match: host the next one (same rules, a new road) and point
        the old group at it; they follow it as soon as its announcement reaches them."""
        self._observe(now)
        old = self.match
        if old is None or old.role != Role.HOST or old.phase != Phase.FINISHED:
            return []
        group = self._others(old)
        rules = replace(old.rules, seed=self.rng.getrandbits(48))
        out = self.host(rules, now, int(old.member))
        new = self.match
        assert new is not None
        new.kicked = dict.fromkeys(old.kicked, NEVER)  # kicked out of the group, not just one match
        pointer = m.Rematch(mid_bytes(old.match_id), old.term, mid_bytes(new.match_id))
        new.rematch_notice = (group, pointer, now + REMATCH_REPEAT)
        return [Send(group, pointer), *out]

    def _kicked_reply(self, mt: Match, sender: str) -> list[Action]:
        """A removed peer (one that missed its Kick, or tries again) gets the Kick again: one
        small datagram per message it sends, never more, and nothing it says counts."""
        return [Send((sender,), m.Kick(mid_bytes(mt.match_id), mt.term, pid_bytes(sender)))]

    # ================================================================== host timers
    def _group_tick(self, mt: Match, now: float) -> list[Action]:
        """Host: the auto-start timer, and the rematch pointer repeated to the old group
        members that have not joined yet."""
        out: list[Action] = []
        cfg = self.cfg
        everyone = (mt.phase == Phase.LOBBY and cfg.auto_start and len(mt.racers) >= cfg.auto_start
                    and all(r.ready for r in mt.racers.values()))
        if not everyone:
            mt.auto_start_at = None
        elif mt.auto_start_at is None:
            mt.auto_start_at = now + cfg.auto_start_delay
        if everyone and mt.auto_start_at is not None and now >= mt.auto_start_at:
            mt.auto_start_at = None
            out += self._begin_countdown(mt, now)
        if now < mt.next_announce - 1e-9:  # the repeats go out with the announcements
            return out
        for pid, until in mt.kicked.items():
            if now <= until:
                out += self._kicked_reply(mt, pid)
        notice = mt.rematch_notice
        if notice is not None:
            group, pointer, until = notice
            missing = tuple(p for p in group if not mt.is_member(p))
            if now > until or not missing:
                mt.rematch_notice = None
            else:
                out.append(Send(missing, pointer))
        return out

    # ================================================================== member side
    def _on_kick(self, mt: Match, sender: str, msg: m.Kick, now: float) -> list[Action]:
        if msg.peer != self.id_b:
            return []  # about someone else: the roster says it
        self.match = None
        self.kicked_from.add(mt.match_id)
        return [Kicked(mt.match_id, mt.host_name)]

    def _on_kick_list(self, mt: Match, sender: str, msg: m.KickList, now: float) -> list[Action]:
        """The proven host's kick list: kept, so if we host next (failover, rematch) they stay
        out. Kicks only add up (the list is the host's, bounded like its own)."""
        for p in msg.peers:
            pid = p.hex()
            if pid != self.id and pid not in mt.kicked and len(mt.kicked) < m.MAX_KICKS:
                mt.kicked[pid] = NEVER  # no repeats of a Kick we did not send: answers only
        return []

    def _on_rematch(self, mt: Match, sender: str, msg: m.Rematch, now: float) -> list[Action]:
        nxt = msg.next_id.hex()
        if self.rematch_to is not None and self.rematch_to[0] == nxt:
            return self._follow_rematch(now)
        self.rematch_to = (nxt, sender, mt.match_id, int(mt.member))
        return [RematchOffered(mt.match_id, nxt, mt.host_name), *self._follow_rematch(now)]

    def _follow_rematch(self, now: float) -> list[Action]:
        """Join the rematch once its announcement (proven, by the same host) is here, if we
        are still in the old match (leaving it, or joining another, drops the pointer)."""
        want = self.rematch_to
        if want is None:
            return []
        nxt, host, old, role = want
        if self.match is None or self.match.match_id != old:
            self.rematch_to = None
            return []
        listing = self.listings.get(nxt)
        if listing is None or listing.host_id != host or listing.phase != Phase.LOBBY:
            return []
        self.rematch_to = None
        return self.join(nxt, now, role)
