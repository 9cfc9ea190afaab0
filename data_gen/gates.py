"""Quality gates over the examples of a run, applied to all shards at the end (so changing them keeps the shards):
`teacher_schema_ok` (strict check of the teacher's raw answer, stored per example), `quality_gates` (duplicates,
bad teacher schema, empty update labels, extraction examples whose teacher facts were all rejected, then the NOOP
rebalance) and `op_stats` (per-split counts for stats.json and the dataset card).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_gen.generate import GenerateConfig


def teacher_schema_ok(raw: str, stage: str) -> bool:
    """Strict check of the teacher's raw answer for training data: one JSON object (fences and surrounding prose
    allowed) with "facts": [str] or "memory": [{"event": ...}]. The pipeline's parser is lenient on purpose (it
    salvages bare lists, and json-repair turns prose like "[D1:2] Mel: hi" into a list); a teacher answer that
    needed such salvage is not a trustworthy label."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end < start:
        return False
    try:
        obj = json.loads(raw[start : end + 1])
    except ValueError:
        return False
    if stage == "extract":
        return isinstance(obj, dict) and isinstance(obj.get("facts"), list) and all(
            isinstance(f, str) for f in obj["facts"])
    if stage.startswith("graph_"):  # {"entities": [...]}, {"relations": [...]}, {"invalidate": [...]}
        key = {"graph_entities": "entities", "graph_relations": "relations", "graph_resolve": "invalidate"}.get(stage)
        return isinstance(obj, dict) and isinstance(obj.get(key), list)
    return isinstance(obj, dict) and isinstance(obj.get("memory"), list) and all(
        isinstance(o, dict) and isinstance(o.get("event"), str) for o in obj["memory"])


def quality_gates(examples: list[dict], cfg: GenerateConfig) -> tuple[list[dict], dict[str, int]]:
    """The examples that pass every gate, and how many each gate dropped."""
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    kept = []
    for ex in examples:
        key = hashlib.md5(json.dumps([ex["prompt"], ex["label"]], sort_keys=True).encode()).hexdigest()
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        if not ex.get("teacher_schema_ok", True):
            dropped["teacher_schema"] += 1
            continue
        if ex["stage"] == "update" and not json.loads(ex["label"])["memory"]:
            dropped["empty_update_label"] += 1
            continue
        if ex["stage"] in ("extract", "graph_entities", "graph_relations") and ex.get("teacher_rejected") and not any(
                json.loads(ex["label"]).values()):
            # the teacher said something and all of it was rejected: "no facts" would be a wrong label
            dropped["teacher_output_rejected"] += 1
            continue
        kept.append(ex)
    if cfg.max_noop_fraction is not None:
        kept, n = _rebalance(kept, cfg.max_noop_fraction, cfg.seed)
        dropped["rebalanced_noop"] += n
    return kept, dict(dropped)


def _is_noop_only(ex: dict) -> bool:
    return ex["stage"] == "update" and all(o["event"] == "NOOP" for o in json.loads(ex["label"])["memory"])


def _rebalance(examples: list[dict], max_noop: float, seed: int) -> tuple[list[dict], int]:
    """Per split, downsample update examples whose ops are all NOOP to at most `max_noop` of update examples."""
    rng = random.Random(seed)
    out, removed = [], 0
    for split in sorted({e["split"] for e in examples}):
        part = [e for e in examples if e["split"] == split]
        noop = [e for e in part if _is_noop_only(e)]
        n_update = sum(1 for e in part if e["stage"] == "update")
        other_updates = n_update - len(noop)
        cap = int(max_noop * other_updates / (1 - max_noop)) if max_noop < 1 else len(noop)
        keep_noop = set(id(e) for e in rng.sample(noop, min(len(noop), cap)))
        removed += len(noop) - len(keep_noop)
        out.extend(e for e in part if not _is_noop_only(e) or id(e) in keep_noop)
    return out, removed


def op_stats(examples: list[dict]) -> dict[str, Any]:
    """Per split: example/stage/conversation counts, the op distribution of update labels, mean prompt size."""
    stats: dict[str, Any] = {}
    for split in sorted({e["split"] for e in examples}):
        part = [e for e in examples if e["split"] == split]
        ops = Counter(o["event"] for e in part if e["stage"] == "update" for o in json.loads(e["label"])["memory"])
        stats[split] = {"examples": len(part), "extract": sum(1 for e in part if e["stage"] == "extract"),
                        "update": sum(1 for e in part if e["stage"] == "update"),
                        **Counter(e["stage"] for e in part if e["stage"].startswith("graph_")),
                        "conversations": len({e["conversation_id"] for e in part}), "ops": dict(ops),
                        "mean_prompt_chars": sum(len(e["prompt"][-1]["content"]) + len(e["prompt"][0]["content"])
                                                 for e in part) / max(len(part), 1),
                        # the teacher's usage for the call behind each example (the oracle counts words)
                        "mean_prompt_tokens": sum(e.get("prompt_tokens", 0) for e in part) / max(len(part), 1),
                        "mean_completion_tokens": sum(e.get("completion_tokens", 0) for e in part) / max(len(part), 1)}
    return stats
