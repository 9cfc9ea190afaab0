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


def test_a_row_is_parsed_once_for_all_its_scores(monkeypatch):
    """score_row hands one parse of the answer to the op, outcome and change scorers; each still takes raw text."""
    import json

    import memmgr.scoring as scoring

    calls = []
    real = scoring.parse_ops
    monkeypatch.setattr(scoring, "parse_ops", lambda *a, **k: calls.append(1) or real(*a, **k))
    row = {"stage": "update", "shown_memories": json.dumps([["0", "Kai lives in Quito"]]),
           "label": json.dumps({"memory": [{"id": "0", "text": "Kai lives in Denver", "event": "UPDATE"}]}),
           "gold_after": json.dumps(["Kai lives in Denver"])}
    answer = json.dumps({"memory": [{"id": "0", "text": "Kai lives in Denver", "event": "UPDATE"}]})
    s = scoring.score_row(row, answer)
    assert len(calls) == 1 and s["op_accuracy"] == s["outcome_f1"] == s["change_f1"] == 1.0
    assert scoring.change_scores(answer, [["0", "Kai lives in Quito"]], ["Kai lives in Denver"])["f1"] == 1.0
    assert len(calls) == 2


def test_change_f1_scores_only_what_the_ops_change():
    """outcome F1 credits the shown memories no op touches (and a stale text that shares most words with the new
    one); change F1 scores the removals and additions alone."""
    from memmgr.scoring import change_scores, outcome_scores

    shown = [["0", "Kai lives in Quito"], ["1", "Kai has a cat called Miso"], ["2", "Kai plays chess"]]
    gold_after = ["Kai lives in Denver", "Kai has a cat called Miso", "Kai plays chess"]

    def ans(*ops):
        import json

        return json.dumps({"memory": list(ops)})

    noop = ans({"id": "0", "text": "Kai lives in Quito", "event": "NOOP"})
    right = ans({"id": "0", "text": "Kai now lives in Denver", "event": "UPDATE"})
    wrong_target = ans({"id": "2", "text": "Kai lives in Denver", "event": "UPDATE"})
    added = ans({"id": "new", "text": "Kai lives in Denver", "event": "ADD"})
    assert outcome_scores(noop, shown, gold_after)["f1"] == 1.0  # the leniency change F1 removes
    assert change_scores(noop, shown, gold_after)["f1"] == 0.0
    assert change_scores(right, shown, gold_after)["f1"] == 1.0  # token F1 0.89 with the gold text
    assert change_scores(wrong_target, shown, gold_after)["f1"] == pytest.approx(0.5)  # the addition, not the removal
    assert change_scores(added, shown, gold_after)["f1"] == pytest.approx(2 / 3)  # Quito never removed
    assert change_scores(noop, shown, [t for _, t in shown])["f1"] == 1.0  # nothing to change, nothing changed
    assert change_scores(right, shown, [t for _, t in shown])["f1"] == 0.0
    assert change_scores("not json", shown, gold_after)["f1"] == 0.0
