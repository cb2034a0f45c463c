"""Make untrusted text safe to print on a terminal or draw on the screen.

Removes whole escape sequences first (ANSI CSI/OSC/DCS and 8-bit C1 forms), then every
remaining control character (C0, DEL, C1), the bidirectional overrides and isolates that
can reorder what a reader sees ("Trojan Source"), zero-width and other invisible format
characters, and unpaired surrogates. Line breaks and tabs become spaces: a chat line is
one line.
"""

from __future__ import annotations

import re
import unicodedata

# ESC [ ... final byte | ESC ] ... (BEL | ESC \) | ESC P/X/^/_ ... ST | ESC + one char;
# plus the 8-bit C1 introducers CSI (0x9B) and OSC (0x9D).
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_SPACES = re.compile(r"[\t\n\r\v\f\u2028\u2029\x85]")
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _keep(ch: str) -> bool:
    if ch in BIDI:
        return False
    cat = unicodedata.category(ch)
    # Cc control, Cf format (zero-width, bidi, ...), Cs surrogates. Unassigned code points
    # are kept: which ones are unassigned depends on the Unicode version, and the "is it
    # clean" rule must give the same answer on every peer.
    return cat not in ("Cc", "Cf", "Cs")


def sanitize(text: str) -> str:
    """The displayable form of `text`: no escape sequences, no control/format characters."""
    text = _ESCAPES.sub("", text)
    text = _SPACES.sub(" ", text)
    return "".join(ch for ch in text if _keep(ch))


def is_clean(text: str) -> bool:
    """True when `text` is already in displayable form (what honest clients sign)."""
    return sanitize(text) == text
