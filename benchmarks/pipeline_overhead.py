"""Pipeline overhead per added pair with the LLM excluded: embedding + search + validation + apply.

    python benchmarks/pipeline_overhead.py [--pairs 200] [--embedder sentence-transformers|hash] [--store DIR]

A zero-cost scripted manager returns two grounded facts per pair and ADD/UPDATE/NOOP decisions, so the time
measured is memmgr's own (manager latency is subtracted). Prints p50/p95 per pair and per fact, saves JSON.
Target (issue 2): p50 under 25 ms per fact on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memmgr import Memory, MemoryConfig  # noqa: E402
from memmgr.backends.base import Generation  # noqa: E402
from memmgr.prompts import parse_extraction_input, parse_update_input, stage_of  # noqa: E402
from memmgr.qa_metrics import percentile  # noqa: E402

CITIES = ["Lisbon", "Porto", "Madrid", "Oslo", "Kyoto", "Lima", "Cairo", "Quito"]
THINGS = ["tea", "jazz", "chess", "hiking", "sushi", "poetry", "cycling", "opera", "pottery", "tennis"]


class FastManager:
    name = "bench-scripted"

    def generate(self, messages, **kw):
        if stage_of(messages) == "extract":
            turn = parse_extraction_input(messages)["new"][0]["text"]
            facts = [f"Maya {s.strip().removeprefix('I ')}" for s in turn.split(".") if s.strip()]
            return Generation(text=json.dumps({"facts": facts}), latency_s=0.0)
        inp = parse_update_input(messages)
        ops = []
        for fact in inp["facts"]:
            same = [i for i, t in inp["memories"] if t == fact]
            city = [i for i, t in inp["memories"] if "lives in" in t and "lives in" in fact]
            if same:
                ops.append({"id": same[0], "text": fact, "event": "NOOP"})
            elif city:
                ops.append({"id": city[0], "text": fact, "event": "UPDATE"})
            else:
                ops.append({"id": "new", "text": fact, "event": "ADD"})
        return Generation(text=json.dumps({"memory": ops}), latency_s=0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--embedder", default="sentence-transformers", choices=["sentence-transformers", "hash"])
    ap.add_argument("--store", help="on-disk store folder (default: a temp dir)")
    ap.add_argument("--out", default="outputs/benchmarks/pipeline_overhead.json")
    args = ap.parse_args()
    rng = random.Random(0)
    store = args.store or tempfile.mkdtemp(prefix="memmgr-bench-")
    cfg = MemoryConfig.load({"embedder": {"provider": args.embedder}, "store": {"path": store}})
    mem = Memory(cfg, manager=FastManager())
    mem.search("warm up", user_id="maya")
    per_pair, per_fact = [], []
    t0 = datetime(2023, 5, 8)
    for i in range(args.pairs):
        text = f"I live in {rng.choice(CITIES)}. I like {rng.choice(THINGS)} number {rng.randint(0, 60)}."
        msgs = [{"role": "user", "content": text, "name": "Maya", "id": f"D{i}:1"},
                {"role": "assistant", "content": "Nice!", "name": "Bot", "id": f"D{i}:2"}]
        calls = []
        mem.trace_hooks[:] = [calls.append]
        start = time.perf_counter()
        res = mem.add(msgs, user_id="maya", timestamp=t0 + timedelta(days=i))
        elapsed = time.perf_counter() - start - sum(c.latency_s for c in calls)
        per_pair.append(elapsed)
        per_fact.append(elapsed / max(1, len(res["facts"])))
    stats = {
        "pairs": args.pairs, "embedder": mem.embedder.name, "memories": len(mem.get_all(user_id="maya")["results"]),
        "per_pair_ms": {"p50": 1000 * percentile(per_pair, 50), "p95": 1000 * percentile(per_pair, 95),
                        "mean": 1000 * statistics.mean(per_pair)},
        "per_fact_ms": {"p50": 1000 * percentile(per_fact, 50), "p95": 1000 * percentile(per_fact, 95)},
        "target_p50_per_fact_ms": 25.0, "cpu_count": os.cpu_count(),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(stats, f, indent=2)
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
