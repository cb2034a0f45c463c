"""A scripted discovery peer on a bare UDP socket, for tests that play an honest newcomer or
a hostile one (fresh identities, spoofed sources, relayed datagrams) against real peers.

    peer = RawPeer(Identity.from_seed(b"x"), SERVICE_TYPE)
    peer.join(("10.99.0.10", 47800))        # greeting, challenge, answer: listed over there

`spoof_udp` sends one UDP datagram with any IPv4 source address through a raw socket
(root, e.g. inside a LAN test host), so the reply goes to someone who never asked.
"""

from __future__ import annotations

import socket
import struct
import time

from discovery.messages import Heartbeat, Hello, Leave, padded
from p2p_race.identity import Identity
from p2p_race.wire import STREAM_GAME, Codec, Packet
from tests.support.pacing import paced

Addr = tuple[str, int]


class RawPeer:
    def __init__(self, identity: Identity, service: str, name: str = "raw", *, bind: Addr = ("0.0.0.0", 0),
                 stream: int = STREAM_GAME, sock: socket.socket | None = None) -> None:
        self.identity = identity
        self.service = service
        self.name = name
        self.codec = Codec(identity, stream=stream)
        self.keys: dict[str, bytes] = {}
        self.codec.key_lookup = self.keys.get
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if sock is None:
            self.sock.bind(bind)
        self.port = self.sock.getsockname()[1]

    def hello(self, reply: bool = True, cookie: bytes = b"", echo: bytes = b"", pad: bool = True) -> bytes:
        msg = Hello(self.identity.public_key, self.service, self.name, self.port, 0, "lobby", "", reply,
                    (), cookie, echo)
        return self.codec.encode(padded(msg) if pad else msg, time.time())

    def heartbeat(self) -> bytes:
        return self.codec.encode(Heartbeat("lobby", "", time.monotonic(), 0.0, 0.0), time.time())

    def leave(self) -> bytes:
        return self.codec.encode(Leave("bye"), time.time())

    def send(self, data: bytes, dst: Addr) -> None:
        self.sock.sendto(data, dst)

    def recv(self, timeout: float) -> tuple[Packet | None, Addr | None, int]:
        """The next datagram: (verified packet or None, source, size); (None, None, 0) on timeout."""
        self.sock.settimeout(timeout)
        try:
            data, addr = self.sock.recvfrom(2048)
        except TimeoutError:
            return None, None, 0
        packet = self.codec.decode(data)
        if packet is not None and isinstance(packet.msg, Hello):
            self.keys[packet.sender] = packet.msg.public_key
        return packet, (addr[0], addr[1]), len(data)

    def join(self, dst: Addr, timeout: float = 5.0) -> Hello:
        """Greet `dst` until it challenges us, then echo its cookie: it lists us. Returns the
        challenge hello (its cookie for us is what a later hello must echo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send(self.hello(True), dst)
            got_until = time.monotonic() + 0.3
            while time.monotonic() < min(got_until, deadline):
                packet, src, _ = self.recv(max(0.01, got_until - time.monotonic()))
                if packet is not None and src == dst and isinstance(packet.msg, Hello) and packet.msg.cookie:
                    self.send(self.hello(False, echo=packet.msg.cookie), dst)
                    return packet.msg
        raise TimeoutError(f"{dst} never challenged our greeting")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoof_udp(src: Addr, dst: Addr, payload: bytes, sock: socket.socket | None = None) -> None:
    """Send `payload` from the forged source `src` (needs CAP_NET_RAW)."""
    own = sock is None
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0)  # checksum 0: none (allowed over IPv4)
    try:
        sock.sendto(ip + udp + payload, (dst[0], 0))
    finally:
        if own:
            sock.close()


class Flock:
    """Many identities on their own sockets (spread over `hosts`, local addresses of this
    test host), each joining `dst` and then beating every 0.25 s: a table flood, or a crowd
    that makes a victim know many peers. One thread, one selector, no sleeps."""

    def __init__(self, service: str, n: int, hosts: list[str], seed: bytes = b"flock", stream: int = STREAM_GAME) -> None:
        self.peers = [RawPeer(Identity.from_seed(seed + b"%d" % i), service, f"f{i}", bind=(hosts[i % len(hosts)], 0),
                              stream=stream) for i in range(n)]
        for p in self.peers:
            p.sock.setblocking(False)
        self.joined: set[int] = set()
        self.sent_bytes = 0

    def run(self, dst: Addr, seconds: float, rate: float = 400.0) -> None:
        """Greet at up to `rate` new identities per second, answer challenges, and beat every
        identity the victim listed (it beat us first) every 0.25 s."""
        import selectors

        from discovery.messages import Heartbeat as _Hb

        sel = selectors.DefaultSelector()
        for i, p in enumerate(self.peers):
            sel.register(p.sock, selectors.EVENT_READ, i)
        start = time.monotonic()
        next_beat = [0.0] * len(self.peers)
        greeted_at = [-1.0] * len(self.peers)
        next_pass = 0.0
        while (now := time.monotonic()) - start < seconds:
            if now >= next_pass:  # timers every 50 ms: cheap enough for hundreds of identities
                next_pass = now + 0.05
                allowed = int((now - start) * rate) + 1
                for i, p in enumerate(self.peers[:allowed]):
                    if i in self.joined:
                        if now >= next_beat[i]:
                            next_beat[i] = now + 0.25
                            self._send(p, p.heartbeat(), dst)
                    elif now - greeted_at[i] > 0.5:
                        greeted_at[i] = now
                        self._send(p, p.hello(True), dst)
            for key, _ in sel.select(0.01):
                i, p = key.data, self.peers[key.data]
                while True:
                    try:
                        data, src = p.sock.recvfrom(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    if i in self.joined or len(data) < 6:
                        continue
                    if data[5] == _Hb.TYPE_ID:
                        self.joined.add(i)  # it beats us: we are listed
                        continue
                    packet = p.codec.decode(data)
                    if packet is not None and isinstance(packet.msg, Hello) and packet.msg.cookie:
                        self._send(p, p.hello(False, echo=packet.msg.cookie), dst)
        sel.close()

    def _send(self, p: RawPeer, data: bytes, dst: Addr) -> None:
        try:
            p.sock.sendto(data, dst)
            self.sent_bytes += len(data)
        except BlockingIOError:
            pass

    def close(self) -> None:
        for p in self.peers:
            p.sock.close()


def count(host: str, port: int, seconds: float) -> None:
    """Count the bytes that reach host:port (the address a spoofer names as its source)."""
    import json

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.settimeout(0.2)
    total = n = 0
    print(json.dumps({"ready": True}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, _ = s.recvfrom(4096)
        except TimeoutError:
            continue
        total += len(data)
        n += 1
        print(json.dumps({"bytes": total, "datagrams": n}), flush=True)
    print(json.dumps({"done": True, "bytes": total, "datagrams": n}), flush=True)


def spoof_hellos(victim: Addr, spoofed: Addr, n: int, service: str) -> dict:
    """One plain (unpadded, ~170 B) hello and `n` padded greetings of fresh identities, all
    from the forged source `spoofed`; returns the bytes sent."""
    me = Identity.from_seed(b"spoofer")
    small = Codec(me).encode(Hello(me.public_key, service, "x", 1, 0, "lobby", "", True), time.time())
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    spoof_udp(spoofed, victim, small, raw)
    sent = len(small)
    for i in paced(range(n), 0.06):
        peer = RawPeer(Identity.from_seed(b"sp%d" % i), service, "x")
        data = peer.hello(True)
        peer.sock.close()
        spoof_udp(spoofed, victim, data, raw)
        sent += len(data)
    raw.close()
    return {"sent": sent, "small": len(small)}


def main(argv: list[str]) -> int:
    """`python -m tests.support.rawpeer MODE ...`, one JSON line of results at the end:
    flock HOST PORT N SECONDS SRC_IP[,SRC_IP...]   identities that join and beat
    count HOST PORT SECONDS                         bytes arriving at HOST:PORT
    spoof VICTIM VPORT SRC SPORT N                  spoofed-source hellos"""
    import json

    from discovery.txt import SERVICE_TYPE

    mode = argv[0]
    if mode == "flock":
        host, port, n, seconds, srcs = argv[1], int(argv[2]), int(argv[3]), float(argv[4]), argv[5].split(",")
        flock = Flock(SERVICE_TYPE, n, srcs)
        print(json.dumps({"ready": True}), flush=True)
        flock.run((host, port), seconds)
        print(json.dumps({"joined": len(flock.joined), "sent_bytes": flock.sent_bytes}), flush=True)
        flock.close()
    elif mode == "count":
        count(argv[1], int(argv[2]), float(argv[3]))
    elif mode == "spoof":
        res = spoof_hellos((argv[1], int(argv[2])), (argv[3], int(argv[4])), int(argv[5]), SERVICE_TYPE)
        print(json.dumps(res), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
