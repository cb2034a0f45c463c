"""Input-verified racing: every peer re-simulates every racer from its streamed inputs.

Racers send, with each state, the inputs of their last `WINDOW_TICKS` ticks
(`InputRecorder.window`, in the log encoding: RLE or two ticks a byte, whichever is
smaller), so a lost datagram loses nothing. Each peer keeps one
`p2p_race.replay.verify.CarReplay` per racer (`LiveVerifier`), feeds it the new ticks of
each window and accepts a claimed state only when the replay at that tick is exactly it.
A crash is what the replay says: a car that drives through traffic is crashed here too,
whatever it claims. A racer whose claims and replay differ once is *diverged*: excluded
from the result by every peer (the host leaves it out; members refuse a result that has
it), with a `diverged` event the UI shows.

At the end the racer signs (match, hash of its input codes, its outcome) and sends the
signature with its final report; the host builds the result from the replayed outcomes
and carries the attestations, the logs and its term proof (`build_result`); members rebuild
the same evidence from their own replays (`complete`) to store a full, checkable record.
Pure: no sockets, no clocks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from p2p_race.replay.codec import decode_log, encode_log
from p2p_race.replay.verify import CarReplay, Outcome, log_hash_of, remember, shared_traffic
from p2p_race.sim.rules import Inputs, Rules
from replication.records import MatchResult, RacerResult, attestation_bytes

log = logging.getLogger(__name__)

WINDOW_TICKS = 240  # 4 s of inputs ride along with every state (redundancy against loss)
MAX_WINDOW_BYTES = 1 + 2 + WINDOW_TICKS // 2  # wire bound of a window (two ticks a byte at worst)


class InputRecorder:
    """The local racer's inputs, one code per simulated tick (tick k's input is codes[k-1])."""

    def __init__(self) -> None:
        self.codes = bytearray()

    def record(self, inputs: Inputs) -> None:
        from p2p_race.replay.codec import code_of

        self.codes.append(code_of(inputs))

    def window(self) -> tuple[int, bytes]:
        """(first tick, encoded inputs) of the last `WINDOW_TICKS` ticks."""
        n = len(self.codes)
        ticks = min(n, WINDOW_TICKS)
        return n - ticks + 1, encode_log(bytes(self.codes[n - ticks:]))

    def log_hash(self) -> bytes:
        return log_hash_of(bytes(self.codes))


def attestation(match_id: str, rules: Rules, codes: bytes, outcome: Outcome) -> bytes:
    """The bytes a racer signs at the end of its drive (replication.records.attestation_bytes)."""
    return attestation_bytes(match_id, rules.seed, rules.time_limit, rules.difficulty, log_hash_of(codes),
                             outcome.score, outcome.distance, outcome.crashed, outcome.crash_time)


@dataclass
class _Car:
    replay: CarReplay
    diverged: str | None = None
    gap: bool = False
    key: bytes = b""
    attestation: bytes = b""  # the racer's signature over its outcome (from its final report)
    final_tick: int = -1


@dataclass
class LiveVerifier:
    """Every racer's car of one match, replayed from the inputs it streams."""

    match_id: str
    rules: Rules
    cars: dict[str, _Car] = field(default_factory=dict)

    def car(self, peer_id: str) -> _Car:
        c = self.cars.get(peer_id)
        if c is None:
            c = self.cars[peer_id] = _Car(CarReplay(self.rules, peer_id, shared_traffic(self.rules)))
        return c

    def diverged(self, peer_id: str) -> str | None:
        c = self.cars.get(peer_id)
        return c.diverged if c is not None else None

    def unverifiable(self, peer_id: str) -> bool:
        """Part of this racer's inputs never reached us: we cannot replay it."""
        c = self.cars.get(peer_id)
        return c is not None and c.gap

    def check(self, peer_id: str, first_tick: int, runs: bytes, tick: int, x: float, y: float,
              speed: float, score: int, distance: float, crashed: bool, crash_time: float) -> str | None:
        """Feed a state's input window and compare the claimed state with the replay.
        Returns why the racer's stream diverges (it is then excluded for good), or None."""
        c = self.car(peer_id)
        if c.diverged is not None:
            return c.diverged
        rp = c.replay
        if tick <= rp.tick:
            return None  # old news (reordered or repeated): already verified past it
        try:
            codes = decode_log(runs, WINDOW_TICKS)
        except ValueError as exc:
            return self._diverge(c, f"malformed inputs ({exc})")
        if not codes or first_tick < 1 or first_tick + len(codes) - 1 != tick:
            return self._diverge(c, "inputs do not lead to the state's tick")
        if not rp.feed_window(first_tick, codes):
            # We joined late or lost more than a window of its stream: until the inputs we
            # ask for again (`wanted`, `fill`) close the gap we cannot replay this car, which
            # says nothing about the racer. Its states are drawn unchecked meanwhile; the host
            # and the stores check the drive, and so does score sync for our copy.
            if not c.gap:
                log.info("racer %s: its inputs from tick %d to %d never reached us; asking again",
                         peer_id, rp.tick + 1, first_tick - 1)
            c.gap = True
            return None
        if c.gap:
            log.info("racer %s: inputs filled in up to tick %d; verified again", peer_id, rp.tick)
            c.gap = False
        if rp.error is not None:
            return self._diverge(c, rp.error)
        if not rp.matches(tick, x, y, speed, score, distance, crashed, crash_time):
            st = rp.state
            why = "claims a crash its inputs do not produce" if crashed and not st.crashed else \
                "drove through traffic: its inputs crash" if st.crashed and not crashed else \
                "states its inputs do not produce"
            return self._diverge(c, why)
        return None

    def fill(self, peer_id: str, first_tick: int, runs: bytes) -> str | None:
        """Inputs a racer sent us on request (`InputRequest`): applied when they continue our
        replay of it (else stale or early: ignored). Returns why it diverges, or None."""
        c = self.cars.get(peer_id)
        if c is None or not c.gap or c.diverged is not None:
            return None
        try:
            codes = decode_log(runs, WINDOW_TICKS)
        except ValueError as exc:
            return self._diverge(c, f"malformed inputs ({exc})")
        if first_tick < 1 or not c.replay.feed_window(first_tick, codes):
            return None
        return self._diverge(c, c.replay.error) if c.replay.error is not None else None

    def wanted(self) -> list[tuple[str, int]]:
        """(racer, first tick we lack) of every car a gap keeps us from replaying."""
        return [(pid, c.replay.tick + 1) for pid, c in self.cars.items() if c.gap and c.diverged is None]

    def window_from(self, peer_id: str, first_tick: int) -> bytes | None:
        """At most one window of `peer_id`'s inputs from `first_tick` (ours, to answer a request)."""
        codes = self.car(peer_id).replay.codes
        if not 1 <= first_tick <= len(codes):
            return None
        return encode_log(bytes(codes[first_tick - 1:first_tick - 1 + WINDOW_TICKS]))

    def final(self, peer_id: str, key: bytes, attestation_sig: bytes, verify_sig) -> str | None:
        """The racer's final report was checked as a state: its drive must be over and its
        signature must cover the replayed outcome."""
        c = self.car(peer_id)
        if c.diverged is not None:
            return c.diverged
        if c.gap:
            return None
        rp = c.replay
        if not rp.finished:
            return self._diverge(c, "final report before the end of its drive")
        signed = attestation(self.match_id, self.rules, bytes(rp.codes), rp.outcome())
        if not verify_sig(key, attestation_sig, signed):
            return self._diverge(c, "final report with a bad attestation")
        c.key, c.attestation, c.final_tick = key, attestation_sig, rp.tick
        remember(rp)
        return None

    def _diverge(self, c: _Car, why: str) -> str:
        c.diverged = why
        return why

    def outcome(self, peer_id: str) -> Outcome:
        return self.car(peer_id).replay.outcome()

    # -- the record's evidence ---------------------------------------------------------------
    def racer_entry(self, peer_id: str, name: str, key: bytes, upto: int | None = None) -> tuple[RacerResult, bytes]:
        """One racer's entry and encoded log, from our replay (cut at tick `upto` when the
        host heard less of an abandoned racer than we did)."""
        c = self.car(peer_id)
        codes = bytes(c.replay.codes)
        if upto is not None and upto < len(codes):
            cut = CarReplay(self.rules, peer_id, shared_traffic(self.rules))
            cut.feed(codes[:upto])
            codes, out = codes[:upto], cut.outcome()
        else:
            out = c.replay.outcome()
        signed = bool(c.attestation) and not out.abandoned
        # an unsigned entry (abandoned) carries no key: it rests on the host's word alone
        entry = RacerResult(peer_id, name, out.score, out.distance, out.crashed, out.crash_time,
                            key=(c.key or key) if signed else b"", log_hash=log_hash_of(codes),
                            attestation=c.attestation if signed else b"", abandoned=out.abandoned)
        return entry, encode_log(codes)

    def complete(self, result: MatchResult, keys: dict[str, bytes], term_proof: bytes) -> MatchResult | None:
        """The host's signed result with its evidence rebuilt from our own replays, or None
        when we lack some of it (the full record then comes later, through score sync)."""
        entries, logs = [], []
        for r in result.racers:
            if r.peer_id not in self.cars:
                log.info("result %s: no replay of racer %s here", result.match_id, r.peer_id)
                return None
            upto = round(r.crash_time * 60) if r.abandoned else None
            entry, lg = self.racer_entry(r.peer_id, r.name, keys.get(r.peer_id, b""), upto)
            entries.append(replace(entry, samples=r.samples))
            logs.append(lg)
        full = replace(result, racers=tuple(entries), logs=tuple(logs), term_proof=term_proof)
        if full.outcome_hash() != result.outcome_hash():
            log.info("result %s: our replays give another outcome", result.match_id)
            return None
        want = result.evidence_digest or result.evidence_hash()
        if full.evidence_hash() != want:
            log.info("result %s: evidence differs from the host's (attestations %s, proof %d bytes)",
                     result.match_id, [bool(x.attestation) for x in entries], len(term_proof))
            return None
        return replace(full, evidence_digest=b"")


STATE_EVERY = 3  # ticks per state datagram (20 Hz): a third of the signatures of one a tick


class MatchVerifier:
    """What the match core needs for input-verified racing, one per match and peer.

    `local(rep)` feeds our own car's inputs (and says when a state datagram is due);
    `on_state` / `on_final` check a racer's datagram against its replay; `entries` gives
    the host the racers' entries and logs for the result; `complete` rebuilds a received
    result's evidence on a member.
    """

    def __init__(self, match_id: str, rules: Rules, my_id: str, public_key: bytes, sign) -> None:
        self.live = LiveVerifier(match_id, rules)
        self.my_id, self.public_key, self.sign = my_id, public_key, sign
        self._last_sent = 0
        self.reported: set[str] = set()  # racers whose divergence was already announced

    @property
    def rules(self) -> Rules:
        return self.live.rules

    # -- our car -------------------------------------------------------------------------
    def local(self, tick: int, codes: bytes) -> tuple[bool, int, bytes]:
        """Feed our inputs up to `tick`; (a state datagram is due, first tick, window)."""
        car = self.live.car(self.my_id)
        car.replay.feed(codes)
        rp = car.replay
        if rp.tick != tick:  # our own car and our replay disagree: a bug, never a cheat
            log.error("own replay at tick %d, car at tick %d: inputs were lost", rp.tick, tick)
        due = rp.finished or tick - self._last_sent >= STATE_EVERY
        if due:
            self._last_sent = tick
        first = max(1, rp.tick - WINDOW_TICKS + 1)
        return due, first, encode_log(bytes(rp.codes[first - 1:]))

    def local_outcome(self) -> Outcome:
        return self.live.outcome(self.my_id)

    def attest(self) -> bytes:
        """Our signature over our replayed drive (sent with the final report)."""
        rp = self.live.car(self.my_id).replay
        sig = self.sign(attestation(self.live.match_id, self.rules, bytes(rp.codes), rp.outcome()))
        car = self.live.car(self.my_id)
        car.key, car.attestation, car.final_tick = self.public_key, sig, rp.tick
        remember(rp)
        return sig

    # -- their cars ----------------------------------------------------------------------
    def on_state(self, sender: str, msg) -> str | None:
        return self.live.check(sender, msg.first_tick, msg.inputs, msg.tick, msg.x, msg.y, msg.speed, msg.score,
                               msg.distance, msg.crashed, msg.crash_time if msg.crashed else -1.0)

    def on_final(self, sender: str, msg, verify_sig) -> str | None:
        from p2p_race.identity import peer_id_of

        why = self.on_state(sender, msg)
        if why is not None or self.live.unverifiable(sender):
            return why
        if peer_id_of(msg.key) != sender:
            return self.live._diverge(self.live.car(sender), "final report signed with another key")
        return self.live.final(sender, msg.key, msg.attestation, verify_sig)

    def diverged(self, peer_id: str) -> str | None:
        return self.live.diverged(peer_id)

    def unverifiable(self, peer_id: str) -> bool:
        return self.live.unverifiable(peer_id)

    def attested(self, peer_id: str) -> bool:
        c = self.live.cars.get(peer_id)
        return c is not None and bool(c.attestation)

    def outcome(self, peer_id: str) -> Outcome:
        return self.live.outcome(peer_id)

    # -- the result ----------------------------------------------------------------------
    def entries(self, racers: list[tuple[str, str]]) -> tuple[list[RacerResult], dict[str, bytes]]:
        """(entries, logs) of the racers not diverged, from our replays. A racer we have no
        attestation from counts as abandoned at its last replayed tick before the end."""
        out, logs = [], {}
        for pid, name in racers:
            if self.live.diverged(pid) is not None:
                continue
            car = self.live.car(pid)
            upto = None
            if not car.attestation and car.replay.finished and car.replay.tick > 0:
                upto = car.replay.tick - 1
            entry, lg = self.live.racer_entry(pid, name, b"", upto)
            out.append(entry)
            logs[pid] = lg
        return out, logs

    def complete(self, result: MatchResult, term_proof: bytes) -> MatchResult | None:
        return self.live.complete(result, {}, term_proof)
