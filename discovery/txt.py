"""The DNS-SD TXT record of a peer (docs/ARCHITECTURE.md section 3), built and parsed strictly.

Keys: v (protocol version), id (peer id), pk (public key, base64), name, gp (game port),
cp (chat port), st (state), mid (match id). Anyone on the LAN can send mDNS records, so a
parsed record is only a hint of where to greet; the peer table trusts signed hellos.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from p2p_race import PROTOCOL_VERSION
from p2p_race.identity import peer_id_of

SERVICE_TYPE = "_p2prace._udp.local."
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class TxtRecord:
    version: int
    peer_id: str
    public_key: bytes
    name: str
    game_port: int
    chat_port: int
    state: str
    match_id: str


def build_txt(public_key: bytes, name: str, game_port: int, chat_port: int, state: str,
              match_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    txt = {
        "v": str(PROTOCOL_VERSION), "id": peer_id_of(public_key),
        "pk": base64.b64encode(public_key).decode("ascii"), "name": name,
        "gp": str(game_port), "cp": str(chat_port), "st": state, "mid": match_id,
    }
    for key, value in (extra or {}).items():
        txt.setdefault(key, value)
    return txt


def _text(props: dict, key: str) -> str | None:
    value = props.get(key, props.get(key.encode()))
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(value)


def _port(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if port <= 65535 else None


def parse_txt(props: dict) -> TxtRecord | None:
    """A validated record, or None when any field is missing, malformed or inconsistent
    (e.g. a public key that does not hash to the advertised id)."""
    version = _text(props, "v")
    peer_id = _text(props, "id")
    pk = _text(props, "pk")
    if version is None or not version.isdigit() or peer_id is None or pk is None:
        return None
    if not _HEX16.match(peer_id):
        return None
    try:
        key = base64.b64decode(pk, validate=True) if len(pk) != 64 else bytes.fromhex(pk)
    except (binascii.Error, ValueError):
        return None
    if len(key) != 32 or peer_id_of(key) != peer_id:
        return None
    gp, cp = _port(_text(props, "gp")), _port(_text(props, "cp") or "0")
    if gp is None or cp is None:
        return None
    name = _text(props, "name") or ""
    state = _text(props, "st") or ""
    match_id = _text(props, "mid") or ""
    if len(name.encode()) > 64 or len(state.encode()) > 16 or len(match_id.encode()) > 40:
        return None
    return TxtRecord(int(version), peer_id, key, name, gp, cp, state, match_id)


def instance_name(name: str, peer_id: str, service_type: str = SERVICE_TYPE) -> str:
    """A unique DNS-SD instance name: the display name (made label-safe) plus the peer id,
    so two players called "alice" never collide and probing never has to rename."""
    clean = "".join(ch if ch.isprintable() and ch not in ".\\" else "_" for ch in name).strip() or "peer"
    raw = clean.encode("utf-8")[:40].decode("utf-8", "ignore")
    return f"{raw}-{peer_id}.{service_type}"
