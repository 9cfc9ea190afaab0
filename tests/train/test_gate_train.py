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
