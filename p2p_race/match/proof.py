"""Proof that a peer is the host of a match for a term (docs/ARCHITECTURE.md, threat model).

A match id is bound to its creator's key: `match_id = SHA-256(domain | creator key | nonce)[:8]`,
so anyone holding (creator key, nonce) checks who created it, and no one else can claim it.

- Term 1: the creator is the host; the proof is the binding alone (no votes).
- Term t >= 2: a quorum of the electorate voted for the host in term t. Each vote carries
  the voter's own Ed25519 signature over (match id, term, candidate, voter), so a proof can
  be forwarded and checked by any member, by a newcomer reading the lobby and by a score
  store long after the match.

Pure data and pure functions: signing and verifying are callables the caller injects.
Who belongs to the electorate is the caller's business (`p2p_race.match.authz`); this module
checks signatures, the binding and the count.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from p2p_race.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, peer_id_bytes

MATCH_ID_DOMAIN = b"p2p-race/match-id/v1\x00"
VOTE_DOMAIN = b"p2p-race/match-vote/v1\x00"
NONCE_BYTES = 8
MATCH_ID_BYTES = 8
MAX_ELECTORATE = 16  # electorate cap: a quorum (9 votes) of it fits one datagram
MAX_VOTES = MAX_ELECTORATE // 2 + 1
MAX_TERM = 2**32 - 2  # a term is a U32 on the wire; candidates ask for term + 1

Verify = Callable[[bytes, bytes, bytes], bool]  # (public key, signature, data) -> valid


_HEX = re.compile(r"(?:[0-9a-f]{2})*\Z")


def hex_bytes(v: Any, n: int) -> bytes:
    """Exactly `n` bytes written as lower-case hex, nothing else (`bytes.fromhex` alone skips
    whitespace: one signed text must never parse as two different messages)."""
    if not isinstance(v, str) or len(v) != 2 * n or not _HEX.match(v):
        raise ValueError(f"expected {n} bytes of lower-case hex")
    return bytes.fromhex(v)


def match_id_for(creator_key: bytes, nonce: bytes) -> bytes:
    """The 8-byte match id a creator with this key and nonce owns."""
    return hashlib.sha256(MATCH_ID_DOMAIN + creator_key + nonce).digest()[:MATCH_ID_BYTES]


def vote_bytes(match_id: bytes, term: int, candidate: bytes, voter: bytes) -> bytes:
    """What a voter signs: its vote for `candidate` (8-byte peer id) as host of `term`."""
    return VOTE_DOMAIN + match_id + struct.pack("!I", term) + candidate + voter


def quorum(electorate_size: int) -> int:
    return electorate_size // 2 + 1


@dataclass(frozen=True, slots=True)
class SignedVote:
    voter_key: bytes  # 32-byte Ed25519 public key; the voter's id is its fingerprint
    signature: bytes  # over vote_bytes(match id, term, candidate, voter id)

    @property
    def voter(self) -> str:
        return peer_id_bytes(self.voter_key).hex()


def sign_vote(match_id: bytes, term: int, candidate: bytes, public_key: bytes,
              sign: Callable[[bytes], bytes]) -> SignedVote:
    return SignedVote(public_key, sign(vote_bytes(match_id, term, candidate, peer_id_bytes(public_key))))


def vote_valid(vote: SignedVote, match_id: bytes, term: int, candidate: bytes, verify: Verify) -> bool:
    if len(vote.voter_key) != PUBLIC_KEY_BYTES or len(vote.signature) != SIGNATURE_BYTES:
        return False
    return verify(vote.voter_key, vote.signature,
                  vote_bytes(match_id, term, candidate, peer_id_bytes(vote.voter_key)))


class ProofProblem(Enum):
    BAD_BINDING = "match id is not bound to the creator key"
    BAD_TERM = "term out of range"
    NOT_CREATOR = "term 1 host is not the match creator"
    TOO_MANY_VOTES = "more votes than any quorum needs"
    DUPLICATE_VOTER = "one voter counted twice"
    BAD_VOTE = "a vote does not verify"
    NO_QUORUM = "too few votes for a quorum"


@dataclass(frozen=True, slots=True)
class TermProof:
    match_id: bytes  # 8 bytes
    term: int
    host_key: bytes  # the host's public key (its peer id is the fingerprint)
    creator_key: bytes
    nonce: bytes  # match_id == match_id_for(creator_key, nonce)
    votes: tuple[SignedVote, ...] = ()

    @property
    def host(self) -> str:
        return peer_id_bytes(self.host_key).hex()

    @property
    def creator(self) -> str:
        return peer_id_bytes(self.creator_key).hex()

    def voters(self) -> set[str]:
        return {v.voter for v in self.votes}

    # -- JSON (result records) ------------------------------------------------------
    def to_json(self) -> dict:
        return {"match_id": self.match_id.hex(), "term": self.term, "host_key": self.host_key.hex(),
                "creator_key": self.creator_key.hex(), "nonce": self.nonce.hex(),
                "votes": [[v.voter_key.hex(), v.signature.hex()] for v in self.votes]}

    @classmethod
    def from_json(cls, d: Any) -> TermProof:
        """Parse (not verify: call `verify_proof`). Raises ValueError on a bad shape."""
        try:
            votes = d["votes"]
            if not isinstance(votes, list) or len(votes) > MAX_VOTES:
                raise ValueError(f"votes must be a list of at most {MAX_VOTES}")
            term = d["term"]
            if isinstance(term, bool) or not isinstance(term, int):
                raise ValueError("term must be an integer")
            return cls(hex_bytes(d["match_id"], MATCH_ID_BYTES), term, hex_bytes(d["host_key"], PUBLIC_KEY_BYTES),
                       hex_bytes(d["creator_key"], PUBLIC_KEY_BYTES), hex_bytes(d["nonce"], NONCE_BYTES),
                       tuple(SignedVote(hex_bytes(k, PUBLIC_KEY_BYTES), hex_bytes(s, SIGNATURE_BYTES))
                             for k, s in votes))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad term proof: {exc}") from None


def creator_proof(creator_key: bytes, nonce: bytes) -> TermProof:
    """Term 1 of a new match: its creator hosts it."""
    return TermProof(match_id_for(creator_key, nonce), 1, creator_key, creator_key, nonce)


def verify_proof(proof: TermProof, verify: Verify, electorate: Collection[str] | None = None) -> ProofProblem | None:
    """Why `proof` does not prove its host for its term, or None when it does.

    `electorate`: peer ids allowed to vote for this term (the voters of the roster the
    election ran on, as the checker knows it). With it, only votes from it count and they
    must reach its quorum; without it (a newcomer, a store), every vote must verify, the
    voters be distinct and at least one.
    """
    if len(proof.match_id) != MATCH_ID_BYTES or len(proof.nonce) != NONCE_BYTES or \
            len(proof.creator_key) != PUBLIC_KEY_BYTES or len(proof.host_key) != PUBLIC_KEY_BYTES or \
            match_id_for(proof.creator_key, proof.nonce) != proof.match_id:
        return ProofProblem.BAD_BINDING
    if not 1 <= proof.term <= MAX_TERM + 1:
        return ProofProblem.BAD_TERM
    if proof.term == 1:
        return None if proof.host_key == proof.creator_key else ProofProblem.NOT_CREATOR
    if len(proof.votes) > MAX_VOTES:
        return ProofProblem.TOO_MANY_VOTES
    seen: set[str] = set()
    candidate = peer_id_bytes(proof.host_key)
    for v in proof.votes:
        if len(v.voter_key) != PUBLIC_KEY_BYTES:
            return ProofProblem.BAD_VOTE
        if v.voter in seen:
            return ProofProblem.DUPLICATE_VOTER
        seen.add(v.voter)
        if electorate is not None and v.voter not in electorate:
            continue  # a voter our roster does not know (yet): not counted
        if not vote_valid(v, proof.match_id, proof.term, candidate, verify):
            return ProofProblem.BAD_VOTE
    if electorate is None:
        return None if seen else ProofProblem.NO_QUORUM
    counted = len(seen & set(electorate))
    return None if counted >= quorum(len(electorate)) else ProofProblem.NO_QUORUM
