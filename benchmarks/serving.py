"""Serving the manager: transformers one request at a time vs the vLLM offline engine vs `vllm serve` with N users.

    python benchmarks/serving.py [--users 1,4,8,16] [--pairs 2] [--max-tokens 96] [--adapter DIR | --no-adapter]
    make bench-serving
    python benchmarks/serving.py --users 8,16 --skip transformers,offline --structured strict   # (c) only

Workload: one user per synthetic gold world (data_gen.synthetic, test split; max(--users) users), the first `--pairs`
message pairs of each; every user's pairs go through the full pipeline (extraction + one update call per fact) in
order. Every run processes the whole workload with N users in flight at once (N = 1: the sequential run). Manager: SmolLM2-135M-Instruct (`smollm2`, GGUF converted to a HF folder) + the adapter (default: the
one `make demo` trained, else `make demo-quick`'s), greedy. Embedder: the hash embedder, so the figures are the manager's.

  (a) transformers   TransformersBackend (float32), Memory, one add at a time (the users one after another);
  (b) vllm-offline   VLLMBackend in .venv-vllm, AsyncMemory + BatchingBackend, N users at once (--offline-users);
  (c) vllm-serve     `vllm serve` (memmgr serve's command) on 127.0.0.1, AsyncMemory + the openai backend, N users.
(b) and (c) run with structured output (strict per-call schemas, guidance backend) and without.

Reported per run: adds/s, p50/p95 seconds per add, manager completion tokens/s (and prompt tokens/s), the share of
manager calls whose output parsed, and whether each user's final memories equal those of (c) with the fewest users
(1 in a full run: same greedy outputs, the same memories) and those of (a) (on the users (a) ran). Results:
outputs/benchmarks/serving.json (--out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the adapter `make demo` trained, else the one of `make demo-quick`
DEFAULT_ADAPTER = next((p for p in (ROOT / "outputs" / "main" / "smollm2_cpu" / "sft",
                                    ROOT / "outputs" / "main" / "smollm2_cpu_quick" / "sft") if p.is_dir()),
                       ROOT / "outputs" / "main" / "smollm2_cpu" / "sft")


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def workload(n_users: int, pairs: int, seed: int = 0) -> list[dict]:
    """[{user, pairs: [[msg, msg], ...]}]: one user per synthetic world."""
    from data_gen.synthetic import generate_worlds

    out = []
    for w in generate_worlds(n_users, seed=seed, split="test", n_sessions=(1, 2)):
        out.append({"user": w.user_id, "pairs": [[m.model_dump(mode="json") for m in p.messages]
                                                 for p in w.pairs[:pairs]]})
    return out


def config(manager: dict) -> dict:
    return {"manager": manager, "embedder": {"provider": "hash"}, "pipeline": {"update_mode": "per_fact"}}


def summarise(name: str, users: int, wall: float, lat: list[float], calls: list[dict], mem, plan: list[dict],
              **extra) -> dict:
    comp = sum(c["completion_tokens"] for c in calls)
    prompt = sum(c["prompt_tokens"] for c in calls)
    memories = {u["user"]: sorted(m["memory"] for m in mem.get_all(user_id=u["user"])["results"]) for u in plan}
    report = mem.check_consistency(repair=False)
    return {"run": name, "users": users, "adds": len(lat), "wall_s": round(wall, 2),
            "adds_per_s": round(len(lat) / wall, 3), "p50_s": round(percentile(lat, 0.5), 2),
            "p95_s": round(percentile(lat, 0.95), 2), "calls": len(calls),
            "completion_tok_per_s": round(comp / wall, 1), "prompt_tok_per_s": round(prompt / wall, 1),
            "valid_share": round(sum(c["valid"] for c in calls) / max(len(calls), 1), 3),
            "memories_stored": sum(len(v) for v in memories.values()), "memories": memories,
            "consistent": report["missing_vectors"] == report["orphan_vectors"] == 0, **extra}


PARTIAL: Path | None = None


def emit(row: dict) -> dict:
    """Print a row (without memories) and append it to the partial results file."""
    print(json.dumps({k: v for k, v in row.items() if k != "memories"}), flush=True)
    if PARTIAL is not None:
        with open(PARTIAL, "a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def hook(calls: list[dict]):
    return lambda c: calls.append({"stage": c.stage, "valid": c.valid, "prompt_tokens": c.prompt_tokens,
                                   "completion_tokens": c.completion_tokens})


async def run_users(amem, plan: list[dict], users: int) -> list[float]:
    """Every user adds its pairs in order; at most `users` users at once. Returns the latency of each add."""
    lat: list[float] = []
    gate = asyncio.Semaphore(users)

    async def one(u: dict) -> None:
        async with gate:
            for pair in u["pairs"]:
                t = time.perf_counter()
                await amem.add(pair, user_id=u["user"])
                lat.append(time.perf_counter() - t)

    await asyncio.gather(*(one(u) for u in plan))
    return lat


def run_concurrent(name: str, manager, cfg: dict, plan: list[dict], users: int, **extra) -> dict:
    from memmgr import MemoryConfig
    from memmgr.async_memory import AsyncMemory

    calls: list[dict] = []
    amem = AsyncMemory(MemoryConfig.load(cfg), manager=manager, trace_hooks=[hook(calls)], max_concurrency=users)
    t0 = time.perf_counter()
    lat = asyncio.run(run_users(amem, plan, users))
    wall = time.perf_counter() - t0
    out = summarise(name, users, wall, lat, calls, amem.memory, plan, **extra)
    if hasattr(amem.manager, "batch_sizes"):
        sizes = amem.manager.batch_sizes
        out["mean_batch"] = round(sum(sizes) / max(len(sizes), 1), 2)
    asyncio.run(amem.close())
    return out


# ------------------------------------------------------------------------------------------------- (a)
def bench_transformers(model: str, adapter: str | None, plan: list[dict], max_tokens: int) -> dict:
    from memmgr import Memory, MemoryConfig
    from memmgr.backends.hf import TransformersBackend

    t0 = time.perf_counter()
    backend = TransformersBackend(model, adapter=adapter, max_tokens=max_tokens, dtype="float32", batch_size=1)
    load_s = time.perf_counter() - t0
    calls: list[dict] = []
    mem = Memory(MemoryConfig.load(config({"backend": "transformers", "model": model})), manager=backend,
                 trace_hooks=[hook(calls)])
    lat = []
    t0 = time.perf_counter()
    for u in plan:
        for pair in u["pairs"]:
            t = time.perf_counter()
            mem.add(pair, user_id=u["user"])
            lat.append(time.perf_counter() - t)
    out = summarise("transformers", 1, time.perf_counter() - t0, lat, calls, mem, plan, load_s=round(load_s, 1))
    mem.close()
    return out


# ------------------------------------------------------------------------------------------------- (b)
def offline_worker(spec: dict) -> list[dict]:
    """Inside .venv-vllm: one engine, each N in each structured mode (strict, off)."""
    from memmgr.backends.vllm import VLLMBackend

    backend = VLLMBackend(spec["model"], adapter=spec["adapter"], max_tokens=spec["max_tokens"],
                          max_model_len=2048, kv_cache_gib=2, dtype=spec.get("dtype", "auto"))
    results = []
    for structured in spec.get("structured") or ("strict", "off"):
        backend.structured = structured
        for n in spec.get("offline_users") or [8]:
            results.append(run_concurrent("vllm-offline", backend, config({"backend": "vllm", "model": "x"}),
                                          spec["plan"], n, structured=structured,
                                          engine_start_s=round(backend.start_s, 1)))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "memories"}), flush=True)
    return results


def bench_offline(vllm_py: str, spec: dict, tmp: Path) -> list[dict]:
    (tmp / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([vllm_py, __file__, "--worker", str(tmp / "spec.json"), str(tmp / "offline.json")],
                          env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"offline worker failed:\n{proc.stderr[-4000:]}")
    return json.loads((tmp / "offline.json").read_text())


# ------------------------------------------------------------------------------------------------- (c)
def bench_server(vllm_py: str, adapter: str | None, model: str, plan: list[dict], users: list[int],
                 max_tokens: int, tmp: Path, dtype: str, modes: list[str], device: str = "cpu") -> list[dict]:
    from memmgr import serve
    from memmgr.backends.openai import OpenAIBackend
    from memmgr.config import BackendConfig
    from tests.serving.fixtures import Server, free_port

    port = free_port()
    args = serve.parser().parse_args([adapter or model, "--port", str(port), "--device", device, "--python", vllm_py,
                                      "--max-model-len", "2048", "--dtype", dtype])
    args.vllm_args = []
    sp = serve.plan(args)
    server = Server(sp.argv, port, tmp / "server.log", {**os.environ, **sp.env})
    results = []
    try:
        t0 = time.perf_counter()
        server.wait_ready(timeout_s=300)
        start_s = time.perf_counter() - t0
        for structured in modes:
            mcfg = sp.manager_config(max_tokens=max_tokens)
            mcfg["extra"]["structured_output"] = structured
            mcfg.update(timeout_s=300, retries=0)
            for n in users:
                backend = OpenAIBackend.from_config(BackendConfig.model_validate(mcfg))
                results.append(emit(run_concurrent("vllm-serve", backend, config(mcfg), plan, n,
                                                   structured=structured, engine_start_s=round(start_s, 1))))
    finally:
        server.kill()
    return results


def table(rows: list[dict], ref_users: int | None = 1) -> str:
    head = ("| run | structured | users | adds | adds/s | p50 s/add | p95 s/add | completion tok/s | valid | "
            f"memories | same as serve@{ref_users} | same as transformers |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['run']} | {r.get('structured', '-')} | {r['users']} | {r['adds']} | {r['adds_per_s']} | "
                     f"{r['p50_s']} | {r['p95_s']} | {r['completion_tok_per_s']} | {r['valid_share']} | "
                     f"{r['memories_stored']} | {r.get('same_as_serve_ref', '-')} | {r.get('same_as_transformers', '-')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="1,4,8,16")
    p.add_argument("--pairs", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--adapter", default=str(DEFAULT_ADAPTER))
    p.add_argument("--no-adapter", action="store_true")
    p.add_argument("--dtype", default="float32",
                   help="vLLM dtype (float32: bf16 matmuls are far slower on this CPU; auto = bf16)")
    p.add_argument("--offline-users", default="8", help="(b) runs at these N only (the engine is the same as (c)'s)")
    p.add_argument("--transformers-users", type=int, default=4,
                   help="(a) runs the first K users only (it is the slow one); adds/s stays comparable")
    p.add_argument("--skip", default="", help="comma list of runs to skip: transformers,offline,serve")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                   help="`memmgr serve --device` for (c): GPU flags (memory utilisation 0.9) or CPU ones (KV cache GiB)")
    p.add_argument("--structured", default="strict,off", help="structured-output modes (b) and (c) run: strict,off")
    p.add_argument("--out", default=str(ROOT / "outputs" / "benchmarks" / "serving.json"))
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # inside .venv-vllm
        spec = json.loads(Path(args.worker[0]).read_text())
        Path(args.worker[1]).write_text(json.dumps(offline_worker(spec)))
        return 0

    from memmgr.backends.hf import convert_gguf_to_hf, smollm2_gguf_path
    from tests.serving.fixtures import vllm_python

    skip = set(filter(None, args.skip.split(",")))
    modes = [m for m in args.structured.split(",") if m]
    if not modes or set(modes) - {"strict", "off"}:
        p.error("--structured takes strict, off or strict,off")
    global PARTIAL
    PARTIAL = Path(args.out).with_suffix(".partial.jsonl")
    PARTIAL.parent.mkdir(parents=True, exist_ok=True)
    PARTIAL.write_text("")
    users = [int(x) for x in args.users.split(",")]
    adapter = None if args.no_adapter or not Path(args.adapter).is_dir() else str(Path(args.adapter).resolve())
    if not args.no_adapter and adapter is None:
        print(f"no adapter at {args.adapter} (run `make demo`): benchmarking the base model")
    model = convert_gguf_to_hf(smollm2_gguf_path())
    plan = workload(max(users), args.pairs)
    vllm_py = vllm_python()
    rows: list[dict] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "transformers" not in skip:  # (a): the first K users of the same workload, one add at a time
            rows.append(emit(bench_transformers(model, adapter, plan[:args.transformers_users], args.max_tokens)))
        if vllm_py and "offline" not in skip:
            spec = {"model": model, "adapter": adapter, "max_tokens": args.max_tokens, "users": users,
                    "plan": plan, "dtype": args.dtype, "structured": modes,
                    "offline_users": [int(x) for x in args.offline_users.split(",")]}
            rows += [emit(r) for r in bench_offline(vllm_py, spec, tmp)]
        if vllm_py and "serve" not in skip:
            rows += bench_server(vllm_py, adapter, model, plan, users, args.max_tokens, tmp, args.dtype, modes, args.device)
        if not vllm_py:
            print("no .venv-vllm (make setup-vllm): only the transformers run")
    # reference memories: (c) with the fewest users at once (1 in a full run), per structured mode
    served = [r for r in rows if r["run"] == "vllm-serve"]
    ref_users = min((r["users"] for r in served), default=None)
    ref = {r["structured"]: r["memories"] for r in served if r["users"] == ref_users}
    tf = next((r["memories"] for r in rows if r["run"] == "transformers"), None)
    for r in rows:
        if r.get("structured") in ref:
            r["same_as_serve_ref"] = r["memories"] == ref[r["structured"]]
        if tf is not None:
            r["same_as_transformers"] = all(r["memories"].get(u) == m for u, m in tf.items())
    # the figure of merit: (c) at 8 users against (a), adds/s
    a = next((r for r in rows if r["run"] == "transformers"), None)
    c8 = next((r for r in rows if r["run"] == "vllm-serve" and r["users"] == 8 and r["structured"] == "strict"), None)
    speedup = round(c8["adds_per_s"] / a["adds_per_s"], 2) if a and c8 else None
    out = {"users": users, "pairs": args.pairs, "max_tokens": args.max_tokens, "adapter": adapter, "model": model,
           "structured": modes, "skip": sorted(skip), "serve_reference_users": ref_users,
           "speedup_serve8_vs_transformers": speedup, "total_s": round(time.perf_counter() - t_all, 1), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(table(rows, ref_users))
    print(f"(c) 8 users vs (a): {speedup}x adds/s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
