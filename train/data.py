"""Trace datasets for training: load (DatasetDict folder or JSONL), mix stages, re-render under the student prompt.

Schema (from data_gen): messages, prompt, completion, stage ("extract"|"update"), label, shown_memories (JSON list of
[id, text]), source_texts, gold_after (JSON list or ""), conversation_id, pair_id, teacher, prompt_version,
prompt_style, source. Splits: train / validation / test (split by conversation upstream).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from memmgr.prompts import PROMPT_STYLES, render_messages_for_style

log = logging.getLogger(__name__)

STAGES = ("extract", "update")


def load_traces(path: str | Path) -> Any:
    """A `datasets.DatasetDict` from a save_to_disk folder, a folder of {split}.jsonl files, or one JSONL file
    (which becomes the train split)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    p = Path(path)
    if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        dd = load_from_disk(str(p))
        return dd if isinstance(dd, DatasetDict) else DatasetDict({"train": dd})
    if p.is_dir():
        files = {f.stem: f for f in sorted(p.glob("*.jsonl"))}
        if not files:
            raise FileNotFoundError(f"{p}: neither a saved DatasetDict nor a folder of <split>.jsonl files")
        return DatasetDict({s: Dataset.from_list(_read_jsonl(f)) for s, f in files.items()})
    if p.suffix == ".jsonl":
        return DatasetDict({"train": Dataset.from_list(_read_jsonl(p))})
    raise FileNotFoundError(f"no trace dataset at {p}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def mix_stages(ds: Any, extract_fraction: float | None, seed: int = 0, max_samples: int | None = None) -> Any:
    """Subsample so that a fraction `extract_fraction` of rows are extraction calls (None keeps the natural mix).

    The limiting stage is kept whole and the other is downsampled, so no row is seen twice per epoch.
    """
    rng = random.Random(seed)
    idx = {s: [i for i, st in enumerate(ds["stage"]) if st == s] for s in STAGES}
    n_e, n_u = len(idx["extract"]), len(idx["update"])
    if extract_fraction is not None:
        if not 0.0 <= extract_fraction <= 1.0:
            raise ValueError(f"extract_fraction must be in [0, 1], got {extract_fraction}")
        if extract_fraction == 0.0:
            n_e = 0
        elif extract_fraction == 1.0:
            n_u = 0
        else:
            # largest totals with the requested ratio that fit in what we have
            total = min(n_e / extract_fraction, n_u / (1 - extract_fraction))
            n_e, n_u = round(total * extract_fraction), round(total * (1 - extract_fraction))
    if max_samples is not None and n_e + n_u > max_samples:  # shrink both, keeping the ratio
        scale = max_samples / (n_e + n_u)
        n_e = round(n_e * scale)
        n_u = max_samples - n_e
    pick = {"extract": rng.sample(idx["extract"], n_e), "update": rng.sample(idx["update"], n_u)}
    keep = pick["extract"] + pick["update"]
    rng.shuffle(keep)
    log.info("stage mix: %d extract + %d update -> %d rows", n_e, n_u, len(keep))
    return ds.select(keep)


def with_prompt_style(ds: Any, style: str) -> Any:
    """Re-render every prompt's system message under `style` (teacher | student); same inputs, other instruction."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {style!r}")

    def fn(row: dict[str, Any]) -> dict[str, Any]:
        prompt = render_messages_for_style(row["prompt"], row["stage"], style)
        out = {"prompt": prompt, "prompt_style": style}
        if "messages" in row:
            out["messages"] = prompt + list(row["completion"])
        return out

    return ds.map(fn, desc=f"{style} prompts")


def to_prompt_completion(ds: Any) -> Any:
    """Keep only prompt/completion: TRL then trains on the completion tokens alone (completion-only loss) and does
    not mistake the `messages` column for a language-modelling dataset."""
    return ds.select_columns(["prompt", "completion"])


def prompt_token_stats(ds: Any, tokenizer: Any, n: int = 200) -> dict[str, dict[str, float]]:
    """Mean prompt tokens per call, by stage, under the teacher and the student prompt (what distillation saves)."""
    out: dict[str, dict[str, float]] = {}
    rows = ds.select(range(min(n, len(ds))))
    for style in PROMPT_STYLES:
        for stage in STAGES:
            lens = [n_prompt_tokens(tokenizer, render_messages_for_style(r["prompt"], stage, style))
                    for r in rows if r["stage"] == stage]
            if lens:
                out.setdefault(style, {})[stage] = sum(lens) / len(lens)
    return out


def n_prompt_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
