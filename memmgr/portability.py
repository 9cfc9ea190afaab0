"""Export / import of a Memory as JSONL: one `memory` row per memory with provenance and full history, then (when
graph memory is on) the graph's `graph_entity` / `graph_relation` rows (memmgr.graph.portability)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from memmgr.graph import portability as graph_io
from memmgr.sanitize import Rejected, check_memory_text
from memmgr.types import MemoryItem, Scope

if TYPE_CHECKING:
    from memmgr.memory import Memory

log = logging.getLogger(__name__)


def export_jsonl(mem: Memory, path: str | Path, scope: Scope) -> int:
    """See Memory.export; `scope` is already resolved (an empty one = every scope)."""
    items = mem.db.list(scope)
    with open(path, "w", encoding="utf-8") as f:
        for item in items:
            row = {"type": "memory", **item.model_dump(exclude={"score"}), "history": mem.db.history(item.id)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if mem.graph:  # after the memories, not counted
            graph_io.export_rows(mem.graph, f, scope)
    return len(items)


def import_jsonl(mem: Memory, path: str | Path, *, overwrite: bool = False) -> dict[str, int]:
    """See Memory.import_."""
    from memmgr.memory import text_hash

    counts = {"imported": 0, "skipped": 0, "rejected": 0}
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        if row.get("type") != "memory":
            continue
        hist = row.pop("history", [])
        row.pop("type")
        try:
            item = MemoryItem.model_validate(row)
            item.memory = check_memory_text(item.memory, max_chars=mem.config.guards.max_text_chars)
        except (Rejected, ValueError) as e:
            log.warning("import: rejected memory %s: %s", row.get("id"), e)
            counts["rejected"] += 1
            continue
        existing = mem.db.get(item.id, include_deleted=True)
        if existing and not overwrite:
            counts["skipped"] += 1
            continue
        vec = mem.embedder.embed([item.memory])[0]
        key = item.scope.key()
        with mem._lock:
            with mem.db.transaction() as conn:
                mem.db.restore_memory(conn, item.model_copy(update={"hash": text_hash(item.memory)}), key, hist)
                if existing:
                    mem._history(conn, item.id, "IMPORT", existing.memory, item.memory, None, "import", key)
            mem.index.upsert([item.id], [vec], [item.scope.as_filters()])
        counts["imported"] += 1
    if mem.graph:
        counts.update(graph_io.import_rows(mem.graph, rows, overwrite=overwrite))
    return counts
