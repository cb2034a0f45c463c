"""The chat client's session core (chat/session.py) over many seeds against simulated
services that crash (some for good, losing what they had not passed on), hang and refuse
lines as busy, while the user types in bursts over the rate: every line ends up stored
exactly once on every live service and in the client's view, none pending, none failed."""

from __future__ import annotations

import random

import pytest

from tests.support.chatclientsim import ChatClientSim

SEEDS = 100
CHUNK = 25  # chunks, so that pytest-xdist spreads them


def run_seed(seed: int, busy: float = 0.15) -> ChatClientSim:
    sim = ChatClientSim(seed, n_services=3, busy=busy)
    rng = random.Random(seed ^ 0xC4A7)
    t = 0.2
    for i in range(30):  # bursts of up to 7 lines: over the 5-per-5-s rate, held and sent later
        t += rng.choice((0.05, 0.1, 0.3, 1.0, 2.0))
        sim.at(t, lambda i=i: sim.type_line(f"line {i}"))
    gone_left = 1  # one remote service may die for good (its disk with it)
    ft = 0.0
    while ft < 25.0:
        ft += rng.uniform(0.3, 2.5)
        svc = rng.choice(sim.services)
        state = rng.choice(("down", "down", "hung", "up", "up", "gone"))
        if state == "gone":
            if svc is sim.local or not gone_left:
                state = "down"
            else:
                gone_left -= 1
        sim.at(ft, lambda svc=svc, state=state: sim.set_state(svc, state))
    sim.at(0.0, sim.wake)
    sim.run_until(30.0)
    for svc in sim.services:  # everything that can come back does
        sim.set_state(svc, "up")
    sim.wake()
    sim.run_until(120.0, stop=sim.settled)
    return sim


def check(sim: ChatClientSim) -> None:
    seed = sim.seed
    s = sim.session
    assert not s.pending() and not s.held, f"seed {seed}: pending {len(s.pending())}, held {len(s.held)}"
    assert not s.failed, f"seed {seed}: refused {s.failed}"
    want = sorted(sim.texts)
    for name, texts in sim.live_texts().items():
        assert texts == want, f"seed {seed}: {name} lost or doubled lines: {sorted(set(want) ^ set(texts))}"
    mine = sorted(m.text for m in s.view.messages() if m.author_id == sim.ident.peer_id)
    assert mine == want, f"seed {seed}: the client's view differs"


# the first chunk in `make test-fast`, every chunk in `make test`
@pytest.mark.parametrize("first", [f if f == 0 else pytest.param(f, marks=pytest.mark.slow) for f in range(0, SEEDS, CHUNK)])
def test_no_line_lost_or_doubled_through_crashes_hangs_and_busy_services(first: int) -> None:
    faults = {"failovers": 0, "hung": 0}
    for seed in range(first, first + CHUNK):
        sim = run_seed(seed)
        check(sim)
        faults["failovers"] += sum(1 for _t, e in sim.log if e.startswith("lost"))
        faults["hung"] += sum(1 for _t, e in sim.log if e.startswith("lost") and e.endswith("hung=True"))
    # the faults really hit the client: it failed over, also away from hung services
    assert faults["failovers"] > CHUNK and faults["hung"] > CHUNK // 5, faults


def test_a_busy_refusal_offers_the_same_line_again() -> None:
    """A line a busy service refused keeps its id (another service may have stored it)."""
    sim = ChatClientSim(1, n_services=1, busy=0.0)
    sim.at(0.0, sim.wake)
    sim.run_until(0.5)
    sim.local.busy = 1.0
    sim.type_line("hello")
    [msg_id] = sim.session.pending()
    sim.run_until(2.0)
    assert sim.session.pending() == [msg_id] and not sim.session.failed
    sim.local.busy = 0.0
    assert sim.run_until(40.0, stop=sim.settled)
    assert [m.id for m in sim.local.history.messages()] == [msg_id]


def test_a_hung_service_is_left_and_tried_last() -> None:
    sim = ChatClientSim(2, n_services=2, busy=0.0)
    local, other = sim.services
    sim.at(0.0, sim.wake)
    sim.run_until(0.5)
    assert sim.conn is not None and sim.conn[1] is local
    sim.set_state(local, "hung")  # alive (its info file says it runs) but answers nothing
    sim.type_line("are you there")
    [msg_id] = sim.session.pending()
    assert sim.run_until(5.0, stop=lambda: msg_id in sim.session.acked)
    assert sim.session.acked[msg_id] == other.addr
    assert any(e == "lost s0 hung=True" for _t, e in sim.log)
    assert sim.session.penalty.failures[local.addr] >= 1
    # while penalized the hung local service comes after the other one
    lost_at = next(t for t, e in sim.log if e == "lost s0 hung=True")
    order = sim.session.candidates(local.addr, [other.addr], lost_at + 0.01)
    assert [a for a, _ in order] == [other.addr, local.addr]


def test_our_own_stall_is_not_taken_for_a_hung_service() -> None:
    """Stall guard of the session core: woken long past the deadline it reported (this
    process was starved or suspended), it does not drop a service whose ack may be sitting
    unread in the socket; a service that really answers nothing is still dropped."""
    from chat.session import ACK_TIMEOUT, STALL_GRACE, ClientSession, Drop
    from p2p_race.identity import Identity

    def connected() -> tuple[ClientSession, str]:
        s = ClientSession(Identity.from_seed(b"stall-guard"), "me", use_local=False)
        s.on_welcome(("10.0.0.2", 47801), False, {"t": "welcome", "clock": 0}, T)
        msg = s.send("hello", "lobby", wall=1.8e9)
        s.tick(T, 1.8e9)  # written now: waits for its ack
        return s, msg.id

    T = 10.0
    s, msg_id = connected()
    at = s.next_deadline(T)
    assert at <= T + ACK_TIMEOUT + 0.01
    # frozen for 3 s: no Drop at the late wake-up; the queued ack is then read
    assert not any(isinstance(a, Drop) for a in s.tick(at + 3.0, 1.8e9))
    s.on_frame({"t": "ack", "id": msg_id, "ok": True}, at + 3.01, 1.8e9)
    assert msg_id in s.acked
    # a service that really hangs: dropped once the grace is over, not before
    s, msg_id = connected()
    late = s.next_deadline(T) + 3.0
    assert not any(isinstance(a, Drop) for a in s.tick(late, 1.8e9))
    nxt = s.next_deadline(late)
    assert nxt >= late + STALL_GRACE - 1e-9
    assert any(isinstance(a, Drop) for a in s.tick(nxt, 1.8e9))
