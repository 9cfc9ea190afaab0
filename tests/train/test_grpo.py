"""Tiny-model GRPO: a few steps finish, from the base model and from an SFT adapter, and move the LoRA weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("trl")

REPO = Path(__file__).resolve().parents[2]


def _run(argv):
    from train.grpo import main, parse_args

    return main(*parse_args(argv, config=str(REPO / "configs/grpo/tiny.yaml")))


def test_grpo_from_base_finishes(tiny_model_dir, trace_dataset_dir, tmp_path):
    summary = _run(["--model_name_or_path", tiny_model_dir, "--dataset_path", trace_dataset_dir,
                    "--output_dir", str(tmp_path)])
    assert summary["steps"] == 2
    assert math.isfinite(summary["train_loss"])
    assert (tmp_path / "adapter_model.safetensors").exists()
    run = json.loads((tmp_path / "run_summary.json").read_text())
    assert run["tokens_per_s"] > 0 and run["peak_rss_gib"] > 0
    logged = [h for h in summary["log_history"] if "reward" in h]
    assert logged and all(math.isfinite(h["reward"]) for h in logged)


def test_grpo_continues_sft_adapter(tiny_model_dir, trace_dataset_dir, tmp_path):
    from safetensors.torch import load_file

    from train.sft import main as sft_main
    from train.sft import parse_args as sft_args

    sft_dir = tmp_path / "sft"
    sft_main(*sft_args(["--model_name_or_path", tiny_model_dir, "--dataset_path", trace_dataset_dir,
                        "--output_dir", str(sft_dir), "--manager_eval_samples", "0"],
                       config=str(REPO / "configs/sft/tiny.yaml")))
    out = tmp_path / "grpo"
    summary = _run(["--sft_adapter", str(sft_dir), "--dataset_path", trace_dataset_dir, "--output_dir", str(out)])
    assert summary["steps"] == 2
    before, after = load_file(str(sft_dir / "adapter_model.safetensors")), load_file(
        str(out / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert any(not (before[k] == after[k]).all() for k in before)


def test_reward_weights_must_match_reward_funcs():
    from train.args import ConfigError
    from train.grpo import parse_args

    with pytest.raises(ConfigError, match="reward_weights"):
        parse_args(["--reward_weights", "[1.0]"], config=str(REPO / "configs/grpo/tiny.yaml"))


def test_unknown_reward_is_an_error():
    from train.args import ConfigError
    from train.grpo import parse_args

    with pytest.raises(ConfigError, match="unknown reward"):
        parse_args(["--reward_funcs", "[vibes]", "--reward_weights", "null"], config=str(REPO / "configs/grpo/tiny.yaml"))


def test_grpo_trains_the_graph_manager(tiny_model_dir, tmp_path):
    """Graph stages in `stages` (graph_fraction 1): GRPO on graph trace rows with the graph rewards."""
    from data_gen import generate as gen

    data = tmp_path / "graph"
    gen.generate(gen.GenerateConfig.model_validate({
        "source": {"kind": "synthetic", "worlds": {"train": 2}, "n_sessions": [4, 4]}, "output_dir": str(data),
        "prompt_styles": ["teacher"], "max_noop_fraction": None, "graph": {"mode": "graph"}}))
    summary = _run(["--model_name_or_path", tiny_model_dir, "--dataset_path", str(data / "dataset"),
                    "--output_dir", str(tmp_path / "out"), "--stages", "[graph_relations, graph_resolve]",
                    "--reward_funcs", "[label_similarity, format, graph_f1]", "--reward_weights", "[1.0, 0.5, 1.0]"])
    assert summary["steps"] == 2
    logged = [h for h in summary["log_history"] if "rewards/graph_f1_reward/mean" in h]
    assert logged and all(math.isfinite(h["reward"]) for h in logged)
