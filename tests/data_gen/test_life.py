"""data_gen.life: LOCOMO-like gold worlds with held-out topic families: exact gold (replay and the real pipeline
with the oracle), no topic leaking across splits, dialogue realisations, relative dates, QA probes, the source."""

import random
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from data_gen import generate as gen
from data_gen.life import FAMILIES, FAMILY_SPLITS, generate_worlds, inventory, talk
from data_gen.oracle import run_world
from data_gen.synthetic import load_worlds, replay, save_worlds
from memmgr.pipeline import fact_sources
from memmgr.sanitize import check_grounded, check_memory_text
from memmgr.types import human_date


@pytest.fixture(scope="module")
def worlds():
    return {s: generate_worlds(15, seed=0, split=s, n_sessions=(3, 12)) for s in FAMILY_SPLITS}


def test_deterministic_and_serialisable(tmp_path):
    a = generate_worlds(4, seed=3, split="train", n_sessions=(3, 8))
    assert [w.to_dict() for w in a] == [w.to_dict() for w in generate_worlds(4, seed=3, n_sessions=(3, 8))]
    assert [w.to_dict() for w in generate_worlds(4, seed=4, n_sessions=(3, 8))] != [w.to_dict() for w in a]
    assert generate_worlds(2, seed=3, n_sessions=(3, 8))[1].to_dict() == a[1].to_dict()  # independent of n
    save_worlds(a, tmp_path / "w.jsonl")
    assert [w.to_dict() for w in load_worlds(tmp_path / "w.jsonl")] == [w.to_dict() for w in a]
    with pytest.raises(ValueError, match="split"):
        generate_worlds(1, split="dev")


@pytest.mark.parametrize("split", list(FAMILY_SPLITS))
def test_gold_replays_and_passes_the_pipeline_guards(worlds, split):
    ws = worlds[split]
    ids = [m.id for w in ws for p in w.pairs for m in p.messages]
    assert len(ids) == len(set(ids)) and all(w.world_id.startswith(f"life-{split}-") for w in ws)
    for w in ws:
        assert replay(w) == w.final_state
        assert [s.index for s in w.sessions] == list(range(1, len(w.sessions) + 1))
        assert all(a.date_time < b.date_time for a, b in zip(w.sessions, w.sessions[1:]))
        for p in w.pairs:
            assert p.facts == [o.fact for o in p.ops] and len({f.lower() for f in p.facts}) == len(p.facts)
            assert sum(o.event in ("UPDATE", "DELETE") for o in p.ops) <= 3  # guards.max_destructive_per_call
            sources = fact_sources(p.messages, human_date(p.messages[0].timestamp))
            for f in p.facts:  # what the pipeline's extraction checks (guards.min_fact_support 0.5)
                check_grounded(check_memory_text(f), sources, min_support=0.5)
    ops = [o for w in ws for p in w.pairs for o in p.ops]
    assert set(Counter(o.event for o in ops)) == {"ADD", "UPDATE", "DELETE", "NOOP"}
    assert any(not p.ops for w in ws for p in w.pairs)  # chit-chat
    assert any(len(p.ops) >= 2 for w in ws for p in w.pairs)  # multi-fact turns
    assert any(o.event == "UPDATE" and "is planning to" in o.target and "is planning to" not in o.text
               for o in ops)  # a plan that happened
    assert any(o.event == "DELETE" and "cancelled the plan to" in o.fact for o in ops)
    assert any(o.fact.startswith(f"{w.speakers[0]}'s ") for w in ws for p in w.pairs for o in p.ops)  # relatives
    assert any(o.fact.startswith(w.speakers[1]) for w in ws for p in w.pairs for o in p.ops)  # the friend
    assert any(" felt " in o.fact for o in ops)  # feelings


def test_topic_families_are_held_out(worlds):
    splits = list(FAMILY_SPLITS.values())
    assert sorted(f for s in splits for f in s) == sorted(FAMILIES)  # each family in exactly one split
    values = {s: {v for f in fs for vs in FAMILIES[f].slots.values() for v in vs} for s, fs in FAMILY_SPLITS.items()}

    def pattern(vals):  # any of the values as they appear in text: markers ({pos}) match any word
        alts = (r"\w+".join(re.escape(x) for x in re.split(r"\{\w+\}", v)) for v in sorted(vals))
        return re.compile(r"\b(" + "|".join(alts) + r")\b")

    for split, ws in worlds.items():
        others = pattern(set().union(*(values[s] for s in values if s != split)) - values[split])
        texts = [t for w in ws for p in w.pairs for t in [m.content for m in p.messages] + p.facts]
        assert not [(m[0], t) for t in texts if (m := others.search(t))], split  # no held-out topic value
        assert any(pattern(values[split]).search(t) for t in texts)  # the check can fire


def test_dialogue_realisations(worlds):
    pairs = [p for ws in worlds.values() for w in ws for p in w.pairs]
    said = [p.messages[0].content for p in pairs if p.ops]
    assert any("[shares a photo of " in t for t in said)
    assert any(t.startswith(talk.SMALL_OPEN) for t in said)
    assert any(re.search(r"came along too|It was me and|along\.", t) for t in said)  # stories name companions
    asked = [(a, b) for a, b in zip(pairs, pairs[1:]) if a.messages[1].content.endswith("?") and b.ops
             and any(a.messages[1].content.endswith(q) for qs in talk.QUESTION.values() for q in qs)]
    assert any(b.messages[0].content.startswith(talk.ANSWER_OPENER) for _, b in asked)  # answers to questions
    assert any(re.search(r"\b(last (week|month|weekend|year|[A-Z]\w+day)|yesterday|next \w+)\b", t) for t in said)
    assert not any("{" in t or "}" in t or "  " in t for p in pairs for t in [m.content for m in p.messages])


def test_fact_free_turns_are_long_too(worlds):
    """LOCOMO's turns without an observation are long (conv-26: median 17 words); if the worlds' fact-free turns
    were all short, a student could learn "no fact" from length alone."""
    pairs = [p for ws in worlds.values() for w in ws for p in w.pairs]
    support = {s for lines in talk.SUPPORT.values() for s in lines} | set(talk.PEP) | set(talk.PEP_REPLY)
    free = [m.content for p in pairs for m in p.messages if not any(o.speaker == m.name for o in p.ops)]
    long_free = [t for t in free if len(t.split()) >= 15]
    assert len(long_free) >= 0.25 * len(free) and any(s in t for t in long_free for s in support)
    for p in pairs:  # a pair made of thanks and encouragement only carries no fact
        if p.messages[0].content in talk.PEP:
            assert p.messages[1].content in talk.PEP_REPLY and not p.ops
    for s in support:  # and the lines say nothing datable or plan-like
        assert not re.search(r"\b(planning|going to|yesterday|last|next|my (sister|brother|mom|dad))\b", s), s


def test_inventory_is_compositional():
    inv = inventory()
    assert inv["families"] == 10 and inv["predicates"] >= 100 and inv["slot_values"] >= 400
    assert inv["fact_forms"] >= 400
    for split, fams in FAMILY_SPLITS.items():
        assert inventory(fams)["predicates"] >= 25, split


def test_relative_dates_resolve_against_the_session_date():
    d = datetime(2023, 5, 8, 13, 56)  # a Monday
    past = dict(talk.past_date(random.Random(i), d) for i in range(300))
    assert past["yesterday"] == "on 7 May 2023" and past["last week"] == "in the week before 8 May 2023"
    assert past["last weekend"] == "on the weekend of 6 May 2023" and past["last month"] == "in April 2023"
    assert past["last year"] == "in 2022" and past["this morning"] == "on 8 May 2023"
    weekdays = {k: v for k, v in past.items() if k.endswith("day") and k != "yesterday"}
    assert weekdays and all(v == f"on the {k[5:]} before 8 May 2023" for k, v in weekdays.items())
    assert past["two weeks ago"] == "two weeks before 8 May 2023"
    fut = {r: (w, due) for r, w, due in (talk.future_date(random.Random(i), datetime(2023, 12, 20))
                                         for i in range(200))}
    assert fut["next month"] == ("in January 2024", datetime(2024, 1, 1))
    assert fut["tomorrow"][0] == "on 21 December 2023" and fut["next weekend"][0] == "on the weekend of 23 December 2023"


def test_qa_probes_follow_from_the_gold(worlds):
    ws = worlds["validation"] + worlds["test"]
    assert {"single-hop", "multi-hop", "temporal"} <= {q["category"] for w in ws for q in w.qa}
    for w in ws:
        final = "\n".join(w.final_state)
        assert len({q["question"] for q in w.qa}) == len(w.qa)
        for q in w.qa:
            if q["category"] == "multi-hop":  # the earlier value was said in some fact
                assert any(q["answer"] in o.fact for p in w.pairs for o in p.ops), (w.world_id, q)
            else:
                assert q["answer"] in final, (w.world_id, q)


@pytest.mark.parametrize("mode,split", [("per_fact", "train"), ("batched", "test"), ("per_fact", "validation")])
def test_oracle_through_real_pipeline_reproduces_gold_state(mode, split):
    for w in generate_worlds(4, seed=1, split=split, n_sessions=(4, 10)):
        got, rejected, oracle = run_world(w, {"embedder": {"provider": "hash"}, "pipeline": {"update_mode": mode}})
        assert sorted(got) == sorted(w.final_state), (w.world_id, oracle.missing_targets, rejected)
        assert not rejected and oracle.missing_targets == 0 and oracle.unknown_prompts == 0


def test_life_source_and_shipped_config(tmp_path):
    cfg = gen.GenerateConfig.model_validate({
        "source": {"kind": "life", "worlds": {"train": 2, "validation": 1, "test": 1}, "n_sessions": [2, 3]},
        "output_dir": str(tmp_path / "out"), "max_noop_fraction": None})
    stats = gen.generate(cfg)
    assert {s: v["conversations"] for s, v in stats["splits"].items()} == {"train": 2, "validation": 1, "test": 1}
    assert stats["oracle_missing_targets"] == 0 and stats["oracle_unknown_prompts"] == 0
    assert not stats["teacher_rejections"] and stats["splits"]["train"]["ops"]
    path = Path("configs/data_gen/life_oracle.yaml")
    assert f"--config {path}" in path.read_text().splitlines()[1]
    loaded = gen.load_config(str(path), ["--seed", "3"])
    assert loaded.source.kind == "life" and loaded.seed == 3 and loaded.output_dir.startswith("data/")
