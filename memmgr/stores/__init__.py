"""Stores: SQLite holds the memories (source of truth), their history and per-scope conversation state; a vector
index (Qdrant) holds one embedding per live memory for similarity search."""

from memmgr.stores.history import HistoryStore
from memmgr.stores.qdrant import QdrantIndex

VECTOR_STORES = {"qdrant": QdrantIndex}

__all__ = ["HistoryStore", "QdrantIndex", "VECTOR_STORES"]
