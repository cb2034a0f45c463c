"""A small UDP relay that adds loss, delay, jitter, duplication and reordering.

The kernel here has no netem, so impairments come from this relay placed between two
endpoints: clients send to the relay's port, it forwards to `target` (and replies back to
the last client address). Deterministic for a given seed and packet order.
"""

from __future__ import annotations

import heapq
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class Impairment:
    loss: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0  # seconds, base one-way
    jitter: float = 0.0  # seconds, uniform 0..jitter added (reorders when > packet gap)


class UdpRelay:
    def __init__(self, target: tuple[str, int], impair: Impairment, seed: int = 0,
                 listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.target = target
        self.impair = impair
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(listen)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.received = 0
        self.forwarded = 0
        self.dropped = 0
        self._client: tuple[str, int] | None = None
        self._queue: list[tuple[float, int, bytes, tuple[str, int]]] = []
        self._n = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="udp-relay", daemon=True)

    def start(self) -> UdpRelay:
        self._thread.start()
        return self

    def idle(self) -> bool:
        """True when nothing is waiting to be forwarded."""
        return not self._queue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> UdpRelay:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _schedule(self, data: bytes, dest: tuple[str, int]) -> None:
        imp = self.impair
        if self.rng.random() < imp.loss:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < imp.duplicate else 1
        for _ in range(copies):
            due = time.monotonic() + imp.delay + self.rng.random() * imp.jitter
            self._n += 1
            heapq.heappush(self._queue, (due, self._n, data, dest))

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            timeout = 0.05
            if self._queue:
                timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
            for _ in sel.select(timeout):
                while True:
                    try:
                        data, addr = self.sock.recvfrom(65535)
                    except BlockingIOError:
                        break
                    self.received += 1
                    if addr == self.target:
                        if self._client:
                            self._schedule(data, self._client)
                    else:
                        self._client = addr
                        self._schedule(data, self.target)
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, data, dest = heapq.heappop(self._queue)
                try:
                    self.sock.sendto(data, dest)
                    self.forwarded += 1
                except OSError:
                    self.dropped += 1
        sel.close()
