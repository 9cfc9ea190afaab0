"""Every YAML under configs/sft, configs/grpo and configs/accelerate loads into its dataclasses; unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("trl")

REPO = Path(__file__).resolve().parents[2]
SFT = sorted((REPO / "configs/sft").glob("*.yaml"))
GRPO = sorted((REPO / "configs/grpo").glob("*.yaml"))
ACCEL = sorted((REPO / "configs/accelerate").glob("*.yaml"))


def test_expected_configs_exist():
    names = {p.stem for p in SFT}
    assert {"tiny", "smollm2-135m_lora_cpu", "qwen2.5-0.5b_lora", "qwen2.5-1.5b_lora", "qwen3-0.6b_lora",
            "qwen3-1.7b_lora", "qwen2.5-0.5b_full", "qwen3-1.7b_full"} <= names
    assert {"tiny", "smollm2-135m_cpu", "qwen2.5-0.5b_lora"} <= {p.stem for p in GRPO}
    assert {"single_gpu", "ddp", "fsdp2", "deepspeed_zero2", "deepspeed_zero3", "cpu"} <= {p.stem for p in ACCEL}


@pytest.mark.parametrize("path", SFT + GRPO + ACCEL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_has_command_header(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("#") and ("train/" in path.read_text().split("\n\n")[0] or "accelerate" in first)


@pytest.mark.parametrize("path", SFT, ids=lambda p: p.name)
def test_sft_config_parses(path):
    from train.sft import SFTScriptArguments, parse_args

    script_args, training_args, model_args = parse_args([], config=str(path))
    assert isinstance(script_args, SFTScriptArguments)
    assert training_args.output_dir and model_args.use_peft in (True, False)
    if model_args.use_peft:
        assert model_args.lora_r > 0


@pytest.mark.parametrize("path", GRPO, ids=lambda p: p.name)
def test_grpo_config_parses(path):
    from train.grpo import parse_args

    script_args, grpo_args, _ = parse_args([], config=str(path))
    assert grpo_args.remove_unused_columns is False  # reward functions need the label/snapshot columns
    assert grpo_args.generation_batch_size % grpo_args.num_generations == 0
    assert len(grpo_args.reward_weights) == len(script_args.reward_funcs)


@pytest.mark.parametrize("path", ACCEL, ids=lambda p: p.name)
def test_accelerate_config_parses(path):
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.commands.launch import launch_command_parser

    cfg = ClusterConfig.from_yaml_file(str(path))  # raises on unknown top-level keys
    known = {a.dest for a in launch_command_parser()._actions}
    for section in (cfg.fsdp_config, cfg.deepspeed_config):
        unknown = set(section or {}) - known
        assert not unknown, f"{path.name}: unknown keys {unknown}"


def test_typo_in_yaml_fails(tmp_path):
    from train.args import ConfigError
    from train.sft import parse_args

    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "configs/sft/tiny.yaml").read_text() + "\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        parse_args([], config=str(bad))


def test_cli_overrides_are_typed():
    from train.args import parse_overrides

    got = parse_overrides(["--eval_strategy", "no", "--lora_r=16", "--bf16", "false", "--report_to", "[wandb]",
                           "--use_peft", "--learning_rate", "1e-5", "--output_dir", "runs/x"])
    assert got == {"eval_strategy": "no", "lora_r": 16, "bf16": False, "report_to": ["wandb"], "use_peft": True,
                   "learning_rate": 1e-5,
                   "output_dir": "runs/x"}
