"""Runs inside .venv-vllm (the main venv has no vLLM): the offline-engine checks of tests/serving, in one process so
that the engine starts once. Writes a JSON report that the tests assert on.

    .venv-vllm/bin/python tests/serving/vllm_worker.py SPEC.json OUT.json
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def structured_checks(backend, n: int) -> list[dict]:
    """Extraction and update prompts (with shown ids), greedy and sampled: is every answer schema-valid JSON?"""
    import jsonschema

    from memmgr import prompts
    from memmgr.pipeline import EXTRACT_SCHEMA, UPDATE_SCHEMA
    from memmgr.types import Message

    ex = prompts.render_extraction("", [], [Message(role="user", content="I have a beagle called Pixel", name="Sam",
                                                    id="D1:1")], "8 May 2023", "student")
    up = prompts.render_update(["Sam has a beagle"], [("0", "Sam has a dog"), ("1", "Sam lives in York")],
                               "8 May 2023", "student")
    reqs = [(m, {"json_schema": s, "temperature": t, "max_tokens": 300}) for m, s in ((ex, EXTRACT_SCHEMA),
                                                                                     (up, UPDATE_SCHEMA))
            for t in [0.0] + [1.0] * (n - 1)]
    gens = backend.generate_many(reqs)
    out = []
    for (m, o), g in zip(reqs, gens):
        schema = {k: v for k, v in backend.schema_for(o["json_schema"], m).items() if k != "x-guidance"}
        try:
            value = json.loads(g.text)  # strict JSON: no control characters, nothing around it
            jsonschema.validate(value, schema)
            err = None
        except Exception as e:
            err = f"{type(e).__name__}: {str(e)[:200]}"
        out.append({"stage": prompts.stage_of(m), "text": g.text, "error": err, "tokens": g.completion_tokens})
    return out


def store_report(mem, users: list[str]) -> dict:
    report = mem.check_consistency(repair=False)
    per_user = {u: sorted(m["memory"] for m in mem.get_all(user_id=u)["results"]) for u in users}
    history = {u: len(mem.history(user_id=u)) for u in users}
    return {"consistency": report, "memories": per_user, "history_rows": history}


def call_record(backend, c) -> dict:
    """One manager call of the pipeline, with whether its raw output is strict JSON valid for that call's schema."""
    import jsonschema

    from memmgr.pipeline import EXTRACT_SCHEMA, UPDATE_SCHEMA

    schema = backend.schema_for(EXTRACT_SCHEMA if c.stage == "extract" else UPDATE_SCHEMA, c.messages)
    try:
        jsonschema.validate(json.loads(c.raw_output), {k: v for k, v in schema.items() if k != "x-guidance"})
        err = None
    except Exception as e:
        err = f"{type(e).__name__}: {str(e)[:200]}"
    return {"stage": c.stage, "valid": c.valid, "style": c.prompt_style, "prompt_version": c.prompt_version,
            "system": c.messages[0]["content"][:200] if c.messages else "", "raw": c.raw_output[:400],
            "schema_error": err, "attempts": c.attempts, "completion_tokens": c.completion_tokens,
            "latency_s": round(c.latency_s, 2), "applied": c.applied, "rejected": [r.reason for r in c.rejected]}


def smollm2(spec: dict) -> dict:
    """SmolLM2-135M-Instruct + a trained adapter: one engine, a short conversation through the pipeline with the
    engine's real (greedy, structured) answers, and the store afterwards."""
    from memmgr import Memory, MemoryConfig
    from memmgr.backends.vllm import VLLMBackend

    t0 = time.perf_counter()
    backend = VLLMBackend(spec["model"], adapter=spec["adapter"], max_tokens=spec.get("max_tokens", 128),
                          max_model_len=2048, dtype="float32", kv_cache_gib=1)
    report: dict = {"engine_start_s": time.perf_counter() - t0, "prompt_style": backend.prompt_style,
                    "lora": backend.lora is not None}
    cfg = MemoryConfig.load({"embedder": {"provider": "hash"}, "manager": {"backend": "vllm", "model": spec["model"]}})
    traces: list = []
    mem = Memory(cfg, manager=backend, trace_hooks=[traces.append])
    t = time.perf_counter()
    adds = [mem.add(pair, user_id=spec["user"]) for pair in spec["pairs"]]
    report["pipeline"] = {"adds": len(adds), "seconds": time.perf_counter() - t,
                          "calls": [call_record(backend, c) for c in traces],
                          "results": [a["results"] for a in adds], "rejected": [a["rejected"] for a in adds],
                          "history": mem.history(user_id=spec["user"]),
                          "stored": mem.get_all(user_id=spec["user"])["results"], **store_report(mem, [spec["user"]])}
    mem.close()
    report["total_s"] = time.perf_counter() - t0
    return report


def gated_pipeline(backend, spec: dict, gate_path: Path) -> dict:
    """The extract/skip gate on the engine: a gate model ranks the pairs (this engine cannot force an output opening)
    and each extracted pair's engine schema wants at least one fact (`minItems: 1`), which structured outputs hold."""
    from memmgr import Memory, MemoryConfig
    from tests.serving.fixtures import conversation

    class Recorder:  # the engine, recording the schema each call hands it
        def __init__(self, inner):
            self.inner, self.schemas = inner, []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def generate(self, messages, **kw):
            self.schemas.append(self.inner.schema_for(kw.get("json_schema"), messages))
            return self.inner.generate(messages, **kw)

    dim = 16  # weights on the owner's word count only: longer owner turns rank first
    gate_path.write_text(json.dumps({"embedder": f"hash-{dim}", "dim": dim, "weights": [0.0] * (2 * dim) + [1.0, 0.0],
                                     "bias": 0.0}))
    cfg = MemoryConfig.load({"embedder": {"provider": "hash", "dim": dim},
                             "manager": {"backend": "vllm", "model": spec["model"]},
                             "pipeline": {"extract_rate": spec.get("gate_rate", 0.6), "gate_model": str(gate_path)}})
    calls: list[dict] = []
    engine = Recorder(backend)
    with Memory(cfg, manager=engine, trace_hooks=[lambda c: calls.append(
            {"stage": c.stage, "gate": c.context.get("gate"), "attempts": c.attempts, "valid": c.valid,
             "raw_facts": len((c.parsed or {}).get("facts") or []) if c.stage == "extract" else None})]) as mem:
        for pair in conversation("maya", spec.get("pairs", 3) + 2):
            mem.add(pair, user_id="maya")
    facts_min_items = [(s or {}).get("properties", {}).get("facts", {}).get("minItems") for s in engine.schemas
                       if "facts" in (s or {}).get("properties", {})]
    return {"calls": calls, "facts_min_items": facts_min_items}


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("mode") == "smollm2":
        Path(out_path).write_text(json.dumps(smollm2(spec), indent=1, default=str))
        return
    from memmgr import Memory, MemoryConfig
    from memmgr.async_memory import AsyncMemory
    from memmgr.backends.vllm import VLLMBackend
    from tests.serving.fixtures import ENGINE_PLAN, Shadow, conversation, expected_memories

    report: dict = {}
    t0 = time.perf_counter()
    backend = VLLMBackend(spec["model"], adapter=spec.get("adapter"), max_tokens=spec.get("max_tokens", 96),
                          max_model_len=1024, dtype="float32", kv_cache_gib=1,
                          structured_max_chars=spec.get("max_chars", 80), structured_max_facts=3)
    report["engine_start_s"] = time.perf_counter() - t0
    report["prompt_style"] = backend.prompt_style
    report["lora"] = backend.lora is not None

    t = time.perf_counter()
    report["structured"] = structured_checks(backend, spec.get("samples", 4))
    report["structured_s"] = time.perf_counter() - t

    cfg = MemoryConfig.load({"embedder": {"provider": "hash"},
                             "manager": {"backend": "vllm", "model": spec["model"]}})
    calls: list[dict] = []
    mem = Memory(cfg, manager=backend, trace_hooks=[lambda c: calls.append(
        {"stage": c.stage, "valid": c.valid, "style": c.prompt_style, "raw": c.raw_output[:300],
         "attempts": c.attempts, "rejected": [r.reason for r in c.rejected]})])
    t = time.perf_counter()
    adds = [mem.add(pair, user_id="maya") for pair in conversation("maya", spec.get("pairs", 3))]
    report["pipeline"] = {"adds": len(adds), "calls": calls, "results": [a["results"] for a in adds],
                          "seconds": time.perf_counter() - t, **store_report(mem, ["maya"])}
    mem.close()
    report["gated"] = gated_pipeline(backend, spec, Path(out_path).with_name("gate.json"))

    # many users at once: AsyncMemory wraps the engine in a BatchingBackend (answers shadowed: known content)
    plan = ENGINE_PLAN
    users = list(plan)

    async def concurrent(amem):
        return await asyncio.gather(*(amem.add(p, user_id=u) for k in range(max(plan.values())) for u in users
                                      for p in conversation(u, plan[u])[k:k + 1]))

    shadow = Shadow(backend)
    amem = AsyncMemory(cfg, manager=shadow, max_concurrency=len(users))
    t = time.perf_counter()
    asyncio.run(concurrent(amem))
    report["async"] = {"seconds": time.perf_counter() - t, "batch_sizes": list(amem.manager.batch_sizes),
                       "engine_calls": shadow.engine_calls, **store_report(amem.memory, users)}
    asyncio.run(amem.close())
    seq = Memory(cfg, manager=Shadow(backend))
    t = time.perf_counter()
    for u in users:
        for p in conversation(u, plan[u]):
            seq.add(p, user_id=u)
    report["sequential"] = {"seconds": time.perf_counter() - t, **store_report(seq, users)}
    seq.close()
    report["expected"] = expected_memories(plan)
    report["total_s"] = time.perf_counter() - t0
    Path(out_path).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
