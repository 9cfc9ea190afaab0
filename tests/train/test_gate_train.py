"""train.gate fits the gate model on a trace dataset's extraction labels; the file it writes gates a Memory."""

from __future__ import annotations

import json

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.gate import GateModel
from tests.helpers import ScriptedBackend, pair


def test_fit_writes_a_model_that_ranks_facts_first(trace_dataset_dir, tmp_path, capsys):
    from train.gate import main

    out = tmp_path / "gate.json"
    main(["--dataset_path", trace_dataset_dir, "--output", str(out), "--embedder_provider", "hash",
          "--embedder_dim", "64"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = GateModel.load(out)
    assert model.embedder == "hash-64" and len(model.weights) == 130
    assert printed["train_rows"] > 10 and 0 < printed["train_positive"] < printed["train_rows"]
    assert model.info["eval"]["all"]["auc"] > 0.9  # chit-chat against "I have ..." turns (tests/train/fixtures.py)

    from memmgr.embed import HashEmbedder

    emb = HashEmbedder(64)
    assert (model.p_facts(emb, [("Sam", "I have a red bike!"), ("Bot", "Nice to hear.")], ["Sam"])
            > model.p_facts(emb, [("Sam", "hey, how are you?"), ("Bot", "Nice to hear.")], ["Sam"]))
    cfg = {"embedder": {"provider": "hash", "dim": 64}, "pipeline": {"extract_rate": 0.5, "gate_model": str(out)}}
    with Memory(MemoryConfig.load(cfg), manager=ScriptedBackend(['{"facts": []}'])) as mem:
        mem.add(pair("hey, how are you?"), user_id="sam")  # a first pair ranks 0.5: skipped


def test_bad_arguments_are_one_line(trace_dataset_dir, tmp_path):
    from train.gate import main

    with pytest.raises(SystemExit, match="C must be > 0"):
        main(["--dataset_path", trace_dataset_dir, "--C", "0"])
    with pytest.raises(SystemExit, match="no trace dataset"):
        main(["--dataset_path", str(tmp_path / "none"), "--embedder_provider", "hash"])
    with pytest.raises(SystemExit, match="unknown keys"):
        main(["--datset_path", "x"])


def test_operating_curve_ranks_each_scope_as_the_gate_does():
    from memmgr.gate import ExtractGate, scope_ranks
    from train.gate import operating_curve

    p_empty = [0.9, 0.2, 0.5, 0.1, 0.8, 0.3]
    gate, history, by_decide = ExtractGate(0.5, 4), [], []
    for p in p_empty:  # the gate's own pair-by-pair ranks, through a stub backend that scores P(empty)
        backend = type("B", (), {"completion_prob": lambda self, m, t, return_tokens, p=p: (p, 0)})()
        d = gate.decide(backend, history, [])
        history = d.history
        by_decide.append(d.rank)
    assert scope_ranks(p_empty, 4) == by_decide
    # two scopes interleaved: each is ranked on its own; labels = the pairs that hold facts
    p_facts = [0.9, 0.9, 0.1, 0.1, 0.95, 0.2]
    labels = [True, True, False, False, True, False]
    curve = operating_curve(p_facts, labels, ["a", "b", "a", "b", "a", "b"], [0.5, 1.0], 64)
    # scope a ranks 0.5 (a first pair), 0.75, 1/6: only its third pair passes at 0.5; scope b ranks 0.5, 0.75, 0.5
    assert curve[0] == {"rate": 0.5, "extracted": 1 / 6, "positive_recall": 1 / 3}
    assert curve[1] == {"rate": 1.0, "extracted": 1.0, "positive_recall": 1.0}
