"""Discovery and presence: DNS-SD (zeroconf) announcements plus signed hellos, heartbeats
and leaves over the game's UDP socket, kept in a sans-I/O peer table.

    disco = Discovery(identity, transport, name="alice")
    await disco.start(); disco.subscribe(lambda event, peer: ...); disco.peers()
"""

from discovery.messages import Heartbeat, Hello, Leave, PeerList, PeerRef
from discovery.service import Discovery, bind_host, parse_peer_address
from discovery.table import HEARTBEAT_INTERVAL, TIMEOUT, MemoryPins, Peer, PeerTable
from discovery.txt import SERVICE_TYPE, TxtRecord, build_txt, instance_name, parse_txt

__all__ = [
    "HEARTBEAT_INTERVAL", "SERVICE_TYPE", "TIMEOUT", "Discovery", "Heartbeat", "bind_host", "Hello", "Leave",
    "MemoryPins", "Peer", "PeerList", "PeerRef", "PeerTable", "TxtRecord", "build_txt",
    "instance_name", "parse_peer_address", "parse_txt",
]
