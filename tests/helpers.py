"""Test doubles: a deterministic scripted manager backend (never part of the library's defaults)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from memmgr.backends.base import Generation
from memmgr.prompts import parse_extraction_input, parse_update_input, stage_of


class ScriptedBackend:
    """Replays fixed answers in order (cycling the last), or calls `fn(messages) -> str`."""

    def __init__(self, responses: Sequence[str] | Callable[[list[dict[str, str]]], str], name: str = "scripted"):
        self.responses = responses
        self.name = name
        self.calls: list[list[dict[str, str]]] = []

    @classmethod
    def from_config(cls, cfg):
        """`backend: tests.helpers:ScriptedBackend` in a MemoryConfig: model "echo" = echo_manager."""
        scripts = {"echo": echo_manager, "echo-graph": graph_echo_manager}
        return cls(scripts.get(cfg.model) or [cfg.extra.get("response", "{}")], name=cfg.model)

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        self.calls.append(list(messages))
        if callable(self.responses):
            text = self.responses(list(messages))
        else:
            i = min(len(self.calls) - 1, len(self.responses) - 1)
            text = self.responses[i]
        return Generation(text=text, prompt_tokens=sum(len(m["content"].split()) for m in messages),
                          completion_tokens=len(str(text).split()), latency_s=0.0)


def echo_manager(messages: list[dict[str, str]]) -> str:
    """A well-behaved toy manager: every new turn becomes a fact ("Maya said ...", the other speaker's as said to
    the memory's owner: "Bot told Maya ..."); every fact is ADDed unless already shown."""
    if stage_of(messages) == "extract":
        inp = parse_extraction_input(messages)
        owner = ", ".join(inp["owner"])

        def fact(t: dict) -> str:
            mine = not owner or t["name"].lower() in {o.lower() for o in inp["owner"]}
            return f"{t['name']} said {t['text']}" if mine else f"{t['name']} told {owner} {t['text']}"

        return json.dumps({"facts": [fact(t) for t in inp["new"] if t["text"]]})
    inp = parse_update_input(messages)
    shown = {text: i for i, text in inp["memories"]}
    ops = []
    for fact in inp["facts"]:
        if fact in shown:
            ops.append({"id": shown[fact], "text": fact, "event": "NOOP"})
        else:
            ops.append({"id": "new", "text": fact, "event": "ADD"})
    return json.dumps({"memory": ops})


_LIVES = re.compile(r"\bI (?:live|moved) (?:in|to) ([A-Z]\w+)")


def graph_echo_manager(messages: list[dict[str, str]]) -> str:
    """echo_manager, and for the graph manager's prompts: "I live in / moved to <Place>" makes (speaker, lives_in,
    Place); conflict resolution invalidates the speaker's other lives_in relations."""
    from memmgr.graph.prompts import (
        entities_output,
        graph_stage_of,
        parse_graph_input,
        relations_output,
        resolve_output,
    )

    try:
        stage = graph_stage_of(messages)
    except ValueError:
        return echo_manager(messages)
    inp = parse_graph_input(messages)
    pairs = [(t["name"], m.group(1)) for t in inp.get("new", []) if (m := _LIVES.search(t["text"]))]
    if stage == "graph_entities":
        return entities_output([e for n, c in pairs for e in ((n, "person"), (c, "city"))])
    if stage == "graph_relations":
        return relations_output([(n, "lives_in", c) for n, c in pairs])
    new = {(s, r) for s, r, _ in inp.get("relations", [])}
    return resolve_output([i for i, (s, r, d) in inp.get("existing", []) if (s, r) in new
                           and (s, r, d) not in inp.get("relations", [])])


class StageScript:
    """Answers extraction calls from `extract` and update calls from `update` (lists consumed in order, or a
    callable taking the parsed prompt inputs)."""

    def __init__(self, extract, update):
        self.extract, self.update = extract, update
        self.n = {"extract": 0, "update": 0, "summary": 0}

    def __call__(self, messages: list[dict[str, str]]) -> str:
        try:
            stage = stage_of(messages)
        except ValueError:
            self.n["summary"] += 1
            return "A short summary."
        source = self.extract if stage == "extract" else self.update
        inputs = parse_extraction_input(messages) if stage == "extract" else parse_update_input(messages)
        i = self.n[stage]
        self.n[stage] += 1
        if callable(source):
            return source(inputs)
        return source[min(i, len(source) - 1)]


def pair(a: str, b: str = "Cool.", *, who: str = "Maya", other: str = "Bot", ids=("D1:1", "D1:2")) -> list[dict]:
    return [{"role": "user", "content": a, "name": who, "id": ids[0]},
            {"role": "assistant", "content": b, "name": other, "id": ids[1]}]
