"""What only training needs from trace datasets: prompt/completion columns and prompt-token statistics.

Loading, stage mixing and prompt re-rendering belong to the producer of the format: `data_gen.traces`.
"""

from __future__ import annotations

from typing import Any

from data_gen.traces import STAGES
from memmgr.prompts import PROMPT_STYLES, render_messages_for_style


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
