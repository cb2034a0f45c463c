"""The per-peer config file (`config.json` in the data dir).

JSON, not pickle: it is read back on every start and may be edited by hand. Unknown keys are
kept so that newer versions' settings survive a round trip through an older one. Every known
value is checked for type and range on load, and a bad one is one line naming the file, the
key and what is allowed (never a traceback later, e.g. from binding port 70000).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from p2p_race.atomic import write_atomic
from p2p_race.errors import UserError
from p2p_race.text import is_clean, name_problem

CONFIG_NAME = "config.json"

DEFAULT_KEYS = {
    "left": ["left", "a"],
    "right": ["right", "d"],
    "accelerate": ["up", "w"],
    "brake": ["down", "s"],
    "pause": ["escape", "p"],
    "chat": ["t"],
}


@dataclass
class Config:
    name: str = ""
    interface: str = ""
    peers: list[str] = field(default_factory=list)
    game_port: int = 0
    chat_port: int = 0
    mongodb_uri: str = ""
    music_volume: float = 0.5
    sound_volume: float = 0.8
    fullscreen: bool = False
    car_color: str = "red"
    chat_stays_online: bool = True  # keep the chat service running after the game quits
    keys: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_KEYS.items()})
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> Config:
        path = Path(data_dir) / CONFIG_NAME
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"config file {path} is not valid JSON ({exc}); fix or delete it") from exc
        if not isinstance(raw, dict):
            raise UserError(f"config file {path} must hold a JSON object")
        known = {f.name for f in fields(cls)} - {"extra"}
        cfg = cls()
        for key, value in raw.items():
            if key in known:
                default = getattr(cfg, key)
                if not _same_kind(default, value):
                    raise UserError(f"config file {path}: '{key}' should be {type(default).__name__}")
                problem = _CHECKS.get(key, lambda v: None)(value)
                if problem:
                    raise UserError(f"config file {path}: '{key}' {problem}; fix it, or delete it "
                                    "to get the default")
                setattr(cfg, key, value)
            else:
                cfg.extra[key] = value
        return cfg

    def save(self, data_dir: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a config."""
        data = asdict(self)
        extra = data.pop("extra")
        data.update(extra)
        write_atomic(Path(data_dir) / CONFIG_NAME, json.dumps(data, indent=2, sort_keys=True).encode(), 0o644)


def _port(v: int) -> str | None:
    return None if 0 <= v <= 65535 else f"must be a port number 0-65535 (0: the default), not {v}"


def _volume(v: float) -> str | None:
    return None if 0.0 <= v <= 1.0 else f"must be between 0.0 and 1.0, not {v}"


def _name(v: str) -> str | None:
    return None if v == "" else name_problem(v)


def _short_text(limit: int) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if len(v) > limit:
            return f"must be at most {limit} characters"
        return None if is_clean(v) else "has control or format characters"
    return check


def _peers(v: list) -> str | None:
    for item in v:
        if not isinstance(item, str) or not item.strip() or len(item) > 300 or not is_clean(item):
            return f"must be a list of HOST or HOST:PORT strings (bad entry: {json.dumps(item)[:60]})"
    return None


def _mongodb_uri(v: str) -> str | None:
    if v == "" or v.startswith(("mongodb://", "mongodb+srv://")):
        return None
    return "must start with mongodb:// or mongodb+srv:// (or be empty: no MongoDB)"


def _keys(v: dict) -> str | None:
    for action, names in v.items():
        if action not in DEFAULT_KEYS:
            return f"names an unknown action {json.dumps(action)[:40]} (known: {', '.join(DEFAULT_KEYS)})"
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and 0 < len(n) <= 32 and is_clean(n) for n in names)):
            return f"'{action}' must be a non-empty list of key names"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "name": _name, "interface": _short_text(64), "peers": _peers,
    "game_port": _port, "chat_port": _port, "mongodb_uri": _mongodb_uri,
    "music_volume": _volume, "sound_volume": _volume, "car_color": _short_text(32), "keys": _keys,
}


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))
