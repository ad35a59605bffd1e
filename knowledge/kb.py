"""The fault knowledge base: error signature -> diagnosis -> fix -> verified outcome.

Entries live in an embedded ChromaDB (`chromadb.PersistentClient`) collection named
"faults". The document of an entry is its error signature; everything else is flat
metadata (the fix patch is stored as a JSON string). Seed entries from
`knowledge/seeds/*.json` are loaded on first use; `record()` adds what the fault
doctor learns, and success/failure counts make fixes that worked rank higher.

Ranking (see `rank_score`):

    rank_score = similarity * (successes + 1) / (successes + failures + 2)

`similarity` is 1 - cosine distance, clipped to [0, 1]; the second factor is the
Laplace-smoothed success rate, 0.5 for an untried fix. A fix that worked 4 times
out of 4 (rate 0.83) beats an untried one of equal similarity, and outranks an
untried one that is up to 1.67 x more similar.

One writer at a time per path: counts are read-modify-write, so two processes that
record the same entry at the same instant may lose one update.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, Self

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.config import Settings
from chromadb.errors import NotFoundError
from pydantic import BaseModel, Field

from .embeddings import default_embedding

COLLECTION = "faults"
SEEDS_DIR = Path(__file__).parent / "seeds"
#: `record()` counts an outcome against an existing entry of the same kind and fix
#: when its signature is at least this similar; otherwise it adds a learned entry.
NEAR_DUPLICATE = 0.9
_DIGEST_KEY = "seeds_digest"


class KnowledgeEntry(BaseModel):
    """One known fault: what the error looks like, why it happens, and the fix to try.

    `fix` is a config patch in dotted paths (see `knowledge.patches`):
    numbers/bools/None set a value, "x0.1" multiplies, "+10" adds, other strings set.
    """

    id: str
    signature: str = Field(description="Error text of the fault, e.g. 'loss is nan at epoch 3'.")
    fault_kind: str = Field(description="Short snake_case kind, e.g. 'nan_loss', 'out_of_memory'.")
    diagnosis: str = Field(description="Why it happens, in one or two sentences.")
    fix: dict[str, Any] = Field(description="Config patch, dotted path -> instruction.")
    fix_description: str = Field(description="The fix in words, for the report.")
    successes: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0)
    source: Literal["seed", "learned"] = "learned"

    @property
    def success_rate(self) -> float:
        """Laplace-smoothed success rate, (successes + 1) / (successes + failures + 2)."""
        return (self.successes + 1) / (self.successes + self.failures + 2)


class Hit(BaseModel):
    """A search result: the entry, how similar its signature is, and the combined score."""

    entry: KnowledgeEntry
    similarity: float
    rank_score: float


def rank_score(similarity: float, entry: KnowledgeEntry) -> float:
    """similarity x smoothed success rate; the order `search()` returns."""
    return similarity * entry.success_rate


def _fix_key(fix: dict[str, Any]) -> str:
    return json.dumps(fix, sort_keys=True)


def _to_metadata(entry: KnowledgeEntry) -> dict[str, Any]:
    return {
        "fault_kind": entry.fault_kind,
        "diagnosis": entry.diagnosis,
        "fix": _fix_key(entry.fix),
        "fix_description": entry.fix_description,
        "successes": entry.successes,
        "failures": entry.failures,
        "source": entry.source,
    }


def _from_record(entry_id: str, document: str, meta: dict[str, Any]) -> KnowledgeEntry:
    return KnowledgeEntry(
        id=entry_id, signature=document, fault_kind=meta["fault_kind"],
        diagnosis=meta["diagnosis"], fix=json.loads(meta["fix"]),
        fix_description=meta["fix_description"], successes=int(meta["successes"]),
        failures=int(meta["failures"]), source=meta["source"],
    )


def _entries(rows: Any) -> list[KnowledgeEntry]:
    records = zip(rows["ids"], rows["documents"], rows["metadatas"], strict=True)
    return [_from_record(i, d, m) for i, d, m in records]


def load_seed_entries(seeds_dir: Path = SEEDS_DIR) -> list[KnowledgeEntry]:
    """Read every `*.json` (a list of entries) in `seeds_dir`, as source="seed" entries."""
    entries = []
    for path in sorted(seeds_dir.glob("*.json")):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            entries.append(KnowledgeEntry.model_validate({**raw, "source": "seed"}))
    return entries


def _seeds_digest(seeds_dir: Path) -> str:
    h = hashlib.blake2b(digest_size=12)
    for path in sorted(seeds_dir.glob("*.json")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class KnowledgeBase:
    """Fault knowledge in an embedded ChromaDB at `path`.

    Args:
        path: Folder for the ChromaDB files; created if missing.
        embedding: A ChromaDB embedding function; default `default_embedding()`.
            Opening a store built with another embedding re-embeds its entries.
        seeds_dir: Where seed JSON files live (default: the packaged seeds).
    """

    def __init__(
        self,
        path: Path | str,
        embedding: EmbeddingFunction[Documents] | None = None,
        *,
        seeds_dir: Path = SEEDS_DIR,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.embedding = embedding if embedding is not None else default_embedding()
        self.seeds_dir = Path(seeds_dir)
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=Settings(anonymized_telemetry=False)
        )
        self._collection = self._open_collection()
        self._seeded = False

    # -- lifecycle ---------------------------------------------------------------------------
    def _create(self) -> Any:
        return self._client.get_or_create_collection(
            COLLECTION, embedding_function=self.embedding,
            configuration={"hnsw": {"space": "cosine"}},
        )

    def _open_collection(self) -> Any:
        """Open "faults"; if it was built with another embedding, re-embed it with ours."""
        try:
            existing = self._client.get_collection(COLLECTION, embedding_function=None)
        except NotFoundError:
            return self._create()
        persisted = existing.configuration_json.get("embedding_function") or {}
        ours = {"name": self.embedding.name(), "config": self.embedding.get_config()}
        if persisted.get("name") == ours["name"] and persisted.get("config") == ours["config"]:
            return self._create()
        rows = existing.get(include=["documents", "metadatas"])
        self._client.delete_collection(COLLECTION)
        collection = self._create()
        if rows["ids"]:
            collection.upsert(
                ids=rows["ids"], documents=rows["documents"], metadatas=rows["metadatas"]
            )
        return collection

    def close(self) -> None:
        """Release the ChromaDB client (file handles); the instance is unusable afterwards."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- seeding -----------------------------------------------------------------------------
    def seed(self) -> int:
        """Upsert the seed entries by id, keeping their recorded counts; returns how many.

        Idempotent. Runs on first use of each instance, and only writes when the seed
        files changed since the last seeding of this store (a digest in the collection
        metadata records that).
        """
        self._seeded = True
        digest = _seeds_digest(self.seeds_dir)
        if (self._collection.metadata or {}).get(_DIGEST_KEY) == digest:
            return 0
        seeds = load_seed_entries(self.seeds_dir)
        if seeds:
            old = {e.id: e for e in self._get_many([s.id for s in seeds])}
            for s in seeds:
                if s.id in old:
                    s.successes, s.failures = old[s.id].successes, old[s.id].failures
            self._upsert(seeds)
        self._collection.modify(metadata={_DIGEST_KEY: digest})
        return len(seeds)

    def _ensure_seeded(self) -> None:
        if not self._seeded:
            self.seed()

    # -- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        """Number of entries (seeds included)."""
        self._ensure_seeded()
        return self._collection.count()

    def get(self, entry_id: str) -> KnowledgeEntry | None:
        """The entry with this id, or None."""
        self._ensure_seeded()
        found = self._get_many([entry_id])
        return found[0] if found else None

    def entries(self, fault_kind: str | None = None) -> list[KnowledgeEntry]:
        """All entries, optionally of one fault kind, sorted by id."""
        self._ensure_seeded()
        where = {"fault_kind": fault_kind} if fault_kind else None
        rows = self._collection.get(where=where, include=["documents", "metadatas"])
        return sorted(_entries(rows), key=lambda e: e.id)

    def search(self, query: str, k: int = 5, fault_kind: str | None = None) -> list[Hit]:
        """The `k` best entries for an error text, best first, by `rank_score`.

        Candidates are the nearest max(4k, 20) signatures (of `fault_kind` only, when
        given); they are re-ranked by similarity x smoothed success rate.
        """
        self._ensure_seeded()
        total = self._collection.count()
        if total == 0 or k <= 0:
            return []
        rows = self._collection.query(
            query_texts=[query], n_results=min(total, max(4 * k, 20)),
            where={"fault_kind": fault_kind} if fault_kind else None,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for entry_id, doc, meta, dist in zip(
            rows["ids"][0], rows["documents"][0], rows["metadatas"][0], rows["distances"][0]
        ):
            entry = _from_record(entry_id, doc, meta)
            similarity = min(1.0, max(0.0, 1.0 - float(dist)))
            score = rank_score(similarity, entry)
            hits.append(Hit(entry=entry, similarity=similarity, rank_score=score))
        hits.sort(key=lambda h: (-h.rank_score, -h.similarity, h.entry.id))
        return hits[:k]

    # -- writing -----------------------------------------------------------------------------
    def record(
        self,
        signature: str,
        fault_kind: str,
        diagnosis: str,
        fix: dict[str, Any],
        fix_description: str,
        worked: bool,
        *,
        entry_id: str | None = None,
    ) -> KnowledgeEntry:
        """Record that `fix` did (or did not) cure the fault shown by `signature`.

        The outcome is counted on an existing entry when `entry_id` names one of the same
        kind and fix (the entry the caller applied), or else when an entry of the same kind
        and fix has a signature at least NEAR_DUPLICATE similar. Otherwise a new
        source="learned" entry is added. Returns the entry as stored.
        """
        self._ensure_seeded()
        target = self._matching_entry(signature, fault_kind, fix, entry_id)
        if target is None:
            key = f"{fault_kind}\0{signature}\0{_fix_key(fix)}".encode()
            target = KnowledgeEntry(
                id="learned-" + hashlib.blake2b(key, digest_size=8).hexdigest(),
                signature=signature, fault_kind=fault_kind, diagnosis=diagnosis, fix=fix,
                fix_description=fix_description, source="learned",
            )
        if worked:
            target.successes += 1
        else:
            target.failures += 1
        self._upsert([target])
        return target

    def _matching_entry(
        self, signature: str, fault_kind: str, fix: dict[str, Any], entry_id: str | None
    ) -> KnowledgeEntry | None:
        wanted = _fix_key(fix)
        if entry_id is not None:
            named = self.get(entry_id)
            if named and named.fault_kind == fault_kind and _fix_key(named.fix) == wanted:
                return named
        same_fix = [
            h for h in self.search(signature, k=20, fault_kind=fault_kind)
            if _fix_key(h.entry.fix) == wanted and h.similarity >= NEAR_DUPLICATE
        ]
        return max(same_fix, key=lambda h: h.similarity).entry if same_fix else None

    def _get_many(self, ids: list[str]) -> list[KnowledgeEntry]:
        return _entries(self._collection.get(ids=ids, include=["documents", "metadatas"]))

    def _upsert(self, entries: list[KnowledgeEntry]) -> None:
        self._collection.upsert(
            ids=[e.id for e in entries],
            documents=[e.signature for e in entries],
            metadatas=[_to_metadata(e) for e in entries],
        )
