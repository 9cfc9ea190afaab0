"""Does the memory retrieve the answer? Vector, graph and vector+graph memory built by the oracle teacher on
synthetic gold worlds, probed with the worlds' QA (single-hop, multi-hop "before", temporal).

A probe is a hit when the gold answer (normalised) appears in what `search` returns for the question: the top-k
memories and/or relations (as "source relation destination" text; with `graph+history`, invalidated relations too,
with their validity interval). The managers are the oracle, so this measures the memory representation and
retrieval, not a model. No LLM answers here: that is eval.locomo's job.

    python -m eval.graph_retrieval --worlds 20 --split test [--embedder sentence-transformers]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from data_gen.graph_oracle import GraphOracleBackend
from data_gen.synthetic import World
from memmgr.graph.prompts import relation_line
from memmgr.qa_metrics import mean, percentile
from memmgr.sanitize import words
from memmgr.types import Scope

VARIANTS = ("vector", "graph", "graph+history", "both", "both+history")


def _norm(text: str) -> str:
    return " " + " ".join(words(text)) + " "


def run_world(world: World, variant: str, *, k: int = 10, embedder: str = "hash",
              shared: Any = None) -> list[dict[str, Any]]:
    """One row per QA probe: hit, category, context size, search latency. `shared`: an embedder to reuse."""
    from memmgr import Memory, MemoryConfig

    mode = variant.split("+")[0]
    cfg = {"embedder": {"provider": embedder}, "graph": {"mode": mode, "search_limit": k}}
    rows = []
    from memmgr.embed import CachedEmbedder

    # the model is shared, its cache is not: a variant must not find the queries embedded by the one before
    embed = CachedEmbedder(shared.inner) if shared is not None else None
    with Memory(MemoryConfig.load(cfg), manager=GraphOracleBackend([world]), embedder=embed) as mem:
        for p in world.pairs:
            mem.add(p.messages, user_id=world.user_id, timestamp=p.messages[0].timestamp)
        for qa in world.qa:
            t0 = time.perf_counter()
            found = mem.search(qa["question"], user_id=world.user_id, limit=k)
            if variant.endswith("+history"):
                found["relations"] = mem.graph.search(qa["question"], Scope(user_id=world.user_id), limit=k,
                                                      include_invalid=True)
            latency = time.perf_counter() - t0
            context = [m["memory"] for m in found["results"]] + [relation_line(r) for r in found.get("relations", [])]
            rows.append({"world_id": world.world_id, "category": qa["category"], "latency_s": latency,
                         "hit": _norm(qa["answer"]) in _norm(" | ".join(context)), "items": len(context),
                         "chars": sum(len(c) for c in context)})
    return rows


def evaluate(worlds: Sequence[World], variants: Sequence[str] = VARIANTS, *, k: int = 10,
             embedder: str = "hash") -> dict[str, Any]:
    from memmgr.config import EmbedderConfig
    from memmgr.embed import make_embedder

    shared = make_embedder(EmbedderConfig(provider=embedder))  # loaded once, not once per world
    out: dict[str, Any] = {"worlds": len(worlds), "k": k, "embedder": embedder, "variants": {}}
    for variant in variants:
        rows = [r for w in worlds for r in run_world(w, variant, k=k, embedder=embedder, shared=shared)]
        by_cat: dict[str, list[bool]] = defaultdict(list)
        for r in rows:
            by_cat[r["category"]].append(r["hit"])
        out["variants"][variant] = {
            "probes": len(rows), "hit_rate": round(mean(r["hit"] for r in rows) or 0.0, 4),
            **{f"hit_{c}": round(mean(v) or 0.0, 4) for c, v in sorted(by_cat.items())},
            "mean_items": round(mean(r["items"] for r in rows) or 0.0, 2),
            "mean_chars": round(mean(r["chars"] for r in rows) or 0.0, 1),
            "search_p50_ms": round(1000 * percentile([r["latency_s"] for r in rows], 50), 2),
            "search_p95_ms": round(1000 * percentile([r["latency_s"] for r in rows], 95), 2)}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    from data_gen.synthetic import generate_worlds

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=20)
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10, help="memories and relations returned per search")
    ap.add_argument("--embedder", choices=["hash", "sentence-transformers"], default="hash")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = ap.parse_args(argv)
    worlds = generate_worlds(args.worlds, seed=args.seed, split=args.split)
    print(json.dumps(evaluate(worlds, args.variants, k=args.k, embedder=args.embedder), indent=1))


if __name__ == "__main__":
    main()
