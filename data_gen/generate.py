"""Teacher trace generation: run the real memmgr pipeline with a teacher manager over a conversation source and turn
every manager call into a labelled chat example.

    python -m data_gen.generate --config configs/data_gen/synthetic_oracle.yaml [--key value ...]
    python -m data_gen.generate --config configs/data_gen/locomo_local.yaml --source.max_sessions 2

Sources: synthetic gold worlds (with the oracle teacher, labels are gold), LOCOMO JSON, dialogue JSONL. Teachers:
the oracle or any memmgr backend (OpenAI-compatible endpoint, vLLM, transformers). Units (a world / conversation)
run concurrently up to `concurrency`; each finished unit is appended as one shard and recorded in the manifest, so
a killed run resumes where it stopped with nothing duplicated or lost. Output: a `datasets.DatasetDict`
(train/validation/test split by conversation) saved to disk, one JSONL per split, `stats.json` and a dataset card.

This file holds the config (`GenerateConfig`, `load_config`), the run (`generate`) and the CLI (`main`); the parts
live next to it: `sources.py` (units, splits, teacher, memory), `recorder.py` (manager calls -> examples),
`shards.py` (shards + manifest, resume), `gates.py` (quality gates, NOOP rebalance, op stats), `card.py` (dataset
files and card).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from data_gen.card import build_dataset
from data_gen.gates import quality_gates
from data_gen.recorder import run_unit
from data_gen.shards import ShardWriter
from data_gen.sources import load_units, shared_embedder
from memmgr import settings
from memmgr.config import BackendConfig, EmbedderConfig, GraphConfig, GuardConfig, PipelineConfig
from memmgr.prompts import PROMPT_VERSION
from memmgr.settings import Strict

log = logging.getLogger("data_gen.generate")


class SourceConfig(Strict):
    kind: Literal["synthetic", "life", "locomo", "jsonl"] = "synthetic"  # life: data_gen/life worlds
    path: str | None = None  # locomo10.json / dialogue JSONL
    worlds: dict[str, int] = Field(default_factory=lambda: {"train": 160, "validation": 20, "test": 20})
    n_sessions: tuple[int, int] = (3, 30)
    samples: list[str] | None = None  # LOCOMO/JSONL conversation ids to keep
    max_sessions: int | None = None
    max_pairs: int | None = None
    # synthetic / life worlds: feed each pair to both speakers' memory scopes (as Mem0 ingests LOCOMO, and as the
    # LOCOMO sources are fed), or to the main speaker's only
    world_scopes: Literal["both", "main"] = "both"
    # conversation id -> split for real sources; others go by a stable hash (80/10/10)
    split_of: dict[str, str] = Field(default_factory=lambda: {"conv-26": "train", "conv-30": "validation"})


class ObservationRule(Strict):
    """Thresholds of the `observations` teacher's update rule (data_gen/observations.py)."""

    # a shown memory is about the same thing as the fact when both hold (memmgr.scoring.match_facts)
    sim: float = 0.5  # embedding cosine >=
    overlap: float = 0.6  # content-word overlap coefficient >=


class GenerateConfig(Strict):
    source: SourceConfig = Field(default_factory=SourceConfig)
    # oracle: gold of synthetic worlds; observations: LOCOMO's annotations (LOCOMO source); or any backend
    teacher: BackendConfig | Literal["oracle", "observations"] = "oracle"
    observation_rule: ObservationRule = Field(default_factory=ObservationRule)
    embedder: EmbedderConfig = Field(default_factory=lambda: EmbedderConfig(provider="hash"))
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    # graph.mode "graph" / "both": graph-manager traces too (stages graph_*; the oracle answers them from the gold)
    graph: GraphConfig = Field(default_factory=GraphConfig)
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
        from data_gen.life import LIFE_VERSION
        from data_gen.synthetic import GENERATOR_VERSION

        keep = self.model_dump(mode="json", include={"source", "teacher", "observation_rule", "embedder", "pipeline", "guards",
                                                     "prompt_styles", "seed", "self_consistency",
                                                     "self_consistency_temperature"})
        keep.update(prompt_version=PROMPT_VERSION, generator_version=GENERATOR_VERSION)
        if self.source.kind == "life":  # only then, so that runs of the other sources keep resuming
            keep["life_version"] = LIFE_VERSION
        if self.graph.mode != "vector":  # likewise: vector-only runs keep their fingerprint
            from memmgr.graph.prompts import GRAPH_PROMPT_VERSION

            keep.update(graph=self.graph.model_dump(mode="json"), graph_prompt_version=GRAPH_PROMPT_VERSION)
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def load_config(path: str | None, overrides: list[str]) -> GenerateConfig:
    """The YAML at `path` (defaults without one) with `--dotted.key value` / `--dotted.key=value` overrides (the
    grammar of `memmgr.settings`); raises `memmgr.settings.ConfigError` with a one-line message."""
    return settings.load_config(GenerateConfig, path, overrides)


async def _run_all(units: list[dict], cfg: GenerateConfig, writer: ShardWriter, pbar: Any) -> None:
    """Run units `cfg.concurrency` at a time in worker threads; each one is written as a shard when it finishes."""
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


def generate(cfg: GenerateConfig) -> dict[str, Any]:
    """Run (or resume) the units missing from `cfg.output_dir`, gate all shards and write the dataset; returns
    the stats."""
    from tqdm import tqdm

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    t0 = time.perf_counter()
    writer = ShardWriter(out, cfg.fingerprint(), cfg.overwrite)
    units = load_units(cfg)
    # import and build shared pieces here, not in worker threads: concurrent imports/compiles in threads trip
    # a CPython 3.11 AST bug, and the embedder should load once
    import data_gen.oracle  # noqa: F401
    import memmgr.memory  # noqa: F401

    shared_embedder(cfg)
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
            "oracle_unknown_prompts": sum(u.get("oracle_unknown_prompts", 0) for u in usage),
            "undecided_calls_dropped": sum(u.get("undecided_calls_dropped", 0) for u in usage),
            "teacher_decisions": dict(sum((Counter(u.get("teacher_decisions") or {}) for u in usage), Counter()))}
    stats = build_dataset(examples, out, cfg, meta)
    log.info("wrote %s: %s", out, json.dumps(stats["splits"]))
    return stats


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="configs/data_gen/<name>.yaml")
    args, rest = ap.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        stats = generate(load_config(args.config, rest))
    except settings.ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps(stats["splits"], indent=2))
    return stats


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
