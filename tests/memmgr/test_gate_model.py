"""The gate model (memmgr.gate.GateModel): a logistic regression over the embedder's vectors of the owner's and the
other speakers' new turns ranks pairs for the gate, with any backend; bad files and mismatched embedders are
one-line errors."""

from __future__ import annotations

import json

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.backends import call_schema
from memmgr.embed import HashEmbedder
from memmgr.gate import EMPTY, GateModel, gate_features, split_turns
from memmgr.pipeline import EXTRACT_SCHEMA, EXTRACT_SCHEMA_ONE
from memmgr.prompts import stage_of
from tests.helpers import ScriptedBackend, pair


def _model(path, weights=None, embedder="hash-8", dim=8) -> str:
    """Weights that only read the owner's word count: longer owner turns are likelier to hold facts."""
    w = weights if weights is not None else [0.0] * (2 * dim) + [3.0, 0.0]
    path.write_text(json.dumps({"embedder": embedder, "dim": dim, "weights": w, "bias": -6.0}))
    return str(path)


def test_split_turns_and_features():
    turns = [("Maya", "I run."), ("Bot", "Cool."), ("maya", "Daily.")]
    assert split_turns(turns, ["Maya"]) == ("I run. Daily.", "Cool.")
    x = gate_features(HashEmbedder(8), [("I run daily", "")])[0]
    assert len(x) == 18 and x[16] == pytest.approx(1.3862944) and x[17] == 0.0


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        GateModel.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a gate model"):
        GateModel.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="weights"):
        GateModel.load(_model(tmp_path / "short.json", weights=[1.0, 2.0]))
    (tmp_path / "extra.json").write_text(json.dumps({"embedder": "hash-8", "dim": 8, "weights": [0.0] * 18,
                                                     "bias": 0.0, "threshold": 0.5}))
    with pytest.raises(ValueError, match="not a gate model"):
        GateModel.load(tmp_path / "extra.json")


def test_config_wants_a_rate_with_the_model():
    from memmgr.settings import ConfigError

    with pytest.raises((ValueError, ConfigError), match="extract_rate"):
        MemoryConfig.load({"pipeline": {"gate_model": "g.json"}})


def test_embedder_mismatch_is_an_error(tmp_path):
    cfg = {"embedder": {"provider": "hash", "dim": 16}, "pipeline": {"extract_rate": 0.5, "gate_model": _model(
        tmp_path / "g.json")}}
    with pytest.raises(ValueError, match="hash-8"):
        Memory(MemoryConfig.load(cfg), manager=ScriptedBackend([EMPTY]))


def test_a_backend_that_cannot_score_is_gated_by_the_model(tmp_path):
    """No completion_prob, no prefix: the model ranks, the manager extracts from the pairs ranked in, unforced."""
    calls, extracted = [], []

    def answer(messages):
        if stage_of(messages) == "extract":
            extracted.append(messages[-1]["content"])
            return '{"facts": ["Maya adopted a dog named Rex"]}'
        return '{"memory": [{"id": "new", "text": "Maya adopted a dog named Rex", "event": "ADD"}]}'

    class SchemaRecorder(ScriptedBackend):
        def generate(self, messages, *, json_schema=None, **kw):
            schemas.append(json_schema)
            return super().generate(messages, json_schema=json_schema, **kw)

    schemas: list = []
    backend = SchemaRecorder(answer)
    cfg = {"embedder": {"provider": "hash", "dim": 8},
           "pipeline": {"extract_rate": 0.5, "gate_window": 8, "gate_model": _model(tmp_path / "g.json")}}
    with Memory(MemoryConfig.load(cfg), manager=backend, trace_hooks=[calls.append]) as mem:
        mem.add(pair("Hi!", ids=("D1:1", "D1:2")), user_id="maya")
        out = mem.add(pair("I adopted a dog named Rex from the shelter last week.", ids=("D1:3", "D1:4")),
                      user_id="maya")
        skipped = mem.add(pair("Ok.", ids=("D1:5", "D1:6")), user_id="maya")
    assert out["facts"] == ["Maya adopted a dog named Rex"] and not skipped["facts"]
    assert len(extracted) == 1 and "Rex" in extracted[0]
    # no forced opening here: the extracted pair's schema asks for at least one fact (vLLM / servers honour it)
    assert schemas[0] == EXTRACT_SCHEMA_ONE and schemas[0]["properties"]["facts"]["minItems"] == 1
    strict = call_schema(EXTRACT_SCHEMA_ONE, backend.calls[0], max_chars=80, max_facts=3)
    assert strict["properties"]["facts"]["minItems"] == 1 and strict["properties"]["facts"]["maxItems"] == 3
    assert "minItems" not in call_schema(EXTRACT_SCHEMA, backend.calls[0], max_facts=3)["properties"]["facts"]
    gates = [c.context["gate"] for c in calls if c.stage == "extract"]
    assert [g["extract"] for g in gates] == [False, True, False]
    assert gates[1]["p_empty"] < gates[0]["p_empty"]
    assert all(c.prompt_tokens == 0 for c in calls if c.stage == "extract" and c.attempts == 0)


def test_cli_missing_gate_model_is_one_line(tmp_path, capsys):
    from memmgr.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo}\nembedder: {provider: hash}\n"
                   f"pipeline: {{extract_rate: 0.5, gate_model: {tmp_path / 'nope.json'}}}\n")
    assert main(["--config", str(cfg), "--store", str(tmp_path / "s"), "add", "--user", "maya", "I have a dog."]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and "\n" not in err and "Traceback" not in err


def test_the_manager_can_weigh_in_by_logit(tmp_path):
    """gate_manager_weight w: P(empty) = sigmoid(logit(model's) + w logit(manager's)); the manager's scoring pass is
    counted; a manager that cannot score is a one-line error; the weight wants a gate model."""
    import math

    from memmgr.gate import ExtractGate
    from memmgr.types import Message
    from tests.memmgr.test_gate import FixedScore

    model = GateModel.load(_model(tmp_path / "g.json"))
    new = [Message(role="user", content="I adopted a dog named Rex.", name="Maya")]
    p_model = 1.0 - model.p_facts(HashEmbedder(8), [("Maya", new[0].content)], ["Maya"])
    b = FixedScore()
    b.p = 0.9
    gate = ExtractGate(0.5, 8, model, HashEmbedder(8), manager_weight=2.0)
    d = gate.decide(b, [], [{"role": "user", "content": "x"}], new, ["Maya"])
    z = math.log(p_model / (1 - p_model)) + 2.0 * math.log(0.9 / 0.1)
    assert d.p_empty == pytest.approx(1 / (1 + math.exp(-z))) and d.prompt_tokens == 3
    alone = ExtractGate(0.5, 8, model, HashEmbedder(8)).decide(b, [], [], new, ["Maya"])
    assert alone.p_empty == pytest.approx(p_model) and alone.prompt_tokens == 0
    with pytest.raises(ValueError, match="gate_manager_weight needs a manager that scores"):
        gate.decide(ScriptedBackend([EMPTY]), [], [], new, ["Maya"])
    from memmgr.settings import ConfigError

    with pytest.raises((ValueError, ConfigError), match="gate_model"):
        MemoryConfig.load({"pipeline": {"extract_rate": 0.5, "gate_manager_weight": 1.0}})
