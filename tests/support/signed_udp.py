"""A tiny program for the LAN-host tests: send or receive signed datagrams.

    python -m tests.support.signed_udp recv PORT COUNT SENDER_SEED
    python -m tests.support.signed_udp send HOST PORT COUNT SENDER_SEED
    python -m tests.support.signed_udp mrecv GROUP PORT IFACE_IP COUNT SENDER_SEED

Receivers print one JSON line per accepted message and a final line with the drop counts.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

from p2p_race.identity import Identity
from p2p_race.wire import Codec
from tests.wire_samples import SampleState


def main(argv: list[str]) -> int:
    mode = argv[0]
    me = Identity.from_seed(b"receiver")
    if mode == "send":
        host, port, count, seed = argv[1], int(argv[2]), int(argv[3]), argv[4].encode()
        codec = Codec(Identity.from_seed(seed))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if host.startswith("224."):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        for i in range(count):
            msg = SampleState(tick=i, x=0.5, y=float(i), speed=20.0, score=i, crashed=False, lane=1)
            sock.sendto(codec.encode(msg, time.time()), (host, port))
        return 0
    sender = Identity.from_seed(argv[-1].encode())
    codec = Codec(me, key_lookup={sender.peer_id: sender.public_key}.get)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "mrecv":
        group, port, iface, count = argv[1], int(argv[2]), argv[3], int(argv[4])
        sock.bind(("", port))
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(iface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    else:
        port, count = int(argv[1]), int(argv[2])
        sock.bind(("", port))
    print(json.dumps({"ready": True}), flush=True)
    sock.settimeout(20)
    got = 0
    try:
        while got < count:
            data, addr = sock.recvfrom(2048)
            pkt = codec.decode(data)
            if pkt is not None:
                got += 1
                print(json.dumps({"tick": pkt.msg.tick, "from": addr[0], "sender": pkt.sender}), flush=True)
    except TimeoutError:
        pass
    print(json.dumps({"done": got, "drops": dict(codec.drops)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
