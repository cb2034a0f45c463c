"""The in-game chat overlay, headless: keys, unread count, scroll-back, the draft kept across
screens, and a real round trip through a chat service process from the game window."""

from __future__ import annotations

import threading
from pathlib import Path

import pygame
import pytest

from chat.history import History
from chat.message import ChatMessage
from p2p_race.config import Config
from p2p_race.identity import Identity
from p2p_race.ui.chat_overlay import ChatOverlay
from tests.support.proc import wait_until

ME = Identity.from_seed(b"overlay-me")
YOU = Identity.from_seed(b"overlay-you")


class FakeClient:
    """Stands in for ChatClient: records sends, serves queued incoming messages."""

    def __init__(self) -> None:
        self.identity = ME
        self.sent: list[tuple[str, str]] = []
        self.incoming: list[ChatMessage] = []
        self.connected = ("127.0.0.1", 1)
        self.connected_local = True
        self.closed = False
        self.clock = 0
        self.lock = threading.Lock()

    def send(self, text, channel="lobby", hold=False):
        self.sent.append((text, channel))
        self.clock += 1
        m = ChatMessage.create(ME, name="me", channel=channel, text=text, clock=self.clock, t=1_700_000_000 + self.clock)
        self.incoming.append(m)
        return m

    def poll(self):
        out, self.incoming = self.incoming, []
        return out

    def close(self):
        self.closed = True


def kd(k: int, uni: str = "", mod: int = 0) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, unicode=uni, mod=mod, scancode=0)


def type_text(ov: ChatOverlay, s: str) -> None:
    for ch in s:
        assert ov.handle_event(kd(pygame.key.key_code(ch) if ch.isalnum() else pygame.K_SPACE, ch))


def incoming(n: int, who: Identity = YOU, channel: str = "lobby", text: str = "msg") -> list[ChatMessage]:
    return [ChatMessage.create(who, name="you", channel=channel, text=f"{text} {i}", clock=100 + i,
                               t=1_700_000_100 + i) for i in range(n)]


@pytest.fixture(autouse=True)
def _pygame():
    pygame.display.init()
    pygame.font.init()
    yield


def test_keys_send_close_and_keep_draft() -> None:
    c = FakeClient()
    ov = ChatOverlay(None, client=c)
    assert not ov.handle_event(kd(pygame.K_a, "a"))  # closed: the game gets its keys
    ov.toggle()
    assert ov.open
    # the T that opened it arrives again as TEXTINPUT: swallowed, not typed
    assert ov.handle_event(pygame.event.Event(pygame.TEXTINPUT, text="t"))
    type_text(ov, "hi there")
    assert ov.buffer == "hi there"
    ov.handle_event(kd(pygame.K_BACKSPACE))
    assert ov.buffer == "hi ther"
    ov.handle_event(kd(pygame.K_ESCAPE))  # close, keep the half-typed line
    assert not ov.open and ov.buffer == "hi ther"
    ov.toggle()
    type_text(ov, "e")
    ov.handle_event(kd(pygame.K_RETURN))
    assert c.sent == [("hi there", "lobby")]
    assert ov.buffer == "" and not ov.open
    # escape sequences typed or pasted never reach the buffer
    ov.toggle()
    ov.handle_event(kd(pygame.K_ESCAPE, "\x1b"))
    ov.toggle()
    ov.handle_event(kd(0, "\x1b[31m"))
    assert "\x1b" not in ov.buffer
    # other events (window, quit) are not the chat's
    assert not ov.handle_event(pygame.event.Event(pygame.QUIT))


def test_unread_count_and_scroll_back() -> None:
    c = FakeClient()
    ov = ChatOverlay(None, client=c)
    c.incoming += incoming(30)
    ov.update(1 / 60)
    assert ov.unread == 30
    surf = pygame.Surface((800, 600))
    ov.draw(surf)  # closed: badge + recent lines
    ov.toggle()
    assert ov.unread == 0
    ov.draw(surf)
    ov.handle_event(kd(pygame.K_PAGEUP))
    assert ov.scroll == 8
    ov.handle_event(pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=1, flipped=False))
    assert ov.scroll == 11
    c.incoming += incoming(2, text="new")  # scrolled up: new lines count as unread
    ov.update(1 / 60)
    assert ov.unread == 2
    ov.handle_event(kd(pygame.K_PAGEDOWN))
    ov.handle_event(kd(pygame.K_PAGEDOWN))
    assert ov.scroll == 0
    ov.draw(surf)
    # display order is the log order even if messages arrived out of order
    assert [m.key for _t, m in ov._lines] == sorted(m.key for _t, m in ov._lines)


def test_match_channel_and_hostile_text_draws() -> None:
    c = FakeClient()
    ov = ChatOverlay(None, client=c)
    ov.set_match("m42")
    assert ov.channel == "match:m42"
    ov.toggle()
    type_text(ov, "gg")
    ov.handle_event(kd(pygame.K_RETURN))
    assert c.sent[-1] == ("gg", "match:m42")
    ov.toggle()
    ov.handle_event(kd(pygame.K_TAB))
    assert ov.channel == "lobby"
    # a (verified) message with a very long word and odd characters wraps and draws
    c.incoming += incoming(1, text="x" * 400 + " \u202e 😀 中文")
    ov.update(1 / 60)
    ov.draw(pygame.Surface((800, 600)))
    h = History()
    assert all(h.add(m).new is not None for _t, m in ov._lines)


@pytest.mark.lan
def test_overlay_in_the_game_talks_to_a_real_chat_service(tmp_path: Path, monkeypatch) -> None:
    """The App loads the overlay over the race screen; T, typing and Enter reach a chat
    service process; a draft survives a screen change; replies show up as unread."""
    from p2p_race.ui.app import App
    from p2p_race.ui.screens.race import start_practice
    from p2p_race.ui.testing import Driver
    from tests.test_chat_procs import Svc

    svc = Svc(tmp_path / "zoe", "zoe")
    other = Svc(tmp_path / "bob", "bob", svc.port)
    app = App(Config(name="Zoe"), svc.data_dir)
    try:
        d = Driver(app)
        start_practice(app, bots=0, seed=3, seconds=30)
        d.run(0.1)
        chat = app.chat
        assert isinstance(chat, ChatOverlay)
        wait_until(lambda: chat.client.connected_local, 10, what="overlay connected")
        d.press(pygame.K_t)
        assert chat.open and chat.buffer == ""
        d.type("hello bob")
        d.press(pygame.K_RETURN)
        assert not chat.open
        wait_until(lambda: "hello bob" in other.texts(), 10, what="line on bob's service")
        # a half-typed line survives leaving the race for another screen and coming back
        d.press(pygame.K_t)
        d.type("half")
        d.press(pygame.K_ESCAPE)
        start_practice(app, bots=0, seed=4, seconds=30)
        d.run(0.1)
        assert app.chat is chat and chat.buffer == "half"
        # bob answers: the overlay counts it as unread
        from chat.client import ChatClient

        with ChatClient(other.data_dir, name="bob", use_local=True) as bob:
            bob.wait_synced(10)
            bob.send("hi zoe")
            wait_until(lambda: (d.run(0.05) or True) and chat.unread >= 1, 10, what="unread reply")
        assert any(m.text == "hi zoe" for _t, m in chat._lines)
    finally:
        app.close()
        svc.stop()
        other.stop()


def test_closed_feed_keeps_off_the_road_and_shows_no_own_notices() -> None:
    """Lobby: the last lines, but not our own chat service's "joined". Over a race: at most
    two lines others wrote since the race began, inside the screen's chat_rect; no system
    notices. Offline practice (chat_feed False): nothing but nothing."""
    import types

    from chat.message import KIND_SYSTEM
    from p2p_race.ui import style

    class Lobby:
        pass

    class Race:
        chat_feed = True

        def chat_rect(self):
            return pygame.Rect(10, 370, 250, 220)

    app = types.SimpleNamespace(top=Lobby(), data_dir=None)
    c = FakeClient()
    ov = ChatOverlay(app, client=c)
    mine = ChatMessage.create(ME, name="me", channel="lobby", text="me joined", clock=1, t=1_700_000_001,
                              kind=KIND_SYSTEM)
    theirs = ChatMessage.create(YOU, name="you", channel="lobby", text="you joined", clock=2, t=1_700_000_002,
                                kind=KIND_SYSTEM)
    c.incoming += [mine, theirs, *incoming(5)]
    ov.update(1 / 60)
    surf = pygame.Surface((800, 600))
    ov.draw(surf)
    feed = [m.text for _t, m in ov.feed(compact=False)]
    assert "me joined" not in feed and len(feed) == 4 and feed[-1] == "msg 4"
    # the race begins: the lobby's lines are not shown again beside the car
    app.top = Race()
    ov.update(1 / 60)
    with style.recording_text() as rec:
        ov.draw(surf)
    assert [s for _r, s in rec] == ["T: chat  (6 unread)"]  # ours are not unread
    c.incoming += [*incoming(3, text="race"), ChatMessage.create(
        YOU, name="you", channel="lobby", text="host changed", clock=300, t=1_700_000_300, kind=KIND_SYSTEM)]
    ov.update(1 / 60)
    with style.recording_text() as rec:
        ov.draw(surf)
    texts = [s for _r, s in rec]
    assert len(texts) == 3 and texts[0].endswith("race 1") and texts[1].endswith("race 2")  # two lines + the badge
    assert all(r.right <= 10 + 250 + 2 and r.top >= 370 for r, _s in rec)
    app.top.chat_feed = False  # offline practice
    with style.recording_text() as rec:
        ov.draw(surf)
    assert rec == []
