"""Files replaced whole: a temporary file created exclusively, then renamed over the target.

The temporary file gets a fresh random name through `tempfile.mkstemp` (O_CREAT | O_EXCL),
so a symlink or file planted at a predictable name (`identity.tmp`) is never followed or
overwritten; it is fsynced before the rename, so a crash leaves the old file or the new one,
never half of one, and it is removed again when anything fails (a full disk leaves nothing
behind).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` (new file mode `mode`); raises OSError, leaving no temp."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode) if hasattr(os, "fchmod") else None
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
