"""The match's explicit state machine (after h11's `_state.py`): phases, election roles,
and the one table of legal moves. Every change of `Match.phase` or `Match.role` goes
through `move`, which refuses an illegal one (a bug, never a peer's doing: peers' messages
are judged by `p2p_race.match.authz` before any move is attempted).

    phase:  LOBBY -> COUNTDOWN -> RACING -> FINISHED      (FINISHED from any phase: a result
                                                           can reach a late joiner)
    role:   FOLLOWER -> PRE_CANDIDATE -> CANDIDATE -> HOST
            any of them -> FOLLOWER (a proven newer host); PRE_CANDIDATE/CANDIDATE -> PRE_CANDIDATE
            (the round timed out: start again)
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any


class Phase(IntEnum):
    """Wire values of `messages.PHASE_*`."""

    LOBBY = 0
    COUNTDOWN = 1
    RACING = 2
    FINISHED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Membership(IntEnum):
    """Wire values of `messages.ROLE_*`."""

    RACER = 0
    SPECTATOR = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class Role(Enum):
    """This peer's part in the election."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    HOST = "host"


PHASE_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.LOBBY: frozenset({Phase.COUNTDOWN, Phase.FINISHED}),
    Phase.COUNTDOWN: frozenset({Phase.RACING, Phase.FINISHED}),
    Phase.RACING: frozenset({Phase.FINISHED}),
    Phase.FINISHED: frozenset(),
}

ROLE_MOVES: dict[Role, frozenset[Role]] = {
    Role.FOLLOWER: frozenset({Role.PRE_CANDIDATE}),
    Role.PRE_CANDIDATE: frozenset({Role.CANDIDATE, Role.FOLLOWER, Role.PRE_CANDIDATE}),
    Role.CANDIDATE: frozenset({Role.HOST, Role.FOLLOWER, Role.PRE_CANDIDATE}),
    Role.HOST: frozenset({Role.FOLLOWER}),
}


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the core."""


def move(mt: Any, *, phase: Phase | None = None, role: Role | None = None) -> bool:
    """Move `mt` (a `state.Match`) to `phase` and/or `role`. Staying put is allowed and
    returns False; a legal move returns True; an illegal one raises IllegalTransition."""
    moved = False
    if phase is not None and phase != mt.phase:
        if phase not in PHASE_MOVES[mt.phase]:
            raise IllegalTransition(f"phase {mt.phase.name} -> {phase.name}")
        object.__setattr__(mt, "_phase", phase)
        moved = True
    if role is not None and role != mt.role:
        if role not in ROLE_MOVES[mt.role]:
            raise IllegalTransition(f"role {mt.role.name} -> {role.name}")
        object.__setattr__(mt, "_role", role)
        moved = True
    return moved


def advance_phase(mt: Any, at_least: Phase) -> bool:
    """Move forward to `at_least` if behind it (replicated phases only move forward)."""
    if mt.phase >= at_least:
        return False
    if at_least == Phase.RACING and mt.phase == Phase.LOBBY:
        move(mt, phase=Phase.COUNTDOWN)
    return move(mt, phase=at_least)
