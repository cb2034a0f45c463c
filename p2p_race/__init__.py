"""p2p-race: a serverless LAN racing game. Every peer is equal; see README.md."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 2  # 2: the growing road (issue 13): old peers would see another road
