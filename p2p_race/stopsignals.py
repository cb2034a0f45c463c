"""Ctrl-C and SIGTERM as a clean stop for asyncio commands, on every platform.

`loop.add_signal_handler` exists only on POSIX event loops (Windows' Proactor loop raises
NotImplementedError), and only in the main thread. Elsewhere `signal.signal` does the same
job: the handler runs in the main thread and hands the stop over to the loop with
`call_soon_threadsafe`, which also wakes a loop blocked in select or IOCP. Windows has no
SIGTERM from other processes; Ctrl-C and Ctrl-Break (SIGBREAK) reach a console program.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable


def stop_signals() -> tuple[int, ...]:
    """The signals that mean "stop cleanly" on this platform."""
    sigs = [signal.SIGINT, signal.SIGTERM]
    if sys.platform == "win32":
        sigs.append(signal.SIGBREAK)  # Ctrl-Break in a console
    return tuple(sigs)


def on_stop_signals(callback: Callable[[], object],
                    loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
    """Call `callback` on the loop when a stop signal arrives; returns a function that puts
    the previous handlers back. Outside the main thread nothing can be installed (Python
    delivers signals to the main thread only) and the returned function does nothing."""
    loop = loop or asyncio.get_running_loop()
    sigs = stop_signals()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    if sys.platform != "win32":
        try:
            for sig in sigs:
                loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError):
            pass  # a loop without signal support: fall through to signal.signal
        else:
            def remove() -> None:
                for sig in sigs:
                    with contextlib.suppress(Exception):
                        loop.remove_signal_handler(sig)
            return remove

    def handler(signum: int, frame: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(callback)

    previous = {sig: signal.signal(sig, handler) for sig in sigs}

    def restore() -> None:
        for sig, old in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, old)
    return restore
