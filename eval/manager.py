"""The manager evaluator: how good and how cheap is a memory manager, without LOCOMO's answerer in the loop.

    python -m eval.manager --model smollm2 --adapter runs/sft/x --data data/synthetic_oracle/dataset --split test \
        --limit 200
    python -m eval.manager --model smollm2 --adapter runs/sft/x --data data/synthetic_graph_oracle/dataset --graph true \
        --limit 60                                  # the graph manager (Mem0g) on graph traces
    python -m eval.manager --model my_teacher.yaml --data worlds_test.jsonl --limit 5
    # my_teacher.yaml is a memmgr.config.BackendConfig, e.g. {backend: openai, model: gpt-4o-mini}

Options are config keys (`ManagerEvalConfig`; `--config FILE` plus `--key value` overrides, the grammar of
`memmgr.settings`). Two kinds of data:
- trace datasets (data_gen output: columns prompt/stage/label/shown_memories/gold_after...): each recorded manager
  prompt is answered by the model (`data_gen.traces.answer_rows`) and scored by `memmgr.scoring.score_row` /
  `aggregate` (the scorers the GRPO rewards use): JSON validity (strict: exactly the documented object) and
  parseable rate (the lenient parser recovered an answer), op accuracy, per-op
  precision/recall/F1 and macro-F1, id accuracy, hallucinated-id rate, fact P/R/F1, outcome F1, latency and tokens;
- synthetic gold worlds (data_gen.synthetic JSONL): the whole pipeline runs with the manager, then the final memory
  state is scored against the gold state (P/R/F1) and the worlds' QA probes are answered from the memories.
Prompts: `prompt_style` re-renders the recorded prompts; unset, a trained manager gets the style its manager card
names (memmgr.manager_card) and an untrained one the prompts as recorded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from memmgr.qa_metrics import mean, normalize_answer, percentile, token_f1
from memmgr.scoring import aggregate, pooled_fact_match, score_row, state_scores
from memmgr.settings import ConfigError, Strict

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- data kinds
def _is_world(x: Any) -> bool:
    return (hasattr(x, "pairs") and hasattr(x, "final_state")) or (isinstance(x, dict) and "final_state" in x)


def load_data(data: Any, *, split: str = "test", limit: int | None = None, seed: int = 0,
              source: str | None = None, graph: bool = False) -> tuple[str, list]:
    """('worlds', [World]) or ('traces', [row dict]) from a path, a list, or a datasets.Dataset."""
    if isinstance(data, (str, Path)):
        p = Path(data)
        if not p.exists():
            raise ConfigError(f"no data at {p}")
        if p.is_file() and p.suffix in (".jsonl", ".json"):
            with p.open(encoding="utf-8") as f:
                first = next((json.loads(line) for line in f if line.strip()), {})
            if _is_world(first):
                if graph:
                    raise ConfigError("graph: true scores graph trace rows; worlds: python -m data_gen.graph_oracle")
                from data_gen.synthetic import load_worlds

                worlds = load_worlds(p)
                return "worlds", worlds[:limit] if limit else worlds
        from data_gen.traces import eval_rows

        return "traces", eval_rows(p, split, limit, seed, source, graph=graph)
    items = list(data)
    if items and _is_world(items[0]):
        if isinstance(items[0], dict):
            from data_gen.synthetic import World

            items = [World.model_validate(w) for w in items]
        return "worlds", items[:limit] if limit else items
    return "traces", items[:limit] if limit else items


# ----------------------------------------------------------------------------------------------- traces
def evaluate_traces(backend: Any, rows: Sequence[dict[str, Any]], *, prompt_style: str | None = None,
                    max_tokens: int = 256, progress: bool = True, match_embedder: Any = None) -> dict[str, Any]:
    """Answer every recorded manager prompt (greedy) and score it against the row's label; with a `match_embedder`
    also the extracted facts against the gold ones by eval.transfer's matcher (`fact_match_recall`/`_rate`)."""
    from data_gen.traces import answer_rows
    from memmgr.manager_card import resolve_prompt_style

    trained = getattr(backend, "prompt_style", None)
    style = resolve_prompt_style(prompt_style, trained, backend.name) if (prompt_style or trained) else None
    t0 = time.perf_counter()
    gens, latencies = answer_rows(backend, rows, prompt_style=style, max_tokens=max_tokens, progress=progress)
    wall = time.perf_counter() - t0
    scores = [score_row(r, g.text) for r, g in zip(rows, gens, strict=True)]
    out = aggregate(scores)
    for stage, metrics in out.get("graph", {}).items():  # flat keys too, for the table (GRAPH_COLUMNS)
        out.update({f"{stage}_{k}": v for k, v in metrics.items()})
    if match_embedder is not None:
        out.update(pooled_fact_match(rows, [g.text for g in gens], match_embedder))
    sources = sorted({r["mix_source"] for r in rows if r.get("mix_source")})
    if len(sources) > 1:  # a mixed dataset (data_gen.mix): the same scores, broken down by source
        out["by_source"] = {}
        for s in sources:
            mine = [i for i, r in enumerate(rows) if r.get("mix_source") == s]
            out["by_source"][s] = aggregate([scores[i] for i in mine])
            if match_embedder is not None:
                out["by_source"][s].update(pooled_fact_match([rows[i] for i in mine], [gens[i].text for i in mine],
                                                             match_embedder))
    n_completion = sum(g.completion_tokens for g in gens)
    out.update({
        "prompt_style": style or "as recorded",
        "latency_p50": percentile(latencies, 50), "latency_p95": percentile(latencies, 95),
        "prompt_tokens_per_call": mean(g.prompt_tokens for g in gens),
        "completion_tokens_per_call": mean(g.completion_tokens for g in gens),
        "completion_tokens_per_s": n_completion / wall if wall else None,
    })
    samples = [{"pair_id": r.get("pair_id"), "stage": r["stage"], "label": r.get("label"), "output": g.text[:2000],
                "latency_s": lat, **{k: v for k, v in s.items() if k != "stage"}}
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
                     memory_config: Any = None, embedder: Any = None, seed: int = 0, progress: bool = True,
                     source: str | None = None, match_embedder: Any = None, graph: bool = False) -> dict[str, Any]:
    """Manager metrics of `backend` on a trace dataset or synthetic worlds (path, list or Dataset); `graph`: the
    dataset's graph-manager rows instead of its vector-manager rows.

    Returns {"kind": "traces"|"worlds", "metrics": {...}, "samples": [...], "backend": name, "n": ...}."""
    kind, items = load_data(dataset_or_worlds, split=split, limit=limit, seed=seed, source=source, graph=graph)
    if not items:
        raise ValueError(f"no {kind} to evaluate in {dataset_or_worlds!r}")
    t0 = time.perf_counter()
    if kind == "traces":
        res = evaluate_traces(backend, items, prompt_style=prompt_style, max_tokens=max_tokens, progress=progress,
                              match_embedder=match_embedder)
    else:
        res = evaluate_worlds(backend, items, answerer=answerer, memory_config=memory_config, embedder=embedder,
                              progress=progress)
    return {"kind": kind, "backend": backend.name, "n": len(items), "wall_s": time.perf_counter() - t0, **res}


# ------------------------------------------------------------------------------------------------------ CLI
class ManagerEvalConfig(Strict):
    model: str  # backend config YAML, 'module.path:Class', or a model for the transformers backend
    data: str  # trace dataset (DatasetDict folder / JSONL) or synthetic worlds JSONL
    adapter: str | None = None
    split: str = "test"
    limit: int | None = None  # rows (balanced extract/update) or worlds
    source: str | None = None  # rows of this source only, in a mixed dataset (data_gen.mix's mix_source column)
    prompt_style: Literal["teacher", "student"] | None = None  # None = the manager card's, else as recorded
    max_tokens: int = 256
    batch_size: int = 8
    seed: int = 0
    embedder: Literal["sentence-transformers", "hash"] = "sentence-transformers"
    fact_match: bool = True  # traces: also score extracted facts with eval.transfer's matcher (the embedder above)
    graph: bool = False  # traces: score the graph manager on the graph_* rows (entities / relations / resolve)
    cache_dir: str | None = None  # LLM disk cache folder (off by default)
    name: str | None = None  # task name in the results (default manager_<kind>)
    output_dir: str = "outputs/eval/manager"


def backend_from_arg(model: str, adapter: str | None = None, max_tokens: int = 256, batch_size: int = 8) -> Any:
    """A YAML/JSON BackendConfig file, 'module.path:Class', or a model for the transformers backend."""
    from memmgr.backends import make_backend
    from memmgr.config import BackendConfig
    from memmgr.settings import build, load_yaml

    p = Path(model)
    if p.is_file() and p.suffix in (".yaml", ".yml", ".json"):
        return make_backend(build(BackendConfig, load_yaml(p), str(p)))
    if ":" in model and not p.exists():
        return make_backend(BackendConfig(backend=model, model=model))
    extra: dict[str, Any] = {"batch_size": batch_size}
    if adapter:
        extra["adapter"] = adapter
    return make_backend(BackendConfig(backend="transformers", model=model, max_tokens=max_tokens, extra=extra))


TRACE_COLUMNS = (("n", "n", "{:.0f}"), ("JSON valid", "json_validity", "{:.3f}"),
                 ("parseable", "parseable_rate", "{:.3f}"), ("op acc", "op_accuracy", "{:.3f}"),
                 ("op macro-F1", "op_macro_f1", "{:.3f}"), ("id acc", "id_accuracy", "{:.3f}"),
                 ("halluc. id rate", "hallucinated_id_rate", "{:.3f}"), ("fact P", "fact_precision", "{:.3f}"),
                 ("fact R", "fact_recall", "{:.3f}"), ("fact F1", "fact_f1", "{:.3f}"),
                 ("fact match R", "fact_match_recall", "{:.3f}"), ("fact match rate", "fact_match_rate", "{:.3f}"),
                 ("outcome F1", "outcome_f1", "{:.3f}"), ("change F1", "change_f1", "{:.3f}"), ("latency p50 s", "latency_p50", "{:.2f}"),
                 ("latency p95 s", "latency_p95", "{:.2f}"), ("prompt tok/call", "prompt_tokens_per_call", "{:.0f}"),
                 ("compl. tok/call", "completion_tokens_per_call", "{:.0f}"))
GRAPH_COLUMNS = (("n", "n", "{:.0f}"), ("entities JSON valid", "graph_entities_json_validity", "{:.3f}"),
                 ("entities F1", "graph_entities_f1", "{:.3f}"), ("type acc", "graph_entities_type_accuracy", "{:.3f}"),
                 ("relations JSON valid", "graph_relations_json_validity", "{:.3f}"),
                 ("relations P", "graph_relations_precision", "{:.3f}"),
                 ("relations R", "graph_relations_recall", "{:.3f}"), ("relations F1", "graph_relations_f1", "{:.3f}"),
                 ("resolve JSON valid", "graph_resolve_json_validity", "{:.3f}"),
                 ("resolve F1", "graph_resolve_f1", "{:.3f}"), ("resolve exact", "graph_resolve_exact", "{:.3f}"),
                 ("latency p50 s", "latency_p50", "{:.2f}"), ("prompt tok/call", "prompt_tokens_per_call", "{:.0f}"))
WORLD_COLUMNS = (("worlds", "n_worlds", "{:.0f}"), ("state P", "state_precision", "{:.3f}"),
                 ("state R", "state_recall", "{:.3f}"), ("state F1", "state_f1", "{:.3f}"),
                 ("QA acc", "qa_accuracy", "{:.3f}"), ("QA F1", "qa_f1", "{:.3f}"),
                 ("mgr calls/world", "manager_calls", "{:.0f}"), ("rejected ops/world", "rejected_ops", "{:.1f}"),
                 ("latency p50 s", "latency_p50", "{:.2f}"))


def run(cfg: ManagerEvalConfig) -> dict[str, Any]:
    """Evaluate, write results + samples + Markdown under cfg.output_dir; returns the result with `paths`."""
    backend = backend_from_arg(cfg.model, cfg.adapter, cfg.max_tokens, cfg.batch_size)
    if cfg.cache_dir:
        from eval.cache import CachedBackend

        backend = CachedBackend(backend, cfg.cache_dir)
    embedder = None  # one embedder for the fact match (traces) and the pipeline's memory (worlds)
    if cfg.fact_match and not cfg.graph:  # the fact match scores extraction rows; graph rows have none
        from memmgr.config import EmbedderConfig
        from memmgr.embed import make_embedder

        embedder = make_embedder(EmbedderConfig(provider=cfg.embedder))
    res = evaluate_manager(backend, cfg.data, cfg.limit, split=cfg.split, prompt_style=cfg.prompt_style,
                           max_tokens=cfg.max_tokens, seed=cfg.seed, source=cfg.source,
                           memory_config={"embedder": {"provider": cfg.embedder}}, embedder=embedder,
                           match_embedder=embedder, graph=cfg.graph)
    from eval.report import write_report

    task = cfg.name or f"manager_{'graph_' if cfg.graph else ''}{res['kind']}"
    meta = {"config": {**cfg.model_dump(), "name": task}, "backends": {"manager": backend.name}, "data": cfg.data,
            "cache": backend.stats() if hasattr(backend, "stats") else None, "wall_s": res["wall_s"]}
    cols = WORLD_COLUMNS if res["kind"] == "worlds" else GRAPH_COLUMNS if cfg.graph else TRACE_COLUMNS
    paths = write_report({task: {**res["metrics"], "n": res["n"]}}, {task: res["samples"]}, meta, cfg.output_dir,
                         plots=False, columns=cols)
    return {**res, "task": task, "paths": paths}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from eval.report import run_command

    res = run_command(ManagerEvalConfig, argv, __doc__, run)
    print(res["paths"]["markdown_text"])
    per_op = res["metrics"].get("per_op") or {}
    if per_op:
        print("\nper-op P/R/F1: " + ", ".join(f"{k} {v['precision']:.2f}/{v['recall']:.2f}/{v['f1']:.2f} "
                                                f"(n={v['support']})" for k, v in per_op.items()))
    print(f"\nresults: {res['paths']['results']}")
    return res


if __name__ == "__main__":
    main()
