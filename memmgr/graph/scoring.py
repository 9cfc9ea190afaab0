"""Scores of graph-manager answers against trace labels (data_gen/graph_traces.py rows): pure and cheap, like
memmgr.scoring, which routes `graph_*` rows here (so eval.manager and GRPO rewards can use them).

Items are compared after normalisation: entities by name (types scored separately), relations as
(source, relation, destination) with the relation label normalised, invalidations as the set of small ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memmgr.graph.parsing import norm_label, parse_entities, parse_invalidations, parse_relations
from memmgr.qa_metrics import mean
from memmgr.sanitize import norm_text

_KEYS = {"graph_entities": "entities", "graph_relations": "relations", "graph_resolve": "invalidate"}


def strict_json_graph(raw: str, stage: str) -> float:
    """1 if the answer is exactly the documented object ({"entities"|"relations"|"invalidate": [...]})."""
    try:
        obj = json.loads(raw.strip())
    except ValueError:
        return 0.0
    return float(isinstance(obj, dict) and isinstance(obj.get(_KEYS[stage]), list))


def _prf(pred: set, gold: set) -> dict[str, float]:
    hit = len(pred & gold)
    p = hit / len(pred) if pred else float(not gold)
    r = hit / len(gold) if gold else float(not pred)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _items(raw: str, stage: str, shown: Sequence[str]) -> tuple[Any, bool, dict[str, str]]:
    """(normalised items, parseable, entity types by name) of one answer."""
    if stage == "graph_entities":
        parsed = parse_entities(raw, max_entities=1000)
        types = {norm_text(n): t for n, t in parsed.entities}
        return set(types), parsed.valid, types
    if stage == "graph_relations":
        parsed = parse_relations(raw, max_relations=1000)
        return {(norm_text(s), norm_label(r) or r, norm_text(d)) for s, r, d in parsed.relations}, parsed.valid, {}
    parsed = parse_invalidations(raw, shown)
    return set(parsed.ids), parsed.valid, {}


def score_graph_row(row: dict[str, Any], raw: str) -> dict[str, Any]:
    """Scores of one completion against a graph trace row's label."""
    stage = row["stage"]
    shown = [str(s[0]) for s in json.loads(row.get("shown_memories") or "[]")]
    pred, parseable, ptypes = _items(raw, stage, shown)
    gold, _, gtypes = _items(row["label"], stage, shown)
    # an answer that does not parse scores 0, also against an empty label (as memmgr.scoring.score_extraction):
    # otherwise garbage would earn full credit on every "nothing to invalidate" row, in eval and as a GRPO reward
    prf = _prf(pred, gold) if parseable else {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    out = {"stage": stage, "json_valid": strict_json_graph(raw, stage), "parseable": float(parseable), **prf}
    if stage == "graph_entities":
        both = set(ptypes) & set(gtypes)
        out["type_accuracy"] = mean(float(ptypes[n] == gtypes[n]) for n in both) if both else None
    if stage == "graph_resolve":
        out["exact"] = float(parseable and pred == gold)
    return out


def aggregate_graph(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per graph stage: n, strict JSON validity, parseable rate, mean precision / recall / F1 (+ type accuracy for
    entities, exact-set accuracy for conflict resolution)."""
    out: dict[str, Any] = {}
    for stage in _KEYS:
        part = [s for s in scores if s["stage"] == stage]
        if not part:
            continue
        out[stage] = {"n": len(part), "json_validity": mean(s["json_valid"] for s in part),
                      "parseable_rate": mean(s["parseable"] for s in part),
                      **{k: mean(s[k] for s in part) for k in ("precision", "recall", "f1")}}
        if stage == "graph_entities":
            out[stage]["type_accuracy"] = mean(s["type_accuracy"] for s in part if s["type_accuracy"] is not None)
        if stage == "graph_resolve":
            out[stage]["exact"] = mean(s["exact"] for s in part)
    return out
