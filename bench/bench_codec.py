"""Wire codec throughput: encode+sign and decode+verify per second, datagram sizes."""

from __future__ import annotations

import time

from p2p_race.identity import Identity
from p2p_race.wire import OVERHEAD, Codec
from tests.wire_samples import SampleState

TITLE = "Wire codec (Ed25519-signed datagrams)"


def run(quick: bool) -> list[dict]:
    n = 5_000 if quick else 50_000
    alice, bob = Identity.from_seed(b"a"), Identity.from_seed(b"b")
    tx = Codec(alice, initial_seq=1)
    rx = Codec(bob, key_lookup={alice.peer_id: alice.public_key}.get, window=n + 10)
    msgs = [SampleState(tick=i, x=1.0, y=float(i), speed=30.0, score=i, crashed=False, lane=1) for i in range(n)]
    t0 = time.perf_counter()
    grams = [tx.encode(m, 1_700_000_000 + i / 60) for i, m in enumerate(msgs)]
    t1 = time.perf_counter()
    ok = sum(1 for g in grams if rx.decode(g) is not None)
    t2 = time.perf_counter()
    assert ok == n
    enc, dec = n / (t1 - t0), n / (t2 - t1)
    # a peer receiving 15 racers at 60 Hz decodes 900 datagrams/s
    load = 900 / dec * 100
    return [
        {"metric": "encode + sign", "value": enc, "unit": "datagrams/s"},
        {"metric": "decode + verify + replay check", "value": dec, "unit": "datagrams/s"},
        {"metric": "state datagram size", "value": len(grams[0]), "unit": "bytes",
         "note": f"{OVERHEAD} bytes header+signature; limit 1200"},
        {"metric": "CPU to verify 15 racers x 60 Hz", "value": load, "unit": "% of a core",
         "target": "< 30 % (whole inbound path)", "ok": load < 30},
    ]
