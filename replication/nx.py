"""An nx-27017 server (MongoDB wire protocol over SQLite) on a loopback port, for the
MongoDB tests and the benchmarks; plus URI helpers. Never binds anything but 127.0.0.1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pymongo

NX = Path(sys.executable).with_name("nx-27017")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(uri: str, db: str) -> str:
    """`uri` with its database path replaced by `db` (keeps hosts and options)."""
    m = re.match(r"^(mongodb(?:\+srv)?://[^/?]+)(?:/([^?]*))?(\?.*)?$", uri)
    if not m:
        raise ValueError("unexpected URI shape")
    return f"{m.group(1)}/{db}{m.group(3) or ''}"


class NxServer:
    """nx-27017 (MongoDB wire protocol over SQLite) bound to 127.0.0.1 on a free port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> NxServer:
        self.proc = subprocess.Popen(
            [str(NX), "--data-dir", str(self.workdir / "dbs"), "--host", "127.0.0.1",
             "-p", str(self.port), "--log-file", str(self.workdir / "nx.log"),
             "--pid-file", str(self.workdir / "nx.pid")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20.0
        pause = threading.Event()
        while not self._answers():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nx-27017 did not answer within 20 s")
            pause.wait(0.05)
        return self

    def uri(self, db: str = "p2p_test") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{db}?directConnection=true"

    def client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri(), serverSelectionTimeoutMS=3000)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nx-27017 exited with {self.proc.returncode}")
        c = pymongo.MongoClient(self.uri(), serverSelectionTimeoutMS=200, connectTimeoutMS=200)
        try:
            c.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
