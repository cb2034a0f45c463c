"""Network interface facts: names, addresses, and whether they can carry multicast.

Used by discovery (which interfaces to announce on) and `doctor` (why no peer shows up).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

import ifaddr

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_MULTICAST = 0x1000

DEFAULT_GAME_PORT = 47800
DEFAULT_CHAT_PORT = 47801
MDNS_PORT = 5353


@dataclass
class Interface:
    name: str
    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    up: bool = True
    multicast: bool = True
    loopback: bool = False

    def to_json(self) -> dict:
        return {
            "name": self.name, "ipv4": self.ipv4, "ipv6": self.ipv6, "up": self.up,
            "multicast": self.multicast, "loopback": self.loopback,
        }


def _flags(name: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{name}/flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def interfaces() -> list[Interface]:
    """Every interface with at least one address; flags from /sys where available."""
    result = []
    for adapter in ifaddr.get_adapters():
        iface = Interface(adapter.nice_name)
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                iface.ipv4.append(ip.ip)
            else:
                iface.ipv6.append(ip.ip[0])
        flags = _flags(adapter.nice_name)
        if flags is not None:
            iface.up = bool(flags & IFF_UP)
            iface.multicast = bool(flags & IFF_MULTICAST)
            iface.loopback = bool(flags & IFF_LOOPBACK)
        else:
            iface.loopback = any(ipaddress.ip_address(a).is_loopback for a in iface.ipv4)
        if iface.ipv4 or iface.ipv6:
            result.append(iface)
    return result


def lan_ipv4(interface: str | None = None) -> list[str]:
    """IPv4 addresses to announce: the chosen interface (name or IP), else every up,
    multicast-capable, non-loopback one; loopback only when nothing else exists."""
    ifaces = interfaces()
    if interface:
        for iface in ifaces:
            if iface.name == interface or interface in iface.ipv4:
                return [interface] if interface in iface.ipv4 else list(iface.ipv4)
        return []
    chosen = [a for i in ifaces if i.up and i.multicast and not i.loopback for a in i.ipv4]
    if chosen:
        return chosen
    return [a for i in ifaces if i.loopback for a in i.ipv4] or ["127.0.0.1"]


def can_bind_udp(port: int, host: str = "0.0.0.0", reuse: bool = False) -> str | None:
    """None when a UDP socket can bind `port`, else the OS error text."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        sock.close()
    return None
