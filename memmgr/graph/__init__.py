"""Mem0g graph memory: entities with types, directed relations with validity intervals and provenance, a graph
manager of three calls (entities, relations, conflict resolution) and entity-centric + triplet retrieval.

tables.py (SQLite truth + history) -> store.py (FalkorDB mirror for traversal) -> manager.py (the model calls,
prompts.py / parsing.py) -> memory.py (GraphMemory, what `Memory` calls when `graph.mode` is "graph" or "both").
Nothing heavy is imported here: the FalkorDB client loads on first use.
"""
