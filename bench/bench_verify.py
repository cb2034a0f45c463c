"""Input-verified racing: log sizes, replay verification time, live verification cost.

- input log: a 3-minute race driven by the best bot (BotDriver skill 1.0), encoded as
  stored (replay.codec.encode_log); the worst case is a new input every tick.
- record verification: a synced 3-minute record of 16 racers (bots), checked end to end
  by `replication.evidence.accept_problem` (signatures, term proof, replay of every log);
  cold (nothing cached: a peer that never saw the match) and warm (the logs were replayed
  live already, so the batch check hits the replay cache).
- live verification: feeding 15 racers' input windows at 60 Hz into `LiveVerifier` and
  comparing every claimed state, as every peer does during a match.
"""

from __future__ import annotations

import time

TITLE = "Input-verified racing: log sizes, replay verification"


def _drive(rules, peer_id: str) -> bytes:
    from p2p_race.bots import BotDriver
    from p2p_race.replay.codec import code_of
    from p2p_race.replay.verify import shared_traffic, start_x
    from p2p_race.sim.car import CarSim

    car = CarSim(rules, peer_id, start_x=start_x(peer_id), traffic=shared_traffic(rules))
    drv = BotDriver(peer_id, 1.0)
    codes = bytearray()
    while not car.finished:
        i = drv.decide(car, car.traffic)
        codes.append(code_of(i))
        car.step(i)
    return bytes(codes)


def _record(n: int, seconds: float):
    from p2p_race.match.proof import creator_proof
    from p2p_race.replay.codec import encode_log
    from p2p_race.sim.rules import Rules
    from replication.evidence import attested, proof_bytes
    from replication.fixtures import identity
    from replication.records import adjudicate

    players = [identity(f"bench{i}") for i in range(n)]
    host = players[0]
    nonce = (7).to_bytes(8, "big")
    proof = creator_proof(host.public_key, nonce)
    mid = proof.match_id.hex()
    rules = Rules(7, seconds, "normal")
    drives = {p.peer_id: _drive(rules, p.peer_id) for p in players}
    racers = [attested(p, f"bench{i}", mid, 7, seconds, "normal", drives[p.peer_id]) for i, p in enumerate(players)]
    logs = {pid: encode_log(c) for pid, c in drives.items()}
    rec = adjudicate(mid, 7, seconds, host.peer_id, 1, 1.7e9, 1.7e9 + seconds + 1, racers,
                     term_proof=proof_bytes(proof), logs=logs).signed(host)
    return rec, drives


def run(quick: bool) -> list[dict]:
    return replay_rows(quick) + inbound(quick)


def replay_rows(quick: bool) -> list[dict]:
    from p2p_race.match.replays import InputRecorder, LiveVerifier
    from p2p_race.replay.codec import encode_log, inputs_of, max_log_bytes
    from p2p_race.replay.verify import clear_cache, start_x
    from p2p_race.sim.car import CarSim
    from replication.evidence import accept_problem

    seconds = 60.0 if quick else 180.0
    n = 4 if quick else 16
    rec, drives = _record(n, seconds)
    sizes = [len(lg) for lg in rec.logs]
    rows: list[dict] = [
        {"metric": f"input log of a {seconds:.0f} s race (best bot)", "value": max(sizes), "unit": "bytes",
         "target": "<= 8 KB per racer", "ok": max(sizes) <= 8192,
         "note": f"largest of {n} racers (median {sorted(sizes)[len(sizes) // 2]}); RLE; a new input every tick "
                 f"would be {max_log_bytes(int(seconds * 60))} bytes at most (packed, 2 ticks a byte)"},
    ]
    ticks = sum(len(c) for c in drives.values())
    colds = []
    for _ in range(1 if quick else 3):
        clear_cache()
        t0 = time.perf_counter()
        why = accept_problem(rec)
        colds.append(time.perf_counter() - t0)
        assert why is None, why
    t0 = time.perf_counter()
    assert accept_problem(rec) is None
    warm = time.perf_counter() - t0
    cold = min(colds)
    rows.append({"metric": f"verify a synced {seconds:.0f} s record of {n} racers, cold", "value": cold * 1000,
                 "unit": "ms", "target": "<= 50 ms", "ok": cold <= 0.05,
                 "note": f"every log replayed ({ticks:,} car-ticks, {ticks / cold:,.0f} car-ticks/s, best of "
                         f"{len(colds)}): a peer that never saw the match; NOT met in pure Python"})
    rows.append({"metric": "verify the same record, logs already replayed live", "value": warm * 1000,
                 "unit": "ms", "target": "<= 50 ms", "ok": warm <= 0.05,
                 "note": "replay cache hit (the case of every peer of the match, and of a record synced twice)"})
    # live: 15 racers x 60 Hz, one state a tick, each with its 4 s input window
    racers = list(drives)[:15]
    from p2p_race.sim.rules import Rules

    rules = Rules(7, seconds, "normal")
    cars = {pid: CarSim(rules, pid, start_x=start_x(pid)) for pid in racers}
    recs = {pid: InputRecorder() for pid in racers}
    stream = []
    span = min(len(c) for c in drives.values()) if quick else min(1800, min(len(c) for c in drives.values()))
    for k in range(span):
        for pid in racers:
            c = drives[pid][k]
            cars[pid].step(inputs_of(c))
            recs[pid].codes.append(c)
            first, runs = recs[pid].window()
            st = cars[pid].state
            stream.append((pid, first, runs, st))
    lv = LiveVerifier("00" * 8, rules)
    t0 = time.process_time()
    for pid, first, runs, st in stream:
        why = lv.check(pid, first, runs, st.tick, st.x, st.y, st.speed, st.score, st.distance, st.crashed,
                       -1.0 if st.crash_time is None else st.crash_time)
        assert why is None, why
    cpu = time.process_time() - t0
    pct = 100 * cpu / (span / 60)
    rows.append({"metric": "live replay verification, 15 racers x 60 Hz", "value": pct, "unit": "% of a core",
                 "note": f"{len(stream):,} states each checked against the replay; window decode + replay + compare"})
    window_bytes = sorted(len(s[2]) for s in stream)
    rows.append({"metric": "input window per state datagram (4 s of inputs)", "value": window_bytes[len(window_bytes) // 2],
                 "unit": "bytes (median)", "note": f"p99 {window_bytes[int(len(window_bytes) * 0.99)]}, "
                 f"at most 123 (240 ticks, two a byte); full log size {len(encode_log(drives[racers[0]]))} B"})
    return rows


# ====================================================================== inbound load
# One real peer (the match host, spectating) takes a full match's inbound traffic: 15 racers'
# states with their input windows (one datagram every STATE_EVERY ticks, as racers send) and
# 31 spectators' pings, pre-signed by a generator process and replayed at the real rate. The
# receiver replays every racer (verify_inputs) and reports its CPU over the stream, and, in
# the same process right after, the CPU of verifying the same datagrams' signatures alone.
def _ident(i: int):
    from p2p_race.identity import Identity

    return Identity.from_seed(f"bench-verify-load-{i}".encode())


def _load_recv(args) -> None:
    import asyncio
    import json
    import random

    from p2p_race.identity import Verifier
    from p2p_race.match import MatchConfig, MatchCore, MatchRules
    from p2p_race.match import messages as m
    from p2p_race.match.events import Send
    from p2p_race.runtime import MATCH_MESSAGES
    from p2p_race.transport import UdpTransport
    from p2p_race.wire import HEADER_SIZE, SIGNATURE_BYTES

    async def main() -> None:
        me = _ident(0)
        core = MatchCore(me.peer_id, "loaded", sign=lambda r: r.signed(me), keys=me, verify=Verifier().verify,
                         rng=random.Random(1),
                         config=MatchConfig(countdown=1.0, auto_start=args.racers, verify_inputs=True))
        t = UdpTransport(me, host="127.0.0.1", port=0)
        sink = ("127.0.0.1", args.sink)
        keys = {}
        for i in range(1, args.racers + args.spectators + 1):
            ident = _ident(i)
            keys[ident.peer_id_bytes] = ident.public_key
            t.set_key(ident.peer_id, ident.public_key)
            t.set_address(ident.peer_id, sink)
        raw: list[bytes] = []
        received = t._received

        def capture(data: bytes, addr) -> None:
            if counts["state"]:
                raw.append(data)
            received(data, addr)

        t._received = capture  # type: ignore[method-assign]
        # The signature checks' own CPU inside this run (the issue's "of which signature
        # checks are ..."), less the cost of the two clock reads that measure each one.
        verify = t.codec._verifier.verify

        def timed_verify(key: bytes, sig: bytes, data: bytes) -> bool:
            c0 = time.process_time()
            ok = verify(key, sig, data)
            if counts["state"]:
                counts["sig"] += time.process_time() - c0
                counts["sigs"] += 1
            return ok

        t.codec._verifier.verify = timed_verify  # type: ignore[method-assign]
        await t.start()
        counts = {"state": 0, "first": 0.0, "last": 0.0, "duty": 0.0, "sig": 0.0, "sigs": 0}

        def apply(acts) -> None:
            for a in acts:
                if isinstance(a, Send) and a.to:
                    t.broadcast(a.msg, a.to)

        def on_msg(packet, addr) -> None:
            if isinstance(packet.msg, m.RacerState):
                if not counts["state"]:
                    counts["first"] = time.monotonic()
                    counts["cpu0"] = time.process_time()
                counts["state"] += 1
                counts["last"] = time.monotonic()
                counts["cpu1"] = time.process_time()
            apply(core.on_message(packet.sender, packet.msg, time.monotonic()))

        for cls in MATCH_MESSAGES:
            t.on(cls, on_msg)
        apply(core.host(MatchRules(seed=args.seed, time_limit=args.limit, max_racers=16, max_spectators=32),
                        time.monotonic(), m.ROLE_SPECTATOR))
        print(json.dumps({"port": t.port, "match_id": core.match.match_id}), flush=True)
        deadline = time.monotonic() + args.seconds + 30
        while time.monotonic() < deadline:  # woken at the core's own deadline, as the runtime does
            c0 = time.process_time()
            apply(core.handle_timer(time.monotonic()))
            due = core.get_timer()
            if counts["state"]:  # the host's own duties (heartbeats, rosters to 46 members)
                counts["duty"] += time.process_time() - c0
            if counts["state"] and time.monotonic() - counts["last"] > 1.0:
                break
            wait = 0.05 if due is None else due - time.monotonic()
            await asyncio.sleep(min(0.05, max(0.0, wait)))
        span = counts["last"] - counts["first"]
        cpu = counts.get("cpu1", 0) - counts.get("cpu0", 0)
        # the floor: the same datagrams' Ed25519 checks alone, same process, same keys
        v = Verifier()
        jobs = [(keys.get(d[7:15]), d[-SIGNATURE_BYTES:], d[:-SIGNATURE_BYTES]) for d in raw if len(d) > HEADER_SIZE]  # sender id: bytes 7..15
        jobs = [j for j in jobs if j[0] is not None]
        c0 = time.process_time()
        ok = sum(v.verify(k, s, b) for k, s, b in jobs)
        floor = (time.process_time() - c0) * (len(raw) / max(1, len(jobs)))
        c0 = time.process_time()
        for _ in range(20_000):
            time.process_time()
        clock_pair = 2 * (time.process_time() - c0) / 20_000
        in_run = max(0.0, counts["sig"] - counts["sigs"] * clock_pair)
        c0 = time.process_time()
        for _ in range(3):
            for k, s, b in jobs[:2000]:
                v.verify(k, s, b)
        rate = 3 * min(2000, len(jobs)) / max(1e-9, time.process_time() - c0)
        mv = core.match.verifier if core.match is not None else None
        diverged = sum(1 for c in mv.live.cars.values() if c.diverged) if mv is not None else -1
        print(json.dumps({"states": counts["state"], "span": span, "cpu": cpu, "duty": counts["duty"], "sig_in_run": in_run,
                          "sigs_in_run": counts["sigs"],
                          "datagrams": len(raw),
                          "floor": floor, "verified_ok": ok, "verify_rate": rate, "diverged": diverged,
                          "drops": dict(t.codec.drops), "rejected": dict(core.rejected)}), flush=True)

    asyncio.run(main())


def _match_traffic(mid: bytes, n_racers: int, n_specs: int, seed: int, limit: float, seconds: float):
    """A full match's inbound datagrams, pre-signed: (joins, frames by tick, state sizes).
    Racers are full-skill bots sending a state with its input window every STATE_EVERY
    ticks; spectators ping twice a second."""
    from p2p_race.bots import BotDriver
    from p2p_race.match import messages as m
    from p2p_race.match.replays import STATE_EVERY, InputRecorder
    from p2p_race.replay.codec import code_of
    from p2p_race.replay.verify import start_x
    from p2p_race.sim import DT, CarSim, Rules
    from p2p_race.wire import Codec

    racers = [_ident(i) for i in range(1, n_racers + 1)]
    specs = [_ident(i) for i in range(n_racers + 1, n_racers + n_specs + 1)]
    codecs = {p.peer_id: Codec(p) for p in racers + specs}
    wall = time.time()
    joins = []
    for p in racers:
        joins.append(codecs[p.peer_id].encode(m.Join(mid, m.ROLE_RACER, p.peer_id[:6]), wall))
        joins.append(codecs[p.peer_id].encode(m.Ready(mid, True), wall))
    for p in specs:
        joins.append(codecs[p.peer_id].encode(m.Join(mid, m.ROLE_SPECTATOR, p.peer_id[:6]), wall))
    rules = Rules(seed, limit)
    ticks = int(seconds / DT)
    frames: list[list[bytes]] = [[] for _ in range(ticks)]
    sizes = []
    for p in racers:
        sim, drv, rec = CarSim(rules, p.peer_id, start_x=start_x(p.peer_id)), BotDriver(p.peer_id, 1.0), InputRecorder()
        c = codecs[p.peer_id]
        for k in range(ticks):
            if sim.finished:
                break
            move = drv.decide(sim, sim.traffic)
            sim.step(move)
            rec.codes.append(code_of(move))
            st = sim.state
            if st.tick % STATE_EVERY and not sim.finished:
                continue
            first, window = rec.window()
            data = c.encode(m.RacerState(mid, st.tick, st.tick, st.x, st.y, st.speed, st.score, st.distance,
                                         st.crashed, st.crash_time if st.crashed else -1.0, first, window),
                            wall + k * DT)
            sizes.append(len(data))
            frames[k].append(data)
    for k in range(0, ticks, 30):  # spectators ping twice a second
        for p in specs:
            frames[k].append(codecs[p.peer_id].encode(m.Ping(mid, k, 0.0), wall + k * DT))
    return joins, frames, sorted(sizes)


def _load_gen(args) -> None:
    import json
    import socket

    from p2p_race.sim import DT

    joins, frames, sizes = _match_traffic(bytes.fromhex(args.match_id), args.racers, args.spectators, args.seed,
                                          args.limit, args.seconds)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.sink))
    sock.setblocking(False)
    dest = ("127.0.0.1", args.port)
    for data in joins:
        sock.sendto(data, dest)
    time.sleep(2.5)  # the countdown (bench helper process, not a test)
    start = time.monotonic()
    for k, frame in enumerate(frames):
        delay = start + k * DT - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for data in frame:
            sock.sendto(data, dest)
        try:
            while True:
                sock.recv(2048)
        except BlockingIOError:
            pass
    print(json.dumps({"sent": sum(len(f) for f in frames), "state_bytes_median": sizes[len(sizes) // 2],
                      "state_bytes_max": sizes[-1]}), flush=True)


def _inproc(seconds: float, paced: bool) -> tuple[float, float]:
    """The same path without sockets or event loop: codec.decode then MatchCore.on_message
    for a full match's datagrams, in one process. Returns (CPU of the path, CPU of the same
    datagrams' signature checks alone), both in seconds. `paced`: the datagrams come tick by
    tick at 60 Hz with the machine idle in between, as from a network; else back to back."""
    import random

    from p2p_race.identity import Verifier
    from p2p_race.match import MatchConfig, MatchCore, MatchRules
    from p2p_race.match import messages as m
    from p2p_race.sim import DT
    from p2p_race.wire import SIGNATURE_BYTES, Codec

    me = _ident(0)
    core = MatchCore(me.peer_id, "inproc", sign=lambda r: r.signed(me), keys=me, verify=Verifier().verify,
                     rng=random.Random(1), config=MatchConfig(countdown=1.0, auto_start=15, verify_inputs=True))
    keys = {_ident(i).peer_id: _ident(i).public_key for i in range(1, 47)}
    rx = Codec(me, key_lookup=keys.get, home=lambda _p, _s: True)
    t0 = 1000.0
    core.host(MatchRules(seed=11, time_limit=seconds + 10, max_racers=16, max_spectators=32), t0, m.ROLE_SPECTATOR)
    mid = bytes.fromhex(core.match.match_id)
    joins, frames, _sizes = _match_traffic(mid, 15, 31, 11, seconds + 10, seconds)

    def feed(data: bytes, now: float) -> None:
        pk = rx.decode(data, "127.0.0.1")
        if pk is not None:
            core.on_message(pk.sender, pk.msg, now)

    for data in joins:
        feed(data, t0)
    now = t0
    while not core.match.started and now < t0 + 10:
        now += 0.05
        core.handle_timer(now)
    c0 = time.process_time()
    for k, frame in enumerate(frames):
        for data in frame:
            feed(data, now + k * DT)
        if paced and frame:
            time.sleep(DT)  # idle until the next tick's datagrams (bench code, not a test)
    path = time.process_time() - c0
    by_id = {bytes.fromhex(pid)[:8]: key for pid, key in keys.items()}
    jobs = [(by_id[d[7:15]], d[-SIGNATURE_BYTES:], d[:-SIGNATURE_BYTES]) for f in frames for d in f]
    v = Verifier()
    c0 = time.process_time()
    for key, sig, body in jobs:
        v.verify(key, sig, body)
    return path, time.process_time() - c0


def inbound(quick: bool) -> list[dict]:
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.proc import cli_env

    root = Path(__file__).resolve().parent.parent
    seconds = 5 if quick else 15
    me = [sys.executable, "-m", "bench.bench_verify"]
    common = ["--racers", "15", "--spectators", "31", "--seed", "11", "--limit", str(seconds + 10),
              "--seconds", str(seconds), "--sink", "47993"]
    env = cli_env()
    recv = subprocess.Popen([*me, "load-recv", *common], stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    try:
        info = json.loads(recv.stdout.readline())
        gen = subprocess.run([*me, "load-gen", *common, "--port", str(info["port"]), "--match-id", info["match_id"]],
                             env=env, cwd=root, capture_output=True, text=True, timeout=seconds + 300)
        res = json.loads(recv.stdout.readline())
        recv.wait(30)
    finally:
        if recv.poll() is None:
            recv.kill()
    g = json.loads(gen.stdout.strip().splitlines()[-1])
    inproc_rows = []
    for paced in (False, True):
        path, sig = _inproc(seconds, paced)
        inproc_rows.append(
            {"metric": "the same path in one process, " + ("paced at 60 Hz" if paced else "back to back"),
             "value": path / sig, "unit": "x its signature checks",
             "note": "codec.decode + MatchCore.on_message, no socket or event loop; " +
                     ("the datagrams arrive tick by tick with the machine idle in between, as in the run above: "
                      "the same code costs more after each idle gap" if paced else
                      "every datagram right after the other: the Python of the path itself")})
    span = res["span"] or float("nan")
    total = 100 * res["cpu"] / span
    duty = 100 * res["duty"] / span
    pct = total - duty
    floor = 100 * res["sig_in_run"] / span  # the signature checks' CPU inside the run
    hot = 100 * res["floor"] / span  # the same checks again, alone, in a tight loop
    ratio = pct / floor if floor else float("nan")
    slow = total * res["verify_rate"] / 6600.0  # a machine at 6,600 Ed25519 verifies/s
    note = (f"{res['states']} states in {res['span']:.1f} s, {res['datagrams']} datagrams; "
            f"drops {res['drops']}, diverged {res['diverged']}, rejected {res['rejected']}")
    return [
        {"metric": "inbound path CPU, replay verification on", "value": pct, "unit": "% of a core",
         "target": "< 30 %", "ok": pct < 30,
         "note": "15 racers (a datagram every 3 ticks, 4 s of inputs each) + 31 spectators: the process's CPU "
                 "less its timer duties (next row); " + note},
        {"metric": "the receiving host's own timer duties, same run", "value": duty, "unit": "% of a core",
         "note": "heartbeats and rosters to 46 members, silence checks: what a host does whatever it receives"},
        {"metric": "whole process (inbound path + host duties)", "value": total, "unit": "% of a core",
         "target": "< 30 %", "ok": total < 30},
        {"metric": "signature-verification floor, same run", "value": floor, "unit": "% of a core",
         "note": f"the CPU of the run's own {res['sigs_in_run']:,} Ed25519 checks (timed in place, clock reads "
                 f"subtracted); the same checks alone in a tight loop: {hot:.3f} %, "
                 f"{res['verify_rate']:,.0f} verifies/s"},
        {"metric": "inbound path / signature floor", "value": ratio, "unit": "x", "target": "<= 1.5x",
         "ok": ratio <= 1.5,
         "note": (f"against the tight-loop floor {pct / hot:.2f}x; whole process / floor {total / floor:.2f}x; "
                  "the rest: payload decoding, replay of 3 ticks per state, the core's checks, the event loop")
         if floor and hot else ""},
        *inproc_rows,
        {"metric": "whole process on a machine at 6,600 verifies/s", "value": slow, "unit": "% of a core",
         "target": "< 30 %", "ok": slow < 30, "note": "this run's CPU scaled by our verify rate / 6,600"},
        {"metric": "state datagram with its input window", "value": g["state_bytes_median"], "unit": "bytes",
         "note": f"median (max {g['state_bytes_max']}); header + signature 97 bytes, limit 1200"},
    ]


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=("load-recv", "load-gen"))
    for flag in ("--racers", "--spectators", "--seed", "--sink", "--port"):
        ap.add_argument(flag, type=int, default=0)
    ap.add_argument("--limit", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--match-id", default="")
    args = ap.parse_args()
    (_load_recv if args.role == "load-recv" else _load_gen)(args)


if __name__ == "__main__":
    main()
