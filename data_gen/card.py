"""The output of a trace run: `build_dataset` writes the gated examples as a `datasets.DatasetDict` (`dataset/`),
one JSONL per split, `stats.json` and the dataset card (`README.md`, rendered by `dataset_card`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_gen.gates import op_stats
from memmgr.prompts import PROMPT_VERSION

if TYPE_CHECKING:
    from data_gen.generate import GenerateConfig


def build_dataset(examples: list[dict], out: Path, cfg: GenerateConfig, meta: dict[str, Any]) -> dict[str, Any]:
    """Write every output file under `out`; returns the stats (per-split `op_stats` under "splits", plus `meta`)."""
    from datasets import Dataset, DatasetDict

    splits = {s: [e for e in examples if e["split"] == s] for s in ("train", "validation", "test")}
    dd = DatasetDict({s: Dataset.from_list(rows) for s, rows in splits.items() if rows})
    dd.save_to_disk(str(out / "dataset"))
    for s, rows in splits.items():
        with (out / f"{s}.jsonl").open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    stats = {"splits": op_stats(examples), **meta}
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    (out / "README.md").write_text(dataset_card(stats, cfg))
    return stats


def dataset_card(stats: dict[str, Any], cfg: GenerateConfig) -> str:
    """Markdown card: source, teacher, prompt version, usage, oracle fallbacks, per-split counts and op mix."""
    teacher = {"oracle": "oracle (synthetic gold)", "observations": "observations (LOCOMO annotations)"}.get(
        cfg.teacher) if isinstance(cfg.teacher, str) else f"{cfg.teacher.backend}:{cfg.teacher.model}"
    lines = ["# memmgr manager traces", "", f"- source: {cfg.source.kind}", f"- teacher: {teacher}",
             f"- prompt version: {PROMPT_VERSION}; prompt styles: {', '.join(cfg.prompt_styles)}",
             f"- wall time: {stats.get('wall_s', 0):.1f} s; dropped: {stats.get('dropped')}",
             f"- teacher calls: {stats.get('manager_calls', 0)} ({stats.get('invalid_teacher_outputs', 0)} invalid); "
             f"tokens: {stats.get('prompt_tokens', 0)} prompt + {stats.get('completion_tokens', 0)} completion; "
             f"teacher rejections: {stats.get('teacher_rejections')}",
             f"- oracle fallbacks: {stats.get('oracle_missing_targets', 0)} targets not shown, "
             f"{stats.get('oracle_unknown_prompts', 0)} prompts without gold",
             f"- teacher decisions: {stats.get('teacher_decisions') or '-'}; undecided calls dropped: "
             f"{stats.get('undecided_calls_dropped', 0)}", "",
             "Load with `datasets.load_from_disk('<dir>/dataset')` or "
             "`load_dataset('json', data_files={'train': '<dir>/train.jsonl', ...})`.", "",
             "| split | conversations | examples | extract | update | ADD | UPDATE | DELETE | NOOP |",
             "|---|---|---|---|---|---|---|---|---|"]
    for split, s in stats["splits"].items():
        ops = s["ops"]
        lines.append(f"| {split} | {s['conversations']} | {s['examples']} | {s['extract']} | {s['update']} | "
                     f"{ops.get('ADD', 0)} | {ops.get('UPDATE', 0)} | {ops.get('DELETE', 0)} | {ops.get('NOOP', 0)} |")
    lines += ["", "| split | mean prompt chars | mean prompt tokens | mean completion tokens |", "|---|---|---|---|"]
    for split, s in stats["splits"].items():
        lines.append(f"| {split} | {s['mean_prompt_chars']:.0f} | {s['mean_prompt_tokens']:.0f} | "
                     f"{s['mean_completion_tokens']:.0f} |")
    lines += ["", "Columns: messages, prompt, completion, stage, label, shown_memories, source_texts, gold_after, "
              "conversation_id, pair_id, teacher, teacher_raw, prompt_version, prompt_style, source, split, "
              "prompt_tokens, completion_tokens, teacher_rejected, teacher_schema_ok.", ""]
    return "\n".join(lines)
