"""SQLite store: memories with provenance, an append-only history of every operation, and conversation state.

It is the source of truth; the vector index is derived from it and can be rebuilt (see Memory.check_consistency).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from memmgr.settings import ConfigError
from memmgr.types import MemoryItem, Scope

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
  id TEXT PRIMARY KEY, scope_key TEXT NOT NULL, user_id TEXT, agent_id TEXT, run_id TEXT,
  memory TEXT NOT NULL, hash TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT,
  source_ids TEXT NOT NULL DEFAULT '[]', session_date TEXT, metadata TEXT NOT NULL DEFAULT '{}',
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_mem_scope ON memories(scope_key, deleted);
CREATE INDEX IF NOT EXISTS idx_mem_hash ON memories(scope_key, hash, deleted);
CREATE TABLE IF NOT EXISTS history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id TEXT NOT NULL, call_id TEXT, event TEXT NOT NULL,
  old_memory TEXT, new_memory TEXT, created_at TEXT NOT NULL, actor TEXT, prompt_version TEXT,
  scope_key TEXT, source_ids TEXT NOT NULL DEFAULT '[]', reverted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_hist_mem ON history(memory_id);
CREATE INDEX IF NOT EXISTS idx_hist_call ON history(call_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conv_state (
  scope_key TEXT PRIMARY KEY, summary TEXT NOT NULL DEFAULT '', recent TEXT NOT NULL DEFAULT '[]',
  pairs_seen INTEGER NOT NULL DEFAULT 0, pairs_since_summary INTEGER NOT NULL DEFAULT 0,
  gate TEXT NOT NULL DEFAULT '[]'
);
"""

_MEM_COLS = "id, user_id, agent_id, run_id, memory, hash, created_at, updated_at, source_ids, session_date, metadata"


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


def _row_to_item(row: sqlite3.Row) -> MemoryItem:
    d = dict(row)
    d["source_ids"] = json.loads(d.get("source_ids") or "[]")
    d["metadata"] = json.loads(d.get("metadata") or "{}")
    return MemoryItem(**{k: d[k] for k in d if k in MemoryItem.model_fields})


def _hist_key(h: dict[str, Any]) -> tuple:
    return (h.get("event", "ADD"), h.get("created_at"), h.get("old_memory"), h.get("new_memory"), h.get("call_id"))


def _parse_key(key: str) -> Scope | None:
    """Scope.key() back into a Scope; None when an id holds '|' and the key is ambiguous."""
    parts = key.split("|")
    if len(parts) != 3 or [p[:2] for p in parts] != ["u=", "a=", "r="]:
        return None
    u, a, r = (p[2:] or None for p in parts)
    return Scope(user_id=u, agent_id=a, run_id=r)


class SQLiteStore:
    """Memories (with provenance), their append-only history and per-scope conversation state, in one database."""

    def __init__(self, path: str = ":memory:"):
        self.path = path
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(history)")}
        if cols and "seq" not in cols:
            self.conn.close()
            raise ConfigError(f"{path} holds a history table memmgr did not write (a mem0 history database?): "
                              "give memmgr a file of its own")
        self.conn.executescript(_SCHEMA)
        if "gate" not in {r[1] for r in self.conn.execute("PRAGMA table_info(conv_state)")}:  # a store from before
            self.conn.execute("ALTER TABLE conv_state ADD COLUMN gate TEXT NOT NULL DEFAULT '[]'")

    def get_meta(self, key: str) -> Any:
        with self._lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def embedder_mismatch(self, current: dict[str, Any]) -> str | None:
        """On first use record `current` ({name, dim}) as the embedder that builds this store; later, a one-line
        problem when `current` is another one."""
        built_by = self.get_meta("embedder")
        if built_by is None:
            self.set_meta("embedder", current)
            return None
        if built_by == current:
            return None
        return (f"built with embedder {built_by['name']} (dim {built_by['dim']}) but this Memory uses "
                f"{current['name']} (dim {current['dim']}): configure the same embedder, or re-embed every memory "
                "with `memmgr reindex` / Memory(..., reindex=True)")

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self.conn.execute("INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET "
                              "value=excluded.value", (key, json.dumps(value)))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: either every write of an apply lands or none does."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # --------------------------------------------------------------------------------------------- memories
    def insert_memory(self, conn: sqlite3.Connection, item: MemoryItem, scope_key: str) -> None:
        conn.execute(
            f"INSERT INTO memories ({_MEM_COLS}, scope_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (item.id, item.user_id, item.agent_id, item.run_id, item.memory, item.hash, item.created_at,
             item.updated_at, json.dumps(item.source_ids), item.session_date, json.dumps(item.metadata), scope_key),
        )

    def set_memory_text(self, conn: sqlite3.Connection, memory_id: str, text: str, hash_: str,
                        source_ids: list[str] | None = None, deleted: bool = False) -> None:
        if source_ids is None:
            conn.execute("UPDATE memories SET memory=?, hash=?, updated_at=?, deleted=? WHERE id=?",
                         (text, hash_, utcnow(), int(deleted), memory_id))
        else:
            conn.execute("UPDATE memories SET memory=?, hash=?, updated_at=?, deleted=?, source_ids=? WHERE id=?",
                         (text, hash_, utcnow(), int(deleted), json.dumps(source_ids), memory_id))

    def set_source_ids(self, conn: sqlite3.Connection, memory_id: str, source_ids: list[str]) -> None:
        conn.execute("UPDATE memories SET source_ids=? WHERE id=?", (json.dumps(source_ids), memory_id))

    def set_metadata(self, conn: sqlite3.Connection, memory_id: str, metadata: dict[str, Any]) -> None:
        conn.execute("UPDATE memories SET metadata=? WHERE id=?", (json.dumps(metadata), memory_id))

    def mark_deleted(self, conn: sqlite3.Connection, memory_id: str, deleted: bool = True) -> None:
        conn.execute("UPDATE memories SET deleted=?, updated_at=? WHERE id=?", (int(deleted), utcnow(), memory_id))

    def get(self, memory_id: str, include_deleted: bool = False) -> MemoryItem | None:
        with self._lock:
            row = self.conn.execute(
                f"SELECT {_MEM_COLS} FROM memories WHERE id=?" + ("" if include_deleted else " AND deleted=0"),
                (memory_id,),
            ).fetchone()
        return _row_to_item(row) if row else None

    def get_many(self, ids: list[str]) -> dict[str, MemoryItem]:
        if not ids:
            return {}
        with self._lock:
            rows = self.conn.execute(
                f"SELECT {_MEM_COLS} FROM memories WHERE deleted=0 AND id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
        return {r["id"]: _row_to_item(r) for r in rows}

    def list(self, scope: Scope | None = None, limit: int | None = None) -> list[MemoryItem]:
        sql, args = f"SELECT {_MEM_COLS} FROM memories WHERE deleted=0", []
        for key, val in (scope.as_filters() if scope else {}).items():
            sql += f" AND {key}=?"
            args.append(val)
        sql += " ORDER BY created_at, rowid"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return [_row_to_item(r) for r in self.conn.execute(sql, args).fetchall()]

    def live_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self.conn.execute("SELECT id FROM memories WHERE deleted=0")}

    def find_by_hash(self, conn: sqlite3.Connection, scope_key: str, hash_: str) -> str | None:
        row = conn.execute("SELECT id FROM memories WHERE scope_key=? AND hash=? AND deleted=0",
                           (scope_key, hash_)).fetchone()
        return row[0] if row else None

    def is_live(self, conn: sqlite3.Connection, memory_id: str) -> bool:
        return conn.execute("SELECT 1 FROM memories WHERE id=? AND deleted=0", (memory_id,)).fetchone() is not None

    # ---------------------------------------------------------------------------------------------- history
    def add_history(self, conn: sqlite3.Connection, *, memory_id: str, event: str, old: str | None,
                    new: str | None, call_id: str | None, actor: str, prompt_version: str, scope_key: str,
                    source_ids: list[str] | None = None) -> None:
        conn.execute(
            "INSERT INTO history (memory_id, call_id, event, old_memory, new_memory, created_at, actor, "
            "prompt_version, scope_key, source_ids) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (memory_id, call_id, event, old, new, utcnow(), actor, prompt_version, scope_key,
             json.dumps(source_ids or [])),
        )

    def history(self, memory_id: str | None = None, call_id: str | None = None,
                scope: Scope | None = None) -> list[dict[str, Any]]:
        """History rows, by memory and/or call, and/or of the memories in `scope`."""
        sql, args = "SELECT h.* FROM history h WHERE 1=1", []
        if memory_id:
            sql += " AND h.memory_id=?"
            args.append(memory_id)
        if call_id:
            sql += " AND h.call_id=?"
            args.append(call_id)
        filters = scope.as_filters() if scope else {}
        if filters:
            sql += " AND h.memory_id IN (SELECT id FROM memories WHERE " + " AND ".join(f"{k}=?" for k in filters) + ")"
            args.extend(filters.values())
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY h.seq", args).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["source_ids"] = json.loads(d["source_ids"] or "[]")
            out.append(d)
        return out

    def mark_reverted(self, conn: sqlite3.Connection, seq: int) -> None:
        conn.execute("UPDATE history SET reverted=1 WHERE seq=?", (seq,))

    # ------------------------------------------------------------------------------------------ import/export
    def restore_memory(self, conn: sqlite3.Connection, item: MemoryItem, scope_key: str,
                       history: list[dict[str, Any]]) -> None:
        """Write an exported memory under its own id (replacing a row with that id) and append its exported
        history rows as they were (timestamps, actors and revert flags kept), except rows already present."""
        conn.execute("DELETE FROM memories WHERE id=?", (item.id,))
        self.insert_memory(conn, item, scope_key)
        have = {_hist_key(dict(r)) for r in conn.execute("SELECT * FROM history WHERE memory_id=?", (item.id,))}
        for h in history:
            if _hist_key(h) in have:
                continue
            have.add(_hist_key(h))
            conn.execute(
                "INSERT INTO history (memory_id, call_id, event, old_memory, new_memory, created_at, actor, "
                "prompt_version, scope_key, source_ids, reverted) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (item.id, h.get("call_id"), h.get("event", "ADD"), h.get("old_memory"), h.get("new_memory"),
                 h.get("created_at", utcnow()), h.get("actor"), h.get("prompt_version"), scope_key,
                 json.dumps(h.get("source_ids", [])), int(h.get("reverted", 0))),
            )

    # ------------------------------------------------------------------------------------ conversation state
    def get_state(self, scope_key: str) -> dict[str, Any]:
        with self._lock:
            row = self.conn.execute("SELECT * FROM conv_state WHERE scope_key=?", (scope_key,)).fetchone()
        if not row:
            return {"summary": "", "recent": [], "pairs_seen": 0, "pairs_since_summary": 0, "gate": []}
        d = dict(row)
        d["recent"] = json.loads(d["recent"])
        d["gate"] = json.loads(d["gate"])
        return d

    def set_state(self, scope_key: str, summary: str, recent: list[dict[str, Any]], pairs_seen: int,
                  pairs_since_summary: int, gate: list[float] | None = None) -> None:
        """`gate`: the scope's recent P(empty) scores (memmgr.gate), kept so a restart ranks as before."""
        with self._lock:
            self.conn.execute(
                "INSERT INTO conv_state (scope_key, summary, recent, pairs_seen, pairs_since_summary, gate) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(scope_key) DO UPDATE SET summary=excluded.summary, "
                "recent=excluded.recent, pairs_seen=excluded.pairs_seen, "
                "pairs_since_summary=excluded.pairs_since_summary, gate=excluded.gate",
                (scope_key, summary, json.dumps(recent, default=str), pairs_seen, pairs_since_summary,
                 json.dumps(list(gate or []))),
            )

    def clear_state(self, scope: Scope) -> int:
        """Forget the conversation state (summary, recent messages) of every scope key inside `scope`."""
        with self._lock:
            keys = [r[0] for r in self.conn.execute("SELECT scope_key FROM conv_state")]
            gone = [k for k in keys if (s := _parse_key(k)) is not None and scope.contains(s)]
            self.conn.executemany("DELETE FROM conv_state WHERE scope_key=?", [(k,) for k in gone])
        return len(gone)

    def reset(self) -> None:
        with self._lock:
            self.conn.executescript("DELETE FROM memories; DELETE FROM history; DELETE FROM conv_state;")

    def close(self) -> None:
        with self._lock:
            self.conn.close()
