"""The manager evaluator on trace rows: answered by data_gen.traces.answer_rows, scored with memmgr.scoring."""

from __future__ import annotations

import json

import pytest

from eval.manager import evaluate_traces
from experiments.report import write_report
from memmgr.prompts import extraction_output, update_output
from memmgr.scoring import aggregate, score_row


class Scripted:
    """Answers every prompt with the row's gold label (or a fixed string)."""

    name = "scripted"
    batch_size = 4

    def __init__(self, answers):
        self.answers = list(answers)

    def generate(self, messages, **kw):
        from memmgr.backends.base import Generation

        return Generation(text=self.answers.pop(0), prompt_tokens=10, completion_tokens=5, latency_s=0.01)


def _rows():
    from tests.train.fixtures import fixture_rows

    return fixture_rows(8, split="test")


def test_perfect_answers_score_perfectly():
    rows = _rows()
    out = evaluate_traces(Scripted([r["label"] for r in rows]), rows, progress=False)
    res = out["metrics"]
    assert res["json_validity"] == 1.0 and res["fact_f1"] == 1.0 and res["op_accuracy"] == 1.0
    assert res["op_macro_f1"] == 1.0 and res["hallucinated_id_rate"] == 0.0 and res["outcome_f1"] == 1.0
    assert res["prompt_tokens_per_call"] == 10 and res["parseable_rate"] == 1.0
    assert len(out["samples"]) == len(rows) and res["completion_tokens_per_s"] > 0


def test_invalid_and_hallucinated_answers():
    rows = _rows()
    bad_upd = json.dumps({"memory": [{"id": "9", "text": "x", "event": "UPDATE"}]})
    answers = ["not json" if r["stage"] == "extract" else bad_upd for r in rows]
    res = evaluate_traces(Scripted(answers), rows, progress=False)["metrics"]
    assert res["json_validity_extract"] == 0.0 and res["json_validity_update"] == 1.0
    assert res["hallucinated_id_rate"] == 1.0 and res["fact_f1"] == 0.0
    assert res["json_validity"] == 0.5 and res["parseable_rate"] == 0.5
    assert res["parseable_rate_extract"] == 0.0 and res["parseable_rate_update"] == 1.0
    assert "strict_json_validity" not in res


def test_json_validity_is_strict_and_parseable_rate_lenient():
    """Prose or a fence around the right object is parseable but not valid JSON; a bracketed word in prose is
    neither (it used to count as a valid extraction of the fact "world")."""
    rows = [r for r in _rows() if r["stage"] == "extract"][:3]
    label = rows[0]["label"]
    answers = [label, "Sure! Here you go: " + label, "hello [world]"]
    scores = [score_row({**r, "label": label}, a) for r, a in zip(rows, answers, strict=True)]
    assert [(s["json_valid"], s["parseable"]) for s in scores] == [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    agg = aggregate(scores)
    assert agg["json_validity"] == pytest.approx(1 / 3) and agg["parseable_rate"] == pytest.approx(2 / 3)
    assert agg["json_validity_extract"] == agg["json_validity"] and agg["json_validity_update"] is None
    assert agg["fact_f1"] == pytest.approx(2 / 3)


def test_score_row_partial_extraction():
    row = {"stage": "extract", "label": extraction_output(["Sam has a cat", "Lee has a dog"])}
    s = score_row(row, extraction_output(["Sam has a cat"]))
    assert s["precision"] == 1.0 and s["recall"] == 0.5


def test_aggregate_macro_f1_and_table(tmp_path):
    shown = json.dumps([["0", "Sam has a cat"]])
    row = {"stage": "update", "label": update_output([{"event": "DELETE", "id": "0", "text": "Sam has a cat"}]),
           "shown_memories": shown, "gold_after": json.dumps([])}
    right = score_row(row, row["label"])
    wrong = score_row(row, update_output([{"event": "NOOP", "id": "0", "text": "Sam has a cat"}]))
    agg = aggregate([right, wrong])
    assert agg["op_accuracy"] == pytest.approx(0.5) and agg["outcome_f1"] == pytest.approx(0.5)
    assert 0.0 < agg["op_macro_f1"] < 1.0
    summary = {"model": "m", "machine": "cpu", "memmgr_version": "0", "prompt_version": "p", "sft_eval": agg}
    assert "| sft |" in write_report(tmp_path, summary).read_text()


def test_trained_prompt_style_is_used_unless_configured(caplog):
    """A backend whose manager card says student is evaluated under the student prompt; an explicit teacher style
    wins with a warning (memmgr.manager_card)."""
    rows = _rows()
    seen = []

    class Student(Scripted):
        prompt_style = "student"

        def generate(self, messages, **kw):
            seen.append(messages[0]["content"])
            return super().generate(messages, **kw)

    from memmgr.prompts import EXTRACTION_SYSTEM_STUDENT, UPDATE_SYSTEM_STUDENT

    out = evaluate_traces(Student([r["label"] for r in rows]), rows, progress=False)
    assert out["metrics"]["prompt_style"] == "student"
    assert all(s in (EXTRACTION_SYSTEM_STUDENT, UPDATE_SYSTEM_STUDENT) or s.startswith(
        (EXTRACTION_SYSTEM_STUDENT[:40], UPDATE_SYSTEM_STUDENT[:40])) for s in seen)
    with caplog.at_level("WARNING"):
        out = evaluate_traces(Student([r["label"] for r in rows]), rows, prompt_style="teacher", progress=False)
    assert out["metrics"]["prompt_style"] == "teacher" and "trained with the student prompt" in caplog.text


def test_mixed_rows_are_broken_down_by_source():
    rows = _rows()
    for i, r in enumerate(rows):
        r["mix_source"] = "life" if i % 2 else "synthetic"
    answers = [r["label"] if r["mix_source"] == "life" else "not json" for r in rows]
    m = evaluate_traces(Scripted(answers), rows, progress=False)["metrics"]
    assert set(m["by_source"]) == {"life", "synthetic"}
    assert m["by_source"]["life"]["json_validity"] == 1.0 and m["by_source"]["synthetic"]["json_validity"] == 0.0


class _ConstEmbedder:
    name, dim = "const", 2

    def embed(self, texts):
        return [[1.0, 0.0] for _ in texts]


def test_fact_match_uses_the_transfer_matcher():
    """Gold facts answered back match themselves; a paraphrase with other content words, and invalid output, do not."""
    rows = [r for r in _rows() if r["stage"] == "extract"]
    gold = [json.loads(r["label"])["facts"] for r in rows]
    assert sum(map(len, gold)) > 0
    perfect = evaluate_traces(Scripted([r["label"] for r in rows]), rows, progress=False,
                              match_embedder=_ConstEmbedder())["metrics"]
    assert perfect["fact_match_recall"] == 1.0 and perfect["fact_match_rate"] == 1.0
    off = [json.dumps({"facts": ["Zebra quartet vanished overnight"]}) for _ in rows]
    miss = evaluate_traces(Scripted(off), rows, progress=False, match_embedder=_ConstEmbedder())["metrics"]
    assert miss["fact_match_recall"] == 0.0 and miss["fact_match_rate"] == 0.0
    junk = evaluate_traces(Scripted(["nope"] * len(rows)), rows, progress=False,
                           match_embedder=_ConstEmbedder())["metrics"]
    assert junk["fact_match_recall"] == 0.0 and junk["fact_match_rate"] is None  # no facts extracted at all
    assert "fact_match_recall" not in evaluate_traces(Scripted([r["label"] for r in rows]), rows,
                                                      progress=False)["metrics"]
