"""Who may send which match message, in which phase and term: the one place that decides.

The wire proves *who* sent a datagram (Ed25519); this module answers "may this sender say
this, now". `MatchCore.on_message` asks `authorize` before any handler runs, so a handler
only ever sees messages that are allowed. Threat model: docs/ARCHITECTURE.md.

| message         | sender                          | our phase              | term                       |
| --------------- | ------------------------------- | ---------------------- | -------------------------- |
| Announce        | the proven host (proof inside)  | (lobby listing)        | 1: creator; >1: vote proof |
| Join            | anyone (the host admits)        | any                    | -                          |
| JoinRefused     | the host we asked               | before joining         | -                          |
| Leave           | a member                        | any                    | -                          |
| Ready           | a racer, to the host            | lobby                  | -                          |
| VoteRequest     | a voter                         | any                    | <= ours + max jump         |
| Vote            | a voter (signed if granted)     | any                    | <= ours + max jump         |
| HostProof       | the host the proof proves       | any                    | verified, <= ours + jump   |
| Heartbeat       | the proven host of the term     | any                    | ours, or a proven newer    |
| Roster          | the proven host of the term     | any                    | ours, or a proven newer (1)|
| CountdownStart  | the proven host of the term     | lobby, countdown       | ours, or a proven newer    |
| Ping            | a member, to the host           | any                    | -                          |
| Pong            | the host we pinged              | any                    | -                          |
| RacerState      | a racer of the roster           | countdown, racing      | -                          |
| FinalReport     | a racer of the roster           | countdown .. finished  | -                          |
| Result          | a member; signed by the host    | any                    | its term's proven host (1) |
| Kick            | the proven host of the term     | lobby                  | ours, or a proven newer    |
| KickList        | the proven host of the term     | any                    | ours, or a proven newer    |
| RosterSeal      | the proven host of the term     | any                    | ours, or a proven newer    |
| SealRelay       | the proven host of the term     | any                    | ours, or a proven newer (2)|
| Rematch         | the proven host of the term     | racing, finished       | ours, or a proven newer    |
| InputRequest    | a member, to a racer            | racing, finished       | -                          |
| InputFill       | a racer of the roster, asked    | racing, finished       | -                          |

(1) and what it says of a racer must agree with what that racer told us (below).
(2) it relays an older term's seal: kept only when it verifies against that term's host.

Proven host: term 1 is the match creator (the match id is bound to its key, see
`p2p_race.match.proof`); a term t >= 2 is believed only with a quorum of signed votes of an
electorate below. A term more than `MatchConfig.max_term_jump` above ours, or beyond the
U32 wire field, is ignored. Older terms are dropped quietly (an old host catching up).

Electorates of an election for term t (`quorum_electorates`), replacing the host of the
newest proven term below t:
- strict, always: the racers of the replicated roster that are connected and not abandoned,
  the replaced host among them (its absence is a vote not given). A quorum is more than
  half, so in a 2-racer match the other racer's own vote never suffices.
- lenient, only for a peer that has not heard the replaced host for twice its election
  timeout (a `Leave` counts as gone at once): the same racers minus the replaced host; or,
  when no racer qualifies in a race under way, the spectators (so spectators, who come and
  go, never outvote racers); or, while racing, its voters we heard from lately (our roster
  may be stale). The host itself, and every member still hearing it, refuses such a proof.
  So when the host of a 2-racer match really dies the survivor finishes alone, believed by
  each peer that checks the host's silence with its own ears.
At most 16 voters (a quorum of signed votes fits one datagram). Membership itself is the
host's decision (it admits joins within its limits): a flood of fresh identities can join
only as far as those limits let it.

Abandoned is checked, not asserted (`ResultDuty._abandon_refuted`): a Roster status or a
Result entry "abandoned" is refused by a member that heard that racer within
`disconnect_after` (a racer judges itself by whether it was out of touch that long), or that
holds a state of it more than `disconnect_after` of ticks past the claimed crash; a Result
that gives a racer less than the final report it signed, or a crash before a state it sent
us, is refused too. A racer we saw diverge may stand abandoned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from p2p_race.match import messages as m
from p2p_race.match.events import RejectReason
from p2p_race.match.machine import Phase
from p2p_race.match.proof import MAX_ELECTORATE, MAX_TERM, TermProof, Verify, verify_proof


class Who(Enum):
    ANYONE = "anyone"
    MEMBER = "member"
    RACER = "racer"
    VOTER = "voter"
    HOST = "host"  # the proven host of the message's term


class Drop(Enum):
    """Not an attack, just stale: ignored without counting a rejection."""

    STALE = "older term"


@dataclass(frozen=True, slots=True)
class Rule:
    who: Who
    phases: frozenset[Phase] | None = None  # None: any phase
    termed: bool = False  # carries a term that must be judged


_ANY = None
_PRE = frozenset({Phase.LOBBY, Phase.COUNTDOWN})
_RACE = frozenset({Phase.COUNTDOWN, Phase.RACING})

RULES: dict[type, Rule] = {
    m.Join: Rule(Who.ANYONE),
    m.JoinRefused: Rule(Who.HOST),
    m.Leave: Rule(Who.MEMBER),
    m.Ready: Rule(Who.RACER, frozenset({Phase.LOBBY})),
    m.VoteRequest: Rule(Who.VOTER, termed=True),
    m.Vote: Rule(Who.VOTER, termed=True),
    m.HostProof: Rule(Who.ANYONE),  # self-authorizing: the proof is checked by the core
    m.Heartbeat: Rule(Who.HOST, termed=True),
    m.Roster: Rule(Who.HOST, termed=True),
    m.CountdownStart: Rule(Who.HOST, _PRE, termed=True),
    m.Ping: Rule(Who.MEMBER),
    m.Pong: Rule(Who.HOST),
    m.RacerState: Rule(Who.RACER, _RACE),
    m.FinalReport: Rule(Who.RACER, _RACE | {Phase.FINISHED}),  # late ones complete our record
    m.Result: Rule(Who.MEMBER),
    m.Kick: Rule(Who.HOST, frozenset({Phase.LOBBY}), termed=True),
    m.KickList: Rule(Who.HOST, termed=True),
    m.RosterSeal: Rule(Who.HOST, termed=True),
    m.SealRelay: Rule(Who.HOST, termed=True),
    m.Rematch: Rule(Who.HOST, frozenset({Phase.RACING, Phase.FINISHED}), termed=True),  # (result may lag)
    m.InputRequest: Rule(Who.MEMBER, frozenset({Phase.RACING, Phase.FINISHED})),
    m.InputFill: Rule(Who.RACER, frozenset({Phase.RACING, Phase.FINISHED})),
}

# Silently ignored outside their phases (late or early honest traffic, not an attack).
_QUIET_PHASES = (m.RacerState, m.FinalReport, m.Ready, m.CountdownStart, m.InputRequest, m.InputFill)


def electorate(mt: Any, failed: str | None, live: Callable[[str], bool] | None = None) -> list[str]:
    """The *lenient* electorate of an election replacing `failed` (the failed host left out;
    counted only by a peer that itself no longer hears it, see `quorum_electorates`); with
    `live`, only the voters it accepts (those we heard from lately)."""
    ok = live or (lambda _pid: True)
    voters = sorted(r.peer_id for r in mt.racers.values()
                    if r.connected and r.status != m.ST_ABANDONED and r.peer_id != failed and ok(r.peer_id))
    if not voters and mt.phase >= Phase.RACING:  # every racer gone: the watchers finish it
        # (all of them: watchers do not talk to each other, so not hearing one proves nothing)
        voters = sorted(s for s in mt.spectators if s != failed and s not in mt.racers)
    return voters[:MAX_ELECTORATE]


def strict_electorate(mt: Any) -> list[str]:
    """The roster's voters with the host being replaced among them: its absence is a vote
    not given, so a quorum is more than half of the roster's racers, whoever is silent."""
    return sorted(r.peer_id for r in mt.racers.values()
                  if r.connected and r.status != m.ST_ABANDONED)[:MAX_ELECTORATE]


def live_electorate(mt: Any, term: int, me: str, now: float, silent_after: float) -> list[str]:
    """The lenient electorate counting only the voters *we* heard from lately (we always
    count): a member whose roster missed the last update still recognises a fair election.
    Only while racing, when every racer streams to every member, so silence means gone (in
    the lobby and after the finish members are quiet to each other, and an attacker would be
    all we hear)."""
    if mt.phase != Phase.RACING:
        return []
    heard = {pid: r.last_heard for pid, r in mt.racers.items()} | dict(mt.spectators)
    return electorate(mt, replaced_host(mt, term),
                      lambda v: v == me or now - heard.get(v, float("-inf")) <= silent_after)


def replaced_host(mt: Any, term: int) -> str | None:
    """The host an election for `term` replaces: the host of the newest proven term below
    it. Every member derives it from proofs alone, so candidate and checkers agree."""
    below = [t for t in mt.proofs if t < term]
    return mt.proofs[max(below)].host if below else None


def hears(mt: Any, who: str | None, me: str, now: float, within: float) -> bool:
    """Whether we heard `who` (any signed word of it, or its host duty) within `within`
    seconds. We always hear ourselves; one that said goodbye (`Leave`) is gone at once."""
    if who is None or who in mt.left:
        return False
    if who == me:
        return True
    r = mt.racers.get(who)
    heard = max(r.last_heard if r is not None else float("-inf"), mt.spectators.get(who, float("-inf")),
                mt.last_host_at if mt.host == who else float("-inf"))
    return now - heard < within


def quorum_electorates(mt: Any, term: int, me: str, now: float, silent_after: float,
                       gone_after: float, live: bool = True) -> list[list[str]]:
    """The electorates a quorum of which makes a host of `term` for us, strictest first:
    always the strict one (more than half of the roster, the replaced host counted); the
    lenient ones (the replaced host left out) only when we ourselves have not heard the
    replaced host for `gone_after` (twice the election timeout). So a member cannot crown
    itself in a 2-racer match (1 vote of 2), and a survivor whose host really died finishes
    alone, believed by every peer that also stopped hearing that host, by none that still
    hears it (the host itself included). `live=False`: without the voters-heard-lately one
    (a candidate counts its votes against its roster, never against whom it happens to hear)."""
    out = [strict_electorate(mt)]
    if not hears(mt, replaced_host(mt, term), me, now, gone_after):
        out.append(election_electorate(mt, term))
        heard = live_electorate(mt, term, me, now, silent_after) if live else []
        if heard:
            out.append(heard)
    return out


def election_electorate(mt: Any, term: int) -> list[str]:
    return electorate(mt, replaced_host(mt, term))


def check_term_bounds(mt: Any, term: int, max_jump: int) -> RejectReason | Drop | None:
    if term > MAX_TERM or term > mt.term + max_jump:
        return RejectReason.TERM_TOO_FAR
    return None


def authorize(mt: Any, me: str, sender: str, msg: Any, max_jump: int) -> RejectReason | Drop | None:
    """None when `sender` may send `msg` to us now; else why not."""
    rule = RULES.get(type(msg))
    if rule is None:
        return RejectReason.NOT_A_MEMBER
    if rule.phases is not None and mt.phase not in rule.phases:
        return Drop.STALE if type(msg) in _QUIET_PHASES else RejectReason.NOT_A_MEMBER
    if rule.termed:
        far = check_term_bounds(mt, msg.term, max_jump)
        if far is not None:
            return far
    who = rule.who
    if who is Who.ANYONE:
        return None
    if who is Who.HOST:
        return _host_check(mt, sender, getattr(msg, "term", None))
    if not mt.is_member(sender):
        if isinstance(msg, (m.RacerState, m.FinalReport)):
            return RejectReason.NOT_A_RACER if isinstance(msg, m.RacerState) else RejectReason.FINAL_NOT_A_RACER
        return RejectReason.NOT_A_MEMBER
    if who is Who.RACER and sender not in mt.racers:
        return RejectReason.NOT_A_RACER if isinstance(msg, m.RacerState) else RejectReason.FINAL_NOT_A_RACER
    if who is Who.VOTER and not (sender in mt.racers or sender in mt.spectators):
        return RejectReason.NOT_A_MEMBER
    return None


def _host_check(mt: Any, sender: str, term: int | None) -> RejectReason | Drop | None:
    if term is None:  # JoinRefused, Pong: from the host we know
        return None if sender == mt.host else RejectReason.NOT_THE_HOST
    if term < mt.term:
        return Drop.STALE
    proof = mt.proofs.get(term)
    if proof is not None:
        return None if proof.host == sender else RejectReason.NOT_THE_HOST
    if term == mt.term and sender == mt.host and not mt.joined:
        return None  # joining: the host the lobby's proven announcement named
    return RejectReason.UNPROVEN_TERM if term > mt.term else RejectReason.NOT_THE_HOST


def check_proof(mt: Any, proof: TermProof, verify: Verify, max_jump: int, me: str, now: float,
                silent_after: float, gone_after: float) -> RejectReason | Drop | None:
    """Whether a received proof makes its host the host of its term for us: a quorum of one of
    `quorum_electorates` (the strict one, or, once we no longer hear the replaced host, the
    lenient one of our roster or of its voters we heard from lately: our roster may be stale,
    and a voter we did not hear from cannot be counted on either side)."""
    if proof.match_id != mt.mid:
        return RejectReason.BAD_PROOF
    if proof.term < mt.term:
        return Drop.STALE
    far = check_term_bounds(mt, proof.term, max_jump)
    if far is not None:
        return far
    known = mt.proofs.get(proof.term)
    if known is not None:
        return None if known == proof else RejectReason.NOT_THE_HOST
    if proof.creator_key != mt.creator_key or proof.nonce != mt.nonce:
        return RejectReason.NOT_THE_CREATOR
    if proof.term == 1:
        return None if verify_proof(proof, verify) is None else RejectReason.BAD_PROOF
    for voters in quorum_electorates(mt, proof.term, me, now, silent_after, gone_after):
        if verify_proof(proof, verify, voters) is None:
            return None
    return RejectReason.BAD_PROOF


def check_listing(proof: TermProof, sender: str, verify: Verify) -> RejectReason | None:
    """A lobby announcement: its proof must verify and name its sender as the host. A
    newcomer cannot know the electorate, so the core also keeps an existing listing's host
    until that host goes silent."""
    if proof.host != sender:
        return RejectReason.NOT_THE_HOST
    problem = verify_proof(proof, verify)
    if problem is None:
        return None
    return RejectReason.NOT_THE_CREATOR if proof.term == 1 else RejectReason.BAD_PROOF
