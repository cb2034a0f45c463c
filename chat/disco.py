"""Finding other chat services with the project's discovery (zeroconf + signed hellos).

The chat service is its own process (it must run with no game), so it runs its own
`discovery.Discovery` on its own UDP socket (stream STREAM_CHAT) under its own DNS-SD
service type, advertising its TCP chat port in the TXT record (`cp`). Every live peer in
that table is a chat service to dial at (address, chat_port).
"""

from __future__ import annotations

import logging
from typing import Any

from discovery.service import Discovery
from p2p_race.transport import UdpTransport
from p2p_race.wire import STREAM_CHAT

log = logging.getLogger(__name__)

CHAT_SERVICE_TYPE = "_p2prace-chat._udp.local."

Addr = tuple[str, int]


class DiscoverySource:
    def __init__(self, identity: Any, name: str, interface: str | None = None, *,
                 service_type: str = CHAT_SERVICE_TYPE, udp_host: str = "0.0.0.0", pins: Any = None) -> None:
        self.identity = identity
        self.name = name
        self.interface = interface
        self.service_type = service_type
        self.udp_host = udp_host
        self.pins = pins  # the data dir's PinStore: the chat service meets peers too
        self.transport: UdpTransport | None = None
        self.disco: Discovery | None = None

    async def start(self, service: Any) -> None:
        self.transport = UdpTransport(self.identity, host=self.udp_host, port=0, stream=STREAM_CHAT)
        await self.transport.start()
        self.disco = Discovery(self.identity, self.transport, self.name,
                               service_type=self.service_type, interface=self.interface,
                               chat_port=service.port, state="lobby", pins=self.pins)
        try:
            await self.disco.start()
        except Exception:  # noqa: BLE001 - no multicast here: --peer and peer sharing remain
            log.exception("chat discovery failed to start; use --peer HOST:PORT")
            self.disco = None

    def addresses(self) -> list[Addr]:
        if self.disco is None:
            return []
        out: list[Addr] = []
        for p in self.disco.peers():
            if not p.chat_port:
                continue
            hosts = ([p.addr[0]] if p.addr else []) + [a for a in p.addresses if ":" not in a]
            for h in dict.fromkeys(hosts):
                out.append((h, p.chat_port))
        return out

    def table(self) -> list[Any]:
        return self.disco.peers() if self.disco is not None else []

    async def stop(self) -> None:
        if self.disco is not None:
            await self.disco.stop()
        if self.transport is not None:
            self.transport.close()
