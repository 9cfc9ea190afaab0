"""LLM backends behind one tiny interface (memmgr.backends.base.LLMBackend).

Heavy backends are named by import path and loaded only when used, so `import memmgr` stays light.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Sequence
from typing import Any

from memmgr.backends.base import BackendError, Generation, LLMBackend, generate_batch, with_retries
from memmgr.config import BackendConfig

BACKENDS: dict[str, str] = {
    "openai": "memmgr.backends.openai:OpenAIBackend",
    "transformers": "memmgr.backends.hf:TransformersBackend",
    "vllm": "memmgr.backends.vllm:VLLMBackend",
}

# `structured_output` (a backend `extra` key of the openai and vllm backends): what the engine enforces.
#   "strict" (default, also `true`): the call's own schema, see call_schema; "schema": the pipeline's schema as it is;
#   "off" (also `false`): nothing enforced. The pipeline's parsing and validation run behind all three.
STRUCTURED_MODES = ("strict", "schema", "off")


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


def structured_mode(value: Any) -> str:
    """Normalise the `structured_output` switch: True/None -> "strict", False -> "off"."""
    if value is None or value is True:
        return "strict"
    if value is False:
        return "off"
    if isinstance(value, str) and value.lower() in STRUCTURED_MODES:
        return value.lower()
    raise ValueError(f"structured_output must be one of {STRUCTURED_MODES} or true/false, got {value!r}")


def _string(max_chars: int | None) -> dict[str, Any]:
    return {"type": "string", **({"maxLength": max_chars} if max_chars else {})}


def call_schema(json_schema: dict[str, Any] | None, messages: Sequence[dict[str, str]], *,
                max_chars: int | None = 400, max_facts: int | None = 30) -> dict[str, Any] | None:
    """The JSON schema an engine should enforce for this manager call (structured output).

    The pipeline passes one schema per stage; this narrows it with what the prompt shows. Facts: a bounded list of
    bounded strings. Update ops: at most one op per new fact; UPDATE and DELETE name an id shown under "Existing
    memories", NOOP a shown id or "new", ADD the id "new"; no other keys. Bounds keep a constrained small model
    from running to max_tokens inside a string. A prompt that is not a manager prompt keeps the schema as given.
    """
    if not json_schema:
        return json_schema
    from memmgr.prompts import parse_update_input, stage_of

    props = json_schema.get("properties") or {}
    try:
        stage = stage_of(messages)
    except ValueError:
        return json_schema
    if stage == "extract" and "facts" in props:
        facts: dict[str, Any] = {"type": "array", "items": _string(max_chars)}
        if max_facts:
            facts["maxItems"] = max_facts
        if (props["facts"] or {}).get("minItems"):  # the extract/skip gate wants a fact (pipeline.EXTRACT_SCHEMA_ONE)
            facts["minItems"] = props["facts"]["minItems"]
        return {"type": "object", "properties": {"facts": facts}, "required": ["facts"], "additionalProperties": False}
    if stage != "update" or "memory" not in props:
        return json_schema
    inp = parse_update_input(messages)
    shown = [i for i, _ in inp["memories"]]
    text = _string(max_chars)

    def op(event: str, ids: list[str], old_memory: bool = False) -> dict[str, Any]:
        properties: dict[str, Any] = {"id": {"type": "string", "enum": ids}, "text": text,
                                      "event": {"type": "string", "enum": [event]}}
        if old_memory:
            properties["old_memory"] = text
        return {"type": "object", "properties": properties, "required": ["id", "text", "event"],
                "additionalProperties": False}

    variants = [op("ADD", ["new"])]
    if shown:
        variants += [op("UPDATE", shown, old_memory=True), op("DELETE", shown)]
    variants.append(op("NOOP", shown + ["new"]))
    ops: dict[str, Any] = {"type": "array", "items": {"anyOf": variants}}
    if inp["facts"]:
        ops["maxItems"] = len(inp["facts"])
    return {"type": "object", "properties": {"memory": ops}, "required": ["memory"], "additionalProperties": False}


def engine_schema(mode: str, json_schema: dict[str, Any] | None, messages: Sequence[dict[str, str]],
                  **bounds: Any) -> dict[str, Any] | None:
    """What the engine gets under `structured_output` mode (see STRUCTURED_MODES)."""
    if mode == "off" or not json_schema:
        return None
    if mode == "schema":
        return copy.deepcopy(json_schema)
    return call_schema(json_schema, messages, **bounds)


__all__ = ["BACKENDS", "STRUCTURED_MODES", "BackendError", "Generation", "LLMBackend", "call_schema",
           "engine_schema", "generate_batch", "make_backend", "resolve_backend_class", "structured_mode",
           "with_retries"]
