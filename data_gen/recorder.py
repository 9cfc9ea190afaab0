"""From manager calls to labelled examples: `run_unit` feeds one conversation through the real pipeline with a
teacher and records every manager call (`mem.trace_hooks`); `call_to_examples` turns one valid extract/update
call into one row per configured prompt style (columns listed in data_gen/README.md).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from data_gen.gates import teacher_schema_ok
from data_gen.sources import make_memory, make_teacher
from memmgr.conversations import as_speaker
from memmgr.prompts import PROMPT_VERSION, render_messages_for_style
from memmgr.scoring import apply_ops_to_snapshot
from memmgr.types import ManagerCall, Op

if TYPE_CHECKING:
    from data_gen.generate import GenerateConfig


def _op_key(item: dict[str, Any]) -> tuple[Any, Any, Any]:
    return item.get("event"), item.get("id"), item.get("text")


def _label_ops(call: ManagerCall) -> list[dict[str, Any]]:
    """The teacher's validated ops (small ids) minus any the pipeline rejected later (grounding, caps...). A NOOP
    that rewrote its memory was parsed as an UPDATE (memmgr.parsing.parse_ops); where the pipeline turned that
    reading down (`unrelated_rewrite`) the memory stayed as it was, so the label is the NOOP the teacher said, with
    the memory's own text."""
    rejected = {_op_key(r.item): r.reason for r in call.rejected if isinstance(r.item, dict)}
    ops = []
    for op in (call.parsed or {}).get("memory", []):
        reason = rejected.get(_op_key(op))
        if reason == "unrelated_rewrite" and op.get("old_memory"):
            ops.append({"id": op["id"], "text": op["old_memory"], "event": "NOOP"})
        elif reason is None:
            ops.append({k: v for k, v in op.items() if v is not None})
    return ops


def call_to_examples(call: ManagerCall, unit: dict[str, Any], cfg: GenerateConfig) -> list[dict[str, Any]]:
    """The example rows of one manager call (none for invalid calls; graph calls: data_gen/graph_traces.py)."""
    if call.stage.startswith("graph_"):
        from data_gen.graph_traces import graph_call_to_examples

        return graph_call_to_examples(call, unit, cfg)
    if call.stage not in ("extract", "update") or not call.valid:
        return []
    from memmgr.prompts import extraction_output, update_output

    shown = [list(x) for x in call.context.get("shown", [])]
    if call.stage == "extract":
        label = extraction_output(call.context.get("facts", []))
        gold_after = ""
    else:
        ops = _label_ops(call)
        label = update_output(ops)
        after = apply_ops_to_snapshot(shown, [Op(event=o["event"], id=None if o["event"] == "ADD" else o.get("id"),
                                                 text=o.get("text", "")) for o in ops])
        gold_after = json.dumps(after, ensure_ascii=False)
    return [example_row(call, unit, cfg, prompt=render_messages_for_style(call.messages, call.stage, style),
                        style=style, label=label, shown=shown, gold_after=gold_after, prompt_version=PROMPT_VERSION)
            for style in cfg.prompt_styles]


def example_row(call: ManagerCall, unit: dict[str, Any], cfg: GenerateConfig, *, prompt: list[dict[str, str]],
                style: str, label: str, shown: list, gold_after: str, prompt_version: str) -> dict[str, Any]:
    """One example row (the schema of data_gen/README.md), for vector and graph calls alike."""
    completion = [{"role": "assistant", "content": label}]
    return {
        "messages": prompt + completion, "prompt": prompt, "completion": completion, "stage": call.stage,
        "label": label, "shown_memories": json.dumps(shown, ensure_ascii=False),
        "source_texts": json.dumps(call.context.get("source_texts", []), ensure_ascii=False),
        "gold_after": gold_after, "conversation_id": unit["id"], "pair_id": str(call.context.get("pair_id", "")),
        "teacher": "oracle" if cfg.teacher == "oracle" else call.backend, "teacher_raw": call.raw_output[:4000],
        "prompt_version": prompt_version, "prompt_style": style, "source": cfg.source.kind, "split": unit["split"],
        "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
        "teacher_rejected": len(call.rejected),
        "teacher_schema_ok": teacher_schema_ok(call.raw_output or "", call.stage),
    }


def run_unit(unit: dict[str, Any], cfg: GenerateConfig, shared: dict[str, Any]) -> tuple[list[dict], dict]:
    """Feed one conversation through the pipeline; returns its examples and usage."""
    teacher = make_teacher(cfg, unit, shared)
    mem = make_memory(cfg, teacher)
    calls: list[ManagerCall] = []
    mem.trace_hooks.append(calls.append)
    if "world" in unit:
        w = unit["world"]
        main = w.speakers[0]
        # the main speaker's scope is the world's user_id (the one the world eval fills and scores); the friend's
        # scope sees the same pairs from the other side and keeps the friend's facts (the oracle reads the owner)
        scopes = w.speakers if cfg.source.world_scopes == "both" else [main]
        feed = [(as_speaker(p.messages, s), w.user_id if s == main else f"{w.user_id}:{s}",
                 p.pair_id if s == main else f"{p.pair_id}:{s}")
                for p in w.pairs[: cfg.source.max_pairs or None] for s in scopes]
    else:
        conv = unit["conversation"]
        # one memory scope per speaker, as Mem0's LOCOMO eval ingests (eval/locomo_methods.py): the speaker is the
        # user, the other the counterpart, and the extraction prompt names whose memory it is
        pairs = list(enumerate(conv.message_pairs(cfg.source.max_sessions)))[: cfg.source.max_pairs or None]
        feed = [(as_speaker(msgs, speaker), f"{conv.conversation_id}:{speaker}", f"{conv.conversation_id}:{speaker}:{i}")
                for i, (msgs, _ts) in pairs for speaker in conv.speakers]
    for msgs, user_id, pair_id in feed:
        texts = [f"{m.name or m.role}: {m.content}" for m in msgs]
        mem.add(msgs, user_id=user_id, timestamp=msgs[0].timestamp,
                trace_context={"pair_id": pair_id, "source_texts": texts, "conversation_id": unit["id"]})
    mem.close()
    keep = getattr(teacher, "keep", None)  # a teacher may refuse to label a call (observations: undecidable rule)
    kept = [c for c in calls if keep is None or keep(c.messages)]
    examples = [ex for c in kept for ex in call_to_examples(c, unit, cfg)]
    usage = {"calls": len(calls), "prompt_tokens": sum(c.prompt_tokens for c in calls),
             "completion_tokens": sum(c.completion_tokens for c in calls),
             "invalid": sum(1 for c in calls if not c.valid),
             "rejections": dict(Counter(r.reason for c in calls for r in c.rejected)),
             # oracle fallbacks: gold target not among the shown memories / a prompt the gold does not cover
             "oracle_missing_targets": getattr(teacher, "missing_targets", 0),
             "oracle_unknown_prompts": getattr(teacher, "unknown_prompts", 0),
             "undecided_calls_dropped": len(calls) - len(kept),
             "teacher_decisions": getattr(teacher, "decisions", {})}
    return examples, usage
