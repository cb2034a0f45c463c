"""Make untrusted text safe to print or draw: the rules live in p2p_race.text (one set for
every component); this module keeps the chat-side import path."""

from p2p_race.text import BIDI, is_clean, sanitize

__all__ = ["BIDI", "is_clean", "sanitize"]
