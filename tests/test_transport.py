"""UdpTransport on loopback: dispatch by class, send to addr / peer / many, and that
malformed, forged and replayed datagrams are dropped and counted without breaking it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from p2p_race.identity import Identity
from p2p_race.transport import UdpTransport
from p2p_race.wire import Codec
from tests.wire_samples import SampleHello, SampleState

LO = "127.0.0.1"


def state(tick: int) -> SampleState:
    return SampleState(tick=tick, x=1.0, y=2.0, speed=3.0, score=4, crashed=False, lane=1)


async def _until(pred, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)


async def _pair():
    a_id, b_id = Identity.from_seed(b"a"), Identity.from_seed(b"b")
    a = await UdpTransport(a_id, host=LO).start()
    b = await UdpTransport(b_id, host=LO).start()
    return a_id, b_id, a, b


def test_dispatch_by_class_and_keys_from_lookup() -> None:
    async def main() -> None:
        a_id, b_id, a, b = await _pair()
        got: list = []
        b.on(SampleHello, lambda p, addr: got.append(("hello", p.sender, p.msg.name, addr)))
        b.on(SampleState, lambda p, addr: got.append(("state", p.sender, p.msg.tick, addr)))
        # hello is self-certifying: accepted from a stranger
        a.send(SampleHello(a_id.public_key, "alice", a.port), (LO, b.port))
        await _until(lambda: len(got) == 1)
        # a state needs the sender's key: unknown at first, then from the lookup
        a.send(state(1), (LO, b.port))
        await _until(lambda: b.codec.drops["unknown_sender"] == 1)
        b.key_lookup = {a_id.peer_id: a_id.public_key}.get
        a.send(state(2), (LO, b.port))
        await _until(lambda: len(got) == 2)
        assert got[0] == ("hello", a_id.peer_id, "alice", (LO, a.port))
        assert got[1] == ("state", a_id.peer_id, 2, (LO, a.port))
        a.close()
        b.close()

    asyncio.run(main())


def test_send_peer_and_broadcast_use_known_addresses() -> None:
    async def main() -> None:
        ids = [Identity.from_seed(bytes([i])) for i in range(4)]
        ts = [await UdpTransport(i, host=LO).start() for i in ids]
        got: dict[int, list[int]] = {i: [] for i in range(4)}
        for i, t in enumerate(ts):
            t.set_key(ids[0].peer_id, ids[0].public_key)
            t.on(SampleState, lambda p, addr, i=i: got[i].append(p.msg.tick))
        for i in (1, 2, 3):
            ts[0].set_address(ids[i].peer_id, (LO, ts[i].port))
        assert ts[0].send_peer(state(7), ids[1].peer_id)
        assert not ts[0].send_peer(state(8), "00" * 8)  # unknown peer: not sent
        assert ts[0].broadcast(state(9), [ids[1].peer_id, ids[2].peer_id, ids[3].peer_id, "ff" * 8]) == 3
        await _until(lambda: got[1] == [7, 9] and got[2] == [9] and got[3] == [9])
        assert ts[0].stats["no_address"] == 2
        for t in ts:
            t.close()

    asyncio.run(main())


def test_forged_malformed_and_replayed_are_dropped_and_counted() -> None:
    async def main() -> None:
        a_id, b_id, a, b = await _pair()
        mallory = Identity.from_seed(b"mallory")
        got: list = []
        b.on(SampleHello, lambda p, addr: got.append(p.sender))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dst = (LO, b.port)
        try:
            # 1. wrong key: mallory signs a hello that carries alice's public key
            forged = Codec(mallory).encode(SampleHello(a_id.public_key, "alice", 1), 1.0)
            raw.sendto(forged, dst)
            # 2. bad signature: a valid hello with one signature byte flipped
            # (sequence numbers start at the codec's creation time in us: this copy of alice's
            # codec starts below the transport's, so alice's own later send stays in the window)
            good = Codec(a_id, initial_seq=1).encode(SampleHello(a_id.public_key, "alice", 1), 2.0)
            raw.sendto(good[:-1] + bytes([good[-1] ^ 1]), dst)
            # 3. garbage and truncation
            raw.sendto(b"\x00" * 5, dst)
            raw.sendto(good[:50], dst)  # shorter than header + signature
            raw.sendto(b"P2RC" + b"\xff" * 200, dst)
            # 4. the good one, then its replay
            raw.sendto(good, dst)
            raw.sendto(good, dst)
            # a handler that raises must not stop the socket
            b.on(SampleHello, lambda p, addr: 1 / 0)
            await _until(lambda: b.stats["received"] == 7)
            a.send(SampleHello(a_id.public_key, "alice", 1), dst)
            await _until(lambda: len(got) == 2)
        finally:
            raw.close()
        assert got == [a_id.peer_id, a_id.peer_id]
        drops = b.codec.drops
        assert drops["bad_key"] == 1
        assert drops["bad_signature"] == 1
        assert drops["replay"] == 1
        assert drops["too_short"] == 2
        assert sum(drops.values()) == 6
        assert b.stats["handler_errors"] == 2
        a.close()
        b.close()

    asyncio.run(main())


def test_taken_port_falls_back_to_a_free_one() -> None:
    async def main() -> None:
        ident = Identity.from_seed(b"p")
        first = await UdpTransport(ident, host=LO).start()
        second = await UdpTransport(ident, host=LO, port=first.port).start()
        assert second.port not in (0, first.port)
        with pytest.raises(OSError):
            await UdpTransport(ident, host=LO, port=first.port, fallback=False).start()
        first.close()
        second.close()
        assert not second.send(state(1), (LO, 9))

    asyncio.run(main())


def test_async_handlers_run() -> None:
    async def main() -> None:
        a_id, b_id, a, b = await _pair()
        done = asyncio.Event()

        async def handler(packet, addr) -> None:
            await asyncio.sleep(0)
            done.set()

        b.on(SampleHello, handler)
        a.send(SampleHello(a_id.public_key, "a", 1), (LO, b.port))
        await asyncio.wait_for(done.wait(), 3)
        a.close()
        b.close()

    asyncio.run(main())


def test_a_burst_is_read_whole_and_a_loop_without_readers_still_works() -> None:
    """Every queued datagram is read per wake-up (asyncio's datagram transport reads one per
    loop turn, so a junk burst made the kernel drop honest datagrams); an event loop without
    `add_reader` (Windows' proactor) falls back to asyncio's own transport."""
    async def main(readers: bool) -> int:
        loop = asyncio.get_running_loop()
        if not readers:
            def no_readers(*_a, **_k):
                raise NotImplementedError
            loop.add_reader = no_readers  # type: ignore[method-assign]
        a_id, b_id, a, b = await _pair()
        b.set_key(a_id.peer_id, a_id.public_key)
        got: list = []
        b.on(SampleState, lambda p, addr: got.append(p.msg.tick))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(1000):
            raw.sendto(b"junk" * 10, (LO, b.port))  # queued while the loop is busy here
        a.send(state(7), (LO, b.port))
        raw.close()
        await _until(lambda: got == [7], 10.0)
        n = b.stats["received"]
        a.close()
        b.close()
        assert b.closed
        return n

    assert asyncio.run(main(True)) == 1001
    assert asyncio.run(main(False)) >= 1
