"""Where a peer keeps its files: identity, config, scores, chat log.

One data dir is one peer. `--data-dir` wins over `P2P_RACE_HOME`, which wins over the
platform's user data dir, so several peers can run side by side on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from p2p_race.errors import UserError

ENV_HOME = "P2P_RACE_HOME"


def resolve_data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Return the data dir (created with mode 0700 when missing)."""
    if cli_value:
        path = Path(cli_value)
    elif os.environ.get(ENV_HOME):
        path = Path(os.environ[ENV_HOME])
    else:
        path = Path(platformdirs.user_data_dir("p2p-race", appauthor=False))
    path = path.expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UserError(f"cannot create data dir {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise UserError(f"data dir {path} is not writable; pick another with --data-dir")
    return path
