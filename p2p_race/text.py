"""The one set of name and text rules for every component (chat, discovery, score records,
pins, and everything printed to a terminal).

Text from other machines is made safe before anyone sees it: `sanitize` removes whole
escape sequences first (ANSI CSI/OSC/DCS and 8-bit C1 forms), then every remaining control
character (C0, DEL, C1), the bidirectional overrides and isolates that can reorder what a
reader sees ("Trojan Source"), zero-width and other invisible format characters, and
unpaired surrogates. Line breaks and tabs become spaces: a line is one line.

A name (display name of a player, in hellos, chat lines, score records and pins) is 1 to
MAX_NAME_BYTES bytes of UTF-8, already clean (what `sanitize` leaves unchanged), and not
blank. Receivers refuse names that break the rule; senders make theirs with `clean_name`.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 64

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
# Letters (category Lo) that render as nothing: "alice" + one of them looks like "alice"
# but is another name, with another pin, so no KEY CHANGED warning. Refused in names.
BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


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
    """True when `text` is already in displayable form (what honest senders sign)."""
    if text.isascii():  # fast path, same answer: ASCII is clean exactly when printable
        return text.isprintable()
    return sanitize(text) == text


def name_problem(name: object) -> str | None:
    """Why `name` breaks the name rule, or None when it is a valid name."""
    if not isinstance(name, str) or not name.strip():
        return "must be a non-empty string"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes of UTF-8"
    if not is_clean(name):
        return "has control, format or bidirectional-override characters"
    if not BLANK_FILLERS.isdisjoint(name):
        return "has a blank filler character (it would look like another name)"
    return None


def valid_name(name: object) -> bool:
    return name_problem(name) is None


def check_name(name: object, what: str = "name") -> str:
    """`name` if valid, else ValueError with a one-line reason."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"{what} {problem}")
    return name  # type: ignore[return-value]


def clean_name(name: str, fallback: str = "player") -> str:
    """A valid name made from user input: sanitized, trimmed, cut to MAX_NAME_BYTES."""
    out = "".join(ch for ch in sanitize(name) if ch not in BLANK_FILLERS).strip()
    while len(out.encode("utf-8")) > MAX_NAME_BYTES:
        out = out[:-1].rstrip()
    return out or fallback


def terminal_safe(text: object) -> str:
    """What may be printed to a terminal: any value, as sanitized text."""
    return sanitize(str(text))
