"""The mem0-style `Memory` API over the pipeline: add / search / get / get_all / update / delete / history /
reset / export / import_ / revert, with atomic, audited application of manager decisions."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from memmgr import mem0_compat, portability, prompts
from memmgr.backends import make_backend
from memmgr.backends.base import LLMBackend
from memmgr.config import MemoryConfig
from memmgr.embed import Embedder, make_embedder
from memmgr.gate import ExtractGate
from memmgr.graph.memory import GraphMemory
from memmgr.manager_card import resolve_prompt_style
from memmgr.pipeline import ResolvedOp, decide_ops, extract_facts, summarize
from memmgr.sanitize import check_memory_text, clean_text, norm_text
from memmgr.settings import ConfigError
from memmgr.stores.qdrant import QdrantIndex
from memmgr.stores.sqlite import SQLiteStore, utcnow
from memmgr.types import ManagerCall, MemoryItem, Message, Rejection, Scope, human_date, iso, new_id

log = logging.getLogger(__name__)
TraceHook = Callable[[ManagerCall], None]


def text_hash(text: str) -> str:
    return hashlib.md5(norm_text(text).encode("utf-8")).hexdigest()


@dataclass
class _ApplyContext:
    """What every op of one manager call is applied with, and the index writes collected for after the commit."""

    scope: Scope
    call: ManagerCall
    vectors: dict[str, list[float]]
    source_ids: list[str]
    session_date: str
    metadata: dict[str, Any]
    upserts: list[tuple[str, list[float], dict[str, str]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.scope.key()

    @property
    def actor(self) -> str:
        return f"{self.call.backend}/{self.call.prompt_style}"


class Memory:
    """mem0's `Memory` API (see memmgr/mem0_compat.py and docs/mem0_migration.md) over memmgr's pipeline. Every
    call not addressed by memory id needs a scope (user_id / agent_id / run_id) or `all_scopes=True`; by-id calls
    given a scope refuse ids outside it. `reindex=True` re-embeds a store built by another embedder instead of
    refusing it; `repair_on_open=False` opens a store without repairing the index (to report inconsistencies)."""

    def __init__(self, config: MemoryConfig | None = None, *, manager: LLMBackend | None = None,
                 embedder: Embedder | None = None, trace_hooks: Sequence[TraceHook] = (), reindex: bool = False,
                 repair_on_open: bool = True):
        self.config = config or MemoryConfig()
        self._manager = manager
        self.embedder = embedder or make_embedder(self.config.embedder)
        store = self.config.store
        if "dim" in self.config.embedder.model_fields_set and self.embedder.dim != self.config.embedder.dim:
            raise ConfigError(f"embedder {self._embedder_id()['name']} makes {self.embedder.dim}-dim vectors, the config "
                              f"says {self.config.embedder.dim}")
        # before any store opens: a bad gate model must not leave one open
        self._gate = ExtractGate.from_config(self.config.pipeline, self.embedder)
        if store.path:
            os.makedirs(store.path, exist_ok=True)
        sqlite_path = store.sqlite_path or (os.path.join(store.path, "history.sqlite") if store.path else None)
        self.db = SQLiteStore(sqlite_path or ":memory:")
        self.index = QdrantIndex(self.embedder.dim, path=os.path.join(store.path, "qdrant") if store.path else None,
                                 url=store.url, collection=store.collection)
        self.trace_hooks: list[TraceHook] = list(trace_hooks)
        self._lock = threading.RLock()
        # Mem0g (memmgr.graph): entities and relations beside the memories, when graph.mode is "graph" or "both"
        self.graph = (GraphMemory(self.config, self.db, self.embedder, self._lock)
                      if self.config.graph.mode != "vector" else None)
        self._prompt_style: str | None = None
        self.reindex_report: dict[str, Any] | None = None
        mismatch = self.db.embedder_mismatch(self._embedder_id())
        if mismatch and not reindex:
            self.close()
            raise ConfigError(f"the store at {sqlite_path or store.url}: {mismatch}")
        if mismatch:
            self.reindex_report = self.reindex()
        # repair only against a SQLite that persists: an in-memory one would see every stored vector as an orphan
        if sqlite_path and repair_on_open and self.reindex_report is None:
            report = self.check_consistency(repair=True)
            if report["missing_vectors"] or report["orphan_vectors"]:
                log.warning("store was inconsistent at start-up and has been repaired: %s", report)

    @classmethod
    def from_config(cls, config: MemoryConfig | dict | str | Path | None = None, *, manager: LLMBackend | None = None,
                    embedder: Embedder | None = None, trace_hooks: Sequence[TraceHook] = (),
                    reindex: bool = False) -> Memory:
        """From a MemoryConfig, its dict or YAML path, or mem0's config dict (translated; see mem0_compat)."""
        return cls(MemoryConfig.load(config), manager=manager, embedder=embedder, trace_hooks=trace_hooks,
                   reindex=reindex)

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _embedder_id(self) -> dict[str, Any]:
        return {"name": getattr(self.embedder, "name", type(self.embedder).__name__), "dim": self.embedder.dim}

    @property
    def manager(self) -> LLMBackend:
        if self._manager is None:  # load lazily: search/get/export need no LLM
            self._manager = make_backend(self.config.manager)
        return self._manager

    @property
    def prompt_style(self) -> str:
        """The configured `manager.prompt_style`, else the one the manager was trained with (its manager card),
        else Mem0's teacher prompt; a configured style that contradicts the card is logged as a warning."""
        if self._prompt_style is None:
            trained = getattr(self.manager, "prompt_style", None)
            self._prompt_style = resolve_prompt_style(self.config.manager.prompt_style, trained,
                                                      getattr(self.manager, "name", "manager"))
        return self._prompt_style

    # ------------------------------------------------------------------------------------------------- add
    def add(self, messages: Sequence[Message | dict[str, Any]] | dict[str, Any] | str, *, user_id: str | None = None,
            agent_id: str | None = None, run_id: str | None = None, metadata: dict[str, Any] | None = None,
            infer: bool = True, memory_type: str | None = None, prompt: str | None = None,
            timestamp: datetime | None = None, trace_context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Feed the new message pair (m_{t-1}, m_t) through extraction and update; returns what was applied
        (`results`), what was rejected with reasons (`rejected`) and the ids of the manager calls that changed
        memory (`call_ids`, each undoable with revert). Model-output problems never raise. `infer=False` stores
        each message's text as it is (sanitised, deduplicated, with history), without the manager."""
        mem0_compat.refuse_add_options(prompt, memory_type)
        scope = Scope(user_id=user_id, agent_id=agent_id, run_id=run_id)
        if scope.is_empty():
            raise ValueError("add needs a scope: pass user_id, agent_id or run_id")
        new = mem0_compat.normalize_messages(messages, timestamp)
        ts = timestamp or next((m.timestamp for m in reversed(new) if m.timestamp), None)
        if not infer:
            return mem0_compat.add_verbatim(self, new, scope, metadata or {}, iso(ts))
        today = human_date(ts)
        style = self.prompt_style
        cfg = self.config
        key = scope.key()
        state = self.db.get_state(key)
        recent = [Message.model_validate(m) for m in state["recent"]][-cfg.pipeline.recent_messages_m:]
        source_ids = [m.id for m in new if m.id]
        ctx = {"scope": scope.model_dump(), "source_ids": source_ids, "today": today, **(trace_context or {})}
        results: list[dict[str, Any]] = []
        rejected: list[Rejection] = []
        calls: list[ManagerCall] = []

        facts: list[str] = []
        if cfg.graph.mode != "graph":
            # whose facts: the user's; an agent-only scope keeps the agent's own (mem0's agent memory)
            owner = prompts.memory_owner([*recent, *new], "assistant" if scope.agent_id and not scope.user_id else "user")
            facts, call = extract_facts(self.manager, cfg, summary=state["summary"], recent=recent, new=new,
                                        today=today, style=style, context=ctx, owner=owner,
                                        gate=self._gate and self._gate.for_scope(self.manager, state))
            self._emit(call, calls, rejected)
        groups = [[f] for f in facts] if cfg.pipeline.update_mode == "per_fact" else ([facts] if facts else [])
        for group in groups:
            candidates = self._candidates(group, scope)
            ops, call = decide_ops(self.manager, cfg, facts=group, candidates=candidates, today=today, style=style,
                                   context=ctx, names=prompts.speakers([*recent, *new]))
            applied = self._apply(ops, scope, call, source_ids=source_ids, session_date=iso(ts),
                                  metadata=metadata or {})
            results.extend(a for a in applied if a["event"] != "NOOP")
            self._emit(call, calls, rejected)
        graph = self.graph and self.graph.add(self.manager, new, scope, ts=ts, today=today, source_ids=source_ids,
                                              style=style, context=ctx, emit=lambda c: self._emit(c, calls, rejected))
        self._advance_state(key, state, new, today, ctx, calls, rejected)
        return {"results": results, "rejected": [r.model_dump() for r in rejected], "calls": len(calls),
                "call_ids": mem0_compat.changing(calls), "facts": facts, **({"relations": graph} if self.graph else {})}

    def _emit(self, call: ManagerCall, calls: list[ManagerCall], rejected: list[Rejection]) -> None:
        calls.append(call)
        rejected.extend(call.rejected)
        for hook in self.trace_hooks:
            try:
                hook(call)
            except Exception:  # a broken observer must not break memory writes
                log.exception("trace hook %r failed", hook)

    def _advance_state(self, key: str, state: dict[str, Any], new: list[Message], today: str, ctx: dict[str, Any],
                       calls: list[ManagerCall], rejected: list[Rejection]) -> None:
        p = self.config.pipeline
        recent = (state["recent"] + [m.model_dump(mode="json") for m in new])[-max(p.recent_messages_m, 1):]
        summary, since = state["summary"], state["pairs_since_summary"] + 1
        if p.summary_every_k and since >= p.summary_every_k:
            window = [Message.model_validate(m) for m in recent]
            summary, call = summarize(self.manager, previous=summary, new=window, today=today, context=ctx)
            self._emit(call, calls, rejected)
            since = 0
        self.db.set_state(key, summary, recent, state["pairs_seen"] + 1, since, state["gate"])

    def _candidates(self, facts: Sequence[str], scope: Scope) -> list[MemoryItem]:
        """The s most similar memories of the scope for each fact (union, best score kept, best first)."""
        s = self.config.pipeline.top_s
        best: dict[str, float] = {}
        for vec in self.embedder.embed(list(facts)):
            for mid, score in self.index.search(vec, scope.as_filters(), s):
                best[mid] = max(score, best.get(mid, -1.0))
        ranked = sorted(best, key=best.get, reverse=True)[: s * max(1, min(len(facts), 3))]
        items = self.db.get_many(ranked)
        return [items[i] for i in ranked if i in items]

    # ----------------------------------------------------------------------------------------------- apply
    def _apply(self, ops: Sequence[ResolvedOp], scope: Scope, call: ManagerCall, *, source_ids: list[str],
               session_date: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply validated ops atomically: SQLite (truth + history) in one transaction, then the vector index."""
        texts = [op.text for op in ops if op.event in ("ADD", "UPDATE")]
        vectors = dict(zip(texts, self.embedder.embed(texts))) if texts else {}
        ctx = _ApplyContext(scope=scope, call=call, vectors=vectors, source_ids=source_ids,
                            session_date=session_date, metadata=metadata)
        applied: list[dict[str, Any]] = []
        with self._lock:
            with self.db.transaction() as conn:
                for op in ops:
                    result = self._apply_one(conn, op, ctx)
                    if result is not None:
                        applied.append(result)
            try:
                self.index.upsert([u[0] for u in ctx.upserts], [u[1] for u in ctx.upserts],
                                  [u[2] for u in ctx.upserts])
                self.index.delete(ctx.deletes)
            except Exception:
                # SQLite already holds the truth; check_consistency() rebuilds the index from it
                log.exception("vector index write failed; run check_consistency() to repair")
        call.applied = applied
        return applied

    def _apply_one(self, conn: Any, op: ResolvedOp, ctx: _ApplyContext) -> dict[str, Any] | None:
        """Write one op inside the open transaction; returns what was applied, or None when it was rejected."""
        def reject(reason: str, detail: str = "") -> None:
            ctx.call.rejected.append(Rejection(stage="update", reason=reason, detail=detail,
                                               item={"event": op.event, "id": op.small_id, "text": op.text}))

        def record(memory_id: str, event: str, old: str | None, new: str | None) -> None:
            self._history(conn, memory_id, event, old, new, ctx.call, ctx.actor, ctx.key, ctx.source_ids)

        payload = ctx.scope.as_filters()
        if op.event == "ADD":
            h = text_hash(op.text)
            dup = self.db.find_by_hash(conn, ctx.key, h) or self._near_duplicate(ctx.vectors[op.text], ctx.scope)
            if dup:
                self._confirm(conn, dup, ctx)
                reject("duplicate_memory", f"same as {dup}")
                return None
            item = MemoryItem(id=new_id(), memory=op.text, hash=h, created_at=utcnow(), source_ids=ctx.source_ids,
                              session_date=ctx.session_date or None, metadata=ctx.metadata, **payload)
            self.db.insert_memory(conn, item, ctx.key)
            record(item.id, "ADD", None, op.text)
            ctx.upserts.append((item.id, ctx.vectors[op.text], payload))
            return {"id": item.id, "memory": op.text, "event": "ADD"}
        if op.event == "NOOP":
            if op.confirms and op.memory_id and self.db.is_live(conn, op.memory_id):
                self._confirm(conn, op.memory_id, ctx)
            return {"id": op.memory_id, "memory": op.old_text, "event": "NOOP"}
        if not op.memory_id or not self.db.is_live(conn, op.memory_id):
            reject("stale_id", "memory no longer exists")
            return None
        if op.event == "UPDATE":
            if text_hash(op.text) == text_hash(op.old_text or ""):
                return {"id": op.memory_id, "memory": op.old_text, "event": "NOOP"}
            merged_sources = list(dict.fromkeys((self.db.get(op.memory_id) or MemoryItem(id="", memory="")).source_ids
                                                + ctx.source_ids))
            self.db.set_memory_text(conn, op.memory_id, op.text, text_hash(op.text), merged_sources)
            record(op.memory_id, "UPDATE", op.old_text, op.text)
            ctx.upserts.append((op.memory_id, ctx.vectors[op.text], payload))
            return {"id": op.memory_id, "memory": op.text, "event": "UPDATE", "previous_memory": op.old_text}
        self.db.mark_deleted(conn, op.memory_id)
        record(op.memory_id, "DELETE", op.old_text, None)
        ctx.deletes.append(op.memory_id)
        return {"id": op.memory_id, "memory": op.old_text, "event": "DELETE"}

    def _confirm(self, conn: Any, memory_id: str, ctx: _ApplyContext) -> None:
        """The new turns restate what a memory of this scope holds (a NOOP on it that the call's facts support, or
        an ADD of its duplicate): it gains them as evidence, so its provenance lists every turn that said it, not
        only the first. Recorded as a CONFIRM history row (old = new text, source_ids = the turns added), which
        revert takes back."""
        item = self.db.get(memory_id)
        added = [s for s in ctx.source_ids if item is not None and s not in item.source_ids]
        if item is None or not added:
            return
        self.db.set_source_ids(conn, memory_id, item.source_ids + added)
        self._history(conn, memory_id, "CONFIRM", item.memory, item.memory, ctx.call, ctx.actor, ctx.key, added)

    def _history(self, conn: Any, memory_id: str, event: str, old: str | None, new: str | None,
                 call: ManagerCall | None, actor: str, key: str, source_ids: list[str] | None = None) -> None:
        self.db.add_history(conn, memory_id=memory_id, event=event, old=old, new=new,
                            call_id=call.call_id if call else None, actor=actor,
                            prompt_version=call.prompt_version if call else prompts.PROMPT_VERSION, scope_key=key,
                            source_ids=source_ids)

    def _near_duplicate(self, vector: list[float], scope: Scope) -> str | None:
        hits = self.index.search(vector, scope.as_filters(), 1)
        if hits and hits[0][1] >= self.config.pipeline.dedup_threshold:
            return hits[0][0]
        return None

    # --------------------------------------------------------------------------------------- read and edit
    def _owned(self, memory_id: str, scope: Scope, *, live: bool = False) -> MemoryItem:
        """The memory with this id (deleted ones too, unless `live`); ValueError when unknown or outside scope."""
        item = self.db.get(memory_id, include_deleted=True)
        if item is None:
            raise ValueError(f"no memory with id {memory_id!r}")
        if not scope.contains(item):
            raise ValueError(f"memory {memory_id} is not in scope {scope.label()}")
        if live and self.db.get(memory_id) is None:
            raise ValueError(f"memory {memory_id} is deleted")
        return item

    def search(self, query: str, *, user_id: str | None = None, agent_id: str | None = None,
               run_id: str | None = None, limit: int = 100, filters: dict[str, Any] | None = None,
               threshold: float | None = None, rerank: bool = True, all_scopes: bool = False) -> dict[str, Any]:
        """The `limit` memories of the scope most similar to `query` (score >= threshold); `filters` are equalities
        on metadata keys or scope ids. `rerank` is accepted for mem0 and ignored (no reranker)."""
        scope, meta = mem0_compat.resolve_scope("search", dict(user_id=user_id, agent_id=agent_id, run_id=run_id),
                                                all_scopes=all_scopes, filters=filters)
        ids = [i.id for i in self.db.list(scope) if mem0_compat.matches(i, meta)] if meta else None
        if ids == []:
            return {"results": []}
        hits = self.index.search(self.embedder.embed([clean_text(query)])[0], scope.as_filters(), limit, ids=ids)
        items = self.db.get_many([h[0] for h in hits])
        out = {"results": [items[mid].model_copy(update={"score": score}).model_dump() for mid, score in hits
                           if mid in items and (threshold is None or score >= threshold)]}
        if self.graph:  # mem0's key; `self.graph.search(..., as_of=...)` asks for the graph at a past date
            out["relations"] = self.graph.search(query, scope, limit=min(limit, self.config.graph.search_limit))
        return out

    def get(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
            run_id: str | None = None) -> dict[str, Any] | None:
        """The memory, or None when it has been deleted; ValueError for an unknown id or one outside the scope."""
        self._owned(memory_id, Scope(user_id=user_id, agent_id=agent_id, run_id=run_id))
        item = self.db.get(memory_id)
        return item.model_dump() if item else None

    def get_all(self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None,
                filters: dict[str, Any] | None = None, limit: int | None = None,
                all_scopes: bool = False) -> dict[str, Any]:
        """Every live memory of the scope (oldest first; all of them unless `limit`)."""
        scope, meta = mem0_compat.resolve_scope("get_all", dict(user_id=user_id, agent_id=agent_id, run_id=run_id),
                                                all_scopes=all_scopes, filters=filters)
        items = [i for i in self.db.list(scope, None if meta else limit) if mem0_compat.matches(i, meta)]
        return {"results": [m.model_dump() for m in items[:limit]],
                **({"relations": self.graph.get_all(scope)} if self.graph else {})}  # mem0: the valid relations

    def update(self, memory_id: str, data: str, metadata: dict[str, Any] | None = None, *,
               user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Direct edit by a user/tool (not the manager); recorded in history like any other op. `metadata` is
        merged into the memory's metadata (fields not given are kept, as mem0 documents)."""
        text = check_memory_text(data, max_chars=self.config.guards.max_text_chars)
        item = self._owned(memory_id, Scope(user_id=user_id, agent_id=agent_id, run_id=run_id), live=True)
        vec = self.embedder.embed([text])[0]
        with self._lock:
            with self.db.transaction() as conn:
                self.db.set_memory_text(conn, memory_id, text, text_hash(text))
                if metadata is not None:
                    self.db.set_metadata(conn, memory_id, {**item.metadata, **metadata})
                self._history(conn, memory_id, "UPDATE", item.memory, text, None, "api", item.scope.key())
            self.index.upsert([memory_id], [vec], [item.scope.as_filters()])
        return {"message": mem0_compat.UPDATED, "id": memory_id, "memory": text, "event": "UPDATE",
                "previous_memory": item.memory}

    def delete(self, memory_id: str, *, user_id: str | None = None, agent_id: str | None = None,
               run_id: str | None = None) -> dict[str, Any]:
        item = self._owned(memory_id, Scope(user_id=user_id, agent_id=agent_id, run_id=run_id), live=True)
        self._delete_items([item])
        return {"message": mem0_compat.DELETED, "id": memory_id, "memory": item.memory, "event": "DELETE"}

    def delete_all(self, *, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None,
                   all_scopes: bool = False) -> dict[str, Any]:
        """Delete every memory of the scope (history kept) and forget its conversation state."""
        scope, _ = mem0_compat.resolve_scope("delete_all", dict(user_id=user_id, agent_id=agent_id, run_id=run_id),
                                             all_scopes=all_scopes)
        items = self.db.list(scope)
        self._delete_items(items)
        self.db.clear_state(scope)
        if self.graph:
            self.graph.delete_all(scope)
        return {"message": mem0_compat.DELETED_ALL, "deleted": len(items)}

    def _delete_items(self, items: Sequence[MemoryItem]) -> None:
        with self._lock:
            with self.db.transaction() as conn:
                for item in items:
                    self.db.mark_deleted(conn, item.id)
                    self._history(conn, item.id, "DELETE", item.memory, None, None, "api", item.scope.key())
            self.index.delete([i.id for i in items])

    def history(self, memory_id: str | None = None, *, call_id: str | None = None, user_id: str | None = None,
                agent_id: str | None = None, run_id: str | None = None,
                all_scopes: bool = False) -> list[dict[str, Any]]:
        """History rows of one memory, of one manager call, or (with a scope / all_scopes) of every memory."""
        ids = dict(user_id=user_id, agent_id=agent_id, run_id=run_id)
        if memory_id is None and call_id is None:
            scope, _ = mem0_compat.resolve_scope("history", ids, all_scopes=all_scopes)
            return self.db.history(scope=scope)
        scope = Scope(**ids)
        if self.graph and self.graph.owns(memory_id or "", call_id or ""):  # a relation / entity id or graph call
            return self.graph.history(memory_id, call_id=call_id, scope=scope, check=True)
        if memory_id:
            self._owned(memory_id, scope)
        rows = self.db.history(memory_id=memory_id, call_id=call_id)
        for mid in dict.fromkeys(r["memory_id"] for r in rows) if call_id else ():
            self._owned(mid, scope)
        return rows

    def reset(self) -> dict[str, Any]:
        """Delete every memory, history row and conversation state of every scope."""
        with self._lock:
            self.db.reset()
            self.index.reset()
            if self.graph:
                self.graph.reset()
        return {"message": mem0_compat.RESET}

    def close(self) -> None:
        if getattr(self, "graph", None):
            self.graph.close()
        self.index.close()
        self.db.close()

    # ------------------------------------------------------------------------------------- undo and repair
    def revert(self, *, call_id: str | None = None, memory_id: str | None = None, user_id: str | None = None,
               agent_id: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Undo what one manager call did (all its ops), or the last op applied to one memory."""
        if not (call_id or memory_id):
            raise ValueError("give call_id or memory_id")
        if call_id and self.graph and self.graph.owns_call(call_id):
            return self.graph.revert(call_id, Scope(user_id=user_id, agent_id=agent_id, run_id=run_id))
        seen = self.history(memory_id, call_id=call_id, user_id=user_id, agent_id=agent_id, run_id=run_id)  # guard
        if call_id and not seen:
            raise ValueError(f"no memory operation was recorded under call_id {call_id!r}")
        rows = [r for r in self.db.history(memory_id=memory_id, call_id=call_id)
                if not r["reverted"] and r["event"] in ("ADD", "UPDATE", "DELETE", "CONFIRM")]
        if memory_id and not call_id:
            rows = rows[-1:]
        undone = []
        with self._lock:
            with self.db.transaction() as conn:
                for r in reversed(rows):
                    mid, ev = r["memory_id"], r["event"]
                    if ev == "ADD":
                        self.db.mark_deleted(conn, mid)
                    elif ev == "UPDATE":
                        self.db.set_memory_text(conn, mid, r["old_memory"], text_hash(r["old_memory"]))
                    elif ev == "CONFIRM":  # the evidence it added goes; the text never changed
                        item = self.db.get(mid, include_deleted=True)
                        added = set(r["source_ids"])
                        kept = [s for s in (item.source_ids if item else []) if s not in added]
                        self.db.set_source_ids(conn, mid, kept)
                    else:
                        self.db.mark_deleted(conn, mid, deleted=False)
                    self.db.mark_reverted(conn, r["seq"])
                    self.db.add_history(conn, memory_id=mid, event="REVERT", old=r["new_memory"],
                                        new=r["old_memory"], call_id=r["call_id"], actor="revert",
                                        prompt_version=prompts.PROMPT_VERSION, scope_key=r["scope_key"])
                    undone.append({"memory_id": mid, "undid": ev})
            self.check_consistency(repair=True)
        return undone

    def check_consistency(self, repair: bool = True) -> dict[str, int]:
        """Compare SQLite (truth) with the vector index; re-embed missing vectors, drop orphans."""
        with self._lock:
            live, indexed = self.db.live_ids(), self.index.ids()
            missing, orphans = sorted(live - indexed), sorted(indexed - live)
            if repair and missing:
                items = self.db.get_many(missing)
                vecs = self.embedder.embed([items[i].memory for i in missing])
                self.index.upsert(missing, vecs, [items[i].scope.as_filters() for i in missing])
            if repair and orphans:
                self.index.delete(orphans)
            # a text change that reached SQLite but not the index is caught by re-embedding on demand
            return {"live": len(live), "missing_vectors": len(missing), "orphan_vectors": len(orphans)}

    def reindex(self, batch_size: int = 256) -> dict[str, Any]:
        """Re-embed every live memory with this Memory's embedder, rebuild the index for its dimension, and record
        it as the embedder of the store."""
        with self._lock:
            items = self.db.list()
            vecs = [v for i in range(0, len(items), batch_size)
                    for v in self.embedder.embed([m.memory for m in items[i:i + batch_size]])]
            self.index.reset(dim=self.embedder.dim)
            self.index.upsert([m.id for m in items], vecs, [m.scope.as_filters() for m in items])
            self.db.set_meta("embedder", self._embedder_id())
        return {"reindexed": len(items), "embedder": self._embedder_id()}

    # ----------------------------------------------------------------------------------------- portability
    def export(self, path: str | Path, *, user_id: str | None = None, agent_id: str | None = None,
               run_id: str | None = None, all_scopes: bool = False) -> int:
        """Write the scope's memories with provenance and their full history as JSONL (then its graph, when graph
        memory is on); returns how many memories."""
        scope, _ = mem0_compat.resolve_scope("export", dict(user_id=user_id, agent_id=agent_id, run_id=run_id),
                                             all_scopes=all_scopes)
        return portability.export_jsonl(self, path, scope)

    def import_(self, path: str | Path, *, overwrite: bool = False) -> dict[str, int]:
        """Load an export; memories keep their ids, provenance and history. Existing ids are skipped unless
        overwrite (their history is then kept, not duplicated, plus an IMPORT row). Texts are re-checked and
        re-embedded with this instance's embedder. Graph rows are imported when graph memory is on."""
        return portability.import_jsonl(self, path, overwrite=overwrite)
