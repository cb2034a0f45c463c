"""LAN matches: the sans-I/O match core (lobby, election, countdown, racing, result)."""

from p2p_race.match.clock import ClockSync
from p2p_race.match.core import (
    Action,
    Broadcast,
    CarReport,
    Event,
    MatchConfig,
    MatchCore,
    MatchRules,
    Send,
    default_plausible,
)

__all__ = ["Action", "Broadcast", "CarReport", "ClockSync", "Event", "MatchConfig", "MatchCore", "MatchRules",
           "Send", "default_plausible"]
