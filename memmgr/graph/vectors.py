"""Embeddings of the graph's texts (entity names, "source relation destination") for entity resolution and triplet
matching, kept in process and scored as one matrix product.

The embedder's own cache is an LRU of 4,096 texts: a scope with more entities + relations than that would re-embed
them on every search. This cache keeps every text it has seen (float32, ~1.5 KB each at 384 dims) for the life of
the Memory; a reopened store embeds a scope's texts again on its first search. Measured on 2 shared cores with the
hashing embedder, this scores ~4,000 relations in a few ms; a Qdrant collection (tried) was slower in local mode
(per-point persistence and Python-side payload filtering) and is the way to go only with a Qdrant server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memmgr.embed import Embedder
from memmgr.graph.tables import Relation


def relation_text(r: Relation) -> str:
    return " ".join(r.triple()).replace("_", " ")


class GraphVectors:
    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self._vecs: dict[str, Any] = {}  # text -> float32 unit vector

    def matrix(self, texts: Sequence[str]) -> Any:
        """(len(texts), dim) float32 matrix of the texts' embeddings; unseen texts are embedded in one batch."""
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._vecs]
        if missing:
            for t, v in zip(missing, self.embedder.embed(missing)):
                self._vecs[t] = np.asarray(v, dtype=np.float32)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._vecs[t] for t in texts])

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosine of `query` with each text (embedders return unit vectors)."""
        if not texts:
            return []
        q = self.matrix([query])[0]
        return (self.matrix(texts) @ q).tolist()

    def forget(self) -> None:
        self._vecs.clear()
