"""Manager-level evaluation: how good and how cheap is a memory manager, without LOCOMO's answerer in the loop.

    python -m eval.manager --model smollm2 --data data/synthetic_oracle --split test --limit 200
    python -m eval.manager --model configs/eval/manager_backend.yaml --data worlds_test.jsonl --limit 5

Two kinds of data:
- trace datasets (data_gen output: columns prompt/stage/label/shown_memories/gold_after...): each recorded manager
  prompt is answered by the model and scored with `memmgr.scoring` through `train.evaluate.score_row` (the same
  scorers the GRPO rewards use): JSON validity, op accuracy, per-op precision/recall/F1 and macro-F1, id accuracy,
  hallucinated-id rate, fact P/R/F1, outcome F1, latency and tokens;
- synthetic gold worlds (data_gen.worlds JSONL): the whole pipeline runs with the manager, then the final memory
  state is scored against the gold state (P/R/F1) and the worlds' QA probes are answered from the memories.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.qa_metrics import mean, normalize_answer, percentile, token_f1
from memmgr.scoring import per_op_f1, state_scores

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- data kinds
def _is_world(x: Any) -> bool:
    return (hasattr(x, "pairs") and hasattr(x, "final_state")) or (isinstance(x, dict) and "final_state" in x)


def load_data(data: Any, *, split: str = "test", limit: int | None = None, seed: int = 0) -> tuple[str, list]:
    """('worlds', [World]) or ('traces', [row dict]) from a path, a list, or a datasets.Dataset."""
    if isinstance(data, (str, Path)):
        p = Path(data)
        if p.is_file() and p.suffix in (".jsonl", ".json"):
            with p.open(encoding="utf-8") as f:
                first = next((json.loads(line) for line in f if line.strip()), {})
            if _is_world(first):
                from data_gen.worlds import load_worlds

                worlds = load_worlds(p)
                return "worlds", worlds[:limit] if limit else worlds
        from train.data import load_traces, mix_stages

        ds = load_traces(p)
        if split not in ds:
            raise ValueError(f"{p} has no split {split!r} (has {sorted(ds)})")
        ds = mix_stages(ds[split], 0.5 if limit else None, seed=seed, max_samples=limit)
        return "traces", list(ds)
    items = list(data)
    if items and _is_world(items[0]):
        if isinstance(items[0], dict):
            from data_gen.worlds import World

            items = [World.model_validate(w) for w in items]
        return "worlds", items[:limit] if limit else items
    return "traces", items[:limit] if limit else items


# ----------------------------------------------------------------------------------------------- traces
def evaluate_traces(backend: Any, rows: Sequence[dict[str, Any]], *, prompt_style: str | None = None,
                    max_tokens: int = 256, progress: bool = True) -> dict[str, Any]:
    """Answer every recorded manager prompt (greedy) and score it against the row's label."""
    from tqdm import tqdm

    from memmgr.backends.base import generate_batch
    from memmgr.prompts import render_messages_for_style
    from train.evaluate import aggregate, score_row

    prompts = [render_messages_for_style(r["prompt"], r["stage"], prompt_style) if prompt_style else r["prompt"]
               for r in rows]
    bs = max(1, int(getattr(backend, "batch_size", 1)))
    gens, latencies = [], []
    for i in tqdm(range(0, len(prompts), bs), desc=f"manager {backend.name}", unit="batch", disable=not progress):
        t0 = time.perf_counter()
        chunk = generate_batch(backend, prompts[i:i + bs], max_tokens=max_tokens, temperature=0.0)
        wall = (time.perf_counter() - t0) / max(len(chunk), 1)
        gens.extend(chunk)
        # a batched backend reports the batch's latency per item; fall back to the measured share of the wall time
        latencies.extend(g.latency_s or wall for g in chunk)
    scores = [score_row(r, g.text) for r, g in zip(rows, gens, strict=True)]
    out = aggregate(scores)
    pairs = [p for s in scores if s["stage"] == "update" for p in s["pairs"]]
    out["per_op"] = {k: v for k, v in per_op_f1(pairs).items() if k != "macro_f1"} if pairs else {}
    out.update({
        "latency_p50": percentile(latencies, 50), "latency_p95": percentile(latencies, 95),
        "prompt_tokens_per_call": mean(g.prompt_tokens for g in gens),
        "completion_tokens_per_call": mean(g.completion_tokens for g in gens),
    })
    samples = [{"stage": r["stage"], "label": r.get("label"), "output": g.text[:2000], "latency_s": lat,
                **{k: v for k, v in s.items() if k != "stage"}}
               for r, g, s, lat in zip(rows, gens, scores, latencies, strict=True)]
    return {"metrics": out, "samples": samples}


# ----------------------------------------------------------------------------------------------- worlds
def _contains_answer(prediction: str, gold: str) -> float:
    """QA accuracy on probes: every normalised gold token appears in the prediction (answers are short values)."""
    g = normalize_answer(gold).split()
    return float(bool(g) and set(g) <= set(normalize_answer(prediction).split()))


def evaluate_worlds(backend: Any, worlds: Sequence[Any], *, answerer: Any = None, memory_config: Any = None,
                    embedder: Any = None, top_k: int = 10, progress: bool = True) -> dict[str, Any]:
    """Run the pipeline with `backend` as manager over each world, score the final state and answer the probes."""
    from tqdm import tqdm

    from memmgr.answer import answer
    from memmgr.config import MemoryConfig
    from memmgr.memory import Memory

    cfg = MemoryConfig.load(memory_config)
    answerer = answerer or backend
    per_world, samples = [], []
    for world in tqdm(worlds, desc=f"worlds {backend.name}", unit="world", disable=not progress):
        cost = {"manager_calls": 0, "manager_prompt_tokens": 0, "manager_completion_tokens": 0, "rejected_ops": 0,
                "invalid_outputs": 0}
        latencies: list[float] = []

        def hook(call: Any, cost: dict[str, int] = cost, latencies: list[float] = latencies) -> None:
            cost["manager_calls"] += 1
            cost["manager_prompt_tokens"] += call.prompt_tokens
            cost["manager_completion_tokens"] += call.completion_tokens
            cost["rejected_ops"] += len(call.rejected)
            cost["invalid_outputs"] += int(not call.valid)
            latencies.append(call.latency_s)

        mem = Memory(cfg, manager=backend, embedder=embedder, trace_hooks=[hook])
        mem.reset()
        for pair in world.pairs:
            mem.add(pair.messages, user_id=world.user_id, trace_context={"world_id": world.world_id})
        final = [m["memory"] for m in mem.get_all(user_id=world.user_id)["results"]]
        state = state_scores(final, world.final_state)
        qa_rows = []
        for q in world.qa:
            hits = mem.search(q["question"], user_id=world.user_id, limit=top_k)["results"]
            gen = answer(answerer, q["question"], " and ".join(world.speakers), hits)
            qa_rows.append({"question": q["question"], "gold": q["answer"], "category": q.get("category"),
                            "prediction": gen.text, "qa_accuracy": _contains_answer(gen.text, q["answer"]),
                            "qa_f1": token_f1(gen.text, q["answer"])})
        mem.close()
        per_world.append({"world_id": world.world_id, **{f"state_{k}": v for k, v in state.items()}, **cost,
                          "memories": len(final), "gold_memories": len(world.final_state),
                          "latency_p50": percentile(latencies, 50), "latency_p95": percentile(latencies, 95),
                          "qa_accuracy": mean(r["qa_accuracy"] for r in qa_rows),
                          "qa_f1": mean(r["qa_f1"] for r in qa_rows)})
        samples.extend({"world_id": world.world_id, **r} for r in qa_rows)
        samples.append({"world_id": world.world_id, "final_state": final, "gold_state": world.final_state,
                        **state})
    keys = [k for k in per_world[0] if k != "world_id"] if per_world else []
    metrics = {k: mean(w[k] for w in per_world) for k in keys}
    metrics["n_worlds"] = len(per_world)
    metrics["n_questions"] = sum(len(w.qa) for w in worlds)
    return {"metrics": metrics, "per_world": per_world, "samples": samples}


def evaluate_manager(backend: Any, dataset_or_worlds: Any, limit: int | None = None, *, split: str = "test",
                     prompt_style: str | None = None, max_tokens: int = 256, answerer: Any = None,
                     memory_config: Any = None, embedder: Any = None, seed: int = 0, progress: bool = True
                     ) -> dict[str, Any]:
    """Manager metrics of `backend` on a trace dataset or synthetic worlds (path, list or Dataset).

    Returns {"kind": "traces"|"worlds", "metrics": {...}, "samples": [...], "backend": name, "n": ...}."""
    kind, items = load_data(dataset_or_worlds, split=split, limit=limit, seed=seed)
    if not items:
        raise ValueError(f"no {kind} to evaluate in {dataset_or_worlds!r}")
    t0 = time.perf_counter()
    if kind == "traces":
        res = evaluate_traces(backend, items, prompt_style=prompt_style, max_tokens=max_tokens, progress=progress)
    else:
        res = evaluate_worlds(backend, items, answerer=answerer, memory_config=memory_config, embedder=embedder,
                              progress=progress)
    return {"kind": kind, "backend": backend.name, "n": len(items), "wall_s": time.perf_counter() - t0, **res}


# ------------------------------------------------------------------------------------------------------ CLI
def backend_from_arg(model: str, adapter: str | None = None, max_tokens: int = 256, batch_size: int = 8) -> Any:
    """A YAML/JSON BackendConfig file, 'module.path:Class', or a model for the transformers backend."""
    from memmgr.backends import make_backend
    from memmgr.config import BackendConfig

    p = Path(model)
    if p.is_file() and p.suffix in (".yaml", ".yml", ".json"):
        import yaml

        return make_backend(BackendConfig.model_validate(yaml.safe_load(p.read_text()) or {}))
    if ":" in model and not p.exists():
        return make_backend(BackendConfig(backend=model, model=model))
    extra: dict[str, Any] = {"batch_size": batch_size}
    if adapter:
        extra["adapter"] = adapter
    return make_backend(BackendConfig(backend="transformers", model=model, max_tokens=max_tokens, extra=extra))


TRACE_COLUMNS = (("n", "n", "{:.0f}"), ("JSON valid", "json_validity", "{:.3f}"), ("op acc", "op_accuracy", "{:.3f}"),
                 ("op macro-F1", "op_macro_f1", "{:.3f}"), ("id acc", "id_accuracy", "{:.3f}"),
                 ("halluc. id rate", "hallucinated_id_rate", "{:.3f}"), ("fact P", "fact_precision", "{:.3f}"),
                 ("fact R", "fact_recall", "{:.3f}"), ("fact F1", "fact_f1", "{:.3f}"),
                 ("outcome F1", "outcome_f1", "{:.3f}"), ("latency p50 s", "latency_p50", "{:.2f}"),
                 ("latency p95 s", "latency_p95", "{:.2f}"), ("prompt tok/call", "prompt_tokens_per_call", "{:.0f}"),
                 ("compl. tok/call", "completion_tokens_per_call", "{:.0f}"))
WORLD_COLUMNS = (("worlds", "n_worlds", "{:.0f}"), ("state P", "state_precision", "{:.3f}"),
                 ("state R", "state_recall", "{:.3f}"), ("state F1", "state_f1", "{:.3f}"),
                 ("QA acc", "qa_accuracy", "{:.3f}"), ("QA F1", "qa_f1", "{:.3f}"),
                 ("mgr calls/world", "manager_calls", "{:.0f}"), ("rejected ops/world", "rejected_ops", "{:.1f}"),
                 ("latency p50 s", "latency_p50", "{:.2f}"))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="manager-level evaluation on traces or synthetic worlds")
    ap.add_argument("--model", required=True, help="backend config YAML, module:Class, or model for transformers")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--data", required=True, help="trace dataset (DatasetDict folder / JSONL) or worlds JSONL")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="rows (balanced extract/update) or worlds")
    ap.add_argument("--prompt-style", default=None, choices=["teacher", "student"])
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--embedder", default="sentence-transformers", choices=["sentence-transformers", "hash"])
    ap.add_argument("--cache-dir", default=None, help="LLM disk cache folder (off by default)")
    ap.add_argument("--output-dir", default="outputs/eval/manager")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    backend = backend_from_arg(args.model, args.adapter, args.max_tokens, args.batch_size)
    if args.cache_dir:
        from eval.cache import CachedBackend

        backend = CachedBackend(backend, args.cache_dir)
    res = evaluate_manager(backend, args.data, args.limit, split=args.split, prompt_style=args.prompt_style,
                           max_tokens=args.max_tokens, memory_config={"embedder": {"provider": args.embedder}})
    from eval.report import write_report

    task = f"manager_{res['kind']}"
    meta = {"config": {"name": task, **vars(args)}, "backends": {"manager": backend.name}, "data": str(args.data),
            "cache": backend.stats() if hasattr(backend, "stats") else None, "wall_s": res["wall_s"]}
    cols = TRACE_COLUMNS if res["kind"] == "traces" else WORLD_COLUMNS
    paths = write_report({task: {**res["metrics"], "n": res["n"]}}, {task: res["samples"]}, meta,
                         args.output_dir, plots=False, columns=cols)
    print(paths["markdown_text"])
    if res["metrics"].get("per_op"):
        print("\nper-op P/R/F1: " + ", ".join(f"{k} {v['precision']:.2f}/{v['recall']:.2f}/{v['f1']:.2f} "
                                                f"(n={v['support']})" for k, v in res["metrics"]["per_op"].items()))
    print(f"\nresults: {paths['results']}")
    return {**res, "paths": paths}


if __name__ == "__main__":
    main()
