"""One name/text rule everywhere, terminal output free of escapes, pins persisted
incrementally and bounded, and clear one-line errors for bad files (scores, config, key)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from chat.message import ChatMessage, InvalidMessage
from discovery import Peer
from p2p_race.commands.peers import _text_row
from p2p_race.config import Config
from p2p_race.errors import UserError
from p2p_race.identity import (
    KEY_FILE,
    PIN_FILE,
    PIN_LOG,
    Identity,
    PinResult,
    PinStore,
    load_or_create,
)
from p2p_race.text import clean_name, sanitize, terminal_safe, valid_name
from replication.records import MatchResult
from replication.store import ResultStore
from tests.support.proc import cli_env, p2p_race_cmd

HOSTILE = [
    "\x1b]0;pwned\x07title", "\x1b[2Jclear", "\x1b[31mred", "c1\x9b31mcsi", "osc\x9d0;x\x9c",
    "bidi\u202eevil", "iso\u2066late", "zero\u200bwidth", "del\x7f", "nul\x00", "line\nbreak",
    "alice\u3164", "\u115fbob",  # blank fillers: another name that looks the same
]
KEY_A = Identity.from_seed(b"names-a")
KEY_B = Identity.from_seed(b"names-b")


def no_controls(text: str) -> bool:
    return not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                   for c in text)


@pytest.mark.parametrize("raw", HOSTILE)
def test_one_rule_refuses_unclean_names_in_every_component(raw: str) -> None:
    assert not valid_name(raw)
    assert no_controls(sanitize(raw)) and valid_name(clean_name(raw))
    # chat: a signed line under such a name is refused
    unsigned = ChatMessage(KEY_A.public_key, raw, "lobby", 0, 1, 1, "hi", b"")
    signed = ChatMessage(KEY_A.public_key, raw, "lobby", 0, 1, 1, "hi", KEY_A.sign(unsigned.content()))
    with pytest.raises(InvalidMessage, match="bad_name"):
        signed.check_rules()
    # discovery: a hello under such a name is not listed
    from discovery.table import HelloInfo, PeerTable

    table = PeerTable("0" * 16)
    assert table.on_hello(KEY_A.peer_id, HelloInfo(KEY_A.public_key, raw, 1, 0, "lobby", "", False),
                          ("127.0.0.1", 1), 0.0) == []
    assert table.peers == {}


def test_score_records_use_the_same_rule() -> None:
    from replication.fixtures import make_result

    good = make_result(1).to_json()
    for raw in ("bidi\u202eevil", "c1\x9bx"):
        bad = json.loads(json.dumps(good))
        bad["racers"][0]["name"] = raw
        with pytest.raises(ValueError, match="control"):
            MatchResult.from_json(bad)


def test_peer_rows_are_terminal_safe() -> None:
    p = Peer(id=KEY_A.peer_id, name="\x1b]0;t\x07n\u202e", public_key=KEY_A.public_key,
             addresses=["10.0.0.1\x1b[2J"], game_port=1, chat_port=0, state="lobby\x9b",
             match_id="m\x1b[5m", last_seen=0.0)
    row = _text_row(p)
    assert no_controls(row) and "n" in row and "lobby" in row
    assert no_controls(terminal_safe({"x": "\x1b[2J"}))


@pytest.mark.lan  # runs the CLI as a real process
def test_peers_command_prints_no_escape_from_a_hostile_hello(tmp_path: Path) -> None:
    """The issue's case end to end: two modified clients (real discovery nodes) whose name
    or state carry raw ESC, C1 and bidi characters, met by a real `p2p-race peers`: the
    unclean name is not listed, the state is printed sanitized."""
    import asyncio

    from discovery import Discovery
    from p2p_race.transport import UdpTransport

    ready = threading.Event()
    stop = threading.Event()
    ports: list[int] = []
    evil, shown = Identity.from_seed(b"evil-name"), Identity.from_seed(b"evil-state")

    async def nodes() -> None:
        made = []
        for ident, name, state in ((evil, "evil", "lobby"), (shown, "shown", "\x1b[31mlobby\u202e")):
            t = UdpTransport(ident, host="127.0.0.1")
            d = Discovery(ident, t, name, state=state, mdns=False)
            if ident is evil:
                d.name = "\x1b]0;pwned\x07\x1b[2Jevil"  # what a modified client sends
            await d.start()
            ports.append(t.port)
            made.append((d, t))
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for d, t in made:
            await d.stop()
            t.close()

    th = threading.Thread(target=lambda: asyncio.run(nodes()), daemon=True)
    th.start()
    assert ready.wait(20)
    try:
        out = subprocess.run(p2p_race_cmd("peers", "--wait", "3", "--no-mdns", "--port", "0", "--name", "me",
                                          *[a for p in ports for a in ("--peer", f"127.0.0.1:{p}")]),
                             env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        th.join(10)
    assert out.returncode == 0, out.stderr
    assert "shown" in out.stdout and "evil" not in out.stdout
    assert no_controls(out.stdout.replace("\n", "")) and no_controls(out.stderr.replace("\n", ""))
    # and the pins of this run were persisted: `peers` met "shown"
    assert PinStore(tmp_path).pinned("shown") == shown.public_key


def test_pins_are_appended_one_record_per_name_and_reloaded(tmp_path: Path) -> None:
    pins = PinStore(tmp_path)
    keys = [Identity.from_seed(f"pin-{i}".encode()).public_key for i in range(300)]
    sizes = []
    for i, k in enumerate(keys):
        assert pins.check(f"player {i}", k) is PinResult.NEW
        sizes.append((tmp_path / PIN_LOG).stat().st_size)
    steps = {b - a for a, b in zip(sizes, sizes[1:], strict=False)}
    assert max(steps) < 120  # each new name appends one short record, nothing is rewritten
    again = PinStore(tmp_path)
    assert len(again) == 300 and again.pinned("player 7") == keys[7]
    assert again.check("player 7", KEY_A.public_key) is PinResult.CHANGED
    again.repin("player 7", KEY_A.public_key)
    assert PinStore(tmp_path).pinned("player 7") == KEY_A.public_key
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*tmp"))


def test_pins_are_bounded_and_a_flood_of_names_flushes_no_pin(tmp_path: Path) -> None:
    pins = PinStore(tmp_path, max_pins=50)
    pins.check("alice", KEY_A.public_key)
    for i in range(500):
        pins.check(f"sybil {i}", Identity.from_seed(f"s{i}".encode()).public_key)
    assert len(pins) == 50
    assert pins.check("alice", KEY_B.public_key) is PinResult.CHANGED
    assert len(PinStore(tmp_path, max_pins=50)) == 50
    assert (tmp_path / PIN_LOG).read_text().count("\n") <= 50 + 1


def test_a_record_cut_short_loses_only_itself(tmp_path: Path) -> None:
    pins = PinStore(tmp_path)
    pins.check("alice", KEY_A.public_key)
    with open(tmp_path / PIN_LOG, "a") as fh:
        fh.write('\n{"n":"bob","k":"ab')  # a crash mid-write
    pins = PinStore(tmp_path)
    pins.check("carol", KEY_B.public_key)
    again = PinStore(tmp_path)
    assert again.pinned("alice") == KEY_A.public_key and again.pinned("carol") == KEY_B.public_key
    assert again.pinned("bob") is None


def test_old_whole_file_pins_are_carried_over(tmp_path: Path) -> None:
    (tmp_path / PIN_FILE).write_text(json.dumps({"alice": KEY_A.public_key.hex(), "\x1b[2J": "00"}))
    pins = PinStore(tmp_path)
    assert pins.pinned("alice") == KEY_A.public_key and len(pins) == 1
    assert (tmp_path / PIN_LOG).exists()


def test_every_command_that_meets_peers_persists_pins(tmp_path: Path) -> None:
    """The game, bot and spectate meet peers through PeerRuntime, the chat service through
    its discovery source: both hand discovery the data dir's pin store."""
    from chat.peers import discovery_source
    from p2p_race.runtime import PeerRuntime

    rt = PeerRuntime(KEY_A, "me", data_dir=tmp_path, host="127.0.0.1", port=0)
    assert isinstance(rt._discovery_args["pins"], PinStore)
    src = discovery_source(KEY_A, "me", None, tmp_path)
    assert src is None or isinstance(src.pins, PinStore)


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(p2p_race_cmd(*args), env=cli_env(data_dir), capture_output=True, text=True,
                          timeout=60)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.lan  # runs the CLI as a real process
def test_an_identity_key_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    key = tmp_path / KEY_FILE
    key.chmod(0o644)
    with pytest.raises(UserError, match="chmod 600"):
        load_or_create(tmp_path)
    line = one_line_error(run_cli(tmp_path, "peers", "--wait", "0", "--no-mdns", "--port", "0"))
    assert "chmod 600" in line and str(key) in line
    key.chmod(0o600)
    assert load_or_create(tmp_path)


def test_a_planted_symlink_at_the_old_temp_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    data = tmp_path / "d"
    data.mkdir()
    (data / "identity.tmp").symlink_to(target)
    load_or_create(data)
    assert target.read_text() == "precious"
    assert (data / KEY_FILE).is_file() and not (data / KEY_FILE).is_symlink()
    assert (data / KEY_FILE).stat().st_mode & 0o777 == 0o600
    Config(name="x").save(data)
    assert target.read_text() == "precious"
    assert sorted(p.name for p in data.iterdir()) == ["config.json", "identity.key", "identity.tmp"]


@pytest.mark.parametrize("key, value, says", [
    ("chat_port", 70000, "0-65535"), ("game_port", -1, "0-65535"), ("music_volume", 3.0, "0.0 and 1.0"),
    ("name", "\x1b[2Jx", "control"), ("name", "n" * 65, "64 bytes"), ("peers", ["ok", ""], "HOST"),
    ("mongodb_uri", "http://x", "mongodb://"), ("keys", {"jump": ["x"]}, "unknown action"),
    ("keys", {"left": []}, "key names"), ("car_color", "r\x1bed", "control"),
])
def test_every_config_value_is_checked_with_one_line(tmp_path: Path, key, value, says) -> None:
    (tmp_path / "config.json").write_text(json.dumps({key: value}))
    with pytest.raises(UserError, match=says) as err:
        Config.load(tmp_path)
    assert "\n" not in str(err.value) and key in str(err.value)


@pytest.mark.lan  # runs the CLI as a real process
def test_chat_port_70000_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"chat_port": 70000}))
    line = one_line_error(run_cli(tmp_path, "chat", "--serve", "--no-discovery"))
    assert "chat_port" in line and "config.json" in line


@pytest.mark.lan  # runs the CLI as a real process
def test_a_corrupt_score_file_is_named_kept_and_explained(tmp_path: Path) -> None:
    path = tmp_path / "scores.sqlite3"
    path.write_bytes(b"garbage, not SQLite" * 200)
    before = path.read_bytes()
    with pytest.raises(UserError, match="recover"):
        ResultStore(tmp_path)
    line = one_line_error(run_cli(tmp_path, "leaderboard"))
    assert str(path) in line and "recover" in line
    assert path.read_bytes() == before  # never deleted nor replaced


@pytest.mark.lan  # runs the CLI as a real process
def test_a_corrupt_chat_history_is_rebuilt_by_the_service(tmp_path: Path) -> None:
    from tests.test_chat_procs import Svc

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "chat.sqlite3").write_bytes(b"garbage" * 1000)
    svc = Svc(tmp_path / "a", "a")
    try:
        assert svc.stats()["count"] >= 1  # serving, with its own "joined" line
    finally:
        svc.stop()
    err = svc.proc.stderr.read()
    assert "chat.sqlite3" in err and "moved it to" in err
    assert list((tmp_path / "a").glob("chat.sqlite3.corrupt-*"))
    sqlite3.connect(tmp_path / "a" / "chat.sqlite3").execute("SELECT COUNT(*) FROM messages")


@pytest.mark.lan  # runs the CLI as a real process
def test_no_temp_file_is_left_when_the_disk_is_full(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        pins = PinStore(disk)
        pins.check("alice", KEY_A.public_key)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        for i in range(200):  # appends fail quietly (the pin holds for this run)
            assert pins.check(f"p{i}", Identity.from_seed(f"f{i}".encode()).public_key) is PinResult.NEW
        with pytest.raises(OSError):
            Config(name="x" * 60, peers=["h"] * 2000).save(disk)
        assert sorted(p.name for p in disk.iterdir()) == ["filler", PIN_LOG]
        assert PinStore(disk).pinned("alice") == KEY_A.public_key
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def test_is_clean_fast_path_agrees_with_sanitize() -> None:
    import random

    from p2p_race.text import is_clean

    rng = random.Random(3)
    samples = [chr(i) for i in range(128)] + ["".join(chr(rng.randrange(128)) for _ in range(rng.randint(0, 12)))
                                              for _ in range(3000)]
    for s in samples:
        assert is_clean(s) == (sanitize(s) == s), repr(s)
