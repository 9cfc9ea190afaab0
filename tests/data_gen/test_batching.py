"""BatchingBackend: concurrent single calls reach the engine as batches; errors reach every caller."""

import threading

import pytest

from data_gen.batching import BatchingBackend
from memmgr.backends.base import BackendError, Generation


class FakeEngine:
    name = "fake"

    def __init__(self, fail=False):
        self.batches, self.fail = [], fail

    def generate_batch(self, batch, *, json_schema=None, max_tokens=None, temperature=None):
        self.batches.append((len(batch), max_tokens))
        if self.fail:
            raise BackendError("engine down")
        return [Generation(text=f"{m[-1]['content']}|{max_tokens}") for m in batch]


def _call_all(backend, n, max_tokens=lambda i: 8):
    out, errs = [None] * n, [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        try:
            out[i] = backend.generate([{"role": "user", "content": f"q{i}"}], max_tokens=max_tokens(i)).text
        except BackendError as e:
            errs[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return out, errs


def test_concurrent_calls_are_batched_and_answers_routed():
    engine = FakeEngine()
    b = BatchingBackend(engine, max_batch=8, max_wait_s=0.2)
    out, _ = _call_all(b, 16, max_tokens=lambda i: 8 if i % 2 else 16)
    # every caller gets its own answer, generated with its own max_tokens (mixed setups are split by group)
    assert out == [f"q{i}|{8 if i % 2 else 16}" for i in range(16)]
    assert sum(n for n, _ in engine.batches) == 16
    assert max(n for n, _ in engine.batches) > 1 and all(n <= 8 for n, _ in engine.batches)


def test_engine_errors_reach_every_caller():
    b = BatchingBackend(FakeEngine(fail=True), max_batch=4, max_wait_s=0.1)
    out, errs = _call_all(b, 4)
    assert out == [None] * 4 and all(isinstance(e, BackendError) for e in errs)


def test_needs_a_batched_engine():
    with pytest.raises(TypeError):
        BatchingBackend(object.__new__(type("X", (), {"name": "x"})))


def test_forced_prefix_batches_apart_and_scoring_passes_through():
    """The extract/skip gate through the batcher: calls with a forced opening go to the engine with it, in their own
    group; an engine that scores completions keeps that method behind the wrapper, one that does not has none."""
    class Prefixing(FakeEngine):
        def generate_batch(self, batch, *, json_schema=None, max_tokens=None, temperature=None, prefix=None):
            self.batches.append((len(batch), prefix))
            return [Generation(text=f"{prefix or ''}{m[-1]['content']}") for m in batch]

        def completion_prob(self, messages, completion, *, return_tokens=False):
            return 0.5

    engine = Prefixing()
    b = BatchingBackend(engine, max_batch=8, max_wait_s=0.1)
    assert b.generate([{"role": "user", "content": "q"}], prefix="{").text == "{q"
    assert b.generate([{"role": "user", "content": "q"}]).text == "q"
    assert engine.batches == [(1, "{"), (1, None)] and b.completion_prob([], "x") == 0.5
    assert not hasattr(BatchingBackend(FakeEngine()), "completion_prob")
