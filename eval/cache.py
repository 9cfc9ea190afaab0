"""A disk cache of LLM calls, as a wrapper backend: re-scoring and ablations do not re-pay ingestion or answering.

The key is a SHA-256 of (backend name, model, salt, messages, json_schema, max_tokens, temperature, and a forced
output `prefix` when there is one). `salt` carries
the seed of a multi-seed run, so sampled runs with different seeds do not share answers. Each entry is one small
JSON file written to a temporary name and renamed, so concurrent runs sharing a cache never read half an entry.
A hit returns the recorded text, token counts and latency (the latency of the call that produced it, so latency
columns stay meaningful on re-runs; `hits`/`misses` say how much was replayed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.backends.base import Generation, generate_batch

log = logging.getLogger(__name__)


def request_key(backend_name: str, model: str, messages: Sequence[dict[str, str]], *, json_schema: Any = None,
                max_tokens: int | None = None, temperature: float | None = None, salt: str = "",
                prefix: str | None = None) -> str:
    payload = {"backend": backend_name, "model": model, "salt": salt, "messages": [dict(m) for m in messages],
               "json_schema": json_schema, "max_tokens": max_tokens, "temperature": temperature}
    if prefix:  # a forced output opening (the extract/skip gate); absent from the key otherwise, so old entries hold
        payload["prefix"] = prefix
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _model_id(backend: Any) -> str:
    """What identifies the model behind a backend beyond its name: path/model id, adapter, and the defaults that
    apply when a request leaves max_tokens/temperature unset (so changing them in a config invalidates entries)."""
    model = next((v for v in (getattr(backend, k, None) for k in ("model_path", "model_name", "model"))
                  if isinstance(v, str) and v), "")
    defaults = {k: getattr(backend, k, None) for k in ("adapter", "max_tokens", "temperature")}
    return json.dumps({"model": model, **defaults}, sort_keys=True, default=str)


class CachedBackend:
    """Wraps any LLMBackend; `name` stays the inner backend's so results and traces name the real model."""

    def __init__(self, backend: Any, cache_dir: str | Path, *, salt: str = "", read: bool = True):
        self.backend = backend
        self.name = backend.name
        # a trained student's prompt style (its manager card): Memory reads it from the backend it is given, so a
        # wrapper that dropped it would prompt the student with Mem0's teacher prompt it never saw in training
        self.prompt_style = getattr(backend, "prompt_style", None)
        self.model = _model_id(backend)
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.salt = salt
        self.read = read  # False = refresh: always call the model, overwrite entries
        self.hits = 0
        self.misses = 0
        if hasattr(backend, "batch_size"):
            self.batch_size = backend.batch_size
        if hasattr(backend, "completion_prob"):  # the extract/skip gate's scoring pass is not cached
            self.completion_prob = backend.completion_prob

    def _key(self, messages: Sequence[dict[str, str]], json_schema: Any, max_tokens: int | None,
             temperature: float | None, prefix: str | None = None) -> str:
        return request_key(self.name, self.model, messages, json_schema=json_schema, max_tokens=max_tokens,
                           temperature=temperature, salt=self.salt, prefix=prefix)

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _load(self, key: str) -> Generation | None:
        if not self.read:
            return None
        path = self._path(key)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return Generation(text=d["text"], prompt_tokens=int(d.get("prompt_tokens", 0)),
                              completion_tokens=int(d.get("completion_tokens", 0)),
                              latency_s=float(d.get("latency_s", 0.0)))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError) as e:  # a corrupt entry is a miss, not a crash
            log.warning("ignoring unreadable cache entry %s: %s", path, e)
            return None

    def _store(self, key: str, gen: Generation) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"text": gen.text, "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                "latency_s": gen.latency_s, "backend": self.name}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def generate(self, messages: Sequence[dict[str, str]], *, json_schema: dict[str, Any] | None = None,
                 max_tokens: int | None = None, temperature: float | None = None, **forced: Any) -> Generation:
        """`forced`: `prefix` for the backends that take it (part of the key)."""
        key = self._key(messages, json_schema, max_tokens, temperature, forced.get("prefix"))
        hit = self._load(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        gen = self.backend.generate(messages, json_schema=json_schema, max_tokens=max_tokens,
                                    temperature=temperature, **forced)
        self._store(key, gen)
        return gen

    def generate_batch(self, batch: Sequence[Sequence[dict[str, str]]], **kwargs: Any) -> list[Generation]:
        """Serve hits from disk and send only the misses to the inner backend, in one batch."""
        keys = [self._key(m, kwargs.get("json_schema"), kwargs.get("max_tokens"), kwargs.get("temperature"),
                          kwargs.get("prefix")) for m in batch]
        out: list[Generation | None] = [self._load(k) for k in keys]
        todo = [i for i, g in enumerate(out) if g is None]
        self.hits += len(batch) - len(todo)
        self.misses += len(todo)
        if todo:
            fresh = generate_batch(self.backend, [batch[i] for i in todo], **kwargs)
            for i, gen in zip(todo, fresh, strict=True):
                self._store(keys[i], gen)
                out[i] = gen
        return [g for g in out if g is not None]

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}
