"""Tiny-model SFT: finite loss, LoRA weights move, the adapter reloads and generates, merge gives a loadable model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("trl")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sft_run(tiny_model_dir, trace_dataset_dir, tmp_path_factory):
    from train.sft import main, parse_args

    out = tmp_path_factory.mktemp("sft")
    args = parse_args(["--model_name_or_path", tiny_model_dir, "--dataset_path", trace_dataset_dir,
                       "--output_dir", str(out)], config=str(REPO / "configs/sft/tiny.yaml"))
    summary = main(*args)
    return out, summary


def test_sft_two_steps_finite_loss_and_lora_trained(sft_run):
    from safetensors.torch import load_file

    out, summary = sft_run
    assert summary["steps"] == 2
    assert math.isfinite(summary["train_loss"]) and summary["train_loss"] > 0
    weights = load_file(str(out / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b, "no LoRA weights saved"
    # PEFT initialises lora_B to zeros: non-zero values mean the optimiser updated them
    assert any(float(v.abs().sum()) > 0 for v in lora_b)
    run = json.loads((out / "run_summary.json").read_text())
    assert run["tokens_per_s"] > 0 and run["peak_rss_gib"] > 0
    # manager metrics were computed on validation rows at eval time
    assert any("eval_manager/json_validity" in h for h in run["log_history"])


def test_sft_logs_teacher_vs_student_prompt_tokens(sft_run):
    out, _ = sft_run
    stats = json.loads((out / "prompt_tokens.json").read_text())
    for stage in ("extract", "update"):
        assert stats["student"][stage] < stats["teacher"][stage]


def test_sft_trains_on_student_prompts_only_completion(trace_dataset_dir):
    from memmgr.prompts import EXTRACTION_SYSTEM_STUDENT, UPDATE_SYSTEM_STUDENT
    from train.sft import SFTScriptArguments, prepare_datasets

    train, ev, rows = prepare_datasets(SFTScriptArguments(dataset_path=trace_dataset_dir, manager_eval_samples=3), 0)
    assert train.column_names == ["prompt", "completion"]
    systems = {r["prompt"][0]["content"] for r in train}
    assert systems <= {EXTRACTION_SYSTEM_STUDENT, UPDATE_SYSTEM_STUDENT}
    assert len(rows) == 3 and ev is not None


def test_adapter_reloads_and_generates(sft_run, tiny_model_dir):
    from memmgr.backends.base import Generation
    from memmgr.backends.hf import TransformersBackend

    out, _ = sft_run
    backend = TransformersBackend(tiny_model_dir, adapter=str(out), max_tokens=8)
    g = backend.generate([{"role": "user", "content": "hello"}])
    assert isinstance(g, Generation)
    assert g.prompt_tokens > 0 and 0 <= g.completion_tokens <= 8 and g.latency_s > 0
    assert "+" in backend.name
    # the manager card written at training time gives the backend its prompt style (no config restates it)
    assert json.loads((out / "memmgr_manager.json").read_text())["prompt_style"] == "student"
    assert backend.prompt_style == "student"
    assert TransformersBackend(tiny_model_dir, max_tokens=8).prompt_style is None


def test_merge_gives_loadable_equivalent_model(sft_run, tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from train.merge import merge_adapter

    out, _ = sft_run
    merged_dir = merge_adapter(str(out), str(tmp_path / "merged"), base=tiny_model_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    assert not any("lora" in k for k in merged.state_dict())
    ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(out))
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, ref(ids).logits, atol=1e-4)
    assert (Path(merged_dir) / "tokenizer_config.json").exists()
    from memmgr.backends.hf import TransformersBackend

    assert TransformersBackend(merged_dir, max_tokens=8).prompt_style == "student"  # the card travels with the merge


def test_unknown_config_key_is_an_error(tiny_model_dir):
    from train.args import ConfigError
    from train.sft import parse_args

    with pytest.raises(ConfigError, match="lora_rank"):
        parse_args(["--lora_rank", "8"], config=str(REPO / "configs/sft/tiny.yaml"))


def test_published_student_is_the_default_managers_adapter(sft_run, tiny_model_dir, tmp_path, monkeypatch):
    """`make demo` publishes its adapter; `extra.adapter: auto` (the default manager) loads it with its card."""
    from memmgr.backends.hf import TransformersBackend
    from memmgr.config import BackendConfig, MemoryConfig
    from memmgr.manager_card import publish_student, published_student

    monkeypatch.setenv("MEMMGR_CACHE", str(tmp_path))
    auto = BackendConfig(model=tiny_model_dir, max_tokens=8, extra={"adapter": "auto"})
    assert published_student(tiny_model_dir) is None
    assert TransformersBackend.from_config(auto).adapter is None  # no student yet: the base, with a warning
    out, _ = sft_run
    path = publish_student(out, tiny_model_dir)
    assert published_student(tiny_model_dir) == path
    backend = TransformersBackend.from_config(auto)
    assert backend.adapter == path and backend.prompt_style == "student"
    assert MemoryConfig().manager.extra == {"adapter": "auto"}
