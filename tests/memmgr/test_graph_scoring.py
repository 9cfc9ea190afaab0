"""Scoring graph-manager answers against trace labels (routed from memmgr.scoring)."""

from __future__ import annotations

import json

from memmgr.scoring import aggregate, score_row
from tests.memmgr.graph_helpers import ents, inval, rels


def _row(stage, label, shown=()):
    return {"stage": stage, "label": label, "shown_memories": json.dumps([[i, t] for i, t in shown])}


def test_entities_relations_and_resolve_scores():
    e = score_row(_row("graph_entities", ents(("Maya", "person"), ("Lisbon", "city"))),
                  ents(("maya", "person"), ("Lisbon", "country"), ("Rex", "pet")))
    assert (e["precision"], e["recall"], e["json_valid"], e["type_accuracy"]) == (2 / 3, 1.0, 1.0, 0.5)
    r = score_row(_row("graph_relations", rels(("Maya", "lives_in", "Lisbon"))),
                  'Sure: {"relations": [["Maya", "Lives In", "Lisbon"]]}')
    assert (r["f1"], r["json_valid"], r["parseable"]) == (1.0, 0.0, 1.0)
    shown = [("0", ["Maya", "lives_in", "Porto"]), ("1", ["Maya", "has_pet", "Rex"])]
    v = score_row(_row("graph_resolve", inval("0"), shown), inval("0", "1", "7"))
    assert (v["precision"], v["recall"], v["exact"]) == (0.5, 1.0, 0.0)  # "7" was never shown: not counted
    none = score_row(_row("graph_resolve", inval(), shown), inval())
    assert (none["f1"], none["exact"]) == (1.0, 1.0)
    bad = score_row(_row("graph_relations", rels(("Maya", "lives_in", "Lisbon"))), "no idea")
    assert (bad["parseable"], bad["recall"], bad["json_valid"]) == (0.0, 0.0, 0.0)
    garbage = score_row(_row("graph_resolve", inval(), shown), "I am not sure")  # empty label, no parse: no credit
    assert (garbage["f1"], garbage["exact"], garbage["parseable"]) == (0.0, 0.0, 0.0)


def test_aggregate_keeps_vector_figures_and_adds_graph():
    scores = [score_row(_row("graph_entities", ents(("Maya", "person"))), ents(("Maya", "person"))),
              score_row(_row("graph_resolve", inval("0"), [("0", ["a", "r", "b"])]), "garbage"),
              score_row({"stage": "extract", "label": json.dumps({"facts": ["Maya lives in Lisbon"]})},
                        json.dumps({"facts": ["Maya lives in Lisbon"]}))]
    agg = aggregate(scores)
    assert agg["n"] == 1 and agg["fact_f1"] == 1.0 and agg["json_validity"] == 1.0
    assert agg["graph"]["graph_entities"]["f1"] == 1.0 and agg["graph"]["graph_resolve"]["parseable_rate"] == 0.0
    assert "graph" not in aggregate(scores[2:])
