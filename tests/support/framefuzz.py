"""Fuzzers for the two TCP framings (chat mesh/clients, score sync): mutated frame streams
through the sans-I/O decoder, the body decoders and the protocol cores. A case passes when
nothing raises but the framing's own errors (FrameError; ValueError from sync `decode`).

    python -m tests.support.framefuzz [CASES]    both fuzzers, figures as JSON

Used by tests/test_fuzz_framing.py (a short run; the full >= 100k cases under `slow`).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from typing import Any

from chat.core import ChatNode
from chat.framing import FrameDecoder, FrameError, decode_body, encode_frame
from chat.history import History
from chat.message import ChatMessage, InvalidMessage
from chat.service import PEER_FRAME
from p2p_race.framing import frame
from p2p_race.identity import Identity
from replication.fixtures import make_result
from replication.store import ResultStore
from replication.sync import (
    MAX_FRAME,
    Digest,
    Done,
    Offer,
    Records,
    Request,
    SyncPeer,
    decode,
    encode,
)

T0 = 1_800_000_000.0
_VALUES: list[Any] = [None, True, 0, -1, 2**63, 2**62 - 1, 1.5, float("inf"), "", "x" * 70, "\x1b[2J",
                      "ab" * 16, [], [1], ["ab" * 16], {}, {"t": "push"}, [[0, 0, 0]] * 3]


def _mutate_json(obj: Any, rng: random.Random) -> Any:
    """Replace one value somewhere in `obj` with a value of another kind."""
    if isinstance(obj, dict) and obj:
        k = rng.choice(list(obj))
        out = dict(obj)
        out[k] = _mutate_json(obj[k], rng) if rng.random() < 0.5 else rng.choice(_VALUES)
        if rng.random() < 0.1:
            out.pop(k)
        return out
    if isinstance(obj, list) and obj:
        out = list(obj)
        i = rng.randrange(len(out))
        out[i] = _mutate_json(out[i], rng) if rng.random() < 0.5 else rng.choice(_VALUES)
        if rng.random() < 0.1:
            out = out * rng.randint(2, 50)
        return out
    return rng.choice(_VALUES)


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and b:
            i = rng.randrange(len(b))
            del b[i:i + rng.randint(1, 16)]
        elif op == 4 and len(b) >= 4:
            b[0:4] = rng.choice([0, 1, 3, len(b), 2**31, 2**32 - 1, rng.randrange(2**32)]).to_bytes(4, "big")
        elif op == 5:
            b = b[:rng.randrange(len(b) + 1)]
    return bytes(b)


def _feed(decoder: FrameDecoder, stream: bytes, rng: random.Random) -> list[bytes]:
    """The frames the decoder yields for `stream` fed in random pieces (FrameError ends it)."""
    out = []
    i = 0
    while i < len(stream):
        n = rng.randint(1, 4096)
        decoder.feed(stream[i:i + n])
        i += n
        while (body := decoder.next_frame()) is not None:
            out.append(body)
    return out


def chat_corpus() -> list[dict[str, Any]]:
    a, b = Identity.from_seed(b"fuzz-a"), Identity.from_seed(b"fuzz-b")
    msgs = [ChatMessage.create(who, name="fuzz", channel=ch, text=f"line {i}", clock=i + 1, t=T0 + i)
            for i, (who, ch) in enumerate([(a, "lobby"), (b, "match:m1"), (a, "lobby")])]
    wire = [m.to_wire() for m in msgs]
    return [
        {"t": "hello", "role": "peer", "id": "ab" * 8, "name": "p", "port": 5, "peers": [["10.0.0.1", 5]]},
        {"t": "hello", "role": "client", "id": "query"},
        {"t": "push", "m": wire[0]}, {"t": "msgs", "m": wire}, {"t": "digest", "d": "3:" + "0" * 32},
        {"t": "buckets", "b": ["0:" + "0" * 32] * 64}, {"t": "offer", "ids": [m.id for m in msgs]},
        {"t": "req", "ids": [m.id for m in msgs]}, {"t": "ack", "ids": [msgs[0].id]},
        {"t": "submit", "m": wire[1]}, {"t": "hist", "channel": "lobby", "limit": 5}, {"t": "sub"},
    ]


def fuzz_chat(cases: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    corpus = chat_corpus()
    node = ChatNode(History(), wall=lambda: T0 + 100)
    node.link_up("fuzz", 0.0)
    stats: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for case in range(cases):
        objs = [rng.choice(corpus) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.6:
            objs = [_mutate_json(o, rng) for o in objs]
        stream = b"".join(encode_frame(o) for o in objs)
        if rng.random() < 0.5:
            stream = _mutate_bytes(stream, rng)
        try:
            bodies = _feed(FrameDecoder(PEER_FRAME), stream, rng)
        except FrameError:
            stats["frame_error"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - a crash is what the fuzzer looks for
            crashes.append(f"case {case} decoder: {exc!r}")
            continue
        for body in bodies:
            try:
                obj = decode_body(body)
            except FrameError:
                stats["bad_body"] += 1
                continue
            except Exception as exc:  # noqa: BLE001
                crashes.append(f"case {case} body: {exc!r}")
                continue
            try:
                node.on_frame("fuzz", obj, case * 0.001)
                if obj.get("t") == "submit":
                    try:
                        node.submit(ChatMessage.from_wire(obj.get("m")), case * 0.001)
                    except InvalidMessage:
                        stats["invalid_submit"] += 1
                stats["frames"] += 1
            except Exception as exc:  # noqa: BLE001
                crashes.append(f"case {case} core: {exc!r}")
    return {"cases": cases, "crashes": len(crashes), "first_crashes": crashes[:5], **stats,
            "seconds": round(time.perf_counter() - started, 2)}


def fuzz_sync(cases: int, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    store = ResultStore(path=":memory:")
    pool = [make_result(i) for i in range(4)]
    store.add(pool[0])
    corpus = [json.loads(encode(m)) for m in (
        Digest({1: (5, 1), 7: (-3, 2)}), Offer((1, 2), ("m1", pool[1].match_id)),
        Request((pool[0].match_id,)), Records((pool[1].to_json(), pool[2].to_json())), Done())]
    peer = SyncPeer(store)
    stats: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for case in range(cases):
        objs = [rng.choice(corpus) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.6:
            objs = [_mutate_json(o, rng) for o in objs]
        stream = b"".join(frame(json.dumps(o).encode(), MAX_FRAME) for o in objs)
        if rng.random() < 0.5:
            stream = _mutate_bytes(stream, rng)
        try:
            bodies = _feed(FrameDecoder(MAX_FRAME), stream, rng)
        except FrameError:
            stats["frame_error"] += 1
            continue
        except Exception as exc:  # noqa: BLE001
            crashes.append(f"case {case} decoder: {exc!r}")
            continue
        for body in bodies:
            try:
                msg = decode(body)
            except ValueError:
                stats["malformed"] += 1
                continue
            except Exception as exc:  # noqa: BLE001
                crashes.append(f"case {case} decode: {exc!r}")
                continue
            try:
                peer.handle(msg)
                stats["frames"] += 1
            except Exception as exc:  # noqa: BLE001
                crashes.append(f"case {case} core: {exc!r}")
    bad = store.ids() - {r.match_id for r in pool}
    return {"cases": cases, "crashes": len(crashes), "first_crashes": crashes[:5], "foreign_records": len(bad),
            **stats, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)  # refused records are logged one by one
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps({"chat": fuzz_chat(n), "sync": fuzz_sync(n)}, indent=1))
