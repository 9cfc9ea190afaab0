"""Any OpenAI-compatible chat endpoint: OpenAI, `vllm serve`, llama.cpp's server, ...

Structured output (`extra`): `structured_output` strict (default: the call's own schema, memmgr.backends.call_schema)
| schema (the pipeline's schema as it is) | off (also `json_mode: false`); `structured_api` says how the schema is
sent: `response_format` (default, OpenAI's json_schema; vLLM and llama.cpp take it too), `vllm` (vLLM's own
`structured_outputs` field) or `guided_json` (vLLM before 0.10); `guidance_json: true` adds llguidance's compact
JSON options to the schema, for a `vllm serve` started with the guidance backend (what `memmgr serve` prints).
Every other `extra` key goes into the request as it is. The client is thread-safe: AsyncMemory shares one backend
between its worker threads, and the server batches their requests.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from memmgr.backends import engine_schema, structured_mode
from memmgr.backends.base import BackendError, Generation, with_retries
from memmgr.config import BackendConfig

STRUCTURED_APIS = ("response_format", "vllm", "guided_json")

log = logging.getLogger(__name__)


class OpenAIBackend:
    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 temperature: float = 0.0, max_tokens: int = 512, timeout_s: float = 120.0, retries: int = 3,
                 json_mode: bool = True, structured_output: str | bool | None = None,
                 structured_api: str = "response_format", guidance_json: bool = False,
                 structured_max_chars: int | None = 400, structured_max_facts: int | None = 30, **extra: Any):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.temperature, self.max_tokens, self.retries = temperature, max_tokens, retries
        # llama.cpp and vLLM servers accept response_format json_schema; `json_mode: false` turns it off
        self.structured = structured_mode(structured_output if structured_output is not None else
                                          (None if json_mode else False))
        self.json_mode = self.structured != "off"
        if structured_api not in STRUCTURED_APIS:
            raise ValueError(f"structured_api must be one of {STRUCTURED_APIS}, got {structured_api!r}")
        self.structured_api, self.guidance_json = structured_api, guidance_json
        self.schema_bounds = {"max_chars": structured_max_chars, "max_facts": structured_max_facts}
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
        kwargs.update(self.structured_kwargs(json_schema, messages))
        return self._request(kwargs)

    def schema_for(self, json_schema: dict[str, Any] | None, messages: Sequence[dict[str, str]]) -> dict | None:
        """The schema the server should enforce for this call (None: unconstrained)."""
        schema = engine_schema(self.structured, json_schema, messages, **self.schema_bounds)
        if schema and self.guidance_json:
            from memmgr.backends.vllm import GUIDANCE_JSON

            schema = {**schema, "x-guidance": dict(GUIDANCE_JSON)}
        return schema

    def structured_kwargs(self, json_schema: dict[str, Any] | None,
                          messages: Sequence[dict[str, str]]) -> dict[str, Any]:
        """Request fields that carry the schema, in the form `structured_api` names."""
        schema = self.schema_for(json_schema, messages)
        if not schema:
            return {}
        if self.structured_api == "response_format":
            return {"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}}
        body = dict(self.extra.get("extra_body") or {})
        body.update({"structured_outputs": {"json": schema}} if self.structured_api == "vllm" else
                    {"guided_json": schema})
        return {"extra_body": body}

    def _request(self, kwargs: dict[str, Any]) -> Generation:
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
