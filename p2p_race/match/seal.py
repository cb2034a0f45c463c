"""Sealed rosters and term chains: the electorate of a failover, checkable long after the match.

A term proof (p2p_race.match.proof) counts signed votes, but a vote says nothing about who
*may* vote. Live members judge that against the roster they replicate; a score store, which
never saw the match, could not, so a record re-signed as "term 2" with one vote (the forger's
own) looked as good as a real failover. Now every host seals each roster version it
publishes: `RosterSeal` carries its signature over a `RosterStatement` (who races, who is
abandoned, who watches, in which phase). A record of term t >= 2 carries a `term chain`: for
each proven term after the first, the sealed roster of the host it replaced and the proof
that elected its successor. A store walks the chain from the creator (the match id is bound
to its key) and counts each proof's votes only from the electorate the replaced host itself
sealed:

- the racers the statement does not list as abandoned, the replaced host (and every host
  replaced before it) left out (the lenient electorate: a store has no ears to check its
  silence with), or, when none is left in a race under way, the statement's spectators;
- votes from anyone else do not count; the count must reach more than half of that electorate.

So a stranger (in no sealed roster) can never make a term, and a member needs the votes a
live election would have needed. The racers of the record must be racers of the last sealed
roster once the race is under way (no one added after the start). Connection flags are not
sealed: a store cannot tell a flicker from a departure, so only abandonment (final, and
refuted live by every member still hearing that racer) shrinks an electorate.

Pure data and pure functions: signing and verifying are injected callables.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from p2p_race.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from p2p_race.match.proof import (
    MATCH_ID_BYTES,
    MAX_ELECTORATE,
    TermProof,
    Verify,
    hex_bytes,
    quorum,
    verify_proof,
)

SEAL_DOMAIN = b"p2p-race/roster-seal/v1\x00"
PHASE_RACING = 2  # p2p_race.match.machine.Phase.RACING (kept here: this module is imported by stores)
PHASE_COUNTDOWN = 1
MAX_CHAIN_LINKS = 16  # one per proven term after the first (the election keeps at most 16 proofs)
MAX_CHAIN_BYTES = 96 * 1024
MAX_LISTED = 64  # racers or spectators in one statement (the wire allows 16 and 32)
PEER_ID_BYTES = 8


@dataclass(frozen=True, slots=True)
class RosterStatement:
    """What a host's seal covers: the electorate-relevant part of one roster version."""

    match_id: bytes  # 8 bytes
    term: int
    version: int
    phase: int
    racers: tuple[tuple[bytes, bool], ...]  # (peer id, abandoned), sorted by peer id
    spectators: tuple[bytes, ...]  # sorted peer ids

    def to_bytes(self) -> bytes:
        """Fixed-size fields and counts only, so the signed bytes have exactly one reading."""
        if len(self.match_id) != MATCH_ID_BYTES or len(self.racers) > MAX_LISTED or \
                len(self.spectators) > MAX_LISTED or \
                any(len(p) != PEER_ID_BYTES for p in [*(r for r, _ in self.racers), *self.spectators]):
            raise ValueError("a roster statement holds 8-byte peer ids, at most 64 of each kind")
        out = bytearray(SEAL_DOMAIN)
        out += self.match_id + struct.pack("!IIBB", self.term, self.version, self.phase, len(self.racers))
        for pid, abandoned in self.racers:
            out += pid + (b"\x01" if abandoned else b"\x00")
        out += struct.pack("!B", len(self.spectators))
        for s in self.spectators:
            out += s
        return bytes(out)

    def racer_ids(self) -> set[str]:
        return {pid.hex() for pid, _ in self.racers}

    def electorate(self, failed: str | set[str] | None) -> list[str]:
        """The voters an election replacing `failed` (the sealing host, and the hosts replaced
        before it: each was proven gone by an earlier link) may count."""
        gone = {failed} if isinstance(failed, str) else set(failed or ())
        voters = sorted(pid.hex() for pid, abandoned in self.racers if not abandoned and pid.hex() not in gone)
        if not voters and self.phase >= PHASE_RACING:
            racers = self.racer_ids()
            voters = sorted(s.hex() for s in self.spectators if s.hex() not in gone and s.hex() not in racers)
        return voters[:MAX_ELECTORATE]

    def to_json(self) -> dict:
        return {"match_id": self.match_id.hex(), "term": self.term, "version": self.version, "phase": self.phase,
                "racers": [[p.hex(), a] for p, a in self.racers], "spectators": [s.hex() for s in self.spectators]}

    @classmethod
    def from_json(cls, d: Any) -> RosterStatement:
        try:
            racers, spectators = d["racers"], d["spectators"]
            if not isinstance(racers, list) or not isinstance(spectators, list) or \
                    len(racers) > MAX_LISTED or len(spectators) > MAX_LISTED:
                raise ValueError(f"a sealed roster lists at most {MAX_LISTED} racers and spectators")
            ints = [d["term"], d["version"], d["phase"]]
            if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32 for v in ints) or ints[2] > 255:
                raise ValueError("term, version and phase must be small integers")
            rs = tuple((_pid(p), _bool(a)) for p, a in racers)
            st = cls(hex_bytes(d["match_id"], MATCH_ID_BYTES), ints[0], ints[1], ints[2], rs, tuple(_pid(s) for s in spectators))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad sealed roster: {exc}") from None
        if list(st.racers) != sorted(set(st.racers)) or list(st.spectators) != sorted(set(st.spectators)) or \
                len({p for p, _ in st.racers}) != len(st.racers):
            raise ValueError("a sealed roster lists its peers once each, sorted")
        return st


def statement_of(match_id: bytes, term: int, version: int, phase: int,
                 racers: Sequence[tuple[bytes, bool]], spectators: Sequence[bytes]) -> RosterStatement:
    return RosterStatement(match_id, term, version, int(phase), tuple(sorted(racers)), tuple(sorted(set(spectators))))


@dataclass(frozen=True, slots=True)
class SealedRoster:
    statement: RosterStatement
    signature: bytes  # the sealing host's Ed25519 signature over statement.to_bytes()

    def valid(self, host_key: bytes, verify: Verify) -> bool:
        return len(host_key) == PUBLIC_KEY_BYTES and len(self.signature) == SIGNATURE_BYTES and \
            verify(host_key, self.signature, self.statement.to_bytes())


def seal(statement: RosterStatement, sign: Callable[[bytes], bytes]) -> SealedRoster:
    return SealedRoster(statement, sign(statement.to_bytes()))


@dataclass(frozen=True, slots=True)
class ChainLink:
    """The replaced host's last sealed roster, and the proof that elected its successor."""

    base: SealedRoster
    proof: TermProof


def chain_bytes(links: Sequence[ChainLink]) -> bytes:
    """The record's form of a term chain: canonical JSON."""
    doc = [{"base": ln.base.statement.to_json(), "seal": ln.base.signature.hex(), "proof": ln.proof.to_json()}
           for ln in links]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def chain_from_bytes(data: bytes) -> list[ChainLink]:
    """Parse (not verify) a term chain. Raises ValueError on any bad shape or size."""
    if len(data) > MAX_CHAIN_BYTES:
        raise ValueError(f"a term chain is at most {MAX_CHAIN_BYTES} bytes")
    if not data.isascii():
        raise ValueError("a term chain is ASCII JSON")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise ValueError("a term chain must be JSON") from None
    if not isinstance(doc, list) or not 1 <= len(doc) <= MAX_CHAIN_LINKS:
        raise ValueError(f"a term chain has 1..{MAX_CHAIN_LINKS} links")
    links = []
    for d in doc:
        if not isinstance(d, dict):
            raise ValueError("a chain link must be an object")
        try:
            links.append(ChainLink(SealedRoster(RosterStatement.from_json(d["base"]), hex_bytes(d["seal"], SIGNATURE_BYTES)),
                                   TermProof.from_json(d["proof"])))
        except KeyError as exc:
            raise ValueError(f"a chain link lacks {exc.args[0]!r}") from None
    if chain_bytes(links) != data:  # one chain, one text: nothing else signs the same links
        raise ValueError("a term chain must be in its canonical form")
    return links


def chain_problem(proof: TermProof, links: Sequence[ChainLink], verify: Verify) -> tuple[str | None, set[str] | None]:
    """Walk the chain from the creator to `proof` (the record's, term >= 2).

    Returns (why it does not prove the host, None) or (None, the racers of the last sealed
    roster when the race was under way there, else None: the lineup a record may name)."""
    if proof.term < 2:
        return "a term chain is for terms after the first", None
    host_key, term = proof.creator_key, 1
    lineup: set[str] | None = None
    replaced: set[str] = set()  # hosts of the terms before: a later seal may still list them
    for i, ln in enumerate(links):
        st, p = ln.base.statement, ln.proof
        if st.match_id != proof.match_id or p.match_id != proof.match_id or \
                (p.creator_key, p.nonce) != (proof.creator_key, proof.nonce):
            return f"link {i + 1} is for another match", None
        if st.term != term or not p.term > term:
            return f"link {i + 1} does not follow term {term}", None
        if not ln.base.valid(host_key, verify):
            return f"link {i + 1}: the roster seal of term {term}'s host does not verify", None
        replaced.add(TermProof(proof.match_id, term, host_key, proof.creator_key, proof.nonce).host)
        electorate = st.electorate(replaced)
        if not electorate:
            return f"link {i + 1}: the sealed roster leaves no one to vote", None
        why = verify_proof(p, verify, electorate)
        if why is not None:
            return (f"link {i + 1}: term {p.term} is not elected by term {term}'s sealed roster "
                    f"({why.value}; {len(p.voters() & set(electorate))} of {len(electorate)} voters, "
                    f"{quorum(len(electorate))} needed)"), None
        lineup = st.racer_ids() if st.phase >= PHASE_COUNTDOWN else None
        host_key, term = p.host_key, p.term
    if term != proof.term or links[-1].proof != proof:
        return "the term chain does not end at the record's term proof", None
    return None, lineup


def _pid(v: Any) -> bytes:
    return hex_bytes(v, PEER_ID_BYTES)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("abandoned must be true or false")
    return v
