"""eval.graph_retrieval: vector / graph / both memories built by the oracle, probed with the worlds' QA."""

from __future__ import annotations

from data_gen.synthetic import generate_worlds
from eval.graph_retrieval import evaluate
from memmgr.graph.prompts import relation_line as relation_text


def test_variants_and_what_each_representation_can_answer():
    worlds = generate_worlds(3, seed=0, split="test")
    out = evaluate(worlds, k=10)
    v = out["variants"]
    assert set(v) == {"vector", "graph", "graph+history", "both", "both+history"}
    assert all(r["probes"] == v["vector"]["probes"] > 0 for r in v.values())
    assert v["vector"]["hit_temporal"] == 1.0 and v["graph"]["hit_temporal"] == 1.0  # dated edges ("when")
    assert v["graph+history"]["hit_multi-hop"] >= v["graph"]["hit_multi-hop"]
    assert v["both+history"]["hit_rate"] >= max(v["vector"]["hit_rate"], v["graph"]["hit_rate"])
    assert v["graph"]["hit_single-hop"] > 0.5


def test_relation_text_shows_the_validity_interval_of_history():
    r = {"source": "Maya", "relationship": "lives_in", "destination": "Porto", "valid": False,
         "valid_from": "2023-01-10T00:00:00", "invalidated_at": "2023-05-08T00:00:00"}
    assert relation_text(r) == "Maya lives in Porto (from 2023-01-10T00:00:00 until 2023-05-08T00:00:00)"
    r = {"source": "Maya", "relationship": "visited", "destination": "Rome", "when": "in May 2023"}
    assert relation_text(r) == "Maya visited Rome (in May 2023)"
