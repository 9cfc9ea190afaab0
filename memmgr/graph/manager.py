"""The graph manager's three calls: entity extraction, relation generation, conflict resolution.

Each goes through memmgr.pipeline.call_manager (backends, one bounded retry, the ManagerCall trace record), parses
with memmgr.graph.parsing, then sanitises and grounds what the model proposed: entity names must be clean texts
supported by the messages, relation ends must be listed entities, invalidations must name shown relations and are
capped per call. Nothing here writes; GraphMemory applies what survives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memmgr.backends.base import LLMBackend
from memmgr.config import MemoryConfig
from memmgr.graph import prompts as gp
from memmgr.graph.parsing import parse_entities, parse_invalidations, parse_relations
from memmgr.pipeline import call_manager, fact_sources
from memmgr.sanitize import Rejected, check_grounded, check_memory_text, norm_text, numbers, unsupported_year
from memmgr.types import ManagerCall, Message, Rejection

MAX_NAME_CHARS = 100
MAX_WHEN_CHARS = 80
# a pronoun is no entity: "I" / "me" must have been resolved to the speaker's name
_PRONOUNS = frozenset("i me my mine you your he him his she her hers we us our they them their it its".split())

ENTITIES_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["entities"],
    "properties": {"entities": {"type": "array", "items": {
        "type": "object", "required": ["name", "type"],
        "properties": {"name": {"type": "string", "maxLength": MAX_NAME_CHARS}, "type": {"type": "string"}}}}},
}
RELATIONS_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["relations"],
    "properties": {"relations": {"type": "array", "items": {
        "type": "object", "required": ["source", "relation", "destination"],
        "properties": {"source": {"type": "string"}, "relation": {"type": "string"},
                       "destination": {"type": "string"}, "when": {"type": "string", "maxLength": MAX_WHEN_CHARS}}}}},
}
RESOLVE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["invalidate"],
    "properties": {"invalidate": {"type": "array", "items": {"type": "string"}}},
}


def _call(backend: LLMBackend, cfg: MemoryConfig, messages: list[dict[str, str]], stage: str, parse: Any,
          schema: dict[str, Any], style: str, context: dict[str, Any]) -> tuple[Any, ManagerCall]:
    parsed, call = call_manager(backend, messages, stage=stage, parse=parse, max_retries=cfg.pipeline.max_retries,
                                style=style, context=context, schema=schema)
    call.prompt_version = gp.GRAPH_PROMPT_VERSION
    return parsed, call


def extract_entities(backend: LLMBackend, cfg: MemoryConfig, *, new: Sequence[Message], today: str, style: str,
                     context: dict[str, Any]) -> tuple[list[tuple[str, str]], ManagerCall]:
    """(name, type) of the entities the new messages talk about, sanitised and grounded in them."""
    g = cfg.graph
    parsed, call = _call(backend, cfg, gp.render_entities(new, today, style), "graph_entities",
                         lambda raw: parse_entities(raw, max_entities=g.max_entities,
                                                    max_chars=cfg.guards.max_output_chars),
                         ENTITIES_SCHEMA, style, context)
    sources = fact_sources(new, today)
    out: list[tuple[str, str]] = []
    for name, etype in parsed.entities:
        try:
            clean = check_memory_text(name, max_chars=MAX_NAME_CHARS, min_chars=1)
            if norm_text(clean) in _PRONOUNS:
                raise Rejected("pronoun", clean)
            check_grounded(clean, sources, min_support=g.min_entity_support)
        except Rejected as r:
            call.rejected.append(Rejection(stage="graph_entities", reason=r.reason, detail=r.detail, item=name[:200]))
            continue
        if norm_text(clean) not in {norm_text(n) for n, _ in out}:
            out.append((clean, etype))
    call.parsed = {"entities": [{"name": n, "type": t} for n, t in parsed.entities]}
    call.applied = [{"entity": n, "type": t} for n, t in out]
    call.context["accepted"] = [list(e) for e in out]  # what survived validation: the label of a trace
    return out, call


def check_when(text: str, sources: Sequence[str], today: str) -> str:
    """A relation's date as the manager resolved it: a clean short text whose numbers are in the messages or are
    dates, with any year within one of today's or of a year in the messages (`sanitize.unsupported_year`: a resolved
    "last month" on 4 January 2023 is December 2022).
    Raises Rejected("ungrounded") for an invented date."""
    when = check_memory_text(text, max_chars=MAX_WHEN_CHARS)
    known = {n for s in sources for n, _ in numbers(s)}
    n = next((n for n, is_date in numbers(when) if n not in known and not is_date), None)
    n = n if n is not None else unsupported_year(when, [*sources, today])
    if n is not None:
        raise Rejected("ungrounded", f"{n} in {when[:60]!r} is neither in the messages nor a date near today")
    return when


def generate_relations(backend: LLMBackend, cfg: MemoryConfig, *, new: Sequence[Message],
                       entities: Sequence[tuple[str, str]], today: str, style: str,
                       context: dict[str, Any]
                       ) -> tuple[list[tuple[str, str, str]], dict[tuple[str, str, str], str], ManagerCall]:
    """Triples between the listed entities (ends mapped to the listed names; the rest are rejected), and the
    dates some of them refer to (`when`, sanitised and grounded like a fact; a bad date is dropped, not the
    triple)."""
    g = cfg.graph
    parsed, call = _call(backend, cfg, gp.render_relations(new, entities, today, style), "graph_relations",
                         lambda raw: parse_relations(raw, max_relations=g.max_relations,
                                                     max_chars=cfg.guards.max_output_chars),
                         RELATIONS_SCHEMA, style, {**context, "entities": [list(e) for e in entities]})
    listed = {norm_text(n): n for n, _ in entities}
    sources = fact_sources(new, today)
    out: list[tuple[str, str, str]] = []
    dates: dict[tuple[str, str, str], str] = {}
    for s, r, d in parsed.relations:
        src, dst = listed.get(norm_text(s)), listed.get(norm_text(d))
        if src is None or dst is None:
            call.rejected.append(Rejection(stage="graph_relations", reason="unknown_entity",
                                           detail=s if src is None else d, item=f"{s} -- {r} --> {d}"[:200]))
            continue
        out.append((src, r, dst))
        if (s, r, d) in parsed.when:
            try:
                dates[(src, r, dst)] = check_when(parsed.when[(s, r, d)], sources, today)
            except Rejected as e:
                call.rejected.append(Rejection(stage="graph_relations", reason=e.reason, detail="when: " + e.detail,
                                               item=parsed.when[(s, r, d)][:200]))
    call.parsed = {"relations": [{"source": s, "relation": r, "destination": d,
                                  **({"when": parsed.when[(s, r, d)]} if (s, r, d) in parsed.when else {})}
                                 for s, r, d in parsed.relations]}
    call.context["accepted"] = [[*t, dates[t]] if t in dates else list(t) for t in out]
    return out, dates, call


def resolve_conflicts(backend: LLMBackend, cfg: MemoryConfig, *, conversation: Sequence[Message],
                      existing: Sequence[tuple[str, tuple[str, str, str]]], new: Sequence[tuple[str, str, str]],
                      today: str, style: str, context: dict[str, Any],
                      keep: Sequence[tuple[str, str, str]] = ()) -> tuple[list[str], ManagerCall]:
    """Which `existing` relations ((relation id, triple) pairs, shown under small ids) the conversation and its
    `new` triples make obsolete; returns relation ids. A relation that the messages assert again (`new` or `keep`: triples already
    stored) is never invalidated."""
    g = cfg.graph
    shown = [(str(i), t) for i, (_, t) in enumerate(existing)]
    id_map = {str(i): rid for i, (rid, _) in enumerate(existing)}
    parsed, call = _call(backend, cfg, gp.render_resolve(conversation, shown, new, today, style), "graph_resolve",
                         lambda raw: parse_invalidations(raw, id_map.keys(), max_chars=cfg.guards.max_output_chars),
                         RESOLVE_SCHEMA, style, {**context, "shown_relation_ids": id_map})
    reasserted = {tuple(norm_text(x) for x in t) for t in [*new, *keep]}
    out: list[str] = []
    for sid in parsed.ids:
        triple = dict(shown)[sid]
        if tuple(norm_text(x) for x in triple) in reasserted:
            reason = "reasserted"
        elif len(out) >= g.max_invalidations_per_call:
            reason = "destructive_cap"
        else:
            out.append(id_map[sid])
            continue
        call.rejected.append(Rejection(stage="graph_resolve", reason=reason, item=gp.triple_text(*triple)))
    call.parsed = {"invalidate": list(parsed.ids)}
    call.context["accepted"] = [sid for sid, rid in id_map.items() if rid in out]
    call.context["shown"] = [[sid, list(t)] for sid, t in shown]
    return out, call
