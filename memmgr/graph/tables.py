"""The graph's truth in SQLite, next to the memories: entities, relations (with validity intervals and provenance)
and an append-only history of every graph op, written in the same transactions as memory ops.

The graph database (memmgr.graph.store) only mirrors the current graph for traversal and is rebuilt from these
tables whenever it disagrees with them, like the vector index from the memories table.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from memmgr.stores.sqlite import SQLiteStore, utcnow
from memmgr.types import Scope

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_entities (
  id TEXT PRIMARY KEY, scope_key TEXT NOT NULL, user_id TEXT, agent_id TEXT, run_id TEXT, name TEXT NOT NULL,
  type TEXT NOT NULL, aliases TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL,
  source_ids TEXT NOT NULL DEFAULT '[]', deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_gent_scope ON graph_entities(scope_key, deleted);
CREATE TABLE IF NOT EXISTS graph_relations (
  id TEXT PRIMARY KEY, scope_key TEXT NOT NULL, user_id TEXT, agent_id TEXT, run_id TEXT,
  source_id TEXT NOT NULL, relation TEXT NOT NULL, destination_id TEXT NOT NULL,
  valid INTEGER NOT NULL DEFAULT 1, valid_from TEXT NOT NULL, invalidated_at TEXT, created_at TEXT NOT NULL,
  source_ids TEXT NOT NULL DEFAULT '[]', deleted INTEGER NOT NULL DEFAULT 0, when_text TEXT
);
CREATE INDEX IF NOT EXISTS idx_grel_scope ON graph_relations(scope_key, deleted);
CREATE INDEX IF NOT EXISTS idx_grel_ends ON graph_relations(source_id, destination_id);
CREATE TABLE IF NOT EXISTS graph_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, kind TEXT NOT NULL, call_id TEXT,
  event TEXT NOT NULL, old TEXT, new TEXT, created_at TEXT NOT NULL, actor TEXT, prompt_version TEXT,
  scope_key TEXT, source_ids TEXT NOT NULL DEFAULT '[]', reverted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_ghist_item ON graph_history(item_id);
CREATE INDEX IF NOT EXISTS idx_ghist_call ON graph_history(call_id);
"""


def event_time(ts: datetime | date | str | None) -> str:
    """The time key of validity intervals: naive UTC ISO to the second, so that string order is time order
    whether the caller's timestamps were naive (taken as UTC) or aware. None = now."""
    if ts is None or ts == "":
        ts = datetime.now(timezone.utc)
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if not isinstance(ts, datetime):  # a date: its start
        ts = datetime(ts.year, ts.month, ts.day)
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(timespec="seconds")


class Entity(BaseModel):
    id: str
    name: str
    type: str = "entity"
    aliases: list[str] = Field(default_factory=list)  # other surface forms merged into it
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    created_at: str = ""
    source_ids: list[str] = Field(default_factory=list)

    @property
    def scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id)


class Relation(BaseModel):
    """A directed edge source -[relation]-> destination. `valid_from` / `invalidated_at` are event times (the
    messages' timestamps when given, see event_time); `created_at` is when it was written."""

    id: str
    source_id: str
    relation: str
    destination_id: str
    source: str = ""  # entity names, filled on read
    destination: str = ""
    valid: bool = True
    valid_from: str = ""
    invalidated_at: str | None = None
    when: str | None = None  # the date the relation refers to, as said ("the week before 8 May 2023")
    created_at: str = ""
    source_ids: list[str] = Field(default_factory=list)
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    @property
    def scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id)

    def valid_at(self, as_of: str | None) -> bool:
        """Valid now (as_of None), or at the event time `as_of` (an event_time string)."""
        if as_of is None:
            return self.valid
        return self.valid_from <= as_of and (self.invalidated_at is None or self.invalidated_at > as_of)

    def triple(self) -> tuple[str, str, str]:
        return (self.source, self.relation, self.destination)


_ENT_COLS = "id, user_id, agent_id, run_id, name, type, aliases, created_at, source_ids"
_REL_COLS = ("id, user_id, agent_id, run_id, source_id, relation, destination_id, valid, valid_from, invalidated_at, "
             "created_at, source_ids, when_text")


def _where_scope(scope: Scope | None, alias: str = "") -> tuple[str, list[str]]:
    filters = scope.as_filters() if scope else {}
    return "".join(f" AND {alias}{k}=?" for k in filters), list(filters.values())


class GraphTables:
    """Reads and writes of the graph tables over the SQLiteStore's connection (writes take the `conn` of an open
    `SQLiteStore.transaction()`, so graph and memory ops commit together)."""

    def __init__(self, db: SQLiteStore):
        self.db = db
        with db._lock:
            db.conn.executescript(_SCHEMA)
            cols = {r[1] for r in db.conn.execute("PRAGMA table_info(graph_relations)")}
            if "when_text" not in cols:  # a store written before relations had dates
                db.conn.execute("ALTER TABLE graph_relations ADD COLUMN when_text TEXT")

    def _rows(self, sql: str, args: list[Any]) -> list[sqlite3.Row]:
        with self.db._lock:
            return self.db.conn.execute(sql, args).fetchall()

    # ------------------------------------------------------------------------------------------------ reads
    def entities(self, scope: Scope | None = None, ids: list[str] | None = None) -> list[Entity]:
        where, args = _where_scope(scope)
        if ids is not None:
            if not ids:
                return []
            where += f" AND id IN ({','.join('?' * len(ids))})"
            args += list(ids)
        rows = self._rows(f"SELECT {_ENT_COLS} FROM graph_entities WHERE deleted=0{where} ORDER BY created_at, rowid",
                          args)
        return [Entity(**{**dict(r), "aliases": json.loads(r["aliases"]), "source_ids": json.loads(r["source_ids"])})
                for r in rows]

    def relations(self, scope: Scope | None = None, *, ids: list[str] | None = None,
                  include_invalid: bool = False) -> list[Relation]:
        where, args = _where_scope(scope, "r.")
        if ids is not None:
            if not ids:
                return []
            where += f" AND r.id IN ({','.join('?' * len(ids))})"
            args += list(ids)
        if not include_invalid:
            where += " AND r.valid=1"
        cols = ", ".join(f"r.{c.strip()}" for c in _REL_COLS.split(","))
        rows = self._rows(f"SELECT {cols}, s.name AS source, d.name AS destination FROM graph_relations r "
                          "JOIN graph_entities s ON s.id=r.source_id JOIN graph_entities d ON d.id=r.destination_id "
                          f"WHERE r.deleted=0{where} ORDER BY r.valid_from, r.rowid", args)
        return [Relation(**{**dict(r), "valid": bool(r["valid"]), "source_ids": json.loads(r["source_ids"]),
                            "when": r["when_text"]}) for r in rows]

    def history(self, item_id: str | None = None, call_id: str | None = None,
                scope: Scope | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM graph_history WHERE 1=1", []
        for col, val in (("item_id", item_id), ("call_id", call_id)):
            if val:
                sql += f" AND {col}=?"
                args.append(val)
        where, wargs = _where_scope(scope)
        if where:
            sql += (f" AND (item_id IN (SELECT id FROM graph_entities WHERE 1=1{where}) OR item_id IN "
                    f"(SELECT id FROM graph_relations WHERE 1=1{where}))")
            args += wargs + wargs
        out = []
        for r in self._rows(sql + " ORDER BY seq", args):
            d = dict(r)
            d["old"], d["new"] = (json.loads(d[k]) if d[k] else None for k in ("old", "new"))
            d["source_ids"] = json.loads(d["source_ids"])
            out.append(d)
        return out

    def live_ids(self) -> tuple[set[str], set[str]]:
        """(live entity ids, live relation ids) of every scope: what the graph database must mirror."""
        with self.db._lock:
            ents = {r[0] for r in self.db.conn.execute("SELECT id FROM graph_entities WHERE deleted=0")}
            rels = {r[0] for r in self.db.conn.execute("SELECT id FROM graph_relations WHERE deleted=0")}
        return ents, rels

    # ----------------------------------------------------------------------------------------------- writes
    def insert_entity(self, conn: sqlite3.Connection, e: Entity, scope_key: str) -> None:
        conn.execute(f"INSERT OR REPLACE INTO graph_entities ({_ENT_COLS}, scope_key, deleted) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,0)",
                     (e.id, e.user_id, e.agent_id, e.run_id, e.name, e.type, json.dumps(e.aliases),
                      e.created_at or utcnow(), json.dumps(e.source_ids), scope_key))

    def set_aliases(self, conn: sqlite3.Connection, entity_id: str, aliases: list[str]) -> None:
        conn.execute("UPDATE graph_entities SET aliases=? WHERE id=?", (json.dumps(aliases), entity_id))

    def insert_relation(self, conn: sqlite3.Connection, r: Relation, scope_key: str) -> None:
        conn.execute(f"INSERT OR REPLACE INTO graph_relations ({_REL_COLS}, scope_key, deleted) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
                     (r.id, r.user_id, r.agent_id, r.run_id, r.source_id, r.relation, r.destination_id, int(r.valid),
                      r.valid_from, r.invalidated_at, r.created_at or utcnow(), json.dumps(r.source_ids), r.when,
                      scope_key))

    def set_validity(self, conn: sqlite3.Connection, relation_id: str, valid: bool, invalidated_at: str | None) -> None:
        conn.execute("UPDATE graph_relations SET valid=?, invalidated_at=? WHERE id=?",
                     (int(valid), invalidated_at, relation_id))

    def mark_deleted(self, conn: sqlite3.Connection, kind: str, item_id: str, deleted: bool = True) -> None:
        table = "graph_entities" if kind == "entity" else "graph_relations"
        conn.execute(f"UPDATE {table} SET deleted=? WHERE id=?", (int(deleted), item_id))

    def add_history(self, conn: sqlite3.Connection, *, item_id: str, kind: str, event: str, old: Any, new: Any,
                    call_id: str | None, actor: str, prompt_version: str, scope_key: str,
                    source_ids: list[str] | None = None, created_at: str | None = None, reverted: bool = False) -> None:
        conn.execute("INSERT INTO graph_history (item_id, kind, call_id, event, old, new, created_at, actor, "
                     "prompt_version, scope_key, source_ids, reverted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (item_id, kind, call_id, event, None if old is None else json.dumps(old),
                      None if new is None else json.dumps(new), created_at or utcnow(), actor, prompt_version,
                      scope_key, json.dumps(source_ids or []), int(reverted)))

    def mark_reverted(self, conn: sqlite3.Connection, seq: int) -> None:
        conn.execute("UPDATE graph_history SET reverted=1 WHERE seq=?", (seq,))

    def has_history(self, conn: sqlite3.Connection, item_id: str, event: str, created_at: str) -> bool:
        return conn.execute("SELECT 1 FROM graph_history WHERE item_id=? AND event=? AND created_at=?",
                            (item_id, event, created_at)).fetchone() is not None

    def reset(self) -> None:
        with self.db._lock:
            self.db.conn.executescript("DELETE FROM graph_entities; DELETE FROM graph_relations; "
                                       "DELETE FROM graph_history;")
