"""Chat with real processes on real sockets (loopback): services meshing, the CLI, fallback
after a SIGKILL, late joiners, the supervisor, and hostile input over TCP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chat.client import ChatClient, query_service, send_notice
from chat.framing import encode_frame
from chat.message import ChatMessage
from chat.supervisor import Supervisor, ensure_service, running_info
from p2p_race.identity import Identity, load_or_create
from tests.support.proc import LineReader, cli_env, p2p_race_cmd, spawn, wait_until

pytestmark = pytest.mark.lan

TIMEOUT = 20


class Svc:
    """A chat service process (`p2p-race chat --serve`) on loopback."""

    def __init__(self, data_dir: Path, name: str, *peers: int, host=None, bind: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(exist_ok=True)
        args = ["chat", "--serve", "--port", str(port), "--no-discovery", "--name", name, "--host", bind]
        for p in peers:
            args += ["--peer", f"127.0.0.1:{p}"] if isinstance(p, int) else ["--peer", p]
        self.proc, self.out = spawn(p2p_race_cmd(*args), cli_env(data_dir), host=host)
        line = self.out.wait_for(lambda s: '"ready"' in s, TIMEOUT, what=f"{name} ready")
        self.port = json.loads(line)["port"]
        self.addr = ("127.0.0.1", self.port)

    def stats(self) -> dict:
        return query_service(self.addr, {"t": "stats"})

    def history(self) -> list[ChatMessage]:
        ans = query_service(self.addr, {"t": "hist"})
        return [ChatMessage.from_wire(m).verified(_VERIFIER) for m in ans["m"]]

    def texts(self) -> list[str]:
        return [m.text for m in self.history() if m.kind == 0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


from chat.history import History  # noqa: E402

_VERIFIER = History().verifier


@pytest.fixture
def services(tmp_path: Path):
    started: list[Svc] = []

    def start(name: str, *peers: int) -> Svc:
        svc = Svc(tmp_path / name, name, *peers)
        started.append(svc)
        return svc

    yield start
    for s in started:
        s.stop()


def _mesh(*svcs: Svc) -> None:
    wait_until(lambda: all(len(s.stats()["links"]) >= len(svcs) - 1 for s in svcs), TIMEOUT,
               what="full mesh")


def _same_logs(*svcs: Svc, n: int | None = None) -> list[str]:
    def check():
        logs = [tuple(m.id for m in s.history()) for s in svcs]
        ok = len(set(logs)) == 1 and (n is None or len(logs[0]) >= n)
        return logs[0] if ok else None

    return list(wait_until(check, TIMEOUT, what="identical logs"))


def test_three_peers_chat_with_the_cli(services) -> None:
    a = services("a")
    b = services("b", a.port)
    c = services("c", b.port)  # knows only b; learns a through peer sharing
    _mesh(a, b, c)
    for svc, text in ((a, "hi from a"), (b, "hi from b"), (c, "hi from c \x1b[31mred\x1b[0m")):
        res = subprocess.run(p2p_race_cmd("chat", "--say", text, "--no-start", "--json"),
                             env=cli_env(svc.data_dir), capture_output=True, text=True, timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["text"] == text.replace("\x1b[31m", "").replace("\x1b[0m", "")
    ids = _same_logs(a, b, c, n=6)
    assert len(ids) == 6  # 3 "joined" notices + 3 lines
    res = subprocess.run(p2p_race_cmd("chat", "--status", "--json"), env=cli_env(b.data_dir),
                         capture_output=True, text=True, timeout=TIMEOUT)
    status = json.loads(res.stdout)
    assert res.returncode == 0 and status["running"] and status["port"] == b.port
    assert status["count"] == 6 and len(status["links"]) == 2
    assert sorted(a.texts()) == ["hi from a", "hi from b", "hi from c red"]
    # --history --json: docs/ARCHITECTURE.md section 10 shape, display order, same on every peer
    outs = []
    for svc in (a, b, c):
        res = subprocess.run(p2p_race_cmd("chat", "--history", "--json", "--no-start"),
                             env=cli_env(svc.data_dir), capture_output=True, text=True, timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        assert all({"id", "author", "author_id", "channel", "text", "t"} <= set(r) for r in rows)
        outs.append([r["id"] for r in rows])
    assert outs[0] == outs[1] == outs[2] == ids
    # a second service for the same data dir attaches instead of starting twice
    res = subprocess.run([sys.executable, "-m", "chat.service", "--port", "0", "--no-discovery"],
                         env=cli_env(a.data_dir), capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {
        "event": "already_running", "pid": a.proc.pid, "port": a.port}
    # with its service stopped, --history still prints what this peer stored on disk
    a.stop()
    res = subprocess.run(p2p_race_cmd("chat", "--history", "--json", "--no-start", "--timeout", "0.5"),
                         env=cli_env(a.data_dir), capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0 and "stored on disk" in res.stderr
    on_disk = [r["id"] for r in json.loads(res.stdout)]
    assert set(ids) <= set(on_disk) and len(on_disk) == len(ids) + 1  # + its "left" notice


def test_sigkill_service_while_client_sends_falls_back_exactly_once(services) -> None:
    a = services("a")
    b = services("b", a.port)
    c = services("c", a.port)
    _mesh(a, b, c)
    client = subprocess.Popen(p2p_race_cmd("chat", "--no-start", "--json"), env=cli_env(a.data_dir),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    out = LineReader(client.stdout)
    try:
        wait_until(lambda: a.stats()["clients"] >= 1, TIMEOUT, what="client connected")
        # 8 lines typed at once: 5 go out now, the rest as the per-author rate allows
        # (5 per 5 s window), so the kill lands in the middle of the sending
        texts = [f"line {i:02d}" for i in range(8)]
        client.stdin.write("".join(t + "\n" for t in texts))
        client.stdin.flush()
        out.wait_for(lambda s: "line 02" in s, TIMEOUT, what="line 02 sent")
        a.kill()  # the local service dies while the client is sending
        # the client fell back to b or c: every line arrives, once, same order everywhere
        def delivered():
            got = [b.texts(), c.texts()]
            return got if all(sorted(g) == texts for g in got) else None

        got = wait_until(delivered, TIMEOUT, what="all 8 lines on b and c")
        assert got[0] == got[1]
        ids = _same_logs(b, c)
        assert len(ids) == len(set(ids))
        client.stdin.write("/quit\n")
        client.stdin.flush()
        assert client.wait(TIMEOUT) == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    # the killed peer restarts with its disk log and pulls what it missed
    a2 = services("a", b.port)
    _mesh(a2, b, c)
    after = _same_logs(a2, b, c, n=len(ids) + 1)  # + its new "joined" notice
    assert set(ids) <= set(after) and len(after) == len(ids) + 1
    assert a2.texts() == b.texts() == got[0]


def test_hung_service_client_falls_back_after_ack_timeout(services) -> None:
    """A local service that hangs (SIGSTOP: its sockets stay open, nothing answers) is left
    after the ack timeout; the line goes through another peer's service, once."""
    a = services("a")
    b = services("b", a.port)
    _mesh(a, b)
    with ChatClient(a.data_dir, name="alice") as cl:
        assert cl.wait_synced(TIMEOUT) and cl.connected_local
        a.proc.send_signal(signal.SIGSTOP)
        try:
            m = cl.send("are you there?")
            assert cl.wait_acked(m.id, 10)
            assert cl.acked[m.id] == b.addr
        finally:
            a.proc.send_signal(signal.SIGCONT)
    _same_logs(a, b, n=3)
    assert a.texts() == b.texts() == ["are you there?"]


def test_late_joiner_gets_whole_history(services, tmp_path: Path) -> None:
    a = services("a")
    ident = load_or_create(a.data_dir)
    with ChatClient(a.data_dir, name="alice", identity=ident) as cl:
        assert cl.wait_synced(TIMEOUT)
        sent = []
        for i in range(40):
            # spread authorship over the rate windows (stamp times 1 s apart in the past) and
            # over 8 authors: one author's back-dated burst is refused by the receiver's clock
            who = Identity.from_seed(f"old-author-{i // 5}".encode())
            m = ChatMessage.create(who, name="alice", channel="lobby" if i % 2 else "match:m1",
                                   text=f"old {i}", clock=i + 10, t=1_700_000_000 + i)
            sent.append(query_service(a.addr, {"t": "submit", "m": m.to_wire()})["ok"])
        assert all(sent)
    # the game posts system notices (host changed, winner) through the same path
    assert send_notice(a.data_dir, "alice won match m1", "match:m1", name="alice")
    late = services("late", a.port)
    ids = _same_logs(a, late, n=43)
    assert len(ids) == 43  # a's "joined", 40 lines, the notice, late's "joined"
    match = [m for m in late.history() if m.channel == "match:m1"]
    assert [m.text for m in match if m.kind == 0] == [f"old {i}" for i in range(0, 40, 2)]
    assert [m.text for m in match if m.kind == 1] == ["alice won match m1"]


def test_game_crash_leaves_chat_running_and_supervisor_restarts_it(tmp_path: Path) -> None:
    d = tmp_path / "peer"
    d.mkdir()
    game = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from chat.supervisor import Supervisor;"
         "s = Supervisor(sys.argv[1], port=0, extra=['--no-discovery']).start();"
         "print(s.info['pid'], flush=True); sys.stdin.read()", str(d)],
        env=cli_env(d), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    svc_pid = None
    try:
        out = LineReader(game.stdout)
        svc_pid = int(out.wait_for(lambda s: s.strip().isdigit(), TIMEOUT, what="service pid"))
        game.send_signal(signal.SIGKILL)  # the game crashes...
        game.wait(5)
        info = running_info(d)  # ...and chat goes on
        assert info is not None and info["pid"] == svc_pid
        res = subprocess.run(p2p_race_cmd("chat", "--say", "still here", "--no-start"),
                             env=cli_env(d), capture_output=True, text=True, timeout=TIMEOUT)
        assert res.returncode == 0, res.stderr
        # a supervisor (the next game) restarts the service when it dies
        sup = Supervisor(d, port=0, extra=["--no-discovery"], interval=0.1).start()
        try:
            assert sup.info["pid"] == svc_pid  # attached, not duplicated
            os.kill(svc_pid, signal.SIGKILL)
            info = wait_until(lambda: (i := running_info(d)) and i["pid"] != svc_pid and sup.restarts
                              and i, TIMEOUT, what="restarted service")
            svc_pid = info["pid"]
            texts = [m["x"] for m in query_service(("127.0.0.1", info["port"]), {"t": "hist"})["m"]]
            assert "still here" in texts  # the restarted service kept its log
        finally:
            sup.stop()
    finally:
        if game.poll() is None:
            game.kill()
        _stop_service(d, svc_pid)


def test_client_of_the_game_restarts_a_dead_local_service(services, tmp_path: Path) -> None:
    """The overlay's client (start_service=True) starts the local service; after a SIGKILL
    of it, it sends through another peer's service meanwhile, starts the local one again and
    goes back to it."""
    other = services("other")
    d = tmp_path / "g"
    d.mkdir()
    cl = ChatClient(d, name="gamer", start_service=True,
                    service_kw={"port": 0, "extra": ["--no-discovery"], "peers": [f"127.0.0.1:{other.port}"]}).start()
    try:
        wait_until(lambda: cl.connected_local and cl.known_services, TIMEOUT, what="local service meshed")
        first = running_info(d)["pid"]
        os.kill(first, signal.SIGKILL)
        m = cl.send("while it restarts")
        assert cl.wait_acked(m.id, TIMEOUT)
        wait_until(lambda: (i := running_info(d)) and i["pid"] != first and cl.connected_local,
                   TIMEOUT, what="service restarted and client back on it")
        m2 = cl.send("back again")
        assert cl.wait_acked(m2.id, TIMEOUT)
        wait_until(lambda: {"while it restarts", "back again"} <= set(other.texts()), TIMEOUT,
                   what="both lines on the other peer")
    finally:
        cl.close()
        _stop_service(d, None)


def test_say_without_any_service_fails_clearly(tmp_path: Path) -> None:
    d = tmp_path / "lonely"
    d.mkdir()
    res = subprocess.run(p2p_race_cmd("chat", "--say", "anyone?", "--no-start", "--timeout", "1"),
                         env=cli_env(d), capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode != 0
    assert "no chat service accepted the message" in res.stderr
    assert "Traceback" not in res.stderr


def test_hostile_input_rejected_over_tcp(services) -> None:
    a = services("a")
    b = services("b", a.port)
    _mesh(a, b)
    me = Identity.from_seed(b"tcp-hostile")
    other = Identity.from_seed(b"victim")

    def submit(msg_wire) -> dict:
        return query_service(a.addr, {"t": "submit", "m": msg_wire})

    good = ChatMessage.create(me, name="me", channel="lobby", text="legit", clock=100, t=1_700_000_000)
    forged = dict(good.to_wire(), k=other.public_key.hex())  # claims the victim wrote it
    ans = submit(forged)
    assert ans["ok"] is False and ans["reason"] == "bad_signature"
    tampered = dict(good.to_wire(), x="altered")
    assert submit(tampered)["reason"] == "bad_signature"
    big = dict(good.to_wire(), x="x" * 501)
    assert submit(big)["reason"] in ("too_long", "malformed")
    # an escape sequence signed by its author is refused (honest clients sanitize first)
    dirty = ChatMessage(me.public_key, "me", "lobby", 0, 101, 1_700_000_001_000, "a\x1b[2Jb", b"")
    dirty = ChatMessage(me.public_key, "me", "lobby", 0, 101, 1_700_000_001_000, "a\x1b[2Jb",
                        me.sign(dirty.content()))
    assert submit(dirty.to_wire())["reason"] == "unclean_text"
    assert submit(good.to_wire())["ok"] is True
    # a flood: 20 lines in one second -> 5 kept (incl. "legit"), the rest refused and counted
    flood = [ChatMessage.create(me, name="me", channel="lobby", text=f"spam {i}", clock=200 + i,
                                t=1_700_000_000 + i * 0.01) for i in range(20)]
    answers = [submit(m.to_wire()) for m in flood]
    assert sum(x["ok"] for x in answers) == 4
    assert {x["reason"] for x in answers if not x["ok"]} == {"rate_limited"}
    # garbage on the wire: an oversized frame and junk frames end that connection only
    with socket.create_connection(a.addr, timeout=5) as s:
        s.sendall((50_000_000).to_bytes(4, "big") + b"x" * 100)
        assert s.recv(10) == b""
    with socket.create_connection(a.addr, timeout=5) as s:
        s.sendall(encode_frame({"t": "hello", "role": "peer", "id": "f" * 16, "port": 1}))
        s.sendall(encode_frame({"t": "push", "m": {"k": 5}}) + encode_frame({"t": "offer", "ids": "x"}))
        s.sendall(b"\x00\x00\x00\x05nope!")
    stats = a.stats()
    assert stats["drops"]["rate_limited"] == 16
    assert stats["drops"]["bad_signature"] >= 2
    wait_until(lambda: sorted(b.texts()) == sorted(a.texts()), TIMEOUT, what="b has a's log")
    assert sorted(a.texts()) == sorted(["legit"] + [f"spam {i}" for i in range(4)])
    assert a.proc.poll() is None and b.proc.poll() is None


def test_ensure_service_is_idempotent(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    info = ensure_service(d, port=0, extra=["--no-discovery"])
    try:
        again = ensure_service(d, port=0, extra=["--no-discovery"])
        assert again["pid"] == info["pid"] and again["port"] == info["port"]
    finally:
        _stop_service(d, info["pid"])


def _stop_service(d: Path, pid: int | None) -> None:
    """Stop the service of data dir `d` (whatever pid it has now) and wait for it."""
    for _ in range(3):
        info = running_info(d)
        target = info["pid"] if info else pid
        if not target:
            return
        try:
            os.kill(target, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            wait_until(lambda: running_info(d) is None, 5, what="service stopped")
            return
        except AssertionError:
            continue
