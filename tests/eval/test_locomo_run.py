import json

import pytest

from eval.locomo import EvalConfig, main, prepare_samples, run_locomo
from eval.report import RESULTS_SCHEMA_KEYS
from tests.eval.locomo_fixture import tiny_locomo
from tests.helpers import ScriptedBackend, echo_manager


def answerer_fn(messages):
    """Answers the dog question only when 'Pixel' is in what it was shown: F1 depends on retrieval."""
    user = messages[-1]["content"]
    question = user.rsplit("Question:", 1)[-1]
    if "Maya's dog" in question and "name" in question:
        return "Pixel\nextra lines are dropped" if "Pixel" in user.rsplit("Question:", 1)[0] else "Not mentioned"
    return "Not mentioned"


def judge_fn(messages):
    user = messages[-1]["content"]
    return '{"label": "CORRECT"}' if "Generated answer: Pixel" in user else "hmm, I am not sure"


def base_cfg(tmp_path, **over):
    cfg = {
        "name": "t", "methods": ["mem0", "full_context", "rag"],
        "memory": {"manager": {"backend": "tests.helpers:ScriptedBackend", "model": "echo"},
                   "embedder": {"provider": "hash"}},
        "split": "validation", "rag": {"chunk_tokens": 20, "k": 2}, "seeds": [0],
        "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def data(tmp_path):
    return tiny_locomo(tmp_path / "locomo.json")


def run(tmp_path, data, *, judge=True, **over):
    backends = {"answerer": ScriptedBackend(answerer_fn, name="ans")}
    if judge:
        backends["judge"] = ScriptedBackend(judge_fn, name="judge")
    return run_locomo(base_cfg(tmp_path, **over), data, backends=backends, progress=False)


def test_tiny_locomo_run_all_methods(tmp_path, data):
    out = run(tmp_path, data)
    res = out["results"]
    assert set(res) == {"locomo_mem0", "locomo_full_context", "locomo_rag"}
    assert out["conversations"] == ["conv-30"]  # split "validation" of memory_r1
    for task, r in res.items():
        assert r["n"] == 4, task  # category 5 excluded by default
        assert set(r["per_category"]) == {"multi-hop", "temporal", "open-domain", "single-hop"}
        dog = next(x for x in out["samples"][task] if x["category_name"] == "single-hop")
        shown = task == "locomo_full_context" or any("Pixel" in m["text"] for m in dog["retrieved"])
        # the answerer says "Pixel" exactly when retrieval put it in the prompt
        assert r["per_category"]["single-hop"]["f1"] == float(shown), task
        assert r["f1"] == pytest.approx(0.25 * shown)
        # judge: CORRECT only for "Pixel"; the other verdicts are unparseable and count as WRONG
        assert r["j"] == pytest.approx(0.25 * shown) and r["n_judged"] == 4
    assert res["locomo_mem0"]["f1"] == res["locomo_full_context"]["f1"] == pytest.approx(0.25)
    recs = out["samples"]["locomo_mem0"]
    assert sum(r["judge_unparsed"] for r in recs) == 3
    assert all(r["prediction"] in ("Pixel", "Not mentioned") for r in recs)  # first line only
    mem0 = res["locomo_mem0"]
    # echo manager stores every turn with its dia_id: all evidence is retrievable with k=30
    assert mem0["evidence_recall"] == 1.0
    # 3 pairs x 2 perspectives: 6 extraction calls + one update call per fact (2 facts per pair)
    assert mem0["manager_calls"] == 18
    assert mem0["manager_prompt_tokens"] > 0 and mem0["rejected_ops"] == 0
    assert mem0["memories"] == 12
    assert mem0["costs"][0]["prompt_styles"] == {"teacher": 18}  # no manager card: Mem0's prompt, on every call
    assert mem0["search_latency_p50"] is not None and mem0["total_latency_p95"] >= mem0["total_latency_p50"]
    assert res["locomo_full_context"]["evidence_recall"] is None  # not applicable, not faked
    assert 0.0 <= res["locomo_rag"]["evidence_recall"] <= 1.0


def test_results_json_schema_samples_and_plots(tmp_path, data):
    out = run(tmp_path, data)
    paths = out["paths"]
    doc = json.loads(open(paths["results"]).read())
    for key in RESULTS_SCHEMA_KEYS:
        assert key in doc, key
    assert doc["prompt_version"] and doc["memmgr_version"]
    assert doc["backends"]["answerer"] == "ans" and doc["backends"]["manager"].endswith("echo")
    for task, hib in doc["higher_is_better"].items():
        assert hib["f1"] is True and hib["total_latency_p50"] is False
        assert doc["n_samples"][task] == 4
    assert doc["config"]["top_k"] == 30
    for p in paths["samples"].values():
        lines = [json.loads(x) for x in open(p)]
        assert len(lines) == 4
        assert {"question", "gold", "prediction", "retrieved", "f1", "bleu1", "judge", "total_latency_s"} <= set(
            lines[0])
    assert len(paths["plots"]) == 3
    for p in paths["plots"]:
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    md = open(paths["markdown"]).read()
    assert "| locomo_mem0 |" in md and "BLEU-1" in md


def test_cache_hits_on_rerun(tmp_path, data):
    first = run(tmp_path, data, methods=["mem0"])
    assert first["cache"]["misses"] > 0
    manager = ScriptedBackend(echo_manager, name="echo")
    answerer = ScriptedBackend(answerer_fn, name="ans")
    second = run_locomo(base_cfg(tmp_path, methods=["mem0"]), data, progress=False,
                        backends={"manager": manager, "answerer": answerer,
                                  "judge": ScriptedBackend(judge_fn, name="judge")})
    # ingestion and answers were replayed from disk; the models were never called
    assert second["cache"]["misses"] == 0 and second["cache"]["hits"] == sum(first["cache"].values())
    assert manager.calls == [] and answerer.calls == []
    assert second["results"]["locomo_mem0"]["f1"] == first["results"]["locomo_mem0"]["f1"]


def test_judge_skipped_not_faked(tmp_path, data):
    out = run(tmp_path, data, judge=False, methods=["rag"])
    r = out["results"]["locomo_rag"]
    assert r["j"] is None and r["n_judged"] == 0
    assert all(rec["judge"] is None for rec in out["samples"]["locomo_rag"])
    assert "| J |" not in out["paths"]["markdown_text"]


def test_adversarial_optional_and_seeds(tmp_path, data):
    out = run(tmp_path, data, methods=["full_context"], categories=[1, 2, 3, 4, 5], seeds=[0, 1])
    r = out["results"]["locomo_full_context"]
    assert r["n_seeds"] == 2 and r["f1_sd"] == 0.0 and len(r["per_seed"]) == 2
    assert r["per_category"]["adversarial"]["f1"] == 1.0  # "Not mentioned" declines: correct for category 5
    adv = [x for x in out["samples"]["locomo_full_context"] if x["category"] == 5]
    assert {x["gold"] for x in adv} == {"Not mentioned in the conversation"}  # never the trap answer "Rex"
    assert len(out["samples"]["locomo_full_context"]) == 10  # 5 questions x 2 seeds


def test_limits_drop_questions_beyond_ingested_sessions(tmp_path, data):
    cfg = EvalConfig.model_validate(base_cfg(tmp_path, limit={"sessions": 1, "questions": 2}))
    [s] = prepare_samples(cfg, data)
    assert len(s.conversation.sessions) == 1
    assert [q.question for q in s.qa] == ["What is the name of Maya's dog?", "When did Maya adopt her dog?"]
    cfg = EvalConfig.model_validate(base_cfg(tmp_path, split="test"))
    assert [s.sample_id for s in prepare_samples(cfg, data)] == ["conv-99"]
    with pytest.raises(ValueError):
        prepare_samples(EvalConfig.model_validate(base_cfg(tmp_path, split="nope")), data)


def test_cli_on_shared_dev_split(tmp_path, locomo_dev_path, capsys):
    out = main(["--config", "configs/eval/tiny.yaml", "--data", locomo_dev_path, "--split", "validation",
                "--limit.sessions", "1", "--limit.questions", "3", "--methods", "rag,full_context",
                "--output_dir", str(tmp_path), "--cache_dir", "null", "--rag.k=3", "--memory.pipeline.top_s", "4"])
    assert out["config"]["rag"]["k"] == 3 and out["config"]["memory"]["pipeline"]["top_s"] == 4
    assert all(len(r["retrieved"]) == 3 for r in out["samples"]["locomo_rag"])
    assert out["conversations"] == ["conv-30"]
    assert out["results"]["locomo_rag"]["n"] == 3
    assert "| locomo_rag |" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    for argv, needle in ((["--config", "configs/eval/tiny.yaml", "--rag.kk", "3"], "did you mean 'rag.k'"),
                         (["--config", "configs/eval/nope.yaml"], "config file not found"),
                         (["--config", "configs/eval/tiny.yaml"], "--data"),
                         (["--config", "configs/eval/tiny.yaml", "--data", str(tmp_path / "x.json")], "not found")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("mode", ["graph", "both"])
def test_graph_variants_answer_from_relations(tmp_path, data, mode):
    """Mem0g in eval.locomo: `memory.graph.mode` graph/both; relations reach the answer prompt as dated lines."""
    from tests.helpers import ScriptedBackend
    from tests.memmgr.graph_helpers import GraphScript, ents, rels

    def pixel(inp):
        return "Pixel" in " ".join(t["text"] for t in inp.get("new", []))

    script = GraphScript(
        graph_entities=lambda inp: ents(("Maya", "person"), ("Pixel", "animal")) if pixel(inp) else ents(),
        graph_relations=lambda inp: rels(("Maya", "adopted", "Pixel")) if pixel(inp) else rels())
    answers = ScriptedBackend(answerer_fn, name="ans")
    cfg = base_cfg(tmp_path, methods=["mem0"], memory={"embedder": {"provider": "hash"}, "graph": {"mode": mode}},
                   transfer={"enabled": False})
    out = run_locomo(cfg, data, backends={"manager": ScriptedBackend(script), "answerer": answers},
                     progress=False)
    dog = next(r for r in out["samples"]["locomo_mem0"] if "dog" in r["question"])
    assert any(r["text"].startswith("Maya adopted Pixel") for r in dog["retrieved"])
    assert dog["prediction"] == "Pixel" and dog["f1"] == 1.0
    shown = next(c for c in answers.calls if "Maya's dog" in c[-1]["content"])[-1]["content"]
    assert "Maya adopted Pixel" in shown
    assert out["results"]["locomo_mem0"]["manager_calls"] > 0
    assert out["results"]["locomo_mem0"]["relations"] >= 1  # valid relations per conversation, in the table too
    assert "relations/conv" in out["paths"]["markdown_text"]


def test_save_calls_writes_every_manager_call(tmp_path, data):
    out = run(tmp_path, data, judge=False, methods=["mem0"], save_calls=True)
    calls = out["samples"]["locomo_mem0_calls"]
    assert len(calls) == out["results"]["locomo_mem0"]["manager_calls"] == 18
    assert {c["stage"] for c in calls} == {"extract", "update"} and all(c["prompt_style"] == "teacher" for c in calls)
    assert all(c["conversation_id"] and c["raw_output"] for c in calls)
    assert "calls" not in out["results"]["locomo_mem0"]["costs"][0]  # samples, not results
    assert list((tmp_path / "out" / "t").glob("samples_locomo_mem0_calls_*.jsonl"))
    assert "locomo_mem0_calls" not in run(tmp_path, data, judge=False, methods=["mem0"])["samples"]  # off by default
