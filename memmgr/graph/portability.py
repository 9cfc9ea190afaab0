"""Export / import of graph memory in the same JSONL as memories: one `graph_entity` or `graph_relation` row each,
with its history. Imported rows are untrusted like model output: names are re-sanitised, labels re-checked, and a
relation whose ends did not arrive is rejected."""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from pydantic import ValidationError

from memmgr.graph.memory import GraphMemory
from memmgr.graph.parsing import norm_label
from memmgr.graph.prompts import GRAPH_PROMPT_VERSION
from memmgr.graph.tables import Entity, Relation, event_time
from memmgr.sanitize import Rejected, check_memory_text
from memmgr.types import Scope

log = logging.getLogger(__name__)
ROW_TYPES = ("graph_entity", "graph_relation")


def export_rows(graph: GraphMemory, f: IO[str], scope: Scope) -> int:
    """Write the scope's entities, then its relations (invalidated ones too), with history; returns how many."""
    n = 0
    items = [("graph_entity", e) for e in graph.tables.entities(scope)]
    items += [("graph_relation", r) for r in graph.tables.relations(scope, include_invalid=True)]
    for kind, item in items:
        body = item.model_dump(exclude={"source", "destination"})
        if kind == "graph_entity":  # "type" is the row's own key
            body["entity_type"] = body.pop("type")
        row = {"type": kind, **body, "history": graph.tables.history(item.id)}
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def _check(kind: str, row: dict[str, Any], live_entities: set[str]) -> Entity | Relation:
    if kind == "graph_entity":
        e = Entity.model_validate(row)
        e.name = check_memory_text(e.name, max_chars=100, min_chars=1)
        e.aliases = [check_memory_text(a, max_chars=100, min_chars=1) for a in e.aliases]
        e.type = norm_label(e.type) or "entity"
        return e
    r = Relation.model_validate(row)
    if norm_label(r.relation) != r.relation:
        raise Rejected("bad_relation", r.relation[:80])
    if r.source_id not in live_entities or r.destination_id not in live_entities:
        raise Rejected("unknown_entity", f"relation {r.id} has an end that is not in the store")
    r.when = check_memory_text(r.when, max_chars=80) if r.when else None
    r.valid_from = event_time(r.valid_from or None)
    r.invalidated_at = event_time(r.invalidated_at) if r.invalidated_at else None
    r.valid = r.invalidated_at is None if r.valid else False
    return r


def import_rows(graph: GraphMemory, rows: list[dict[str, Any]], *, overwrite: bool = False) -> dict[str, int]:
    """Restore exported graph rows under their ids (entities before relations); existing ids are skipped unless
    `overwrite`. History rows are appended as they were, except rows already present, plus an IMPORT row."""
    counts = {"graph_imported": 0, "graph_skipped": 0, "graph_rejected": 0}
    ordered = [r for t in ROW_TYPES for r in rows if r.get("type") == t]
    done: dict[str, list[dict[str, Any]]] = {"graph_entity": [], "graph_relation": []}
    with graph._lock:
        for row in ordered:
            kind = row["type"]
            body = {k: v for k, v in row.items() if k not in ("type", "history", "entity_type")}
            if kind == "graph_entity":
                body["type"] = row.get("entity_type", "entity")
            live_e, live_r = graph.tables.live_ids()
            try:
                item = _check(kind, body, live_e)
            except (Rejected, ValidationError, ValueError, TypeError) as e:
                log.warning("import: rejected %s %s: %s", kind, row.get("id"), e)
                counts["graph_rejected"] += 1
                continue
            exists = item.id in (live_e if kind == "graph_entity" else live_r)
            if exists and not overwrite:
                counts["graph_skipped"] += 1
                continue
            key = item.scope.key()
            with graph.db.transaction() as conn:
                if kind == "graph_entity":
                    graph.tables.insert_entity(conn, item, key)
                else:
                    graph.tables.insert_relation(conn, item, key)
                for h in row.get("history") or []:
                    if not isinstance(h, dict) or graph.tables.has_history(conn, item.id, str(h.get("event")),
                                                                           str(h.get("created_at"))):
                        continue
                    graph.tables.add_history(conn, item_id=item.id, kind=kind.split("_")[1], event=str(h.get("event")),
                                             old=h.get("old"), new=h.get("new"), call_id=h.get("call_id"),
                                             actor=h.get("actor"), prompt_version=h.get("prompt_version"),
                                             scope_key=key, source_ids=h.get("source_ids"),
                                             created_at=h.get("created_at"), reverted=bool(h.get("reverted")))
                if exists:
                    graph.tables.add_history(conn, item_id=item.id, kind=kind.split("_")[1], event="IMPORT", old=None,
                                             new=None, call_id=None, actor="import",
                                             prompt_version=GRAPH_PROMPT_VERSION, scope_key=key)
            counts["graph_imported"] += 1
            done[kind].append(item.model_dump())
        if ordered:  # overwritten items may differ from what the graph database holds under their ids
            graph.store.upsert_entities(done["graph_entity"])
            graph.store.upsert_relations(done["graph_relation"])
            graph.check_consistency(repair=True)
    return counts
