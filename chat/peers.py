"""Where a chat service finds the other peers' chat services: pluggable sources.

A source yields (host, port) addresses of chat services; the service dials each one it is
not linked with, and shares its live links with every peer and client (so one known
address is enough to join the whole mesh). Sources: `StaticPeers` (--peer, config), and
`DiscoverySource` (zeroconf + hellos via `discovery.Discovery`, own service type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from p2p_race import netinfo

Addr = tuple[str, int]


class PeerSource(Protocol):
    async def start(self, service: Any) -> None: ...

    def addresses(self) -> Iterable[Addr]: ...

    async def stop(self) -> None: ...


def parse_addr(value: Any, default_port: int = netinfo.DEFAULT_CHAT_PORT) -> Addr | None:
    """`HOST[:PORT]`, `[V6]:PORT`, (host, port) or [host, port] -> (host, port); None if bad."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        host, port = value
        if isinstance(host, str) and host and isinstance(port, int) and 0 < port < 65536 and len(host) < 256:
            return host, port
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        return None
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def chat_addr_of_game_peer(value: str) -> Addr | None:
    """A config `peers` entry names a peer's game address; its chat service listens on the
    same host at the default chat port."""
    addr = parse_addr(value)
    return (addr[0], netinfo.DEFAULT_CHAT_PORT) if addr else None


class StaticPeers:
    """A fixed list of addresses (--peer, config `peers`)."""

    def __init__(self, addrs: Iterable[Addr]) -> None:
        self._addrs = list(addrs)

    async def start(self, service: Any) -> None:
        return None

    def addresses(self) -> list[Addr]:
        return list(self._addrs)

    async def stop(self) -> None:
        return None


def discovery_source(identity: Any, name: str, interface: str | None,
                     data_dir: Any = None) -> PeerSource | None:
    """A zeroconf-backed source when the discovery package is available, else None."""
    try:
        from chat.disco import DiscoverySource
    except ImportError:
        return None
    pins = None
    if data_dir is not None:
        from p2p_race.identity import PinStore

        pins = PinStore(data_dir)
    return DiscoverySource(identity, name, interface, pins=pins)
