"""A short, explicit discovery run for `doctor --listen S`: who answers, and which peers
advertise themselves over mDNS but never answer on UDP (the firewall / subnet symptom).
Only run when asked: it joins the LAN as a peer for a few seconds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from discovery.service import Discovery, bind_host
from discovery.table import MemoryPins
from p2p_race.identity import Identity
from p2p_race.transport import UdpTransport


@dataclass
class ProbeResult:
    seconds: float
    port: int = 0
    peers: list[dict] = field(default_factory=list)
    silent: list[dict] = field(default_factory=list)  # {"id", "address"}
    mdns_error: str | None = None
    drops: dict[str, int] = field(default_factory=dict)


def probe(identity: Identity, name: str, *, interface: str | None, peers: list[str], seconds: float,
          port: int = 0) -> ProbeResult:
    return asyncio.run(_probe(identity, name, interface, peers, seconds, port))


async def _probe(identity: Identity, name: str, interface: str | None, peers: list[str], seconds: float,
                 port: int) -> ProbeResult:
    transport = UdpTransport(identity, host=bind_host(interface), port=port)
    disco = Discovery(identity, transport, name, interface=interface, peers=peers, pins=MemoryPins())
    await transport.start()
    result = ProbeResult(seconds, transport.port)
    try:
        await disco.start()
        await asyncio.sleep(seconds)
        result.peers = [p.to_json() for p in disco.peers()]
        result.silent = [{"id": pid, "address": f"{host}:{p}"} for pid, (host, p) in disco.table.silent()]
        result.mdns_error = disco.mdns.error if disco.mdns else None
        result.drops = dict(transport.codec.drops)
    finally:
        await disco.stop("doctor")
        transport.close()
    return result
