"""Untrusted graph-manager output -> validated entities, triples and invalidations (pure; no store is touched).

Decoding is memmgr.parsing's `item_list` (load_json: fences, prose around the answer, json-repair, competing
answers), shared with the vector manager's parser; every item
that does not fit becomes a `Rejection` with a stable reason code. Names are checked further (sanitising and
grounding) by memmgr.graph.manager, which knows the messages.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from memmgr.parsing import MAX_OUTPUT_CHARS, item_list, short_item
from memmgr.sanitize import norm_text
from memmgr.types import Rejection

_LABEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_ENTITY_KEYS = ("entities", "nodes")
_RELATION_KEYS = ("relations", "triples", "edges", "relationships")
_INVALIDATE_KEYS = ("invalidate", "obsolete", "delete", "ids")
_SOURCE_KEYS = ("source", "subject", "head", "from")
_REL_KEYS = ("relation", "relationship", "predicate", "label")
_DEST_KEYS = ("destination", "target", "object", "tail", "to")
_WHEN_KEYS = ("when", "date", "time")


@dataclass
class ParsedEntities:
    entities: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    rejected: list[Rejection] = field(default_factory=list)
    valid: bool = False


@dataclass
class ParsedRelations:
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (source, relation, destination)
    when: dict[tuple[str, str, str], str] = field(default_factory=dict)  # the date a relation refers to, if given
    rejected: list[Rejection] = field(default_factory=list)
    valid: bool = False


@dataclass
class ParsedInvalidations:
    ids: list[str] = field(default_factory=list)  # small ids that were shown
    rejected: list[Rejection] = field(default_factory=list)
    valid: bool = False


def norm_label(value: Any) -> str | None:
    """A relation or type label as stored: lower case, words joined by '_'; None when it cannot be one."""
    if not isinstance(value, str):
        return None
    label = "_".join(re.split(r"[\s\-]+", value.strip().lower()))
    return label if _LABEL_RE.match(label) else None


def _first_str(d: dict, keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def parse_entities(raw: Any, *, max_entities: int = 20, max_chars: int = MAX_OUTPUT_CHARS) -> ParsedEntities:
    stage = "graph_entities"
    out = ParsedEntities()
    items, rej = item_list(raw, stage, _ENTITY_KEYS, max_chars)
    if rej or items is None:
        out.rejected.append(rej)
        return out
    out.valid = True
    seen: set[str] = set()
    for item in items:
        name, etype = (item, "entity") if isinstance(item, str) else (
            (item.get("name", item.get("entity")), item.get("type", item.get("entity_type", "entity")))
            if isinstance(item, dict) else (None, None))
        label = norm_label(etype)
        if not isinstance(name, str) or not name.strip():
            out.rejected.append(Rejection(stage=stage, reason="empty_text", item=short_item(item)))
        elif label is None:
            out.rejected.append(Rejection(stage=stage, reason="bad_type", item=short_item(item)))
        elif norm_text(name) in seen:
            out.rejected.append(Rejection(stage=stage, reason="duplicate", item=short_item(item)))
        elif len(out.entities) >= max_entities:
            out.rejected.append(Rejection(stage=stage, reason="too_many", item=short_item(item)))
        else:
            seen.add(norm_text(name))
            out.entities.append((name, label))
    return out


def parse_relations(raw: Any, *, max_relations: int = 30, max_chars: int = MAX_OUTPUT_CHARS) -> ParsedRelations:
    stage = "graph_relations"
    out = ParsedRelations()
    items, rej = item_list(raw, stage, _RELATION_KEYS, max_chars)
    if rej or items is None:
        out.rejected.append(rej)
        return out
    out.valid = True
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        when: Any = None
        if isinstance(item, dict):
            s, r, d = _first_str(item, _SOURCE_KEYS), _first_str(item, _REL_KEYS), _first_str(item, _DEST_KEYS)
            when = _first_str(item, _WHEN_KEYS)
        elif isinstance(item, list) and len(item) in (3, 4):
            s, r, d, *rest = item
            when = rest[0] if rest else None
        else:
            out.rejected.append(Rejection(stage=stage, reason="schema", item=short_item(item)))
            continue
        label = norm_label(r)
        if not (isinstance(s, str) and s.strip() and isinstance(d, str) and d.strip()):
            reason = "empty_text"
        elif label is None:
            reason = "bad_relation"
        elif norm_text(s) == norm_text(d):
            reason = "self_loop"
        elif (key := (norm_text(s), label, norm_text(d))) in seen:
            reason = "duplicate"
        elif len(out.relations) >= max_relations:
            reason = "too_many"
        else:
            seen.add(key)
            out.relations.append((s, label, d))
            if isinstance(when, str) and when.strip():  # anything else is no date: ignored, the triple is kept
                out.when[(s, label, d)] = when
            continue
        out.rejected.append(Rejection(stage=stage, reason=reason, item=short_item(item)))
    return out


def parse_invalidations(raw: Any, shown_ids: Collection[str], *, max_chars: int = MAX_OUTPUT_CHARS
                        ) -> ParsedInvalidations:
    """Validate the obsolete-relation ids against the small ids that were actually shown."""
    stage = "graph_resolve"
    out = ParsedInvalidations()
    shown = {str(i) for i in shown_ids}
    items, rej = item_list(raw, stage, _INVALIDATE_KEYS, max_chars)
    if rej or items is None:
        out.rejected.append(rej)
        return out
    out.valid = True
    for item in items:
        v = item.get("id") if isinstance(item, dict) else item
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            out.rejected.append(Rejection(stage=stage, reason="schema", item=short_item(item)))
            continue
        sid = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()
        if sid not in shown:
            out.rejected.append(Rejection(stage=stage, reason="unknown_id", item=short_item(item)))
        elif sid in out.ids:
            out.rejected.append(Rejection(stage=stage, reason="duplicate_id", item=short_item(item)))
        else:
            out.ids.append(sid)
    return out
