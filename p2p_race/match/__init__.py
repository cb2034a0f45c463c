"""LAN matches: the sans-I/O match core (lobby, election, countdown, racing, result)."""

from p2p_race.match.clock import ClockSync
from p2p_race.match.core import MatchCore
from p2p_race.match.events import Action, Broadcast, Event, RejectReason, Send
from p2p_race.match.machine import Membership, Phase, Role
from p2p_race.match.state import CarReport, MatchConfig, MatchRules, default_plausible

__all__ = ["Action", "Broadcast", "CarReport", "ClockSync", "Event", "MatchConfig", "MatchCore", "MatchRules",
           "Membership", "Phase", "RejectReason", "Role", "Send", "default_plausible"]
