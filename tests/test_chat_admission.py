"""Who keeps a chat service slot when many addresses flood it (issue 12): the client
hello's proof (chat/clientauth.py) and the admission rule (chat/service.py `_victim`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chat.clientauth import SKEW, SeenProofs, proven_id, signed_hello
from chat.service import ANON_IDLE, PENDING_GRACE, RANK_ANON, RANK_OWNER, RANK_PEER, _victim
from p2p_race.identity import Identity

OWNER = Identity.from_seed(b"owner")
OTHER = Identity.from_seed(b"other")
HERE = ("10.0.0.1", 47801)
NOW = 1_800_000_000.0


def trusted(pid: str) -> bool:
    return pid == OWNER.peer_id


def test_a_signed_hello_proves_a_trusted_key_once_at_the_address_it_was_made_for() -> None:
    seen = SeenProofs()
    hello = signed_hello(OWNER, HERE, NOW)
    assert proven_id(hello, ("10.0.0.2", 47801), NOW, trusted, seen) is None  # made for another service
    assert proven_id(hello, HERE, NOW + SKEW + 1, trusted, seen) is None  # too old
    assert proven_id(hello, HERE, NOW + 1, trusted, seen) == OWNER.peer_id
    assert proven_id(hello, HERE, NOW + 2, trusted, seen) is None  # replayed
    assert proven_id(signed_hello(OWNER, HERE, NOW + 3), HERE, NOW + 3, trusted, seen) == OWNER.peer_id


def test_anything_else_is_an_anonymous_client() -> None:
    seen = SeenProofs()
    good = signed_hello(OWNER, HERE, NOW)
    forged = [
        signed_hello(OTHER, HERE, NOW),  # a valid proof of a key we do not trust
        {**signed_hello(OTHER, HERE, NOW), "id": OWNER.peer_id},  # someone else's key under our id
        {**good, "sig": good["sig"][:-2] + ("00" if good["sig"][-2:] != "00" else "01")},
        {**good, "at": good["at"] + 1},
        {**good, "at": True}, {**good, "key": "zz" * 32}, {**good, "sig": 5}, {"t": "hello", "id": OWNER.peer_id},
        {**good, "key": good["key"][:-2]},
    ]
    assert [proven_id(h, HERE, NOW, trusted, seen) for h in forged] == [None] * len(forged)
    assert proven_id(good, HERE, NOW, trusted, seen) == OWNER.peer_id  # none of those used it up


@dataclass(eq=False)
class C:
    """What `_victim` reads of a connection."""

    ip: str
    rank: int = RANK_ANON
    idle: float = 0.0

    def __post_init__(self) -> None:
        self.remote = (self.ip, 40000)
        self.last_rx = time.monotonic() - self.idle


def test_a_full_pool_of_many_addresses_gives_way_to_proof_then_to_silence() -> None:
    swarm = {C(f"10.1.0.{i}", idle=i * 0.01) for i in range(1, 11)}  # one each: no address cap bites
    assert _victim(C("10.9.9.9"), swarm, 10, 4, ANON_IDLE) is False  # all fresh: anonymous waits
    oldest = max(swarm, key=lambda c: c.idle)
    assert _victim(C("10.9.9.9", RANK_PEER), swarm, 10, 4, ANON_IDLE) is oldest
    assert _victim(C("10.9.9.9", RANK_OWNER), swarm, 10, 4, ANON_IDLE) is oldest
    silent = C("10.1.0.99", idle=ANON_IDLE + 1)
    assert _victim(C("10.9.9.9"), swarm - {oldest} | {silent}, 10, 4, ANON_IDLE) is silent
    assert _victim(C("10.9.9.9"), swarm - {oldest}, 10, 4, ANON_IDLE) is None  # room
    # proven clients do not give way to weaker ones, nor peers to each other until silent
    peers = {C(f"10.2.0.{i}", RANK_PEER) for i in range(10)}
    assert _victim(C("10.9.9.9"), peers, 10, 4, ANON_IDLE) is False
    assert _victim(C("10.9.9.9", RANK_PEER), peers, 10, 4, ANON_IDLE) is False
    assert _victim(C("10.9.9.9", RANK_OWNER), peers, 10, 4, ANON_IDLE) in peers
    # the old fairness holds: an address holding more than the newcomer would gives first
    crowd = {C("10.3.0.1", idle=0.1 * i) for i in range(3)} | {C(f"10.3.0.{i}") for i in range(2, 9)}
    assert _victim(C("10.9.9.9"), crowd, 10, 4, ANON_IDLE).ip == "10.3.0.1"
    # over its own address's share, a newcomer replaces its idlest sibling of no higher rank
    mine = {C("10.4.0.1", RANK_OWNER), C("10.4.0.1", idle=1.0)}
    assert _victim(C("10.4.0.1"), mine, 10, 2, ANON_IDLE).rank == RANK_ANON
    assert _victim(C("10.4.0.1"), {C("10.4.0.1", RANK_OWNER)}, 10, 1, ANON_IDLE) is False


def test_the_hello_stage_gives_way_only_to_connections_past_their_grace() -> None:
    burst = {C(f"10.5.0.{i}", idle=0.001 * i) for i in range(8)}  # accepted together, hellos unread
    assert _victim(C("10.9.9.9"), burst, 8, 2, PENDING_GRACE) is False
    held = C("10.5.0.99", idle=PENDING_GRACE + 0.5)  # connected and never said hello
    assert _victim(C("10.9.9.9"), burst - {next(iter(burst))} | {held}, 8, 2, PENDING_GRACE) is held
