"""Display names as a reader should see them: a name is only a label, the key identifies.

Reads the data dir's trust-on-first-use pins (`pins.jsonl`, written by discovery): a line
whose author uses a pinned name with a different key is labelled, never shown as the
pinned player. Read-only here; the file is re-read at most every few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

from chat.message import KIND_SYSTEM, ChatMessage
from chat.sanitize import sanitize
from p2p_race.errors import UserError
from p2p_race.identity import PIN_LOG, PinStore

RELOAD = 5.0


class NameLabels:
    def __init__(self, data_dir: Path | str | None) -> None:
        self.data_dir = Path(data_dir) if data_dir else None
        self._pins: PinStore | None = None
        self._loaded = -1e9
        self._stamp: tuple | None = None

    def _store(self) -> PinStore | None:
        if self.data_dir is None:
            return None
        now = time.monotonic()
        if now - self._loaded > RELOAD:
            self._loaded = now
            try:
                st = (self.data_dir / PIN_LOG).stat()
                stamp: tuple | None = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp is None or stamp != self._stamp:  # re-read only a file that changed
                self._stamp = stamp
                try:
                    self._pins = PinStore(self.data_dir)
                except (UserError, OSError):
                    self._pins = None
        return self._pins

    def label(self, msg: ChatMessage) -> str:
        name = sanitize(msg.name)
        pins = self._store()
        pinned = pins.pinned(msg.name) if pins is not None else None
        if pinned is not None and pinned != msg.author_key:
            return f"{name} [KEY CHANGED {msg.author_id[:6]}]"
        return name


def display_body(msg: ChatMessage, labels: NameLabels | None = None) -> str:
    """A message as readers see it, without time stamp or channel: `* notice` for system
    messages, `name: text` otherwise; sanitized, with the key-changed label applied."""
    if msg.kind == KIND_SYSTEM:
        return f"* {sanitize(msg.text)}"
    name = labels.label(msg) if labels is not None else sanitize(msg.name)
    return f"{name}: {sanitize(msg.text)}"
