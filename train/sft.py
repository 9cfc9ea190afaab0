"""LoRA (or full) SFT of a small memory manager on teacher traces, with TRL's SFTTrainer.

Shaped like TRL's trl/scripts/sft.py: one flat YAML fills three dataclasses (SFTScriptArguments below, TRL's
SFTConfig and ModelConfig); `--key value` overrides any of them; an unknown key is an error.

# GPU (one or more; see configs/accelerate/ and the README)
```bash
accelerate launch --config_file configs/accelerate/single_gpu.yaml train/sft.py --config configs/sft/qwen2.5-0.5b_lora.yaml
accelerate launch --config_file configs/accelerate/ddp.yaml train/sft.py --config configs/sft/qwen2.5-1.5b_lora.yaml
```

# CPU (float32, use_cpu; SmolLM2-135M LoRA at 8 rows a step as 1 x 8 accumulation: ~18.6 s a step on 2 cores)
```bash
OMP_NUM_THREADS=2 python train/sft.py --config configs/sft/smollm2-135m_lora_cpu.yaml
python train/sft.py --config configs/sft/tiny.yaml --model_name_or_path /tmp/tiny --dataset_path /tmp/traces
```

Loss is on the assistant answer only: the data is in TRL's conversational prompt/completion form, which gives
completion-only loss without template markers. Extraction and update calls are mixed at `extract_fraction`; graph-manager
calls (data_gen graph traces) join at `graph_fraction` (one student for both managers).
`prompt_style: student` re-renders every prompt with the compact student instruction (context distillation); the
run logs mean prompt tokens per call under both prompts to `<output_dir>/prompt_tokens.json`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memmgr.settings import split_config_arg
from train.args import ConfigError

log = logging.getLogger("train.sft")


@dataclass
class SFTScriptArguments:
    dataset_path: str = field(default="data/synthetic_oracle/dataset", metadata={"help": "DatasetDict folder/JSONL"})
    train_split: str = "train"
    eval_split: str | None = "validation"
    extract_fraction: float | None = field(default=0.5, metadata={"help": "share of extraction calls; null = as is"})
    graph_fraction: float = field(default=0.0, metadata={"help": "share of graph-manager rows (stages graph_*) in "
                                                                  "train and eval; 0 = vector manager only"})
    max_train_samples: int | None = None
    max_eval_samples: int | None = 64
    prompt_style: str = field(default="student", metadata={"help": "teacher | student (compact, no examples)"})
    manager_eval_samples: int = field(default=0, metadata={"help": "rows generated at each eval for manager "
                                                                    "metrics (0 = eval_loss only)"})
    manager_eval_max_tokens: int = 128
    prompt_token_samples: int = 200
    wandb_project: str | None = None

    def __post_init__(self) -> None:
        if self.prompt_style not in ("teacher", "student"):
            raise ConfigError(f"prompt_style must be teacher or student, not {self.prompt_style!r}")


def _types() -> tuple[type, ...]:
    from trl import ModelConfig, SFTConfig

    return (SFTScriptArguments, SFTConfig, ModelConfig)


def cpu_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """Without CUDA: use_cpu, fp32 (bf16 matmul is ~150x slower on this CPU), no activation checkpointing (3x)."""
    import torch

    if torch.cuda.is_available() and not values.get("use_cpu"):
        return values
    if values.get("bf16") or values.get("fp16"):
        log.warning("no CUDA: training in float32 on CPU (bf16/fp16 off)")
    values.update(use_cpu=True, bf16=False, fp16=False)
    values.setdefault("gradient_checkpointing", False)
    if values.get("load_in_4bit") or values.get("load_in_8bit"):
        raise ConfigError("QLoRA (load_in_4bit/8bit) needs a CUDA GPU")
    return values


def parse_args(argv: Sequence[str] | None = None, config: str | None = None) -> tuple[Any, Any, Any]:
    from train.args import parse_config

    if config is None:
        config, argv = split_config_arg(list(sys.argv[1:] if argv is None else argv))
    return parse_config(_types(), config, argv or [], prepare=cpu_defaults)


def prepare_datasets(script_args: SFTScriptArguments, seed: int) -> tuple[Any, Any, Any]:
    """(train, eval, raw eval rows for manager metrics) in prompt/completion form under the chosen prompt style."""
    from data_gen.traces import load_traces, mix_stages, with_prompt_style
    from train.data import to_prompt_completion

    dd = load_traces(script_args.dataset_path)
    if script_args.train_split not in dd:
        raise ConfigError(f"{script_args.dataset_path} has no split {script_args.train_split!r} ({list(dd)})")
    train = mix_stages(dd[script_args.train_split], script_args.extract_fraction, seed=seed,
                       max_samples=script_args.max_train_samples, graph_fraction=script_args.graph_fraction)
    train = with_prompt_style(train, script_args.prompt_style)
    eval_ds, eval_rows = None, []
    if script_args.eval_split and script_args.eval_split in dd:
        ev = mix_stages(dd[script_args.eval_split], 0.5 if script_args.max_eval_samples else None, seed=seed,
                        max_samples=script_args.max_eval_samples, graph_fraction=script_args.graph_fraction)
        ev = with_prompt_style(ev, script_args.prompt_style)
        eval_ds = to_prompt_completion(ev)
        eval_rows = list(ev.select(range(min(script_args.manager_eval_samples, len(ev)))))
    return to_prompt_completion(train), eval_ds, eval_rows


def main(script_args: SFTScriptArguments, training_args: Any, model_args: Any) -> dict[str, Any]:
    import torch
    from trl import SFTTrainer

    from data_gen.traces import load_traces
    from train.callbacks import make_manager_metrics_callback
    from train.data import prompt_token_stats
    from train.models import (
        load_tokenizer,
        lora_config,
        model_init_kwargs,
        peak_rss_gib,
        resolve_model_path,
        train_and_save,
        trained_tokens,
    )

    if "wandb" in (training_args.report_to or []):
        # offline-safe: without an API key wandb would fail fast, so log locally unless a mode is set
        os.environ.setdefault("WANDB_MODE", "offline" if not os.environ.get("WANDB_API_KEY") else "online")
        if script_args.wandb_project:
            os.environ.setdefault("WANDB_PROJECT", script_args.wandb_project)
    if not model_args.model_name_or_path:
        raise ConfigError("model_name_or_path is required (hub id, folder, .gguf file or 'smollm2')")
    model_path = resolve_model_path(model_args.model_name_or_path)
    need_markers = bool(training_args.assistant_only_loss)
    tokenizer = load_tokenizer(model_path, need_generation_markers=need_markers,
                               chat_template_path=training_args.chat_template_path)
    training_args.chat_template_path = None  # applied above (and patched if needed)
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}),
                                       **model_init_kwargs(model_args, use_cpu=training_args.use_cpu)}

    train_ds, eval_ds, eval_rows = prepare_datasets(script_args, training_args.seed)
    if eval_ds is None and training_args.eval_strategy != "no":
        log.warning("no eval split: turning evaluation off")
        training_args.eval_strategy = "no"
    out_dir = Path(training_args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # what the student prompt saves per call (measured with this model's tokenizer on the training rows)
    raw_train = load_traces(script_args.dataset_path)[script_args.train_split]
    tok_stats = prompt_token_stats(raw_train, tokenizer, n=script_args.prompt_token_samples)
    (out_dir / "prompt_tokens.json").write_text(json.dumps(tok_stats, indent=2))
    log.info("mean prompt tokens per call (teacher vs student): %s", tok_stats)

    callbacks = []
    if eval_rows:
        callbacks.append(make_manager_metrics_callback(eval_rows, tokenizer,
                                                       max_tokens=script_args.manager_eval_max_tokens))
    trainer = SFTTrainer(model=model_path, args=training_args, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, peft_config=lora_config(model_args), callbacks=callbacks)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result, wall = train_and_save(trainer, tokenizer, training_args.output_dir, training_args.resume_from_checkpoint,
                                  {"prompt_style": script_args.prompt_style, "trained_by": "train/sft.py",
                                   "base_model": model_args.model_name_or_path, "dataset": script_args.dataset_path})
    n_tokens = trained_tokens(trainer.state.log_history)
    summary = {
        "model": model_args.model_name_or_path, "model_path": model_path, "train_rows": len(train_ds),
        "eval_rows": len(eval_ds) if eval_ds is not None else 0, "prompt_style": script_args.prompt_style,
        "steps": trainer.state.global_step, "train_loss": result.training_loss, "wall_s": wall,
        "tokens_per_s": n_tokens / wall if wall else None, "tokens_seen": n_tokens,
        "peak_rss_gib": peak_rss_gib(), "peak_cuda_gib": torch.cuda.max_memory_allocated() / 2**30
        if torch.cuda.is_available() else None,
        "prompt_tokens": tok_stats, "log_history": trainer.state.log_history,
        "script_args": asdict(script_args),
    }
    if trainer.is_world_process_zero():
        (out_dir / "run_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    log.info("done: %d steps, loss %.4f, %.1fs, %.0f tok/s", summary["steps"], result.training_loss, wall,
             summary["tokens_per_s"] or 0)
    summary["trainer"] = trainer
    return summary


if __name__ == "__main__":
    from train.args import parse_cli

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(*parse_cli(_types, __doc__, prepare=cpu_defaults))
