"""Micro-batching for offline engines: moved to memmgr.backends.batching (AsyncMemory uses it too); kept importable
from here for data_gen.sources and older code."""

from memmgr.backends.batching import BatchingBackend

__all__ = ["BatchingBackend"]
