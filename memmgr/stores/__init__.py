"""Stores: SQLite holds the memories (source of truth), their history and per-scope conversation state; a vector
index (Qdrant) holds one embedding per live memory for similarity search."""

from memmgr.stores.qdrant import QdrantIndex
from memmgr.stores.sqlite import SQLiteStore

__all__ = ["QdrantIndex", "SQLiteStore"]
