"""Graph-manager traces from data_gen: own stage names, labels that parse, vector rows unchanged."""

from __future__ import annotations

import json

import pytest

from data_gen import generate as gen
from data_gen.gates import teacher_schema_ok
from memmgr.graph.parsing import parse_entities, parse_invalidations, parse_relations
from memmgr.graph.prompts import graph_stage_of, parse_graph_input


def _cfg(tmp_path, mode):
    return gen.GenerateConfig.model_validate({
        "source": {"kind": "synthetic", "worlds": {"train": 3, "test": 1}, "n_sessions": [6, 8]},
        "output_dir": str(tmp_path / mode), "prompt_styles": ["teacher", "student"], "max_noop_fraction": None,
        "graph": {"mode": mode}})


def test_graph_traces_have_their_own_stages_and_valid_labels(tmp_path):
    stats = gen.generate(_cfg(tmp_path, "both"))
    rows = [json.loads(line) for s in ("train", "test") for line in (tmp_path / "both" / f"{s}.jsonl").open()]
    stages = {r["stage"] for r in rows}
    assert {"extract", "update", "graph_entities", "graph_relations", "graph_resolve"} <= stages
    parse = {"graph_entities": lambda r: parse_entities(r["label"]),
             "graph_relations": lambda r: parse_relations(r["label"]),
             "graph_resolve": lambda r: parse_invalidations(
                 r["label"], [i for i, _ in parse_graph_input(r["prompt"]).get("existing", [])])}
    for r in rows:
        if not r["stage"].startswith("graph_"):
            continue
        assert graph_stage_of(r["prompt"]) == r["stage"] and r["messages"][:-1] == r["prompt"]
        parsed = parse[r["stage"]](r)
        assert parsed.valid and not parsed.rejected and teacher_schema_ok(r["label"], r["stage"])
        assert r["teacher"] == "oracle" and r["prompt_version"].startswith("mm-graph")
    student = next(r for r in rows if r["stage"] == "graph_relations" and r["prompt_style"] == "student")
    assert len(student["prompt"][0]["content"]) < 400  # the compact system prompt
    resolve = [r for r in rows if r["stage"] == "graph_resolve" and json.loads(r["label"])["invalidate"]]
    assert resolve and json.loads(resolve[0]["shown_memories"])  # the relations it chose from
    assert stats["splits"]["train"]["graph_relations"] > 0


def test_vector_only_run_is_unchanged(tmp_path):
    cfg = _cfg(tmp_path, "vector")
    assert cfg.fingerprint() != _cfg(tmp_path, "both").fingerprint()
    gen.generate(cfg)
    rows = [json.loads(line) for line in (tmp_path / "vector" / "train.jsonl").open()]
    assert {r["stage"] for r in rows} == {"extract", "update"}


def test_shipped_graph_config_validates():
    from pathlib import Path

    path = Path("configs/data_gen/synthetic_graph_oracle.yaml")
    assert f"--config {path}" in path.read_text()
    cfg = gen.load_config(str(path), ["--seed", "3"])
    assert cfg.graph.mode == "graph" and cfg.teacher == "oracle" and cfg.output_dir.startswith("data/")


def test_graph_rows_are_evaluated_like_manager_rows(tmp_path):
    """eval_rows(graph=True) + eval.manager.evaluate_traces: a manager answering the labels scores 1.0."""
    from data_gen.traces import eval_rows
    from eval.manager import evaluate_traces
    from memmgr.backends.base import Generation

    gen.generate(_cfg(tmp_path, "graph"))
    rows = eval_rows(tmp_path / "graph", "train", limit=30, graph=True)
    assert len(rows) == 30 and {r["stage"] for r in rows} == {"graph_entities", "graph_relations", "graph_resolve"}
    labels = {json.dumps(r["prompt"]): r["label"] for r in rows}

    class Perfect:
        name = "perfect"

        def generate(self, messages, **kw):
            return Generation(text=labels.get(json.dumps(messages), "{}"))

    metrics = evaluate_traces(Perfect(), rows, progress=False)["metrics"]
    assert metrics["n"] == 0 and {s: m["f1"] for s, m in metrics["graph"].items()} == {
        "graph_entities": 1.0, "graph_relations": 1.0, "graph_resolve": 1.0}
    # re-rendered under the student prompt (graph stages have their own system prompts): teacher rows now miss
    student = evaluate_traces(Perfect(), rows, prompt_style="student", progress=False)["metrics"]
    assert set(student["graph"]) == set(metrics["graph"]) and student["graph"]["graph_relations"]["f1"] < 1.0
    assert metrics["graph_relations_f1"] == 1.0 and metrics["graph_resolve_exact"] == 1.0  # flat keys: the table


def test_graph_fraction_mixes_graph_rows_into_training(tmp_path):
    """mix_stages: graph rows only at graph_fraction > 0, at that share; 1 keeps only them; train/sft.py uses it."""
    from data_gen.traces import GRAPH_STAGES, load_traces, mix_stages
    from train.sft import SFTScriptArguments, prepare_datasets

    gen.generate(_cfg(tmp_path, "both"))
    train = load_traces(tmp_path / "both" / "dataset")["train"]
    assert {s for s in mix_stages(train, 0.5)["stage"]} == {"extract", "update"}
    mixed = list(mix_stages(train, 0.5, max_samples=40, graph_fraction=0.25)["stage"])
    n_graph = sum(s in GRAPH_STAGES for s in mixed)
    assert len(mixed) == 40 and n_graph == 10 and mixed.count("extract") == 15
    assert set(mix_stages(train, 0.5, graph_fraction=1.0)["stage"]) == set(GRAPH_STAGES)
    with pytest.raises(ValueError, match="graph_fraction"):
        mix_stages(train, 0.5, graph_fraction=1.5)
    vector_only = train.filter(lambda s: s in ("extract", "update"), input_columns="stage")
    with pytest.raises(ValueError, match="no graph-manager rows"):
        mix_stages(vector_only, 0.5, graph_fraction=0.2)
    args = SFTScriptArguments(dataset_path=str(tmp_path / "both" / "dataset"), eval_split=None, graph_fraction=0.5,
                              max_train_samples=20)
    tr, _, _ = prepare_datasets(args, seed=0)

    def is_graph(prompt):
        try:
            return bool(graph_stage_of(prompt))
        except ValueError:  # a vector-manager prompt
            return False

    assert len(tr) == 20 and sum(is_graph(r["prompt"]) for r in tr) == 10
