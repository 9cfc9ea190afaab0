"""The graph oracle answers graph prompts from synthetic gold; the real pipeline's final graph matches the gold."""

from __future__ import annotations

from data_gen.graph_oracle import fact_triples, pair_gold, score, world_gold_relations
from data_gen.synthetic import GoldOp, GoldPair, generate_worlds


def test_fact_triples_cover_slots_kin_and_events():
    assert fact_triples("Maya lives in Lisbon") == [(("Maya", "lives_in", "Lisbon"), ("person", "city"))]
    assert fact_triples("Maya plans to travel to Japan in June 2023")[0][0] == ("Maya", "plans_to_travel_to", "Japan")
    assert [t for t, _ in fact_triples("Maya's brother Tom works as a nurse")] == [
        ("Tom", "works_as", "nurse"), ("Tom", "brother_of", "Maya")]
    assert fact_triples("Maya went to a jazz concert in the week before 8 May 2023")[0][0] == (
        "Maya", "went_to", "jazz concert")
    assert fact_triples("Maya quit the job as a nurse") == []  # a retraction asserts nothing


def test_pair_gold_update_obsoletes_the_target_only():
    pair = GoldPair(pair_id="p", session=1, messages=[], ops=[
        GoldOp(event="UPDATE", fact="Maya's brother Tom lives in Oslo", target="Maya's brother Tom lives in Leeds",
               text="Maya's brother Tom lives in Oslo"),
        GoldOp(event="DELETE", fact="Maya quit the job as a nurse", target="Maya works as a nurse",
               text="Maya works as a nurse")])
    ents, asserted, obsolete = pair_gold(pair)
    assert asserted == [("Tom", "lives_in", "Oslo"), ("Tom", "brother_of", "Maya")]
    assert obsolete == [("Tom", "lives_in", "Leeds"), ("Maya", "works_as", "nurse")]
    assert ("nurse", "job") in ents


def test_every_gold_memory_has_triples():
    for w in generate_worlds(10, seed=1, split="train"):
        assert all(fact_triples(t) for t in w.final_state)
        assert len(world_gold_relations(w)) >= len(w.final_state)


def test_oracle_graph_matches_gold_relations():
    out = score(generate_worlds(3, seed=0, split="test"))
    assert out["gold_relations"] > 20
    assert (out["precision"], out["recall"]) == (1.0, 1.0)
    assert out["rejected"] == {}
    assert all(r["stored_with_invalidated"] > r["predicted"] for r in out["per_world"])  # history kept
