"""`vllm serve` for real (.venv-vllm) on 127.0.0.1, started from `memmgr serve`'s plan: the adapter under its LoRA
module name, the printed manager config, structured output, many users at once, and a server killed mid-add.
One server for the module; the last test kills it."""

from __future__ import annotations

import asyncio
import json

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.async_memory import AsyncMemory
from memmgr.backends.base import BackendError
from memmgr.backends.openai import OpenAIBackend
from memmgr.pipeline import EXTRACT_SCHEMA, UPDATE_SCHEMA
from memmgr.types import Message
from tests.serving.fixtures import (
    ENGINE_PLAN,
    Server,
    Shadow,
    conversation,
    engine_env,
    expected_memories,
    free_port,
    schema_errors,
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
HASH = {"provider": "hash"}


@pytest.fixture(scope="module")
def served(vllm_py, tiny_assets, tmp_path_factory):
    from memmgr import serve

    port = free_port()
    args = serve.parser().parse_args([tiny_assets["adapter"], "--port", str(port), "--device", "cpu",
                                      "--kv-cache-gib", "1", "--max-model-len", "1024", "--dtype", "float32",
                                      "--python", vllm_py])
    args.vllm_args = []
    plan = serve.plan(args)
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    server = Server(plan.argv, port, log, {**engine_env(), **plan.env})
    try:
        server.wait_ready(timeout_s=240)
        yield server, plan
    finally:
        server.kill()


def manager_cfg(plan, extra=None, **over) -> dict:
    """The config `memmgr serve` printed, with bounds that let a random model finish its JSON within max_tokens."""
    cfg = plan.manager_config(max_tokens=300)
    cfg["extra"].update({"structured_max_chars": 80, "structured_max_facts": 3, **(extra or {})})
    cfg.update({"timeout_s": 30, "retries": 1, **over})
    return cfg


def test_server_serves_adapter_under_its_name(served):
    server, plan = served
    assert {"memmgr", "memmgr-base"} <= set(server.models())
    assert plan.adapter and plan.prompt_style == "student"


def test_structured_output_over_the_server_is_schema_valid(served):
    from memmgr import prompts

    _, plan = served
    backend = OpenAIBackend.from_config(MemoryConfig.load({"manager": manager_cfg(plan)}).manager)
    ex = prompts.render_extraction("", [], [Message(role="user", content="I have a beagle", name="Sam", id="1")],
                                   "8 May 2023", "student")
    up = prompts.render_update(["Sam has a beagle"], [("0", "Sam has a dog"), ("1", "Sam is 30")], "8 May 2023",
                               "student")
    for messages, schema in ((ex, EXTRACT_SCHEMA), (up, UPDATE_SCHEMA)):
        engine = {k: v for k, v in backend.schema_for(schema, messages).items() if k != "x-guidance"}
        for temp in (0.0, 1.0, 1.0):
            text = backend.generate(messages, json_schema=schema, temperature=temp, max_tokens=300).text
            value = json.loads(text)  # strict JSON
            assert schema_errors(value, engine) == [], text
    off = OpenAIBackend.from_config(MemoryConfig.load(
        {"manager": manager_cfg(plan, extra={"structured_output": "off"})}).manager)
    assert "response_format" not in off.structured_kwargs(EXTRACT_SCHEMA, ex)
    assert off.generate(ex, json_schema=EXTRACT_SCHEMA, max_tokens=8).completion_tokens > 0


def test_pipeline_ingests_a_conversation_through_the_server(served):
    _, plan = served
    calls = []
    mem = Memory(MemoryConfig.load({"manager": manager_cfg(plan), "embedder": HASH}), trace_hooks=[calls.append])
    assert mem.prompt_style == "student"  # from the card, via the printed config
    for pair in conversation("maya", 3):
        mem.add(pair, user_id="maya")
    assert len([c for c in calls if c.stage == "extract"]) == 3
    assert all(c.valid and c.attempts == 1 and c.prompt_tokens > 0 for c in calls), [c.raw_output for c in calls]
    report = mem.check_consistency(repair=False)
    assert report["missing_vectors"] == report["orphan_vectors"] == 0
    mem.close()


def test_gated_pipeline_through_the_server_gets_a_fact_per_extracted_pair(served, tmp_path):
    """The gate with a gate model over `vllm serve` (the served engine cannot score or force an opening): the base
    random model, sampled, still writes at least one fact for each extracted pair (the schema's minItems)."""
    _, plan = served
    dim = 16
    gate = tmp_path / "gate.json"  # weights on the owner's word count: longer owner turns rank first
    gate.write_text(json.dumps({"embedder": f"hash-{dim}", "dim": dim, "weights": [0.0] * (2 * dim) + [1.0, 0.0],
                                "bias": 0.0}))
    calls = []
    cfg = {"manager": manager_cfg(plan, model="memmgr-base", temperature=1.0), "embedder": {**HASH, "dim": dim},
           "pipeline": {"extract_rate": 0.6, "gate_model": str(gate)}}
    with Memory(MemoryConfig.load(cfg), trace_hooks=[calls.append]) as mem:
        for pair in conversation("maya", 5):
            mem.add(pair, user_id="maya")
    extracts = [c for c in calls if c.stage == "extract"]
    taken = [c for c in extracts if c.context["gate"]["extract"]]
    assert len(extracts) == 5 and 0 < len(taken) < 5
    assert all(c.attempts == 0 for c in extracts if not c.context["gate"]["extract"])
    assert all(c.valid and c.parsed["facts"] for c in taken), [c.raw_output for c in taken]


class Counting(Shadow):
    """Shadow that records how many requests were in flight at once."""

    def __init__(self, inner):
        super().__init__(inner)
        import threading

        self.lock, self.now, self.peak = threading.Lock(), 0, 0

    def generate(self, messages, **kwargs):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return super().generate(messages, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_many_users_at_once_through_the_server(served):
    _, plan = served
    cfg = MemoryConfig.load({"manager": manager_cfg(plan), "embedder": HASH})
    shadow = Counting(OpenAIBackend.from_config(cfg.manager))
    amem = AsyncMemory(cfg, manager=shadow, max_concurrency=len(ENGINE_PLAN))

    async def go():
        await asyncio.gather(*(amem.add(p, user_id=u) for k in range(2) for u, n in ENGINE_PLAN.items()
                               for p in conversation(u, n)[k:k + 1]))

    asyncio.run(go())
    mem = amem.memory
    assert shadow.peak > 1  # the server had several users' requests at once
    got = {u: sorted(m["memory"] for m in mem.get_all(user_id=u)["results"]) for u in ENGINE_PLAN}
    assert got == expected_memories(ENGINE_PLAN)
    assert {u: len(mem.history(user_id=u)) for u in ENGINE_PLAN} == ENGINE_PLAN
    report = mem.check_consistency(repair=False)
    assert report["missing_vectors"] == report["orphan_vectors"] == 0
    asyncio.run(amem.close())


def test_server_killed_mid_add_raises_and_leaves_no_partial_memories(served):
    """Runs last: kills the module's server between the two update calls of an add."""
    server, plan = served
    cfg = MemoryConfig.load({"manager": manager_cfg(plan, timeout_s=5), "embedder": HASH})
    updates = []

    def kill_after_first_update(call):
        if call.stage == "update" and call.context.get("scope", {}).get("user_id") == "kim":
            updates.append(call)
            if len(updates) == 2:  # the second add's first update call has been applied
                server.kill()

    amem = AsyncMemory(cfg, manager=Shadow(OpenAIBackend.from_config(cfg.manager)),
                       trace_hooks=[kill_after_first_update])
    first = conversation("kim", 1)[0]
    two_facts = [{"role": "user", "content": "I just got the cello!", "name": "Kim", "id": "kim:8"},
                 {"role": "user", "content": "I just got a red bike!", "name": "Kim", "id": "kim:9"}]  # both Kim's

    async def go():
        await amem.add(first, user_id="kim")
        before = (await amem.get_all(user_id="kim"))["results"]
        with pytest.raises(BackendError):
            await amem.add(two_facts, user_id="kim")
        return before

    before = asyncio.run(go())
    mem = amem.memory
    assert server.proc.poll() is not None and len(updates) == 2
    after = mem.get_all(user_id="kim")["results"]
    assert [m["memory"] for m in after] == [m["memory"] for m in before] and len(after) == 1
    events = [r["event"] for r in mem.history(user_id="kim")]
    assert events.count("ADD") == 2 and events.count("REVERT") == 1  # applied, then rolled back, all recorded
    assert mem.db.get_state("u=kim|a=|r=")["pairs_seen"] == 1
    report = mem.check_consistency(repair=False)
    assert report["missing_vectors"] == report["orphan_vectors"] == 0
    asyncio.run(amem.close())
