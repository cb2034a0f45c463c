"""The per-peer config file (`config.json` in the data dir).

JSON, not pickle: it is read back on every start and may be edited by hand. Unknown keys are
kept so that newer versions' settings survive a round trip through an older one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from p2p_race.errors import UserError

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
                setattr(cfg, key, value)
            else:
                cfg.extra[key] = value
        return cfg

    def save(self, data_dir: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a config."""
        data = asdict(self)
        extra = data.pop("extra")
        data.update(extra)
        path = Path(data_dir) / CONFIG_NAME
        fd, tmp = tempfile.mkstemp(dir=str(data_dir), prefix=".config-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))
