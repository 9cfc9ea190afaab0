"""memmgr.scoring helpers shared by eval and training."""

import random

import pytest

from memmgr.scoring import auc


def test_auc_matches_the_pairwise_definition():
    rng = random.Random(0)
    labels = [rng.random() < 0.4 for _ in range(60)]
    scores = [round(rng.random(), 1) for _ in range(60)]  # one decimal: many ties
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairwise = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auc(labels, scores) == pytest.approx(pairwise)
    assert auc([True, False], [0.9, 0.1]) == 1.0 and auc([True, False], [0.1, 0.9]) == 0.0
    assert auc([True, False], [0.5, 0.5]) == 0.5 and auc([True, True], [0.1, 0.2]) is None
    with pytest.raises(ValueError, match="2 labels for 1 scores"):
        auc([True, False], [0.3])


def test_a_row_is_scored_as_the_pipeline_applies_it():
    """score_row reads the answer with the shown texts, so a NOOP that rewrites its memory counts as the UPDATE the
    pipeline applies (memmgr.parsing.parse_ops)."""
    import json

    from memmgr.scoring import score_row

    row = {"stage": "update", "shown_memories": json.dumps([["0", "Kai lives in Quito"]]),
           "label": json.dumps({"memory": [{"id": "0", "text": "Kai lives in Denver", "event": "UPDATE"}]}),
           "gold_after": json.dumps(["Kai lives in Denver"])}
    rewrite = json.dumps({"memory": [{"id": "0", "text": "Kai lives in Denver", "event": "NOOP"}]})
    keep = json.dumps({"memory": [{"id": "0", "text": "Kai lives in Quito", "event": "NOOP"}]})
    assert score_row(row, rewrite)["pairs"] == [("UPDATE", "UPDATE")] and score_row(row, rewrite)["outcome_f1"] == 1
    assert score_row(row, keep)["pairs"] == [("UPDATE", "NOOP")]
