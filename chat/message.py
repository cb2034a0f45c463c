"""A chat message: signed by its author, named by the hash of what was signed.

The signed content is a fixed binary encoding (p2p_race.schema) of the author's public
key, display name, channel, kind, Lamport clock, the author's wall time and the text, with
a domain prefix. id = SHA-256 of that content (16 bytes, hex). Ed25519 signatures are
deterministic, so re-sending the same message after a fallback yields the same id and every
service deduplicates it. Forging an author means forging a signature.

On the wire between services and clients a message travels as a JSON object (`to_wire`);
`from_wire` checks every field's type and bound before anything else looks at it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

from p2p_race.identity import Identity, Verifier, peer_id_of
from p2p_race.schema import U8, U64, EncodeError, Fixed, Str, encode_fields
from p2p_race.text import MAX_NAME_BYTES, clean_name, is_clean, sanitize, valid_name

DOMAIN = b"p2p-race chat v1\x00"
MAX_TEXT_CHARS = 500
MAX_NAME_CHARS = MAX_NAME_BYTES  # the name rule is p2p_race.text's (bytes of UTF-8)
MAX_CHANNEL_CHARS = 72
MAX_CLOCK = 1 << 62
KIND_TEXT = 0
KIND_SYSTEM = 1
KIND_NAMES = {KIND_TEXT: "text", KIND_SYSTEM: "system"}
LOBBY = "lobby"
_CHANNEL = re.compile(r"^(lobby|match:[A-Za-z0-9_.\-]{1,64})$")


class InvalidMessage(ValueError):
    """The message breaks a rule (size, channel, text, signature): reject it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def valid_channel(channel: str) -> bool:
    return isinstance(channel, str) and bool(_CHANNEL.match(channel))


def match_channel(match_id: str) -> str:
    """The channel of a match (its racers and spectators)."""
    return f"match:{match_id}"


@dataclass(frozen=True, slots=True)
class _Signed:
    """The signed fields, in signing order."""

    author_key: Annotated[bytes, Fixed(32)]
    name: Annotated[str, Str(128)]  # the signed format's bound (names are checked tighter)
    channel: Annotated[str, Str(MAX_CHANNEL_CHARS)]
    kind: Annotated[int, U8]
    clock: Annotated[int, U64]
    t_ms: Annotated[int, U64]
    text: Annotated[str, Str(MAX_TEXT_CHARS * 4)]


@dataclass(frozen=True)
class ChatMessage:
    author_key: bytes
    name: str
    channel: str
    kind: int
    clock: int
    t_ms: int
    text: str
    signature: bytes
    id: str = field(default="", compare=False)

    # -- derived ------------------------------------------------------------------------
    @cached_property
    def author_id(self) -> str:
        return peer_id_of(self.author_key)

    @cached_property
    def key(self) -> tuple[int, str, str]:
        """Display order: Lamport clock, then author id, then id (a total, stable order)."""
        return (self.clock, self.author_id, self.id)

    @property
    def t(self) -> float:
        return self.t_ms / 1000.0

    # -- making -------------------------------------------------------------------------
    @classmethod
    def create(
        cls, identity: Identity, *, name: str, channel: str, text: str, clock: int,
        t: float, kind: int = KIND_TEXT,
    ) -> ChatMessage:
        """Sign a new message. Text and name are sanitized first; rules are checked."""
        text = sanitize(text).strip()
        name = clean_name(name, f"peer-{identity.peer_id[:6]}")
        unsigned = cls(identity.public_key, name, channel, kind, clock, int(t * 1000), text, b"")
        unsigned.check_rules()
        content = unsigned.content()
        return cls(identity.public_key, name, channel, kind, clock, int(t * 1000), text,
                   identity.sign(content), content_id(content))

    def content(self) -> bytes:
        try:
            return DOMAIN + encode_fields(_Signed(self.author_key, self.name, self.channel,
                                                  self.kind, self.clock, self.t_ms, self.text))
        except EncodeError as exc:
            raise InvalidMessage("malformed", str(exc)) from exc

    # -- checking -----------------------------------------------------------------------
    def check_rules(self) -> None:
        """Raise InvalidMessage unless the content obeys the rules (not the signature)."""
        if not self.text:
            raise InvalidMessage("empty")
        if len(self.text) > MAX_TEXT_CHARS:
            raise InvalidMessage("too_long", f"{len(self.text)} > {MAX_TEXT_CHARS} characters")
        if not is_clean(self.text) or self.text != self.text.strip():
            raise InvalidMessage("unclean_text")
        if not valid_name(self.name):
            raise InvalidMessage("bad_name")
        if not valid_channel(self.channel):
            raise InvalidMessage("bad_channel")
        if self.kind not in KIND_NAMES:
            raise InvalidMessage("bad_kind")
        if not 0 < self.clock < MAX_CLOCK:
            raise InvalidMessage("bad_clock")

    def verified(self, verifier: Verifier) -> ChatMessage:
        """This message with its id set, after checking rules and signature."""
        self.check_rules()
        content = self.content()
        if not verifier.verify(self.author_key, self.signature, content):
            raise InvalidMessage("bad_signature")
        return ChatMessage(self.author_key, self.name, self.channel, self.kind, self.clock,
                           self.t_ms, self.text, self.signature, content_id(content))

    # -- JSON ---------------------------------------------------------------------------
    def to_wire(self) -> dict[str, Any]:
        return {"k": self.author_key.hex(), "n": self.name, "c": self.channel, "kind": self.kind,
                "clock": self.clock, "t": self.t_ms, "x": self.text, "s": self.signature.hex()}

    @classmethod
    def from_wire(cls, d: Any) -> ChatMessage:
        """Parse (not verify) a wire object; raises InvalidMessage on any bad field."""
        if not isinstance(d, dict):
            raise InvalidMessage("malformed", "not an object")
        try:
            key = _hex(d["k"], 32)
            sig = _hex(d["s"], 64)
            name, channel, text = d["n"], d["c"], d["x"]
            kind, clock, t_ms = d["kind"], d["clock"], d["t"]
        except KeyError as exc:
            raise InvalidMessage("malformed", f"missing {exc}") from exc
        for v in (name, channel, text):
            if not isinstance(v, str) or len(v) > MAX_TEXT_CHARS * 2:
                raise InvalidMessage("malformed", "string field")
        for v in (kind, clock, t_ms):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_CLOCK:
                raise InvalidMessage("malformed", "number field")
        return cls(key, name, channel, kind, clock, t_ms, text, sig)

    def to_json(self) -> dict[str, Any]:
        """The docs/ARCHITECTURE.md section 10 shape (keys may be added, never renamed)."""
        return {"id": self.id, "author": sanitize(self.name), "author_id": self.author_id,
                "channel": self.channel, "text": sanitize(self.text), "t": self.t,
                "kind": KIND_NAMES.get(self.kind, "text"), "clock": self.clock}


def content_id(content: bytes) -> str:
    """The message id: the first 16 bytes of SHA-256 of the signed content, hex."""
    return hashlib.sha256(content).digest()[:16].hex()


def _hex(v: Any, n: int) -> bytes:
    if not isinstance(v, str) or len(v) != 2 * n:
        raise InvalidMessage("malformed", "hex field")
    try:
        return bytes.fromhex(v)
    except ValueError as exc:
        raise InvalidMessage("malformed", "hex field") from exc
