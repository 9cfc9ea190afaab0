"""The one interface every LLM backend implements: chat messages in, text + usage + latency out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


class BackendError(RuntimeError):
    """A transport/engine failure that persisted after retries (never raised for bad model *content*)."""


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@runtime_checkable
class LLMBackend(Protocol):
    name: str

    def generate(
        self,
        messages: Sequence[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Generation: ...


def generate_batch(backend: Any, batch: Sequence[Sequence[dict[str, str]]], **kwargs: Any) -> list[Generation]:
    """Use the backend's own batched path when it has one (transformers, vLLM), else loop."""
    if hasattr(backend, "generate_batch"):
        return backend.generate_batch(batch, **kwargs)
    return [backend.generate(m, **kwargs) for m in batch]


def with_retries(
    fn: Callable[[], Generation], *, retries: int = 3, backoff_s: float = 0.5, what: str = "LLM call",
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Generation:
    """Retry transport errors with exponential backoff; raise BackendError when they persist."""
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            return fn()
        except retry_on as e:  # noqa: PERF203
            last = e
            if attempt < retries:
                delay = backoff_s * (2**attempt)
                log.warning("%s failed (%s: %s); retry %d/%d in %.1fs", what, type(e).__name__, e, attempt + 1,
                            retries, delay)
                time.sleep(delay)
    raise BackendError(f"{what} failed after {retries + 1} attempts: {type(last).__name__}: {last}") from last
