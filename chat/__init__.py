"""Chat: a service per peer (its own process) meshed with the other peers' services, a
signed, Lamport-ordered, deduplicated message log, and clients that fall back to any live
service. See README.md ("Chat") and docs/ARCHITECTURE.md section 5."""
