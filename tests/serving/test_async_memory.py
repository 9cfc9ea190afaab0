"""AsyncMemory with a scripted manager (no engine): concurrency across users, order within a user, the store's
guarantees, rollback of a failed add, and batching of concurrent calls into one engine call."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.async_memory import AsyncMemory
from memmgr.backends.base import BackendError, Generation
from memmgr.backends.batching import BatchingBackend
from memmgr.prompts import parse_extraction_input, stage_of
from tests.helpers import ScriptedBackend, echo_manager

CFG = {"embedder": {"provider": "hash"}}
USERS = [f"user{i}" for i in range(8)]
PAIRS = 4


def conversation(user: str, n: int = PAIRS) -> list[list[dict]]:
    """n message pairs of one user; every turn names a distinct thing, so the echo manager ADDs one memory each."""
    who = user.capitalize()
    return [[{"role": "user", "content": f"I bought item {k} of {user} today", "name": who, "id": f"{user}:{2 * k}"},
             {"role": "assistant", "content": f"Nice, {who} got thing number {k}", "name": "Bot",
              "id": f"{user}:{2 * k + 1}"}] for k in range(n)]


class SlowEcho:
    """The echo manager with a random delay per call (threads interleave), recording calls in flight."""

    name = "slow-echo"

    def __init__(self, delay_s: float = 0.02, seed: int = 0):
        self.delay_s, self.rng, self.lock = delay_s, random.Random(seed), threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.extract_order: dict[str, list[str]] = {}

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay = self.delay_s * self.rng.random() * 2
        try:
            if stage_of(messages) == "extract":
                first = parse_extraction_input(messages)["new"][0]["id"]
                with self.lock:
                    self.extract_order.setdefault(first.split(":")[0], []).append(first)
            time.sleep(delay)
            return Generation(text=echo_manager(list(messages)), prompt_tokens=10, completion_tokens=5)
        finally:
            with self.lock:
                self.in_flight -= 1


def state_of(mem: Memory, user: str) -> list[str]:
    return sorted(m["memory"] for m in mem.get_all(user_id=user)["results"])


def assert_store_sound(mem: Memory, users: list[str], expect_per_user: int | None = None) -> None:
    report = mem.check_consistency(repair=False)
    assert report["missing_vectors"] == 0 and report["orphan_vectors"] == 0, report
    for u in users:
        items = mem.get_all(user_id=u)["results"]
        texts = [m["memory"] for m in items]
        assert len(texts) == len(set(texts)), f"duplicated memories for {u}"
        if expect_per_user is not None:
            assert len(items) == expect_per_user, (u, texts)
        for m in items:  # every live memory has the ADD that made it, in its scope
            rows = mem.history(m["id"], user_id=u)
            assert rows and rows[0]["event"] == "ADD" and rows[0]["new_memory"] is not None


async def _ingest(amem: AsyncMemory, users: list[str]) -> list[dict]:
    # every pair of every user is submitted at once: the per-user lock must keep each user's pairs in order
    return await asyncio.gather(*(amem.add(pair, user_id=u) for k in range(PAIRS) for u in users
                                  for pair in [conversation(u)[k]]))


def test_concurrent_adds_match_sequential_and_keep_order():
    backend = SlowEcho()
    amem = AsyncMemory(MemoryConfig.load(CFG), manager=backend, max_concurrency=8)
    t0 = time.perf_counter()
    results = asyncio.run(_ingest(amem, USERS))
    wall = time.perf_counter() - t0
    assert len(results) == len(USERS) * PAIRS and all(r["results"] for r in results)
    assert backend.max_in_flight > 1  # users really overlapped
    for u in USERS:  # each user's adds reached the manager in call order
        assert backend.extract_order[u] == [f"{u}:{2 * k}" for k in range(PAIRS)]

    seq = Memory(MemoryConfig.load(CFG), manager=ScriptedBackend(echo_manager))
    for u in USERS:
        for pair in conversation(u):
            seq.add(pair, user_id=u)
    for u in USERS:
        assert state_of(amem.memory, u) == state_of(seq, u)
        assert len(amem.memory.history(user_id=u)) == len(seq.history(user_id=u))
        st_a, st_s = amem.memory.db.get_state(f"u={u}|a=|r="), seq.db.get_state(f"u={u}|a=|r=")
        assert st_a["pairs_seen"] == st_s["pairs_seen"] == PAIRS and st_a["recent"] == st_s["recent"]
    assert_store_sound(amem.memory, USERS, expect_per_user=2 * PAIRS)
    seq.close()
    asyncio.run(amem.close())
    assert wall < 60


def test_concurrency_overlaps_a_slow_manager():
    """Four users' adds overlap on the manager with max_concurrency 4 and never with 1 (what the speed-up comes
    from; the speed itself is measured in benchmarks/, not asserted here: wall time flakes on a loaded machine)."""
    def run(conc: int) -> int:
        manager = SlowEcho(delay_s=0.03)
        amem = AsyncMemory(MemoryConfig.load(CFG), manager=manager, max_concurrency=conc)
        asyncio.run(_ingest(amem, USERS[:4]))
        asyncio.run(amem.close())
        return manager.max_in_flight

    assert run(1) == 1 and run(4) >= 2


def test_scopes_sharing_a_user_are_serialised():
    """An add for (user) and one for (user, run) touch the same memories: they must not overlap."""
    active, overlaps = set(), []
    lock = threading.Lock()

    def manager(messages):
        user = "maya"
        with lock:
            if user in active:
                overlaps.append(1)
            active.add(user)
        time.sleep(0.01)
        with lock:
            active.discard(user)
        return echo_manager(messages)

    amem = AsyncMemory(MemoryConfig.load(CFG), manager=ScriptedBackend(manager), max_concurrency=4)

    async def go():
        pairs = conversation("maya", 4)
        await asyncio.gather(amem.add(pairs[0], user_id="maya"), amem.add(pairs[1], user_id="maya", run_id="r1"),
                             amem.add(pairs[2], user_id="maya", run_id="r2"), amem.add(pairs[3], user_id="maya"))

    asyncio.run(go())
    assert not overlaps
    asyncio.run(amem.close())


class FailingOnce:
    """Echo manager whose n-th update call raises BackendError (a server dying mid-add)."""

    name = "failing"

    def __init__(self, fail_at_update: int):
        self.fail_at, self.updates = fail_at_update, 0

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        if stage_of(messages) == "update":
            self.updates += 1
            if self.updates == self.fail_at:
                raise BackendError("server went away")
        return Generation(text=echo_manager(list(messages)))


@pytest.mark.parametrize("rollback", [True, False])
def test_failed_add_leaves_no_partial_memories(rollback):
    backend = FailingOnce(fail_at_update=4)  # add 2's second fact (each pair gives two facts)
    amem = AsyncMemory(MemoryConfig.load(CFG), manager=backend, rollback_on_error=rollback)
    pairs = conversation("maya", 3)

    async def go():
        await amem.add(pairs[0], user_id="maya")
        with pytest.raises(BackendError, match="went away"):
            await amem.add(pairs[1], user_id="maya")
        return await amem.get_all(user_id="maya")

    after = asyncio.run(go())["results"]
    mem = amem.memory
    assert mem.db.get_state("u=maya|a=|r=")["pairs_seen"] == 1  # the failed pair did not advance the state
    if rollback:
        assert len(after) == 2  # the failed add's first memory was applied, then reverted
        events = [r["event"] for r in mem.history(user_id="maya")]
        assert events.count("REVERT") == 1
    else:
        assert len(after) == 3
    assert_store_sound(mem, ["maya"])
    asyncio.run(amem.add(pairs[1], user_id="maya"))  # the retry goes through (the engine is back)
    final = state_of(mem, "maya")
    assert len(final) == 4 and len(set(final)) == 4
    assert_store_sound(mem, ["maya"], expect_per_user=4)
    asyncio.run(amem.close())


class FakeBatchedEngine:
    """A batched engine (generate_many) that answers with the echo manager and records batch sizes."""

    name = "fake-engine"
    prompt_style = "student"

    def __init__(self):
        self.batches: list[int] = []

    def generate_batch(self, batch, **kwargs):
        return self.generate_many([(m, kwargs) for m in batch])

    def generate_many(self, requests):
        self.batches.append(len(requests))
        time.sleep(0.02)
        return [Generation(text=echo_manager(list(m)), prompt_tokens=3, completion_tokens=2) for m, _ in requests]


def test_batched_engine_gets_concurrent_calls_together():
    engine = FakeBatchedEngine()
    amem = AsyncMemory(MemoryConfig.load(CFG), manager=engine, max_concurrency=8, max_wait_s=0.01)
    assert isinstance(amem.manager, BatchingBackend) and amem.memory.prompt_style == "student"
    asyncio.run(_ingest(amem, USERS))
    assert max(engine.batches) > 1 and len(engine.batches) < sum(engine.batches) / 2  # fewer engine calls
    assert_store_sound(amem.memory, USERS, expect_per_user=2 * PAIRS)
    asyncio.run(amem.close())


def test_batching_backend_passes_per_call_options_to_generate_many():
    engine = FakeBatchedEngine()
    seen = []
    engine.generate_many = lambda reqs: (seen.append([o for _, o in reqs]) or
                                         [Generation(text=json.dumps(o["json_schema"])) for _, o in reqs])
    b = BatchingBackend(engine, max_batch=4, max_wait_s=0.2)
    out = [None] * 4
    barrier = threading.Barrier(4)

    def one(i):
        barrier.wait()
        out[i] = b.generate([{"role": "user", "content": str(i)}], json_schema={"i": i}, max_tokens=i + 1).text

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == [json.dumps({"i": i}) for i in range(4)]  # different schemas, still batched together
    assert max(len(s) for s in seen) > 1


def test_other_methods_and_scope_checks():
    amem = AsyncMemory(MemoryConfig.load(CFG), manager=ScriptedBackend(echo_manager))

    async def go():
        with pytest.raises(ValueError, match="scope"):
            await amem.add("hello")
        await amem.add(conversation("maya", 1)[0], user_id="maya")
        items = (await amem.get_all(user_id="maya"))["results"]
        hit = (await amem.search("item 0", user_id="maya", limit=1))["results"][0]
        assert hit["id"] in {m["id"] for m in items}
        await amem.update(hit["id"], "Maya bought item zero", user_id="maya")
        assert (await amem.get(hit["id"], user_id="maya"))["memory"] == "Maya bought item zero"
        assert [r["event"] for r in await amem.history(hit["id"], user_id="maya")] == ["ADD", "UPDATE"]
        await amem.delete(hit["id"], user_id="maya")
        assert (await amem.check_consistency())["missing_vectors"] == 0
        assert (await amem.delete_all(user_id="maya"))["deleted"] == 1
        async with amem:
            pass

    asyncio.run(go())
