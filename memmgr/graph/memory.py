"""GraphMemory: the Mem0g half of `Memory` (entities, directed relations, soft invalidation, graph retrieval).

Writes go to SQLite first (memmgr.graph.tables: the truth, with history and provenance), in one transaction per
`add`, then to the graph database (memmgr.graph.store), which mirrors the current graph for traversal and is
repaired from SQLite when it disagrees (`check_consistency`). Every read and write is scoped like memories.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from memmgr.backends.base import LLMBackend
from memmgr.config import MemoryConfig
from memmgr.embed import Embedder
from memmgr.graph import prompts as gp
from memmgr.graph.manager import extract_entities, generate_relations, resolve_conflicts
from memmgr.graph.store import FalkorGraph
from memmgr.graph.tables import Entity, GraphTables, Relation, event_time
from memmgr.graph.vectors import GraphVectors, relation_text
from memmgr.sanitize import clean_text, norm_text, words
from memmgr.stores.sqlite import SQLiteStore, _parse_key, utcnow
from memmgr.types import ManagerCall, Message, Rejection, Scope, new_id

log = logging.getLogger(__name__)
MAX_SHOWN_RELATIONS = 30  # existing relations shown to conflict resolution


def _phrase(text: str) -> str:
    # possessives name the entity ("What is Maya's dog called?" is about Maya): "maya's" -> "maya"
    return " " + " ".join(w[:-2] if w.endswith("'s") else w for w in words(text.replace("\u2019", "'"))) + " "


def relation_out(r: Relation, **extra: Any) -> dict[str, Any]:
    """A relation as `search` returns it (mem0's source / relationship / destination keys, plus validity)."""
    return {"id": r.id, "source": r.source, "relationship": r.relation, "destination": r.destination,
            **({"when": r.when} if r.when else {}), "valid": r.valid, "valid_from": r.valid_from,
            "invalidated_at": r.invalidated_at, **extra}


class GraphMemory:
    def __init__(self, config: MemoryConfig, db: SQLiteStore, embedder: Embedder, lock: threading.RLock):
        self.config, self.cfg = config, config.graph
        self.db, self.embedder, self._lock = db, embedder, lock
        self.vectors = GraphVectors(embedder)
        # adds of one scope run one at a time (conversation order); other scopes' adds and their manager calls
        # go on meanwhile, and only the writes take the Memory's lock
        self._scope_locks: dict[str, threading.Lock] = {}
        self.tables = GraphTables(db)
        self._store: FalkorGraph | None = None
        # one graph per SQLite store, so that two stores on one server never repair each other's nodes away
        uid = db.get_meta("graph_uid")
        if uid is None:
            uid = new_id()[:8]
            db.set_meta("graph_uid", uid)
        self.graph_key = f"{self.cfg.graph_name}_{uid}"

    @property
    def store(self) -> FalkorGraph:
        """The graph database, started (embedded) or connected on first use and brought in line with SQLite; an
        embedded server that died is started again (and rebuilt from SQLite)."""
        if self._store is not None and self._store.server is not None and self._store.server.proc.poll() is not None:
            with self._lock:
                if self._store is not None and self._store.server is not None and \
                        self._store.server.proc.poll() is not None:
                    log.warning("the embedded graph database exited (%s); starting it again",
                                self._store.server.proc.returncode)
                    self._store.close()
                    self._store = None
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = FalkorGraph(self.cfg.url, self.graph_key)
                    self.check_consistency(repair=True)
        return self._store

    # ------------------------------------------------------------------------------------------------- add
    def add(self, manager: LLMBackend, new: Sequence[Message], scope: Scope, *, ts: datetime | None, today: str,
            source_ids: list[str], style: str, context: dict[str, Any],
            emit: Callable[[ManagerCall], None]) -> dict[str, Any]:
        """Run the three graph calls on the new messages and apply what survives validation; returns mem0's
        shape: {"added_entities": [relations added], "deleted_entities": [relations invalidated]}."""
        out: dict[str, Any] = {"added_entities": [], "deleted_entities": []}
        ents, call = extract_entities(manager, self.config, new=new, today=today, style=style, context=context)
        emit(call)
        if not ents:
            return out
        triples, dates, rel_call = generate_relations(manager, self.config, new=new, entities=ents, today=today,
                                                      style=style, context=context)
        key, when = scope.key(), event_time(ts)
        with self._lock:
            scope_lock = self._scope_locks.setdefault(key, threading.Lock())
        with scope_lock:
            resolved = self._resolve(ents, scope, rel_call)
            ends = {norm_text(n): resolved[norm_text(n)][0] for n, _ in ents}
            for t in [t for t in triples if ends[norm_text(t[0])].id == ends[norm_text(t[2])].id]:
                triples.remove(t)  # two names merged into one entity: the edge would be a loop
                rel_call.context["accepted"] = [a for a in rel_call.context["accepted"] if tuple(a[:3]) != t]
                rel_call.rejected.append(Rejection(stage="graph_relations", reason="self_loop",
                                                   detail="both ends resolve to one entity", item=gp.triple_text(*t)))
            existing = self._around({e.id for e, ev in resolved.values() if ev != "ADD"}, key)
            present = {(r.source_id, r.relation, r.destination_id) for r in existing}
            fresh = [t for t in triples if (ends[norm_text(t[0])].id, t[1], ends[norm_text(t[2])].id) not in present]
            rel_call.applied = [{"event": "NOOP", "relation": gp.triple_text(*t)} for t in triples if t not in fresh]
            invalid, res_call = [], None
            # also without new triples (a retraction obsoletes an edge and adds none, as in mem0), but not after
            # an unparseable relations answer: a manager off the rails this turn decides nothing destructive
            if existing and rel_call.valid:
                invalid, res_call = resolve_conflicts(manager, self.config, conversation=new,
                                                      existing=[(r.id, r.triple()) for r in existing], new=fresh,
                                                      keep=triples, today=today, style=style, context=context)
            with self._lock:
                added = self._apply(scope, key, when, fresh, ends, resolved, invalid, source_ids, rel_call, res_call,
                                    dates)
        emit(rel_call)
        if res_call is not None:
            emit(res_call)
        out["added_entities"] = [relation_out(r) for r in added]
        out["deleted_entities"] = [relation_out(r) for r in self.tables.relations(ids=invalid, include_invalid=True)]
        return out

    def _resolve(self, ents: Sequence[tuple[str, str]], scope: Scope,
                 call: ManagerCall) -> dict[str, tuple[Entity, str | None]]:
        """Each extracted name -> (entity, event): an entity of the scope known under that surface form (None),
        one of the same type whose name embeds within `entity_threshold` of it (MERGE: the form becomes an alias),
        or a new one (ADD). Nothing is written here."""
        key = scope.key()
        known = {e.id: e for e in self.tables.entities(scope) if e.scope.key() == key}
        forms = {norm_text(f): e for e in known.values() for f in [e.name, *e.aliases]}
        out: dict[str, tuple[Entity, str | None]] = {}
        merged: dict[str, Entity] = {}  # entity id -> its copy with this call's aliases
        for name, etype in ents:
            n = norm_text(name)
            if n in forms:
                out[n] = (forms[n], None)
                continue
            # the nearest entity of this scope key and type (a person never merges into a city)
            pool = [e for e in known.values() if e.type == etype]
            sims = self.vectors.scores(name, [e.name for e in pool])
            best, score = max(zip(pool, sims), key=lambda p: p[1]) if pool else (None, -1.0)
            if best is not None and score >= self.cfg.entity_threshold:
                base = merged.get(best.id, best)
                merged[best.id] = base.model_copy(update={"aliases": [*base.aliases, name]})
                out[n] = (merged[best.id], "MERGE")
                forms[n] = merged[best.id]
                call.context.setdefault("merged", []).append({"form": name, "into": best.name, "score": score})
            else:
                out[n] = (Entity(id=new_id(), name=name, type=etype, created_at=utcnow(), **scope.as_filters()), "ADD")
        return out

    def _around(self, entity_ids: set[str], key: str) -> list[Relation]:
        """The valid relations of exactly this scope key touching the entities (what the new triples may
        contradict or repeat), newest first, at most MAX_SHOWN_RELATIONS."""
        if not entity_ids:
            return []
        ids = self.store.neighbourhood(sorted(entity_ids), {}, hops=1)
        rels = [r for r in self.tables.relations(ids=sorted(ids)) if r.scope.key() == key]
        return rels[::-1][:MAX_SHOWN_RELATIONS]

    def _apply(self, scope: Scope, key: str, when: str, fresh: Sequence[tuple[str, str, str]],
               ends: dict[str, Entity], resolved: dict[str, tuple[Entity, str | None]], invalid: list[str],
               source_ids: list[str], rel_call: ManagerCall, res_call: ManagerCall | None,
               dates: dict[tuple[str, str, str], str]) -> list[Relation]:
        # a revert / delete_all may have run while the manager was thinking: keep only what still holds
        known = [e.id for e, ev in resolved.values() if ev != "ADD"]
        alive = {e.id for e in self.tables.entities(ids=known)}
        fresh = [t for t in fresh if all(ends[norm_text(x)].id in alive or resolved[norm_text(x)][1] == "ADD"
                                         for x in (t[0], t[2]))]
        old = {r.id: r for r in self.tables.relations(ids=invalid)}  # valid ones only
        invalid[:] = [i for i in invalid if i in old]
        used = {norm_text(x) for s, _, d in fresh for x in (s, d)}
        new_ents = [e for n, (e, ev) in resolved.items() if ev == "ADD" and n in used]
        merges = [(e, next(a for a in e.aliases if norm_text(a) == n)) for n, (e, ev) in resolved.items()
                  if ev == "MERGE" and n in used]
        added = [Relation(id=new_id(), source_id=ends[norm_text(s)].id, relation=r,
                          destination_id=ends[norm_text(d)].id, source=ends[norm_text(s)].name,
                          destination=ends[norm_text(d)].name, valid_from=when, created_at=utcnow(),
                          when=dates.get((s, r, d)), source_ids=source_ids, **scope.as_filters()) for s, r, d in fresh]

        def hist(conn: Any, call: ManagerCall, item_id: str, kind: str, event: str, before: Any, after: Any) -> None:
            self.tables.add_history(conn, item_id=item_id, kind=kind, event=event, old=before, new=after,
                                    call_id=call.call_id, actor=f"{call.backend}/{call.prompt_style}",
                                    prompt_version=gp.GRAPH_PROMPT_VERSION, scope_key=key, source_ids=source_ids)

        with self.db.transaction() as conn:
            for e in new_ents:
                e.source_ids = source_ids
                self.tables.insert_entity(conn, e, key)
                hist(conn, rel_call, e.id, "entity", "ADD", None, {"name": e.name, "type": e.type})
            for e, form in merges:
                before = [a for a in e.aliases if a != form]
                self.tables.set_aliases(conn, e.id, [*before, form])
                hist(conn, rel_call, e.id, "entity", "MERGE", {"aliases": before}, {"aliases": [*before, form],
                                                                                  "form": form})
            for r in added:
                self.tables.insert_relation(conn, r, key)
                hist(conn, rel_call, r.id, "relation", "ADD", None, {"triple": list(r.triple()), "valid_from": when,
                                                                      **({"when": r.when} if r.when else {})})
            for rid in invalid:
                at = max(when, old[rid].valid_from)  # messages out of order must not make an empty interval
                self.tables.set_validity(conn, rid, False, at)
                hist(conn, res_call, rid, "relation", "INVALIDATE", {"valid": True, "triple": list(old[rid].triple())},
                     {"valid": False, "invalidated_at": at})
        rel_call.applied += ([{"event": "ADD", "relation": gp.triple_text(*r.triple()), "id": r.id} for r in added]
                             + [{"event": "MERGE", "entity": e.name, "form": f} for e, f in merges])
        if res_call is not None:
            res_call.applied = [{"event": "INVALIDATE", "relation": gp.triple_text(*old[i].triple()), "id": i}
                                for i in invalid]
        try:
            self.store.upsert_entities([e.model_dump() for e in new_ents])
            self.store.upsert_relations([r.model_dump() for r in added])
            self.store.set_valid(invalid, False)
        except Exception:  # SQLite holds the truth; check_consistency() repairs the graph database from it
            log.exception("graph database write failed; run check_consistency() to repair")
        return added

    # ---------------------------------------------------------------------------------------------- search
    def search(self, query: str, scope: Scope, *, limit: int | None = None,
               as_of: datetime | date | str | None = None, include_invalid: bool = False) -> list[dict[str, Any]]:
        """The scope's relations for `query`: entity-centric (entities named in the query or embedding within
        `entity_threshold` of it, then their `hops` neighbourhood) ranked first, then triplet matching (query vs
        "source relation destination" >= `triplet_threshold`). Only valid relations; with `as_of` those valid at
        that event time; with `include_invalid` the history too (each with its validity interval)."""
        at = None if as_of is None else event_time(as_of)
        history = at is not None or include_invalid
        limit = limit or self.cfg.search_limit
        filters = scope.as_filters()
        rels = [r for r in self.tables.relations(scope, include_invalid=history) if include_invalid or r.valid_at(at)]
        if not rels:
            return []
        query = clean_text(query)
        q = _phrase(query)
        ents = self.tables.entities(scope)
        esims = self.vectors.scores(query, [e.name for e in ents])
        hit = [e.id for e, s in zip(ents, esims) if s >= self.cfg.entity_threshold
               or any(_phrase(f).strip() and _phrase(f) in q for f in [e.name, *e.aliases])]
        near = self.store.neighbourhood(hit, filters, hops=self.cfg.hops, include_invalid=history) if hit else set()
        scored = []
        for r, score in zip(rels, self.vectors.scores(query, [relation_text(r) for r in rels])):
            via = (["entity"] if r.id in near else []) + (["triplet"] if score >= self.cfg.triplet_threshold else [])
            if via:
                scored.append((r.id in near, score, relation_out(r, score=round(score, 4), matched_by=via)))
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        return [s[2] for s in scored[:limit]]

    def get_all(self, scope: Scope, *, include_invalid: bool = False,
                as_of: datetime | date | str | None = None) -> list[dict[str, Any]]:
        """The scope's valid relations; with `as_of` those valid at that event time; `include_invalid`: all."""
        at = None if as_of is None else event_time(as_of)
        rels = self.tables.relations(scope, include_invalid=include_invalid or at is not None)
        return [relation_out(r) for r in rels if include_invalid or r.valid_at(at)]

    def history(self, item_id: str | None = None, *, call_id: str | None = None, scope: Scope | None = None,
                check: bool = False) -> list[dict[str, Any]]:
        """History rows of an entity / relation, of a graph call, or of a scope. `check`: `scope` is the caller's
        (by-id calls): rows written in another scope raise ValueError, as Memory.history does for memories."""
        if check:
            rows = self.tables.history(item_id, call_id)
            if any((s := _parse_key(r["scope_key"] or "")) is None or not (scope or Scope()).contains(s)
                   for r in rows):
                raise ValueError(f"{item_id or call_id} is not in scope {(scope or Scope()).label()}")
            return rows
        return self.tables.history(item_id, call_id, scope)

    def owns(self, item_id: str, call_id: str) -> bool:
        """Whether an id is an entity / relation (or a call id a graph call) with graph history."""
        return bool((item_id and self.tables.history(item_id)) or (call_id and self.owns_call(call_id)))

    # ------------------------------------------------------------------------------------- undo and repair
    def owns_call(self, call_id: str) -> bool:
        return bool(self.tables.history(call_id=call_id))

    def revert(self, call_id: str, scope: Scope) -> list[dict[str, Any]]:
        """Undo what one graph call did: its relations are deleted, its invalidations lifted, its merges undone,
        and its new entities deleted unless a live relation still uses them."""
        rows = self.tables.history(call_id=call_id)
        for r in rows:
            written = _parse_key(r["scope_key"] or "")
            if written is None or not scope.contains(written):
                raise ValueError(f"graph call {call_id} wrote outside scope {scope.label()}")
        rows = [r for r in rows if not r["reverted"] and r["event"] in ("ADD", "MERGE", "INVALIDATE")]
        undone: list[dict[str, Any]] = []
        with self._lock:
            with self.db.transaction() as conn:
                for r in reversed(rows):
                    iid, kind, ev = r["item_id"], r["kind"], r["event"]
                    if kind == "relation" and ev == "ADD":
                        self.tables.mark_deleted(conn, "relation", iid)
                    elif kind == "relation":
                        self.tables.set_validity(conn, iid, True, None)
                    elif ev == "MERGE":
                        self.tables.set_aliases(conn, iid, r["old"]["aliases"])
                    elif conn.execute("SELECT 1 FROM graph_relations WHERE deleted=0 AND (source_id=? OR "
                                      "destination_id=?)", (iid, iid)).fetchone():
                        continue  # a later call's relation still uses this entity
                    else:
                        self.tables.mark_deleted(conn, "entity", iid)
                    self.tables.mark_reverted(conn, r["seq"])
                    self.tables.add_history(conn, item_id=iid, kind=kind, event="REVERT", old=r["new"], new=r["old"],
                                            call_id=call_id, actor="revert", prompt_version=gp.GRAPH_PROMPT_VERSION,
                                            scope_key=r["scope_key"])
                    undone.append({"item_id": iid, "kind": kind, "undid": ev})
            self.check_consistency(repair=True)
        return undone

    def delete_all(self, scope: Scope) -> int:
        """Delete (soft, with history) every entity and relation of the scope."""
        rels, ents = self.tables.relations(scope, include_invalid=True), self.tables.entities(scope)
        with self._lock:
            with self.db.transaction() as conn:
                for kind, item in [("relation", r) for r in rels] + [("entity", e) for e in ents]:
                    self.tables.mark_deleted(conn, kind, item.id)
                    self.tables.add_history(conn, item_id=item.id, kind=kind, event="DELETE", old=None, new=None,
                                            call_id=None, actor="api", prompt_version=gp.GRAPH_PROMPT_VERSION,
                                            scope_key=item.scope.key())
            self.check_consistency(repair=True)
        return len(rels)

    def check_consistency(self, repair: bool = True) -> dict[str, int]:
        """Compare SQLite (truth) with the graph database; upsert what is missing, drop orphans, fix validity."""
        store = self._store if self._store is not None else self.store
        with self._lock:
            live_e, live_r = self.tables.live_ids()
            have_e, have_r = store.ids()
            valid = {r.id for r in self.tables.relations(ids=sorted(live_r))}
            wrong_valid = (store.valid_ids() ^ valid) & have_r & live_r
            report = {"entities": len(live_e), "relations": len(live_r), "missing": len((live_e - have_e) |
                      (live_r - have_r)), "orphans": len((have_e - live_e) | (have_r - live_r)),
                      "wrong_validity": len(wrong_valid)}
            if repair and (report["missing"] or report["orphans"] or wrong_valid):
                store.delete_relations(have_r - live_r)
                store.delete_entities(have_e - live_e)
                store.upsert_entities([e.model_dump() for e in self.tables.entities(ids=sorted(live_e - have_e))])
                rels = self.tables.relations(ids=sorted((live_r - have_r) | wrong_valid), include_invalid=True)
                store.upsert_relations([r.model_dump() for r in rels])
        return report

    def reset(self) -> None:
        with self._lock:
            self.tables.reset()
            self.vectors.forget()
            if self._store is not None:
                self._store.reset()

    def close(self) -> None:
        if self._store is not None:
            if self.db.path == ":memory:" and self.cfg.url:  # nothing can reopen this graph: drop it from the server
                self._store.reset()
            self._store.close()
            self._store = None
