import math

import pytest

from memmgr.qa_metrics import (
    adversarial_correct,
    bleu1,
    evidence_recall,
    mean_sd,
    normalize_answer,
    parse_judge,
    percentile,
    split_evidence,
    stderr,
    token_f1,
)


def test_normalize_answer():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("7 May 2023.") == "7 may 2023"
    assert normalize_answer(None) == ""
    # articles only as whole words
    assert normalize_answer("theatre Anna") == "theatre anna"


def test_token_f1_hand_computed():
    # pred {paris, france}, gold {paris}: P=1/2, R=1 -> F1=2/3
    assert token_f1("Paris, France", "paris") == pytest.approx(2 / 3)
    # pred [in, 2022] vs gold [2022]: P=1/2 R=1 -> 2/3; articles are dropped before counting
    assert token_f1("in 2022", "the 2022") == pytest.approx(2 / 3)
    # multiset: pred [a_b, a_b] ~ "dog dog" vs "dog": common 1, P=1/2, R=1
    assert token_f1("dog dog", "dog") == pytest.approx(2 / 3)
    assert token_f1("cat", "dog") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("", "dog") == 0.0
    assert token_f1("Caroline", "caroline.") == 1.0


def test_bleu1_hand_computed():
    # pred [cat, sat] vs gold [cat, sat, on, mat]: unigram precision 1, brevity penalty exp(1 - 4/2)
    assert bleu1("the cat sat", "the cat sat on the mat") == pytest.approx(math.exp(-1))
    assert bleu1("cat sat on mat", "the cat sat on the mat") == pytest.approx(1.0)
    # longer prediction: no brevity penalty; precision 2/4
    assert bleu1("cat sat dog bird", "cat sat") == pytest.approx(0.5)
    assert bleu1("dog", "cat") == 0.0
    assert bleu1("", "cat") == 0.0


def test_adversarial_correct():
    assert adversarial_correct("Not mentioned in the conversation") == 1.0
    assert adversarial_correct("No information available.") == 1.0
    assert adversarial_correct("Paris") == 0.0


@pytest.mark.parametrize("text,expected", [
    ('{"label": "CORRECT"}', True),
    ('{"label": "WRONG"}', False),
    ('```json\n{"label": "CORRECT"}\n```', True),
    ('{"label": "WRONG"', False),  # truncated JSON
    ("{'label': 'correct'}", True),  # python-ish quotes
    ("CORRECT", True),
    ("wrong.", False),
    ("Label: INCORRECT", False),
    ("The generated answer is not correct.", False),
    ("Reasoning: the gold says May, the answer says June, so it is WRONG", False),
    ("It could look WRONG at first glance, but both name the same city.\nCORRECT", True),
    ("<think>maybe CORRECT, maybe WRONG</think>{\"label\": \"WRONG\"}", False),
    ("", None),
    ("   ", None),
    ("I cannot decide.", None),
    ("CORRECT or WRONG, hard to say", None),  # ambiguous, no final verdict
    (None, None),
    (42, None),
    ('{"label": 5}', None),
])
def test_parse_judge_malformed(text, expected):
    assert parse_judge(text) is expected


def test_evidence_recall():
    assert evidence_recall(["D1:1", "D1:2"], ["D1:2", "D3:4"]) == 0.5
    assert evidence_recall([], ["D1:2"]) == 0.0
    assert evidence_recall(["D1:2"], []) is None
    # LOCOMO packs several ids into one string now and then
    assert split_evidence(["D8:6; D9:17", "D1:3"]) == ["D8:6", "D9:17", "D1:3"]
    assert evidence_recall(["D9:17", "D1:3"], ["D8:6; D9:17", "D1:3"]) == pytest.approx(2 / 3)


def test_percentile_hand_computed():
    xs = [4.0, 1.0, 3.0, 2.0]
    assert percentile(xs, 50) == pytest.approx(2.5)  # between 2 and 3
    assert percentile(xs, 95) == pytest.approx(3.85)  # pos 2.85: 3 + 0.85 * 1
    assert percentile(xs, 0) == 1.0 and percentile(xs, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(xs, 101)


def test_mean_sd():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([5.0]) == (5.0, 0.0)
    assert mean_sd([None]) == (None, None)


def test_stderr_and_its_place_in_results():
    from eval.aggregate import combine_seeds, quality_metrics
    from eval.report import markdown_table

    assert stderr([1.0, 3.0]) == pytest.approx(1.0)  # sd sqrt(2) / sqrt(2)
    assert stderr([0.0, 0.0, 1.0, 1.0]) == pytest.approx(math.sqrt(1 / 3) / 2)
    assert stderr([5.0]) is None and stderr([None, None]) is None
    recs = [{"f1": f, "bleu1": f, "category_name": "single-hop", "evidence_recall": None} for f in (0.0, 0.5, 1.0)]
    q = quality_metrics(recs)
    assert q["f1_stderr"] == pytest.approx(0.5 / math.sqrt(3)) and q["evidence_recall_stderr"] is None
    one = combine_seeds([q])
    assert "f1_stderr_sd" not in one and one["f1_stderr"] == pytest.approx(q["f1_stderr"])
    table = markdown_table({"one seed": one}, columns=(("F1", "f1", "{:.3f}"),))
    assert "| one seed | 0.500 ± 0.289 |" in table and "standard error" in table
    two = combine_seeds([q, {**q, "f1": 0.7}])  # several seeds: ± is the sd over seeds, not the stderr
    assert "| two | 0.600 ± 0.141 |" in markdown_table({"two": two}, columns=(("F1", "f1", "{:.3f}"),))
