import json

import pytest

from eval.manager import evaluate_manager, main
from memmgr.prompts import extraction_output, render_extraction, render_update, update_output
from memmgr.types import Message
from tests.helpers import ScriptedBackend


def trace_rows():
    new = [Message(content="I moved to York.", name="Maya", id="D1:1"), Message(content="Nice!", name="Tom",
                                                                                id="D1:2")]
    ex = {"stage": "extract", "prompt": render_extraction("", [], new, "8 May 2023"),
          "label": extraction_output(["Maya moved to York"]), "shown_memories": "[]", "gold_after": ""}
    shown = [["0", "Maya lives in Leeds"], ["1", "Maya has a cat"]]
    gold_ops = [{"id": "0", "text": "Maya lives in York", "event": "UPDATE", "old_memory": "Maya lives in Leeds"}]
    up = {"stage": "update", "prompt": render_update(["Maya moved to York"], shown, "8 May 2023"),
          "label": update_output(gold_ops), "shown_memories": json.dumps(shown),
          "gold_after": json.dumps(["Maya lives in York", "Maya has a cat"])}
    return [ex, up]


def perfect(messages):
    user = messages[-1]["content"]
    if "### New facts" in user:
        return update_output([{"id": "0", "text": "Maya lives in York", "event": "UPDATE",
                               "old_memory": "Maya lives in Leeds"}])
    return extraction_output(["Maya moved to York"])


def sloppy(messages):
    user = messages[-1]["content"]
    if "### New facts" in user:  # a hallucinated id and the wrong op
        return '{"memory": [{"id": "7", "text": "Maya lives in York", "event": "DELETE"}]}'
    return "Sure! Here are the facts: Maya moved"  # not JSON


def test_traces_perfect_vs_sloppy():
    good = evaluate_manager(ScriptedBackend(perfect, name="good"), trace_rows(), progress=False)
    assert good["kind"] == "traces" and good["n"] == 2
    m = good["metrics"]
    assert m["json_validity"] == 1.0 and m["op_accuracy"] == 1.0 and m["id_accuracy"] == 1.0
    assert m["fact_f1"] == 1.0 and m["outcome_f1"] == 1.0 and m["hallucinated_id_rate"] == 0.0
    assert m["per_op"]["UPDATE"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["latency_p50"] is not None and m["prompt_tokens_per_call"] > 0
    bad = evaluate_manager(ScriptedBackend(sloppy, name="bad"), trace_rows(), progress=False)["metrics"]
    assert bad["json_validity_extract"] == 0.0 and bad["parseable_rate_extract"] == 0.0 and bad["fact_f1"] == 0.0
    assert bad["json_validity_update"] == 1.0 and bad["parseable_rate_update"] == 1.0
    assert bad["op_accuracy"] == 0.0 and bad["hallucinated_ids"] == 1 and bad["hallucinated_id_rate"] > 0
    assert bad["per_op"]["UPDATE"]["recall"] == 0.0


def test_worlds_oracle_manager_recovers_gold_state():
    from data_gen.oracle import OracleBackend
    from data_gen.synthetic import generate_worlds

    worlds = generate_worlds(2, seed=0, split="test", n_sessions=(2, 3))
    gold_answerer = ScriptedBackend(lambda m: next((q["answer"] for w in worlds for q in w.qa
                                                    if q["question"] in m[-1]["content"]), "?"), name="qa")
    res = evaluate_manager(OracleBackend(worlds), worlds, answerer=gold_answerer,
                           memory_config={"embedder": {"provider": "hash"}}, progress=False)
    m = res["metrics"]
    assert res["kind"] == "worlds" and m["n_worlds"] == 2
    assert m["state_f1"] == 1.0 and m["manager_calls"] > 0  # the oracle manager rebuilds the gold state
    assert m["qa_accuracy"] == 1.0
    # an empty manager stores nothing: recall 0
    empty = evaluate_manager(ScriptedBackend(['{"facts": []}'], name="empty"), worlds, answerer=gold_answerer,
                             memory_config={"embedder": {"provider": "hash"}}, progress=False)["metrics"]
    assert empty["state_recall"] == 0.0 and empty["memories"] == 0


def test_cli_on_worlds_file(tmp_path, capsys):
    from data_gen.synthetic import generate_worlds, save_worlds

    path = tmp_path / "worlds.jsonl"
    save_worlds(generate_worlds(1, seed=1, split="test", n_sessions=(2, 2)), path)
    out = main(["--model", "tests.helpers:ScriptedBackend", "--data", str(path), "--embedder", "hash",
                "--output_dir", str(tmp_path / "out")])
    assert out["kind"] == "worlds"
    doc = json.loads(open(out["paths"]["results"]).read())
    assert doc["results"]["manager_worlds"]["n_worlds"] == 1
    assert "state F1" in capsys.readouterr().out


def test_empty_data_is_an_error():
    with pytest.raises(ValueError):
        evaluate_manager(ScriptedBackend(["{}"]), [], progress=False)
