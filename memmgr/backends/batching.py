"""Micro-batching for offline engines: many pipelines (one per conversation or user, in threads) call `generate` one
prompt at a time; this wrapper gathers the calls that arrive together and sends them to the engine as one batch.

The pipeline itself is sequential within a conversation (an update call needs the facts of the extraction before
it), so the batch width comes from running `concurrency` conversations at once. For vLLM's offline engine this
turns `concurrency` single-prompt calls into one batched `llm.chat`, which is where its throughput comes from.
An engine with `generate_many` (VLLMBackend) gets every gathered call in one engine call, each with its own
options (the per-call JSON schema); otherwise calls are grouped by identical options for `generate_batch`.

    teacher: {backend: vllm, model: Qwen/Qwen2.5-7B-Instruct}
    concurrency: 64          # data_gen.generate wraps batched backends in BatchingBackend(max_batch=concurrency)

memmgr.async_memory.AsyncMemory wraps a batched manager the same way, so concurrent `add`s share the engine.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any

from memmgr.backends.base import Generation

log = logging.getLogger(__name__)


class BatchingBackend:
    def __init__(self, inner: Any, max_batch: int = 32, max_wait_s: float = 0.02):
        if not hasattr(inner, "generate_batch") and not hasattr(inner, "generate_many"):
            raise TypeError(f"{inner.name} has no generate_batch")
        self.inner, self.max_batch, self.max_wait_s = inner, max(1, max_batch), max_wait_s
        self.name = inner.name
        self.prompt_style = getattr(inner, "prompt_style", None)
        if hasattr(inner, "completion_prob"):  # the extract/skip gate scores outside the batches (one forward pass)
            self.completion_prob = inner.completion_prob
        self._queue: queue.Queue = queue.Queue()
        self.batch_sizes: list[int] = []
        self._thread = threading.Thread(target=self._loop, name="batching-backend", daemon=True)
        self._thread.start()

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None, **forced) -> Generation:
        """`forced`: options only some engines take (`prefix`, transformers); calls with them batch apart."""
        fut: Future = Future()
        self._queue.put((list(messages), {"json_schema": json_schema, "max_tokens": max_tokens,
                                          "temperature": temperature, **forced}, fut))
        return fut.result()

    def generate_batch(self, batch, **kwargs) -> list[Generation]:
        return self.inner.generate_batch(batch, **kwargs)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            items = [first]
            try:  # whatever else arrives within max_wait_s joins the batch
                while len(items) < self.max_batch:
                    items.append(self._queue.get(timeout=self.max_wait_s))
            except queue.Empty:
                pass
            if hasattr(self.inner, "generate_many"):  # one engine call, per-request options
                self._run(items, many=True)
                continue
            groups: dict[str, list[tuple]] = {}
            for item in items:  # one engine call per distinct sampling setup
                groups.setdefault(json.dumps(item[1], sort_keys=True, default=str), []).append(item)
            for group in groups.values():
                self._run(group)

    def _run(self, group: list[tuple], many: bool = False) -> None:
        self.batch_sizes.append(len(group))
        try:
            if many:
                gens = self.inner.generate_many([(g[0], g[1]) for g in group])
            else:
                gens = self.inner.generate_batch([g[0] for g in group], **group[0][1])
            if len(gens) != len(group):
                raise RuntimeError(f"{self.name}: the engine returned {len(gens)} of {len(group)} generations")
        except BaseException as e:  # the callers see the engine's error (BackendError) in their own thread
            for g in group:
                g[2].set_exception(e)
            return
        for g, gen in zip(group, gens):
            g[2].set_result(gen)
