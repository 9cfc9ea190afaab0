"""`AsyncMemory`: the `Memory` API with async methods, for a service where many users add memories at once.

    from memmgr.async_memory import AsyncMemory

    mem = AsyncMemory.from_config("configs/memory/vllm_served.yaml", max_concurrency=16)
    await asyncio.gather(*(mem.add(pair, user_id=u) for u, pair in incoming))
    hits = await mem.search("Where does Maya live?", user_id="maya")

Every call runs the synchronous `Memory` in a worker thread (at most `max_concurrency` at once), so the pipelines of
different users overlap and share one manager engine:
- an OpenAI-compatible server (`vllm serve`, see memmgr/serve.py) gets their requests concurrently and batches them
  itself (continuous batching);
- a local engine with a batched path (the vLLM offline engine, transformers) is wrapped in
  `memmgr.backends.batching.BatchingBackend`, which gathers the calls that arrive together into one engine call.

Guarantees (tests/serving/test_async_memory.py):
- per-scope order: adds that share a user, agent or run id run one at a time, in the order they were called (each
  pipeline reads the conversation state and memories the previous add left); other scopes run concurrently;
- the store's own: each manager call's ops are applied in one SQLite transaction plus the index write, under the
  store lock, so memories are never lost or duplicated and every op has its history row;
- an add that fails (`BackendError`: the server died, the engine failed) raises, and with `rollback_on_error` (the
  default) the ops that add had already applied are reverted (REVERT rows in history), so it left no partial
  memories and the conversation state did not advance: the same add can be retried.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from memmgr import mem0_compat
from memmgr.backends import make_backend
from memmgr.backends.base import LLMBackend
from memmgr.config import MemoryConfig
from memmgr.embed import Embedder
from memmgr.memory import Memory, TraceHook
from memmgr.types import ManagerCall, Scope

log = logging.getLogger(__name__)

_ADD_KEY = "async_add_id"


def batched_manager(manager: Any, *, max_batch: int, max_wait_s: float = 0.02) -> Any:
    """Wrap a manager with a batched path in a BatchingBackend; an API client or a wrapped one is returned as is."""
    from memmgr.backends.batching import BatchingBackend

    if isinstance(manager, BatchingBackend):
        return manager
    if hasattr(manager, "generate_many") or hasattr(manager, "generate_batch"):
        return BatchingBackend(manager, max_batch=max_batch, max_wait_s=max_wait_s)
    return manager


class AsyncMemory:
    """mem0's `AsyncMemory`: the methods of `memmgr.Memory`, awaitable, safe to call concurrently.

    `max_concurrency`: worker threads (so pipelines in flight). `batch`: wrap a batched local manager in a
    BatchingBackend (False: calls reach it one at a time, serialised). `rollback_on_error`: revert what a failed
    add had applied. `memory=`: wrap an existing Memory (its manager is used as it is)."""

    def __init__(self, config: MemoryConfig | None = None, *, manager: LLMBackend | None = None,
                 embedder: Embedder | None = None, trace_hooks: Sequence[TraceHook] = (), max_concurrency: int = 16,
                 batch: bool = True, max_wait_s: float = 0.02, rollback_on_error: bool = True,
                 memory: Memory | None = None, **memory_kwargs: Any):
        if memory is None:
            config = config or MemoryConfig()
            manager = manager or make_backend(config.manager)  # built once, before any thread can race for it
            if batch:
                manager = batched_manager(manager, max_batch=max_concurrency, max_wait_s=max_wait_s)
            memory = Memory(config, manager=manager, embedder=embedder, trace_hooks=trace_hooks, **memory_kwargs)
        self.memory = memory
        self.config = memory.config
        _ = memory.prompt_style  # resolve the manager (and its card) now, not in a worker thread
        self.max_concurrency = max(1, int(max_concurrency))
        self.rollback_on_error = rollback_on_error
        self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="memmgr-async")
        self._locks: dict[str, asyncio.Lock] = {}
        self._locks_loop: asyncio.AbstractEventLoop | None = None
        self._applied: dict[str, list[ManagerCall]] = {}
        self._applied_lock = threading.Lock()
        self.memory.trace_hooks.append(self._record_call)

    @classmethod
    def from_config(cls, config: MemoryConfig | dict | str | Path | None = None, **kwargs: Any) -> AsyncMemory:
        """From a MemoryConfig, its dict or YAML path, or mem0's config dict (as Memory.from_config)."""
        return cls(MemoryConfig.load(config), **kwargs)

    @property
    def manager(self) -> LLMBackend:
        return self.memory.manager

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------ machinery
    async def _run(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _scope_locks(self, scope: Scope) -> list[asyncio.Lock]:
        """One FIFO lock per scope id (user, agent, run): adds sharing any id serialise in call order."""
        loop = asyncio.get_running_loop()
        if self._locks_loop is not loop:  # asyncio locks belong to one loop
            self._locks, self._locks_loop = {}, loop
        keys = sorted(f"{k}={v}" for k, v in scope.as_filters().items())  # a fixed order: no deadlock
        return [self._locks.setdefault(k, asyncio.Lock()) for k in keys]

    def _record_call(self, call: ManagerCall) -> None:
        add_id = (call.context or {}).get(_ADD_KEY)
        if add_id:
            with self._applied_lock:
                self._applied.setdefault(add_id, []).append(call)

    def _add_sync(self, add_id: str, messages: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.memory.add(messages, **kwargs)
        except BaseException:
            if self.rollback_on_error:
                self._rollback(add_id, kwargs)
            raise
        finally:
            with self._applied_lock:
                self._applied.pop(add_id, None)

    def _rollback(self, add_id: str, kwargs: dict[str, Any]) -> None:
        with self._applied_lock:
            calls = list(self._applied.get(add_id, []))
        scope = {k: kwargs.get(k) for k in ("user_id", "agent_id", "run_id")}
        for call_id in reversed(mem0_compat.changing(calls)):
            try:
                undone = self.memory.revert(call_id=call_id, **scope)
                log.warning("add failed: reverted %d op(s) of manager call %s", len(undone), call_id)
            except Exception:
                log.exception("add failed and reverting manager call %s failed too", call_id)

    # ------------------------------------------------------------------------------------------------ API
    async def add(self, messages: Any, *, user_id: str | None = None, agent_id: str | None = None,
                  run_id: str | None = None, metadata: dict[str, Any] | None = None, infer: bool = True,
                  memory_type: str | None = None, prompt: str | None = None, timestamp: datetime | None = None,
                  trace_context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Memory.add, serialised per scope (in call order) and concurrent across scopes."""
        scope = Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)
        if scope.is_empty():
            raise ValueError("add needs a scope: pass user_id, agent_id or run_id")
        add_id = uuid.uuid4().hex
        kwargs = dict(user_id=user_id, agent_id=agent_id, run_id=run_id, metadata=metadata, infer=infer,
                      memory_type=memory_type, prompt=prompt, timestamp=timestamp,
                      trace_context={**(trace_context or {}), _ADD_KEY: add_id})
        locks = self._scope_locks(scope)  # taken synchronously, so call order is lock order
        for i, lock in enumerate(locks):
            try:
                await lock.acquire()
            except BaseException:
                for held in locks[:i]:
                    held.release()
                raise
        try:
            return await self._run(self._add_sync, add_id, messages, kwargs)
        finally:
            for lock in locks:
                lock.release()

    async def search(self, query: str, **kwargs: Any) -> dict[str, Any]:
        return await self._run(self.memory.search, query, **kwargs)

    async def get(self, memory_id: str, **kwargs: Any) -> dict[str, Any] | None:
        return await self._run(self.memory.get, memory_id, **kwargs)

    async def get_all(self, **kwargs: Any) -> dict[str, Any]:
        return await self._run(self.memory.get_all, **kwargs)

    async def update(self, memory_id: str, data: str, metadata: dict[str, Any] | None = None,
                     **kwargs: Any) -> dict[str, Any]:
        return await self._run(self.memory.update, memory_id, data, metadata, **kwargs)

    async def delete(self, memory_id: str, **kwargs: Any) -> dict[str, Any]:
        return await self._run(self.memory.delete, memory_id, **kwargs)

    async def delete_all(self, **kwargs: Any) -> dict[str, Any]:
        return await self._run(self.memory.delete_all, **kwargs)

    async def history(self, memory_id: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._run(self.memory.history, memory_id, **kwargs)

    async def revert(self, **kwargs: Any) -> list[dict[str, Any]]:
        return await self._run(self.memory.revert, **kwargs)

    async def reset(self) -> dict[str, Any]:
        return await self._run(self.memory.reset)

    async def export(self, path: str | Path, **kwargs: Any) -> int:
        return await self._run(self.memory.export, path, **kwargs)

    async def import_(self, path: str | Path, *, overwrite: bool = False) -> dict[str, int]:
        return await self._run(self.memory.import_, path, overwrite=overwrite)

    async def check_consistency(self, repair: bool = True) -> dict[str, int]:
        return await self._run(self.memory.check_consistency, repair)

    async def close(self) -> None:
        """Wait for calls in flight, then close the store."""
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(self._pool.shutdown, wait=True))
        self.memory.close()
