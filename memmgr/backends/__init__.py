"""LLM backends behind one tiny interface (memmgr.backends.base.LLMBackend).

Heavy backends are named by import path and loaded only when used, so `import memmgr` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from memmgr.backends.base import BackendError, Generation, LLMBackend, generate_batch, with_retries
from memmgr.config import BackendConfig

BACKENDS: dict[str, str] = {
    "openai": "memmgr.backends.openai:OpenAIBackend",
    "transformers": "memmgr.backends.hf:TransformersBackend",
    "vllm": "memmgr.backends.vllm:VLLMBackend",
}


def resolve_backend_class(name: str) -> Any:
    target = BACKENDS.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown backend {name!r}: use one of {sorted(BACKENDS)} or 'module.path:ClassName'")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_backend(cfg: BackendConfig | dict[str, Any]) -> LLMBackend:
    cfg = cfg if isinstance(cfg, BackendConfig) else BackendConfig.model_validate(cfg)
    cls = resolve_backend_class(cfg.backend)
    return cls.from_config(cfg)


__all__ = ["BACKENDS", "BackendError", "Generation", "LLMBackend", "generate_batch", "make_backend",
           "resolve_backend_class", "with_retries"]
