"""Synthetic gold worlds: determinism, self-consistent gold, op coverage, held-out phrasing, dates, QA."""

import re
from collections import Counter
from datetime import datetime

import pytest

from data_gen.synthetic import (
    FAMILIES,
    FAMILY_SPLITS,
    SLOTS,
    World,
    generate_worlds,
    load_worlds,
    relative_future,
    relative_past,
    replay,
    save_worlds,
    templates,
)


def test_deterministic_and_serialisable(tmp_path):
    a = generate_worlds(6, seed=3, split="train")
    b = generate_worlds(6, seed=3, split="train")
    assert [w.to_dict() for w in a] == [w.to_dict() for w in b]
    assert [w.to_dict() for w in generate_worlds(6, seed=4)] != [w.to_dict() for w in a]
    # a world does not depend on how many are generated with it
    assert generate_worlds(2, seed=3)[1].to_dict() == a[1].to_dict()
    save_worlds(a, tmp_path / "w.jsonl")
    assert [w.to_dict() for w in load_worlds(tmp_path / "w.jsonl")] == [w.to_dict() for w in a]


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_gold_replays_to_final_state(split):
    worlds = generate_worlds(40, seed=0, split=split, n_sessions=(3, 30))
    ids = [m.id for w in worlds for p in w.pairs for m in p.messages]
    assert len(ids) == len(set(ids))  # the oracle identifies pairs by message id
    for w in worlds:
        assert replay(w) == w.final_state
        assert 3 <= len(w.sessions) <= 30
        assert [s.index for s in w.sessions] == list(range(1, len(w.sessions) + 1))
        assert all(a.date_time < b.date_time for a, b in zip(w.sessions, w.sessions[1:]))
        assert sum(len(s.pair_ids) for s in w.sessions) == len(w.pairs)
        for p in w.pairs:
            assert p.facts == [o.fact for o in p.ops]
            assert all(m.timestamp == w.sessions[p.session - 1].date_time for m in p.messages)
    ops = Counter(o.event for w in worlds for p in w.pairs for o in p.ops)
    assert set(ops) == {"ADD", "UPDATE", "DELETE", "NOOP"}
    assert any(not p.ops for w in worlds for p in w.pairs)  # chit-chat
    assert any(len(p.ops) >= 2 for w in worlds for p in w.pairs)  # multi-fact turns
    assert any("'s " in o.fact for w in worlds for p in w.pairs for o in p.ops)  # a relative (distractor person)
    assert any(o.fact.startswith(w.speakers[1]) for w in worlds for p in w.pairs for o in p.ops)  # the friend


def test_replay_rejects_inconsistent_gold():
    w = generate_worlds(1, seed=0, n_sessions=(6, 6))[0]
    op = next(o for p in w.pairs for o in w.ops_of(p) if o.event == "UPDATE")
    op.target = "something never stored"
    with pytest.raises(ValueError, match="not stored"):
        replay(w)


def test_each_speaker_keeps_their_own_facts():
    """The friend's facts are the friend's scope's gold, not the main speaker's (Mem0's per-speaker ingestion)."""
    worlds = generate_worlds(20, seed=0)
    n_friend = 0
    for w in worlds:
        main, friend = w.speakers
        assert all(o.speaker in (main, friend) for p in w.pairs for o in p.ops)
        theirs = replay(w, friend)
        n_friend += len(theirs)
        assert w.final_state == replay(w) and not set(w.final_state) & set(theirs)
        assert all(t.startswith(friend) for t in theirs) and not any(t.startswith(friend) for t in w.final_state)
    assert n_friend > 0


def test_held_out_phrasing_families():
    assert set(FAMILY_SPLITS["test"]).isdisjoint(FAMILY_SPLITS["train"] + FAMILY_SPLITS["validation"])
    train = set().union(*(templates(f) for f in FAMILY_SPLITS["train"]))
    for f in FAMILY_SPLITS["validation"] + FAMILY_SPLITS["test"]:
        assert not templates(f) & train, f
    for fam in FAMILIES.values():  # every family can say everything the simulator needs
        assert set(fam["state"]) == set(fam["change"]) == set(SLOTS)
        assert set(fam["retract"]) == {s for s, spec in SLOTS.items() if spec.retract}
    # no test-split utterance could have come from a train template (placeholders match anything)
    patterns = [re.compile(".+".join(re.escape(x) for x in re.split(r"\{\w+\}", t))) for t in train]
    said = [p.messages[0].content for w in generate_worlds(10, seed=0, split="test") for p in w.pairs if p.ops]
    assert said and not [(t, p.pattern) for t in said for p in patterns if p.fullmatch(t)]
    said_train = [p.messages[0].content for w in generate_worlds(3, seed=0, split="train") for p in w.pairs if p.ops]
    assert any(p.fullmatch(t) for t in said_train for p in patterns)  # the check can fire


def test_relative_dates_resolve_against_the_message_date():
    d = datetime(2023, 5, 8, 13, 56)  # a Monday
    seen = {}
    for i in range(40):
        import random

        rel, resolved = relative_past(random.Random(i), d)
        seen[rel] = resolved
    assert seen["yesterday"] == "on 7 May 2023"
    assert seen["last week"] == "in the week before 8 May 2023"
    assert seen["last weekend"] == "on the weekend of 6 May 2023"
    assert seen["last month"] == "in April 2023"
    fut = {relative_future(__import__("random").Random(i), datetime(2023, 12, 20))[1] for i in range(20)}
    assert fut == {"in the week after 20 December 2023", "in January 2024"}


def test_qa_probes_follow_from_the_gold():
    worlds = generate_worlds(30, seed=5, split="validation", n_sessions=(10, 30))
    cats = Counter(q["category"] for w in worlds for q in w.qa)
    assert {"single-hop", "multi-hop", "temporal"} <= set(cats)
    memories = "\n".join(m for w in worlds for m in w.final_state)
    for w in worlds:
        final = "\n".join(w.final_state)
        for q in w.qa:
            if q["category"] == "single-hop" or q["category"] == "temporal":
                assert q["answer"] in final, (w.world_id, q)  # answerable from the final memory state
            else:  # the earlier value appears in some fact of the dialogue
                assert any(q["answer"] in o.fact for p in w.pairs for o in p.ops), (w.world_id, q)
    assert memories


def test_loads_worlds_saved_by_generator_v1():
    w = generate_worlds(1, seed=0, n_sessions=(3, 3))[0]
    old = w.to_dict()
    old["session_dates"] = [s["date_time"] for s in old.pop("sessions")]
    assert World.model_validate(old).to_dict() == w.to_dict()
