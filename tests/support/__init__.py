"""Test infrastructure shared by every area: LAN test hosts, a lossy UDP relay, a simulator."""
