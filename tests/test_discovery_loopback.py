"""`Discovery` on real UDP sockets on loopback (no mDNS here: zeroconf runs only inside
LAN test hosts): table sharing from one address, state changes, clean leave, silent death,
forged hellos, and two service types on one machine never mixing."""

from __future__ import annotations

import asyncio
import socket
import time

from discovery import Discovery, Hello
from p2p_race.identity import Identity
from p2p_race.transport import UdpTransport
from p2p_race.wire import Codec

LO = "127.0.0.1"


async def _until(pred, timeout: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not pred():
        if loop.time() - start > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)
    return loop.time() - start


async def node(name: str, peers=(), service_type: str | None = None) -> Discovery:
    ident = Identity.from_seed(name.encode())
    t = UdpTransport(ident, host=LO)
    kw = {"service_type": service_type} if service_type else {}
    d = Discovery(ident, t, name, peers=peers, mdns=False, **kw)
    await d.start()
    return d


def names(d: Discovery) -> set[str]:
    return {p.name for p in d.peers()}


def test_one_address_finds_everyone_then_state_leave_and_death() -> None:
    async def main() -> None:
        a = await node("a")
        seed = [f"{LO}:{a.transport.port}"]
        b = await node("b", seed)
        c = await node("c", seed)
        d = await node("d", seed)
        everyone = [a, b, c, d]
        await _until(lambda: all(names(x) == {"a", "b", "c", "d"} - {x.name} for x in everyone))
        # every table learned keys and addresses: the transport can reach any peer by id
        assert b.key_of(c.peer_id) == c.identity.public_key
        assert b.address_of(c.peer_id) == (LO, c.transport.port)

        events: list[tuple[str, str, str]] = []
        b.subscribe(lambda ev, p: events.append((ev, p.name, p.state)))
        a.set_state("racing", "m42")
        await _until(lambda: ("updated", "a", "racing") in events, 1.0)
        assert b.peer(a.peer_id).match_id == "m42"
        # round-trip times come from heartbeat echoes
        await _until(lambda: all(p.rtt is not None for p in b.peers()), 2.0)

        # clean exit: a signed Leave removes c at once
        await c.stop()
        c.transport.close()
        took = await _until(lambda: all("c" not in names(x) for x in (a, b, d)), 1.0)
        assert took < 0.1, took
        assert ("removed", "c", "lobby") in events

        # silent death (socket closed, no leave): removed after the heartbeat timeout
        d._ticker.cancel()
        d.transport.close()
        t0 = time.monotonic()
        await _until(lambda: "d" not in names(a) and "d" not in names(b), 3.0)
        assert 0.8 < time.monotonic() - t0 < 1.5

        # d comes back on a new port: re-added everywhere through the seed address
        d2 = await node("d", seed)
        await _until(lambda: "d" in names(a) and "d" in names(b) and names(d2) == {"a", "b"}, 3.0)
        for x in (a, b, d2):
            await x.stop()
            x.transport.close()

    asyncio.run(main())


def test_forged_hellos_are_ignored_and_counted() -> None:
    async def main() -> None:
        victim = await node("victim")
        alice = Identity.from_seed(b"alice")
        mallory = Identity.from_seed(b"mallory")
        dst = (LO, victim.transport.port)
        svc = victim.service_type

        def hello(ident_key: bytes, name: str) -> Hello:
            return Hello(ident_key, svc, name, 1, 0, "lobby", "", True)

        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind((LO, 0))
        try:
            raw.sendto(Codec(mallory).encode(hello(alice.public_key, "alice"), time.time()), dst)  # wrong key
            good = Codec(alice).encode(hello(alice.public_key, "alice"), time.time())
            raw.sendto(good[:-2] + bytes([good[-2] ^ 0x40, good[-1]]), dst)  # bad signature
            await _until(lambda: victim.transport.stats["received"] == 2)
            assert victim.peers() == []
            raw.sendto(good, dst)  # genuine: accepted
            await _until(lambda: names(victim) == {"alice"})
            removed = []
            victim.subscribe(lambda ev, p: removed.append(ev))
            raw.sendto(good, dst)  # replay
            await _until(lambda: victim.transport.codec.drops["replay"] == 1)
        finally:
            raw.close()
        drops = victim.transport.codec.drops
        assert drops["bad_key"] == 1 and drops["bad_signature"] == 1 and drops["replay"] == 1
        assert [p.name for p in victim.peers()] == ["alice"]
        await victim.stop()
        victim.transport.close()

    asyncio.run(main())


def test_game_and_chat_discovery_do_not_mix() -> None:
    async def main() -> None:
        game = await node("g1")
        chat = await node("c1", [f"{LO}:{game.transport.port}"], service_type="_p2prace-chat._udp.local.")
        game2 = await node("g2", [f"{LO}:{game.transport.port}"])
        await _until(lambda: names(game) == {"g2"})
        await asyncio.sleep(0.3)
        assert names(game) == {"g2"} and names(chat) == set()
        for x in (game, chat, game2):
            await x.stop()
            x.transport.close()

    asyncio.run(main())
