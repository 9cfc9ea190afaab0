"""Teacher trace generation: run the real memmgr pipeline with a teacher manager over a conversation source and turn
every manager call into a labelled chat example.

    python -m data_gen.generate --config configs/data_gen/synthetic_oracle.yaml [--key value ...]
    python -m data_gen.generate --config configs/data_gen/locomo_local.yaml --source.max_sessions 2

Sources: synthetic gold worlds (with the oracle teacher, labels are gold), LOCOMO JSON, dialogue JSONL. Teachers:
the oracle or any memmgr backend (OpenAI-compatible endpoint, vLLM, transformers). Units (a world / conversation)
run concurrently up to `concurrency`; each finished unit is appended as one shard and recorded in the manifest, so
a killed run resumes where it stopped with nothing duplicated or lost. Output: a `datasets.DatasetDict`
(train/validation/test split by conversation) saved to disk, one JSONL per split, `stats.json` and a dataset card.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from memmgr.config import BackendConfig, EmbedderConfig, GuardConfig, MemoryConfig, PipelineConfig
from memmgr.prompts import PROMPT_VERSION, render_messages_for_style
from memmgr.scoring import apply_ops_to_snapshot
from memmgr.types import ManagerCall, Op

log = logging.getLogger("data_gen.generate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    kind: Literal["synthetic", "locomo", "jsonl"] = "synthetic"
    path: str | None = None  # locomo10.json / dialogue JSONL
    worlds: dict[str, int] = Field(default_factory=lambda: {"train": 160, "validation": 20, "test": 20})
    n_sessions: tuple[int, int] = (3, 30)
    samples: list[str] | None = None  # LOCOMO/JSONL conversation ids to keep
    max_sessions: int | None = None
    max_pairs: int | None = None
    # conversation id -> split for real sources; others go by a stable hash (80/10/10)
    split_of: dict[str, str] = Field(default_factory=lambda: {"conv-26": "train", "conv-30": "validation"})


class GenerateConfig(_Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    teacher: BackendConfig | Literal["oracle"] = "oracle"
    embedder: EmbedderConfig = Field(default_factory=lambda: EmbedderConfig(provider="hash"))
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    prompt_styles: list[Literal["teacher", "student"]] = Field(default_factory=lambda: ["teacher"])
    output_dir: str = "data/traces"
    seed: int = 0
    concurrency: int = 1  # conversations in flight: parallel requests to a server, the batch width for vLLM
    batch_wait_s: float = 0.02  # how long a batched engine waits for more concurrent calls
    self_consistency: int = 1  # >1: sample the teacher n times, keep the example only if the decisions agree
    self_consistency_temperature: float = 0.7
    max_noop_fraction: float | None = 0.4  # rebalance update examples (NOOP dominates real data); None = keep
    cost_per_million_tokens: dict[str, float] = Field(default_factory=lambda: {"prompt": 0.0, "completion": 0.0})
    overwrite: bool = False  # start afresh when output_dir holds shards of a run with a different config

    def fingerprint(self) -> str:
        """What the shards depend on: resuming is only allowed into a run with the same fingerprint. Gates and
        rebalancing run over all shards at the end, so changing them (or concurrency, cost) keeps the shards."""
        from data_gen.synthetic import GENERATOR_VERSION

        keep = self.model_dump(mode="json", include={"source", "teacher", "embedder", "pipeline", "guards",
                                                     "prompt_styles", "seed", "self_consistency",
                                                     "self_consistency_temperature"})
        keep.update(prompt_version=PROMPT_VERSION, generator_version=GENERATOR_VERSION)
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------- units
def _units(cfg: GenerateConfig) -> list[dict[str, Any]]:
    """Each unit is one conversation: {'id', 'split', 'kind', payload}."""
    src = cfg.source
    if src.kind == "synthetic":
        from data_gen.synthetic import generate_worlds

        return [{"id": w.world_id, "split": split, "world": w}
                for split, n in src.worlds.items() for w in generate_worlds(n, cfg.seed, split, src.n_sessions)]
    if not src.path:
        raise ValueError(f"source.path is required for source.kind={src.kind}")
    if src.kind == "jsonl":
        from data_gen.dialogues import load_dialogues  # checked: traces need dated sessions

        convs = load_dialogues(src.path)
    else:
        from memmgr.conversations import load_locomo_conversations

        convs = load_locomo_conversations(src.path)
    if src.samples:
        convs = [c for c in convs if c.conversation_id in src.samples]
    return [{"id": c.conversation_id, "split": src.split_of.get(c.conversation_id) or _hash_split(c.conversation_id),
             "conversation": c} for c in convs]


def _hash_split(cid: str) -> str:
    h = int(hashlib.md5(cid.encode()).hexdigest(), 16) % 10
    return "train" if h < 8 else "validation" if h == 8 else "test"


def _make_teacher(cfg: GenerateConfig, unit: dict[str, Any], shared: dict[str, Any]) -> Any:
    if cfg.teacher == "oracle":
        if "world" not in unit:
            raise ValueError("the oracle teacher needs the synthetic source")
        from data_gen.oracle import OracleBackend

        return OracleBackend([unit["world"]])
    if "backend" not in shared:  # one model instance for all units (loading is the expensive part)
        from memmgr.backends import make_backend

        backend = make_backend(cfg.teacher)
        if cfg.concurrency > 1 and hasattr(backend, "generate_batch"):
            # offline engines (vLLM, transformers): calls of concurrent conversations go out as one batch
            from data_gen.batching import BatchingBackend

            backend = BatchingBackend(backend, max_batch=cfg.concurrency, max_wait_s=cfg.batch_wait_s)
        if cfg.self_consistency > 1:
            from data_gen.consistency import SelfConsistentBackend

            backend = SelfConsistentBackend(backend, cfg.self_consistency, cfg.self_consistency_temperature)
        shared["backend"] = backend
    return shared["backend"]


def _memory(cfg: GenerateConfig, teacher: Any) -> Any:
    from memmgr.memory import Memory

    mcfg = MemoryConfig(manager=cfg.teacher if isinstance(cfg.teacher, BackendConfig) else BackendConfig(),
                        embedder=cfg.embedder, pipeline=cfg.pipeline, guards=cfg.guards)
    return Memory(mcfg, manager=teacher, embedder=_shared_embedder(cfg))


_EMBEDDERS: dict[str, Any] = {}


def _shared_embedder(cfg: GenerateConfig) -> Any:
    from memmgr.embed import make_embedder

    key = cfg.embedder.model_dump_json()
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = make_embedder(cfg.embedder)
    return _EMBEDDERS[key]


# ---------------------------------------------------------------------------------------------- examples
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
    return isinstance(obj, dict) and isinstance(obj.get("memory"), list) and all(
        isinstance(o, dict) and isinstance(o.get("event"), str) for o in obj["memory"])


def _label_ops(call: ManagerCall) -> list[dict[str, Any]]:
    """The teacher's validated ops (small ids) minus any the pipeline rejected later (grounding, caps...)."""
    rejected = {(r.item.get("event"), r.item.get("id"), r.item.get("text")) for r in call.rejected
                if isinstance(r.item, dict)}
    ops = []
    for op in (call.parsed or {}).get("memory", []):
        if (op["event"], op.get("id"), op["text"]) in rejected:
            continue
        ops.append({k: v for k, v in op.items() if v is not None})
    return ops


def call_to_examples(call: ManagerCall, unit: dict[str, Any], cfg: GenerateConfig) -> list[dict[str, Any]]:
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
    teacher = "oracle" if cfg.teacher == "oracle" else call.backend
    out = []
    for style in cfg.prompt_styles:
        prompt = render_messages_for_style(call.messages, call.stage, style)
        completion = [{"role": "assistant", "content": label}]
        out.append({
            "messages": prompt + completion, "prompt": prompt, "completion": completion, "stage": call.stage,
            "label": label, "shown_memories": json.dumps(shown, ensure_ascii=False),
            "source_texts": json.dumps(call.context.get("source_texts", []), ensure_ascii=False),
            "gold_after": gold_after, "conversation_id": unit["id"], "pair_id": str(call.context.get("pair_id", "")),
            "teacher": teacher, "teacher_raw": call.raw_output[:4000], "prompt_version": PROMPT_VERSION,
            "prompt_style": style, "source": cfg.source.kind, "split": unit["split"],
            "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
            "teacher_rejected": len(call.rejected),
            "teacher_schema_ok": teacher_schema_ok(call.raw_output or "", call.stage),
        })
    return out


def run_unit(unit: dict[str, Any], cfg: GenerateConfig, shared: dict[str, Any]) -> tuple[list[dict], dict]:
    """Feed one conversation through the pipeline; returns its examples and usage."""
    teacher = _make_teacher(cfg, unit, shared)
    mem = _memory(cfg, teacher)
    calls: list[ManagerCall] = []
    mem.trace_hooks.append(calls.append)
    if "world" in unit:
        w = unit["world"]
        feed = [(p.messages, w.user_id, p.pair_id) for p in w.pairs]
    else:
        conv = unit["conversation"]
        # one memory scope per conversation: a second scope per speaker (Mem0's LOCOMO eval) would see the very
        # same prompts, paying the teacher twice for duplicate examples
        feed = [(msgs, conv.conversation_id, f"{conv.conversation_id}:{i}")
                for i, (msgs, _ts) in enumerate(conv.message_pairs(cfg.source.max_sessions))]
    if cfg.source.max_pairs:
        feed = feed[: cfg.source.max_pairs]
    for msgs, user_id, pair_id in feed:
        texts = [f"{m.name or m.role}: {m.content}" for m in msgs]
        mem.add(msgs, user_id=user_id, timestamp=msgs[0].timestamp,
                trace_context={"pair_id": pair_id, "source_texts": texts, "conversation_id": unit["id"]})
    mem.close()
    examples = [ex for c in calls for ex in call_to_examples(c, unit, cfg)]
    usage = {"calls": len(calls), "prompt_tokens": sum(c.prompt_tokens for c in calls),
             "completion_tokens": sum(c.completion_tokens for c in calls),
             "invalid": sum(1 for c in calls if not c.valid),
             "rejections": dict(Counter(r.reason for c in calls for r in c.rejected)),
             # oracle fallbacks: gold target not among the shown memories / a prompt the gold does not cover
             "oracle_missing_targets": getattr(teacher, "missing_targets", 0),
             "oracle_unknown_prompts": getattr(teacher, "unknown_prompts", 0)}
    return examples, usage


# -------------------------------------------------------------------------------------- shards + manifest
class ShardWriter:
    """Append-only shards + a manifest of finished units: crash-safe resume without duplicates."""

    def __init__(self, out: Path, fingerprint: str = "", overwrite: bool = False):
        self.dir = out / "shards"
        self.manifest_path = out / "manifest.json"
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text())
            if manifest.get("fingerprint") != fingerprint:
                if not overwrite:
                    raise ValueError(f"{out} holds shards of a run with another config (fingerprint "
                                     f"{manifest.get('fingerprint')} != {fingerprint}): pick a new output_dir or "
                                     "pass --overwrite true")
                log.warning("overwriting %s (config changed)", out)
                self.manifest_path.unlink()
                shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest = json.loads(self.manifest_path.read_text()) if self.manifest_path.exists() else {
            "units": {}, "prompt_version": PROMPT_VERSION, "fingerprint": fingerprint}

    def done(self, unit_id: str) -> bool:
        return unit_id in self.manifest["units"]

    def write(self, unit_id: str, examples: list[dict], usage: dict) -> None:
        name = f"{len(self.manifest['units']):06d}-{hashlib.md5(unit_id.encode()).hexdigest()[:8]}.jsonl"
        tmp = self.dir / (name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
        os.replace(tmp, self.dir / name)  # the shard appears whole or not at all
        self.manifest["units"][unit_id] = {"shard": name, "examples": len(examples), **usage}
        tmp_m = self.manifest_path.with_suffix(".tmp")
        tmp_m.write_text(json.dumps(self.manifest, indent=1))
        os.replace(tmp_m, self.manifest_path)

    def examples(self) -> list[dict]:
        out = []
        for info in self.manifest["units"].values():
            with (self.dir / info["shard"]).open(encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f if line.strip())
        return out


async def _run_all(units: list[dict], cfg: GenerateConfig, writer: ShardWriter, pbar: Any) -> None:
    sem = asyncio.Semaphore(max(1, cfg.concurrency))
    shared: dict[str, Any] = {}
    lock = asyncio.Lock()
    totals = Counter()

    async def one(unit: dict) -> None:
        async with sem:
            examples, usage = await asyncio.to_thread(run_unit, unit, cfg, shared)
        async with lock:
            writer.write(unit["id"], examples, usage)
            totals.update({"prompt": usage["prompt_tokens"], "completion": usage["completion_tokens"]})
            cost = sum(totals[k] * cfg.cost_per_million_tokens.get(k, 0.0) / 1e6 for k in ("prompt", "completion"))
            pbar.set_postfix(tokens=totals["prompt"] + totals["completion"], cost=f"${cost:.2f}")
            pbar.update(1)

    await asyncio.gather(*(one(u) for u in units))


# ------------------------------------------------------------------------------------ gates and dataset
def quality_gates(examples: list[dict], cfg: GenerateConfig) -> tuple[list[dict], dict[str, int]]:
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
        if ex["stage"] == "extract" and ex.get("teacher_rejected") and not json.loads(ex["label"])["facts"]:
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
    stats: dict[str, Any] = {}
    for split in sorted({e["split"] for e in examples}):
        part = [e for e in examples if e["split"] == split]
        ops = Counter(o["event"] for e in part if e["stage"] == "update" for o in json.loads(e["label"])["memory"])
        stats[split] = {"examples": len(part), "extract": sum(1 for e in part if e["stage"] == "extract"),
                        "update": sum(1 for e in part if e["stage"] == "update"),
                        "conversations": len({e["conversation_id"] for e in part}), "ops": dict(ops),
                        "mean_prompt_chars": sum(len(e["prompt"][-1]["content"]) + len(e["prompt"][0]["content"])
                                                 for e in part) / max(len(part), 1),
                        # the teacher's usage for the call behind each example (the oracle counts words)
                        "mean_prompt_tokens": sum(e.get("prompt_tokens", 0) for e in part) / max(len(part), 1),
                        "mean_completion_tokens": sum(e.get("completion_tokens", 0) for e in part) / max(len(part), 1)}
    return stats


def build_dataset(examples: list[dict], out: Path, cfg: GenerateConfig, meta: dict[str, Any]) -> dict[str, Any]:
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
    teacher = "oracle (synthetic gold)" if cfg.teacher == "oracle" else f"{cfg.teacher.backend}:{cfg.teacher.model}"
    lines = ["# memmgr manager traces", "", f"- source: {cfg.source.kind}", f"- teacher: {teacher}",
             f"- prompt version: {PROMPT_VERSION}; prompt styles: {', '.join(cfg.prompt_styles)}",
             f"- wall time: {stats.get('wall_s', 0):.1f} s; dropped: {stats.get('dropped')}",
             f"- teacher calls: {stats.get('manager_calls', 0)} ({stats.get('invalid_teacher_outputs', 0)} invalid); "
             f"tokens: {stats.get('prompt_tokens', 0)} prompt + {stats.get('completion_tokens', 0)} completion; "
             f"teacher rejections: {stats.get('teacher_rejections')}",
             f"- oracle fallbacks: {stats.get('oracle_missing_targets', 0)} targets not shown, "
             f"{stats.get('oracle_unknown_prompts', 0)} prompts without gold", "",
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


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    from tqdm import tqdm

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    t0 = time.perf_counter()
    writer = ShardWriter(out, cfg.fingerprint(), cfg.overwrite)
    units = _units(cfg)
    # import and build shared pieces here, not in worker threads: concurrent imports/compiles in threads trip
    # a CPython 3.11 AST bug, and the embedder should load once
    import data_gen.oracle  # noqa: F401
    import memmgr.memory  # noqa: F401

    _shared_embedder(cfg)
    todo = [u for u in units if not writer.done(u["id"])]
    log.info("%d units (%d already done)", len(units), len(units) - len(todo))
    with tqdm(total=len(units), initial=len(units) - len(todo), desc="traces", unit="conv") as pbar:
        asyncio.run(_run_all(todo, cfg, writer, pbar))
    examples, dropped = quality_gates(writer.examples(), cfg)
    usage = writer.manifest["units"].values()
    meta = {"wall_s": time.perf_counter() - t0, "dropped": dropped, "units": len(units),
            "manager_calls": sum(u["calls"] for u in usage), "invalid_teacher_outputs": sum(u["invalid"] for u in usage),
            "prompt_tokens": sum(u["prompt_tokens"] for u in usage),
            "completion_tokens": sum(u["completion_tokens"] for u in usage),
            "teacher_rejections": dict(sum((Counter(u["rejections"]) for u in usage), Counter())),
            "oracle_missing_targets": sum(u.get("oracle_missing_targets", 0) for u in usage),
            "oracle_unknown_prompts": sum(u.get("oracle_unknown_prompts", 0) for u in usage)}
    stats = build_dataset(examples, out, cfg, meta)
    log.info("wrote %s: %s", out, json.dumps(stats["splits"]))
    return stats


def _parse_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def load_config(path: str | None, overrides: list[str]) -> GenerateConfig:
    values: dict[str, Any] = yaml.safe_load(Path(path).read_text()) if path else {}
    values = values or {}
    it = iter(overrides)
    for key in it:
        if not key.startswith("--"):
            raise SystemExit(f"expected --key value, got {key!r}")
        val = _parse_value(next(it, "true"))
        node = values
        parts = key[2:].split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = val
    return GenerateConfig.model_validate(values)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="configs/data_gen/<name>.yaml")
    args, rest = ap.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cfg = load_config(args.config, rest)
    stats = generate(cfg)
    print(json.dumps(stats["splits"], indent=2))
    return stats


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
