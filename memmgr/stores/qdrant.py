"""Vector index on qdrant-client: local mode (in-memory or a folder on disk) or a Qdrant server URL."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


class QdrantIndex:
    def __init__(self, dim: int, *, path: str | None = None, url: str | None = None, collection: str = "memmgr"):
        from qdrant_client import QdrantClient, models

        self.models = models
        self.dim = dim
        self.collection = collection
        self._lock = threading.RLock()  # local mode is not thread-safe
        if url:
            self.client = QdrantClient(url=url)
        elif path:
            self.client = QdrantClient(path=path)
        else:
            self.client = QdrantClient(location=":memory:")
        self._ensure()

    def _ensure(self) -> None:
        if not self.client.collection_exists(self.collection):
            self.client.create_collection(
                self.collection,
                vectors_config=self.models.VectorParams(size=self.dim, distance=self.models.Distance.COSINE),
            )

    def _filter(self, filters: dict[str, str] | None, ids: Sequence[str] | None = None) -> Any:
        m = self.models
        must: list[Any] = [m.FieldCondition(key=k, match=m.MatchValue(value=v)) for k, v in (filters or {}).items()]
        if ids is not None:
            must.append(m.HasIdCondition(has_id=list(ids)))
        return m.Filter(must=must) if must else None

    def upsert(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], payloads: Sequence[dict]) -> None:
        if not ids:
            return
        pts = [self.models.PointStruct(id=str(uuid.UUID(i)), vector=list(v), payload=p)
               for i, v, p in zip(ids, vectors, payloads)]
        with self._lock:
            self.client.upsert(self.collection, points=pts, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._lock:
            self.client.delete(self.collection, points_selector=self.models.PointIdsList(points=list(ids)), wait=True)

    def search(self, vector: Sequence[float], filters: dict[str, str] | None, limit: int,
               ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The `limit` nearest points matching the payload `filters` (and among `ids` when given)."""
        with self._lock:
            res = self.client.query_points(self.collection, query=list(vector), query_filter=self._filter(filters, ids),
                                           limit=limit, with_payload=False)
        return [(str(p.id), float(p.score)) for p in res.points]

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = None
        with self._lock:
            while True:
                points, offset = self.client.scroll(self.collection, limit=1024, offset=offset, with_payload=False)
                out.update(str(p.id) for p in points)
                if offset is None:
                    return out

    def reset(self, dim: int | None = None) -> None:
        """Drop every point; with `dim`, recreate the collection for vectors of that size."""
        with self._lock:
            self.client.delete_collection(self.collection)
            self.dim = dim or self.dim
            self._ensure()

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a local-mode client twice is harmless
            log.debug("qdrant close failed", exc_info=True)
