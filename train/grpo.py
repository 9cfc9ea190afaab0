"""GRPO of the memory manager with TRL's GRPOTrainer, from an SFT LoRA adapter (or the base model).

Rewards are the evaluation's scorers (train/rewards.py), weighted by `reward_weights` (TRL) in the same order as
`reward_funcs` (ours). One flat YAML fills GRPOScriptArguments, TRL's GRPOConfig and ModelConfig; `--key value`
overrides; unknown keys are an error.

# GPU, generation with vLLM inside the training process (use_vllm: true, vllm_mode: colocate)
```bash
accelerate launch --config_file configs/accelerate/single_gpu.yaml train/grpo.py \
    --config configs/grpo/qwen2.5-0.5b_lora.yaml --sft_adapter runs/sft/qwen2.5-0.5b_lora
# server mode: start `trl vllm-serve --model <merged SFT folder>` on one GPU, train on the others with
#   --vllm_mode server --vllm_server_host <host>
```

# CPU
```bash
OMP_NUM_THREADS=2 python train/grpo.py --config configs/grpo/smollm2-135m_cpu.yaml --sft_adapter runs/sft/smollm2
python train/grpo.py --config configs/grpo/tiny.yaml --model_name_or_path /tmp/tiny --dataset_path /tmp/traces
```
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memmgr.settings import split_config_arg
from train.args import ConfigError, parse_config

log = logging.getLogger("train.grpo")

REWARD_COLUMNS = ("stage", "label", "shown_memories", "gold_after", "qa_answers")


@dataclass
class GRPOScriptArguments:
    dataset_path: str = "data/synthetic_oracle/dataset"
    train_split: str = "train"
    sft_adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder from train/sft.py"})
    stages: list[str] = field(default_factory=lambda: ["extract", "update"])
    extract_fraction: float | None = 0.5
    graph_fraction: float = field(default=0.0, metadata={"help": "share of graph-manager rows (stages graph_* in "
                                                                  "`stages`); 1 when `stages` are graph stages only"})
    max_train_samples: int | None = None
    prompt_style: str = "student"
    reward_funcs: list[str] = field(default_factory=lambda: ["format", "op_agreement", "fact_f1", "hallucinated_ids",
                                                              "length", "outcome"])

    def __post_init__(self) -> None:
        from train.rewards import REWARDS

        bad = [r for r in self.reward_funcs if r not in REWARDS]
        if bad:
            raise ConfigError(f"unknown reward_funcs {bad}; known: {sorted(REWARDS)}")
        if self.prompt_style not in ("teacher", "student"):
            raise ConfigError(f"prompt_style must be teacher or student, not {self.prompt_style!r}")
        from data_gen.traces import GRAPH_STAGES, STAGES

        if not set(self.stages) <= {*STAGES, *GRAPH_STAGES} or not self.stages:
            raise ConfigError(f"stages must be a non-empty subset of {[*STAGES, *GRAPH_STAGES]}, got {self.stages}")
        graph, vector = set(self.stages) & set(GRAPH_STAGES), set(self.stages) & set(STAGES)
        if graph and not vector:
            self.graph_fraction = 1.0
        elif graph and not 0.0 < self.graph_fraction < 1.0:
            raise ConfigError("stages mix vector and graph stages: set graph_fraction in (0, 1)")


def _types() -> tuple[type, ...]:
    from trl import GRPOConfig, ModelConfig

    return (GRPOScriptArguments, GRPOConfig, ModelConfig)


def parse_args(argv: Sequence[str] | None = None, config: str | None = None) -> tuple[Any, Any, Any]:
    from train.sft import cpu_defaults

    if config is None:
        config, argv = split_config_arg(list(sys.argv[1:] if argv is None else argv))
    script_args, grpo_args, model_args = parse_config(_types(), config, argv or [], prepare=cpu_defaults)
    if grpo_args.reward_weights is not None and len(grpo_args.reward_weights) != len(script_args.reward_funcs):
        raise ConfigError(f"reward_weights has {len(grpo_args.reward_weights)} entries for "
                          f"{len(script_args.reward_funcs)} reward_funcs")
    return script_args, grpo_args, model_args


def prepare_dataset(script_args: GRPOScriptArguments, seed: int) -> Any:
    from data_gen.traces import load_traces, mix_stages, with_prompt_style

    ds = load_traces(script_args.dataset_path)[script_args.train_split]
    ds = ds.filter(lambda st: st in script_args.stages, input_columns="stage")
    frac = script_args.extract_fraction if {"extract", "update"} <= set(script_args.stages) else None
    ds = mix_stages(ds, frac, seed=seed, max_samples=script_args.max_train_samples,
                    graph_fraction=script_args.graph_fraction)
    ds = with_prompt_style(ds, script_args.prompt_style)
    return ds.select_columns(["prompt", *[c for c in REWARD_COLUMNS if c in ds.column_names]])


def load_policy(script_args: GRPOScriptArguments, model_args: Any, grpo_args: Any) -> tuple[Any, Any, Any]:
    """(model or model path, tokenizer, peft_config): the SFT adapter continues training (is_trainable), else the base
    gets a fresh LoRA when use_peft."""
    from transformers import AutoModelForCausalLM

    from train.models import load_tokenizer, lora_config, model_init_kwargs, resolve_model_path

    base = model_args.model_name_or_path
    if script_args.sft_adapter:
        cfg_path = Path(script_args.sft_adapter) / "adapter_config.json"
        if not cfg_path.exists():
            raise ConfigError(f"{script_args.sft_adapter} is not a PEFT adapter folder (no adapter_config.json)")
        base = base or json.loads(cfg_path.read_text())["base_model_name_or_path"]
    if not base:
        raise ConfigError("model_name_or_path (or sft_adapter) is required")
    base_path = resolve_model_path(base)
    tok_src = script_args.sft_adapter if script_args.sft_adapter and (
        Path(script_args.sft_adapter) / "tokenizer_config.json").exists() else base_path
    tokenizer = load_tokenizer(tok_src)
    tokenizer.padding_side = "left"
    init_kwargs = {**(grpo_args.model_init_kwargs or {}), **model_init_kwargs(model_args, use_cpu=grpo_args.use_cpu)}
    if script_args.sft_adapter:
        from peft import PeftModel

        model = AutoModelForCausalLM.from_pretrained(base_path, **init_kwargs)
        model = PeftModel.from_pretrained(model, script_args.sft_adapter, is_trainable=True)
        return model, tokenizer, None
    grpo_args.model_init_kwargs = init_kwargs
    return base_path, tokenizer, lora_config(model_args)


def main(script_args: GRPOScriptArguments, grpo_args: Any, model_args: Any) -> dict[str, Any]:
    import torch
    from trl import GRPOTrainer

    from train.models import peak_rss_gib, train_and_save, trained_tokens
    from train.rewards import reward_funcs

    model, tokenizer, peft_config = load_policy(script_args, model_args, grpo_args)
    train_ds = prepare_dataset(script_args, grpo_args.seed)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs(script_args.reward_funcs), args=grpo_args,
                          train_dataset=train_ds, processing_class=tokenizer, peft_config=peft_config)
    result, wall = train_and_save(trainer, tokenizer, grpo_args.output_dir, grpo_args.resume_from_checkpoint,
                                  {"prompt_style": script_args.prompt_style, "trained_by": "train/grpo.py",
                                   "base_model": model_args.model_name_or_path, "sft_adapter": script_args.sft_adapter,
                                   "dataset": script_args.dataset_path})
    rewards = [h for h in trainer.state.log_history if "reward" in h]
    n_tokens = trained_tokens(trainer.state.log_history)  # prompts + sampled completions
    summary = {
        "steps": trainer.state.global_step, "train_loss": result.training_loss, "wall_s": wall,
        "tokens_per_s": n_tokens / wall if wall else None, "tokens_seen": n_tokens, "peak_rss_gib": peak_rss_gib(),
        "train_rows": len(train_ds), "reward_funcs": script_args.reward_funcs,
        "reward_weights": grpo_args.reward_weights, "first_reward": rewards[0]["reward"] if rewards else None,
        "last_reward": rewards[-1]["reward"] if rewards else None, "log_history": trainer.state.log_history,
        "peak_cuda_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "script_args": asdict(script_args),
    }
    if trainer.is_world_process_zero():
        Path(grpo_args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(grpo_args.output_dir) / "run_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    log.info("done: %d steps in %.1fs, reward %s -> %s", summary["steps"], wall, summary["first_reward"],
             summary["last_reward"])
    summary["trainer"] = trainer
    return summary


if __name__ == "__main__":
    from train.args import help_text, wants_help

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if wants_help(sys.argv[1:]):
        print(help_text(_types(), __doc__))
        raise SystemExit(0)
    try:
        parsed = parse_args()
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    main(*parsed)
