"""Any OpenAI-compatible chat endpoint: OpenAI, `vllm serve`, llama.cpp's server, ..."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from memmgr.backends.base import BackendError, Generation, with_retries
from memmgr.config import BackendConfig

log = logging.getLogger(__name__)


class OpenAIBackend:
    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 temperature: float = 0.0, max_tokens: int = 512, timeout_s: float = 120.0, retries: int = 3,
                 json_mode: bool = True, **extra: Any):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.temperature, self.max_tokens, self.retries = temperature, max_tokens, retries
        # llama.cpp and vLLM servers accept response_format json_schema; plain json_object is the fallback.
        self.json_mode = json_mode
        self.extra = extra
        key = api_key or os.environ.get("OPENAI_API_KEY") or ("EMPTY" if base_url else None)
        # no key and no local server: every generate() fails fast with BackendError, before any request
        self._no_key = None if key else (f"{self.name}: no API key: set manager.api_key or $OPENAI_API_KEY "
                                         "(or manager.base_url for a local OpenAI-compatible server)")
        # our own retry loop (with_retries) owns backoff, so the client does not retry on its own
        self.client = openai.OpenAI(base_url=base_url, api_key=key or "missing", timeout=timeout_s, max_retries=0)
        self._api_error = openai.OpenAIError
        self._transport_errors = (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                                  openai.InternalServerError)

    @classmethod
    def from_config(cls, cfg: BackendConfig) -> OpenAIBackend:
        return cls(cfg.model, base_url=cfg.base_url, api_key=cfg.api_key, temperature=cfg.temperature,
                   max_tokens=cfg.max_tokens, timeout_s=cfg.timeout_s, retries=cfg.retries, **cfg.extra)

    def generate(self, messages: Sequence[dict[str, str]], *, json_schema: dict[str, Any] | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> Generation:
        if self._no_key:
            raise BackendError(self._no_key)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": max_tokens or self.max_tokens,
            **self.extra,
        }
        if json_schema is not None and self.json_mode:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "answer", "schema": json_schema}}

        def call() -> Generation:
            t0 = time.perf_counter()
            try:
                resp = self.client.chat.completions.create(**kwargs)
            except self._transport_errors:
                raise  # retried by with_retries
            except self._api_error as e:  # e.g. a rejected key or model: not worth retrying, one error type
                raise BackendError(f"{self.name}: {type(e).__name__}: {e}") from e
            msg = resp.choices[0].message if resp.choices else None
            text = (msg.content or "") if msg else ""
            if msg is not None and not text and getattr(msg, "tool_calls", None):
                # a tool-calling server answered with calls: hand them to the parser as JSON
                text = json.dumps([{"name": c.function.name, "arguments": c.function.arguments}
                                   for c in msg.tool_calls])
            usage = resp.usage
            return Generation(text=text, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                              completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                              latency_s=time.perf_counter() - t0)

        return with_retries(call, retries=self.retries, what=self.name, retry_on=self._transport_errors)
