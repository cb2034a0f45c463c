"""The MongoDB sink: idempotent writes of results and player stats, and leaderboard reads.

Every write is an upsert keyed by something unique to the result, so any number of retries,
and any number of peers writing the same result, leave exactly one copy:

    results         {_id: match_id, ...record}             the preferred record wins
                                                           (`records.preferred`, swapped by
                                                           compare-and-swap on its signature),
                                                           with its evidence: term proof and
                                                           chain, attestations, input logs
    player_matches  {_id: "<peer_id>:<match_id>", ...}     $set from the kept record (one doc
                                                           per player and match: counts are
                                                           computed, never $inc'ed)
    players         {_id: peer_id, best, name_key}         $max (best score; name_key is
                                                           "<finished_at>|<name>", so $max
                                                           keeps the latest name)

The client uses `w="majority"` and `retryWrites=True` (keyword arguments override the URI):
a write is acknowledged only once a majority of the replica set has it, and pymongo retries
a write once across a primary step-down or a dropped connection. Longer outages are the
outbox's job (replication.outbox). Credentials never reach logs or errors: `redact()`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

import pymongo
from bson.errors import InvalidDocument
from pymongo import ReadPreference, errors
from pymongo.uri_parser import parse_uri

from replication.evidence import accept_problem
from replication.records import MatchResult, preferred
from replication.store import recent_json

log = logging.getLogger(__name__)

DEFAULT_DB = "p2p_race"
_CRED_RE = re.compile(r"(mongodb(?:\+srv)?://)([^/@\s]*)@", re.IGNORECASE)

# Error codes that mean "try again later" (no primary, shutting down, interrupted).
TRANSIENT_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50}


def redact(text: str) -> str:
    """Hide the password (and only keep the user name) of any MongoDB URI in `text`."""

    def sub(m: re.Match) -> str:
        userinfo = m.group(2)
        user = userinfo.split(":", 1)[0]
        return f"{m.group(1)}{user}:***@" if user else f"{m.group(1)}***@"

    return _CRED_RE.sub(sub, text)


def safe_error(exc: BaseException, uri: str = "") -> str:
    """A one-line description of a pymongo error with no credentials in it."""
    text = f"{type(exc).__name__}: {exc}"
    text = redact(text)
    if uri:
        m = _CRED_RE.search(uri)
        if m and ":" in m.group(2):
            password = m.group(2).split(":", 1)[1]
            if password:
                text = text.replace(password, "***")
                text = text.replace(unquote(password), "***")
    return text.splitlines()[0][:300] if text else type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """True when waiting and retrying can help (no primary, network, write concern)."""
    if isinstance(exc, (errors.ConnectionFailure, errors.WriteConcernError, errors.ExecutionTimeout)):
        return True
    if isinstance(exc, errors.PyMongoError) and exc.has_error_label("RetryableWriteError"):
        return True
    if isinstance(exc, errors.OperationFailure):
        return exc.code in TRANSIENT_CODES
    return False


def is_document_error(exc: BaseException) -> bool:
    """True when MongoDB refused this one document (validation, size): retrying the others
    makes sense. Anything else (auth, no primary, network) concerns every write."""
    if is_transient(exc):
        return False
    return isinstance(exc, (errors.WriteError, errors.DocumentTooLarge, InvalidDocument))


class MongoSink:
    """Writes results to MongoDB and reads the leaderboard back. Synchronous (pymongo);
    the outbox drainer runs it in its own thread."""

    def __init__(self, uri: str, *, server_selection_timeout: float = 5.0,
                 socket_timeout: float = 10.0, db_name: str | None = None,
                 **client_options: Any) -> None:
        self.uri = uri
        self.display_uri = redact(uri)
        try:
            database = parse_uri(uri).get("database") if not db_name else db_name
        except (errors.InvalidURI, errors.ConfigurationError, ValueError) as exc:
            raise ValueError(f"invalid MongoDB URI {self.display_uri}: {safe_error(exc, uri)}") from None
        options: dict[str, Any] = {
            "w": "majority",
            "retryWrites": True,
            "retryReads": True,
            "serverSelectionTimeoutMS": int(server_selection_timeout * 1000),
            "connectTimeoutMS": int(min(server_selection_timeout, 5.0) * 1000),
            "socketTimeoutMS": int(socket_timeout * 1000),
            "appname": "p2p-race",
        }
        options.update(client_options)
        try:
            self.client: pymongo.MongoClient = pymongo.MongoClient(uri, **options)
        except (errors.PyMongoError, ValueError, TypeError) as exc:
            raise ValueError(f"invalid MongoDB URI {self.display_uri}: {safe_error(exc, uri)}") from None
        self.db = self.client[database or DEFAULT_DB]
        self._indexes = False

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"MongoSink({self.display_uri})"

    # -- writes ---------------------------------------------------------------------
    def ensure_indexes(self) -> None:
        if self._indexes:
            return
        self.db.results.create_index([("t", pymongo.DESCENDING)])
        self.db.player_matches.create_index([("peer_id", pymongo.ASCENDING), ("won", pymongo.ASCENDING)])
        self.db.player_matches.create_index([("name", pymongo.ASCENDING), ("t", pymongo.DESCENDING)])
        self.db.players.create_index([("best", pymongo.DESCENDING)])
        self._indexes = True

    def write(self, r: MatchResult) -> None:
        """Write one result idempotently. Raises pymongo errors (see `is_transient`).

        One document per match: the record every peer keeps (`records.preferred`) wins, as
        in the local store. A record that arrived first but loses (a later term, or one that
        does not verify) is replaced by compare-and-swap on its signature, and its racers'
        rows go with it, so no order of writers leaves a loser in the database."""
        self.ensure_indexes()
        kept, swapped = self._keep_preferred(r)
        op = "$set" if swapped else "$setOnInsert"  # rows of a swapped-out record are rewritten
        for racer in kept.racers:
            won = racer.peer_id == kept.winner_id
            self._upsert(self.db.player_matches, f"{racer.peer_id}:{kept.match_id}", {op: {
                "peer_id": racer.peer_id, "name": racer.name, "match_id": kept.match_id,
                "score": racer.score, "won": won, "distance": racer.distance, "t": kept.finished_at,
            }})
            self._upsert(self.db.players, racer.peer_id, {"$max": {
                "best": racer.score, "name_key": f"{kept.finished_at:017.3f}|{racer.name}",
            }})
        if swapped:
            self.db.player_matches.delete_many(
                {"match_id": kept.match_id, "peer_id": {"$nin": [x.peer_id for x in kept.racers]}})

    def _keep_preferred(self, r: MatchResult) -> tuple[MatchResult, bool]:
        """(the record the results collection holds for r's match once we are done, whether
        we swapped another one out for it)."""
        doc = r.to_json()
        del doc["match_id"]
        doc.update(t=r.finished_at, winner=r.winner_name)
        for _attempt in range(8):  # another writer may swap it between our read and our write
            self._upsert(self.db.results, r.match_id, {"$setOnInsert": doc})
            held = self.db.results.find_one({"_id": r.match_id})
            if held is None:
                continue
            old = self._verified([held])  # (a copy with our signature but altered is no copy)
            if old and (old[0].signature == r.signature or preferred(old[0], r) is old[0]):
                return old[0], False
            update: dict[str, Any] = {"$set": doc}
            gone = {k: "" for k in held if k not in doc and k != "_id"}
            if gone:
                update["$unset"] = gone
            if self.db.results.update_one({"_id": r.match_id, "signature": held.get("signature")}, update).matched_count:
                log.info("MongoDB: result %s replaced by the preferred record (term %d)", r.match_id, r.term)
                return r, True
        raise errors.OperationFailure(f"result {r.match_id} kept changing under us")

    @staticmethod
    def _upsert(coll: Any, _id: str, update: dict) -> None:
        try:
            coll.update_one({"_id": _id}, update, upsert=True)
        except errors.DuplicateKeyError:
            pass  # two writers raced to insert the same _id: the document is there

    # -- reads ----------------------------------------------------------------------
    def ping(self) -> None:
        self.client.admin.command("ping")

    def leaderboard(self, limit: int = 20, player: str | None = None, recent: int = 10) -> dict:
        """The leaderboard as stored in MongoDB (shape of `p2p-race leaderboard --json`)."""
        # Reads may come from a secondary: the leaderboard keeps working during an election.
        db = self.client.get_database(self.db.name, read_preference=ReadPreference.PRIMARY_PREFERRED)
        query: dict[str, Any] = {}
        if player is not None:
            query = {"name_key": {"$regex": "\\|" + re.escape(player) + "$"}}
        players = []
        cursor = db.players.find(query).sort([("best", pymongo.DESCENDING), ("_id", pymongo.ASCENDING)])
        for doc in cursor.limit(limit * 3):  # room for entries that do not verify
            if len(players) >= limit:
                break
            pid = doc["_id"]
            name = str(doc.get("name_key", "|?")).split("|", 1)[1]
            if not self._best_backed(db, pid, doc.get("best")):
                continue
            players.append({
                "name": name, "best": int(doc.get("best", 0)),
                "matches": db.player_matches.count_documents({"peer_id": pid}),
                "wins": db.player_matches.count_documents({"peer_id": pid, "won": True}),
                "peer_id": pid,
            })
        players.sort(key=lambda p: (-p["best"], -p["wins"], p["peer_id"]))  # as the local store
        if player is None:
            docs = list(db.results.find().sort([("t", pymongo.DESCENDING)]).limit(recent))
        else:
            ids = [d["match_id"] for d in db.player_matches.find({"name": player})
                   .sort([("t", pymongo.DESCENDING)]).limit(recent)]
            docs = list(db.results.find({"_id": {"$in": ids}}))
            docs.sort(key=lambda d: d.get("t", 0), reverse=True)
        return {"source": "mongodb", "players": players,
                "recent": [recent_json(r) for r in self._verified(docs)]}

    def _best_backed(self, db: Any, peer_id: Any, best: Any) -> bool:
        """A player's best counts only when a stored result that verifies records it."""
        pm = db.player_matches.find_one({"peer_id": peer_id, "score": best})
        if not pm:
            return False
        return bool(self._verified(list(db.results.find({"_id": pm.get("match_id")}))))

    def get(self, match_id: str) -> MatchResult | None:
        docs = self._verified(list(self.db.results.find({"_id": match_id})))
        return docs[0] if docs else None

    @staticmethod
    def _verified(docs: list[dict]) -> list[MatchResult]:
        """Anyone with the URI can write: only show records whose evidence checks out (proven
        host, racers' signatures, replay of the input logs the document carries)."""
        out = []
        for d in docs:
            d = dict(d)
            d["match_id"] = d.pop("_id")
            for k in ("t", "winner"):
                d.pop(k, None)
            try:
                r = MatchResult.from_json(d)
            except (ValueError, TypeError):
                continue
            if accept_problem(r) is None:
                out.append(r)
        return out
