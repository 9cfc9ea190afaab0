"""Each GRPO reward as a pure function: valid, invalid and partial answers; None where a reward does not apply."""

from __future__ import annotations

import json

import pytest

from memmgr.prompts import extraction_output, update_output
from train import rewards as R

SHOWN = json.dumps([["0", "Sam lives in Leeds"], ["1", "Sam has a beagle called Pixel"]])
GOLD_OPS = [{"event": "UPDATE", "id": "0", "text": "Sam moved to York", "old_memory": "Sam lives in Leeds"},
            {"event": "ADD", "id": None, "text": "Sam plays the cello"}]
UPD_LABEL = update_output(GOLD_OPS)
GOLD_AFTER = json.dumps(["Sam moved to York", "Sam has a beagle called Pixel", "Sam plays the cello"])
EXT_LABEL = extraction_output(["Sam adopted a beagle called Pixel", "Lee has two cats"])


def upd(completions):
    n = len(completions)
    return {"completions": completions, "stage": ["update"] * n, "label": [UPD_LABEL] * n,
            "shown_memories": [SHOWN] * n, "gold_after": [GOLD_AFTER] * n}


def ext(completions):
    n = len(completions)
    return {"completions": completions, "stage": ["extract"] * n, "label": [EXT_LABEL] * n,
            "shown_memories": ["[]"] * n, "gold_after": [""] * n}


PARTIAL_UPD = json.dumps({"memory": [{"id": "0", "text": "Sam moved to York", "event": "UPDATE"},
                                     {"id": "1", "text": "Sam has a beagle called Pixel", "event": "DELETE"}]})
HALLUCINATED = json.dumps({"memory": [{"id": "7", "text": "Sam moved to York", "event": "UPDATE"},
                                      {"id": "new", "text": "Sam plays the cello", "event": "ADD"}]})


def test_format_reward_valid_partial_invalid():
    out = R.format_reward(**upd([UPD_LABEL, HALLUCINATED, "Sure! Here are the ops:", ""]))
    assert out == [1.0, 0.5, 0.0, 0.0]
    assert R.format_reward(**ext([EXT_LABEL, '{"facts": ["a", "a"]}', "no json"])) == [1.0, 0.5, 0.0]


def test_format_reward_refuses_bracketed_prose_but_keeps_wrapped_answers():
    out = R.format_reward(**ext(["hello [world]", "Sure! [note] here", "Sure! " + EXT_LABEL,
                                 "```json\n" + EXT_LABEL + "\n```", json.dumps(["Sam has a cat"])]))
    assert out == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert R.fact_f1_reward(**ext(["hello [world]"])) == [0.0]


def test_format_reward_accepts_conversational_completions():
    conv = [[{"role": "assistant", "content": UPD_LABEL}]]
    assert R.format_reward(**upd(conv)) == [1.0]


def test_op_agreement_reward():
    out = R.op_agreement_reward(**upd([UPD_LABEL, PARTIAL_UPD, "garbage"]))
    assert out[0] == pytest.approx(1.0)
    assert 0.0 < out[1] < 1.0  # UPDATE right, the ADD is missed and an extra DELETE was emitted
    assert out[2] == 0.0
    assert R.op_agreement_reward(**ext([EXT_LABEL])) == [None]


def test_fact_f1_reward():
    out = R.fact_f1_reward(**ext([EXT_LABEL, extraction_output(["Sam adopted a beagle called Pixel"]),
                                  extraction_output(["Kai likes tea"]), "{{{"]))
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert out[2] == 0.0 and out[3] == 0.0
    assert R.fact_f1_reward(**upd([UPD_LABEL])) == [None]


def test_hallucinated_id_penalty():
    out = R.hallucinated_id_penalty(**upd([UPD_LABEL, HALLUCINATED, "nope"]))
    assert out == [0.0, -1.0, 0.0]
    assert R.hallucinated_id_penalty(**ext([EXT_LABEL])) == [None]


def test_length_reward_penalises_rambling_only():
    long = UPD_LABEL + " " + "blah " * 200
    out = R.length_reward(**upd([UPD_LABEL, UPD_LABEL[: len(UPD_LABEL) // 2], long]))
    assert out[0] == 0.0 and out[1] == 0.0 and out[2] == -1.0
    mid = R.length_reward(**upd([UPD_LABEL + " " * int(len(UPD_LABEL) * 0.5)]))[0]
    assert -1.0 < mid < 0.0


def test_outcome_reward_scores_the_resulting_state():
    out = R.outcome_reward(**upd([UPD_LABEL, PARTIAL_UPD, "invalid", update_output([])]))
    assert out[0] == pytest.approx(1.0)
    assert 0.0 < out[1] < 1.0
    assert out[2] == 0.0
    assert 0.0 < out[3] < 1.0  # doing nothing keeps one of three gold memories
    no_gold = upd([UPD_LABEL])
    no_gold["gold_after"] = [""]
    assert R.outcome_reward(**no_gold) == [None]


def test_change_reward_scores_the_change_alone():
    out = R.change_reward(**upd([UPD_LABEL, PARTIAL_UPD, "invalid", update_output([])]))
    assert out[0] == pytest.approx(1.0)
    # Leeds -> York right; Pixel's DELETE not due, the cello never added: 2 of 3 changes each way
    assert out[1] == pytest.approx(2 / 3)
    assert out[2] == 0.0 and out[3] == 0.0  # doing nothing changes nothing of the three gold changes
    assert R.change_reward(**{**upd([UPD_LABEL]), "gold_after": [""]}) == [None]
    assert R.reward_funcs(["change"]) == [R.change_reward]


def test_qa_answer_reward():
    cols = upd([UPD_LABEL, update_output([{"event": "DELETE", "id": "1", "text": "x"}])])
    cols["qa_answers"] = [json.dumps(["York", "beagle Pixel"])] * 2
    out = R.qa_answer_reward(**cols)
    assert out == [1.0, 0.0]
    assert R.qa_answer_reward(**upd([UPD_LABEL])) == [None]  # no QA column


def test_label_similarity_is_dense():
    out = R.label_similarity_reward(**upd([UPD_LABEL, UPD_LABEL[:40], '{"mem', "zzz"]))
    assert out[0] == 1.0 and 0.0 == out[3] < out[2] < out[1] < 1.0


def test_reward_registry():
    assert R.reward_funcs(["format", "outcome"]) == [R.format_reward, R.outcome_reward]
    with pytest.raises(ValueError, match="unknown rewards"):
        R.reward_funcs(["vibes"])


def test_graph_rewards_score_graph_rows_and_skip_vector_rows():
    from memmgr.graph.prompts import relations_output, resolve_output

    label = relations_output([("Sam", "lives_in", "York"), ("Sam", "plays", "cello")])
    shown = json.dumps([["0", "Sam -- lives_in -- Leeds"]])
    n = 4
    cols = {"stage": ["graph_relations"] * n, "label": [label] * n, "shown_memories": ["[]"] * n}
    outs = [label, relations_output([("Sam", "lives_in", "York")]), "no json", relations_output([("Sam", "", "x")])]
    assert R.graph_f1_reward(outs, **cols)[:3] == [pytest.approx(1.0), pytest.approx(2 / 3), 0.0]
    fmt = R.format_reward(outs, **cols)
    assert fmt[0] == 1.0 and fmt[2] == 0.0 and fmt[3] < 1.0
    inval = {"stage": ["graph_resolve"] * 2, "label": [resolve_output(["0"])] * 2, "shown_memories": [shown] * 2}
    assert R.graph_f1_reward([resolve_output(["0"]), resolve_output(["9"])], **inval)[0] == pytest.approx(1.0)
    assert R.format_reward([resolve_output(["0"]), resolve_output(["9"])], **inval) == [1.0, 0.5]  # 9 was not shown
    assert R.graph_f1_reward(**upd([UPD_LABEL]))[0] is None
    assert R.fact_f1_reward(outs, **cols) == [None] * n and R.op_agreement_reward(outs, **cols) == [None] * n


def test_grpo_stages_may_name_graph_stages():
    from train.args import ConfigError
    from train.grpo import GRPOScriptArguments

    assert GRPOScriptArguments(stages=["graph_relations", "graph_resolve"]).graph_fraction == 1.0
    with pytest.raises(ConfigError, match="graph_fraction"):
        GRPOScriptArguments(stages=["extract", "update", "graph_relations"])
    assert GRPOScriptArguments(stages=["extract", "graph_entities"], graph_fraction=0.3).graph_fraction == 0.3
    with pytest.raises(ConfigError, match="stages"):
        GRPOScriptArguments(stages=["graph_everything"])
