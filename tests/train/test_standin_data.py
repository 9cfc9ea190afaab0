"""The stand-in oracle traces: data_gen's schema, gold labels consistent with the prompts, held-out phrasing."""

from __future__ import annotations

import json

from memmgr.prompts import parse_extraction_input, parse_update_input, stage_of
from memmgr.scoring import score_update
from train.standin_data import FAMILIES, SPLIT_FAMILIES, rows

COLUMNS = {"messages", "prompt", "completion", "stage", "label", "shown_memories", "source_texts", "gold_after",
           "conversation_id", "pair_id", "teacher", "prompt_version", "prompt_style", "source"}


def test_schema_and_labels_are_self_consistent():
    for r in rows("train", 60):
        assert set(r) == COLUMNS
        assert stage_of(r["prompt"]) == r["stage"]
        assert r["messages"][-1] == r["completion"][0] and r["completion"][0]["content"] == r["label"]
        if r["stage"] == "update":
            shown = json.loads(r["shown_memories"])
            assert [list(m) for m in parse_update_input(r["prompt"])["memories"]] == shown
            s = score_update(r["label"], json.loads(r["label"])["memory"], [i for i, _ in shown])
            assert s["op_accuracy"] == 1.0 and s["hallucinated_ids"] == 0
        else:
            names = {t["name"] for t in parse_extraction_input(r["prompt"])["new"]}
            assert all(f.split()[0] in names for f in json.loads(r["label"])["facts"])


def test_test_split_uses_held_out_phrasing():
    assert not set(SPLIT_FAMILIES["test"]) & set(SPLIT_FAMILIES["train"])
    held_out = {t.split("{v}")[0] for t in FAMILIES[SPLIT_FAMILIES["test"][0]].values()}
    train_text = " ".join(r["prompt"][1]["content"] for r in rows("train", 200) if r["stage"] == "extract")
    assert not any(h.strip() and h.strip() in train_text for h in held_out)
