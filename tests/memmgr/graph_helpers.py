"""A scripted graph manager for the graph-memory tests (no model): answers each graph stage from its own list."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from memmgr import Memory, MemoryConfig
from memmgr.graph.prompts import graph_stage_of, parse_graph_input
from tests.helpers import ScriptedBackend


def ents(*pairs: tuple[str, str]) -> str:
    return json.dumps({"entities": [{"name": n, "type": t} for n, t in pairs]})


def rels(*triples: tuple[str, str, str]) -> str:
    return json.dumps({"relations": [{"source": s, "relation": r, "destination": d} for s, r, d in triples]})


def inval(*ids: str) -> str:
    return json.dumps({"invalidate": list(ids)})


class GraphScript:
    """Graph stages answered in order from `graph_entities` / `graph_relations` / `graph_resolve` lists (or a
    callable of the parsed prompt); vector stages get `vector(messages)` or no facts."""

    def __init__(self, vector: Callable[[list[dict]], str] | None = None, **stages: list[str] | Callable):
        self.stages = stages
        self.vector = vector
        self.seen: list[dict] = []  # parsed graph prompts, in call order

    def __call__(self, messages: list[dict]) -> str:
        try:
            stage = graph_stage_of(messages)
        except ValueError:
            return self.vector(messages) if self.vector else json.dumps({"facts": []})
        inp = parse_graph_input(messages)
        self.seen.append(inp)
        source = self.stages.get(stage, [])
        if callable(source):
            return source(inp)
        n = sum(1 for s in self.seen if s["stage"] == stage) - 1
        return source[n] if n < len(source) else json.dumps({})


def graph_memory(script: GraphScript, *, mode: str = "graph", path: str | None = None, **graph: object) -> Memory:
    cfg = {"embedder": {"provider": "hash"}, "graph": {"mode": mode, **graph}}
    if path:
        cfg["store"] = {"path": path}
    return Memory(MemoryConfig.load(cfg), manager=ScriptedBackend(script))


def say(text: str, who: str = "Maya", mid: str = "D1:1") -> list[dict]:
    return [{"role": "user", "content": text, "name": who, "id": mid}]


T0, T1, T2 = datetime(2023, 1, 10), datetime(2023, 5, 8), datetime(2023, 9, 1)


def state(mem: Memory) -> tuple:
    """Everything the graph holds, to compare before / after (SQLite truth, history, graph database ids)."""
    t = mem.graph.tables
    return ([e.model_dump() for e in t.entities()], [r.model_dump() for r in t.relations(include_invalid=True)],
            len(t.history()), mem.graph.store.ids(), mem.graph.store.valid_ids())
