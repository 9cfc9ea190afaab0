"""Self-consistency filter for teachers: sample n answers, keep the call only when a majority agrees.

Agreement is on the *decisions* (the parsed facts or ops, normalised), not on the raw text. A call without a
strict majority returns an empty answer, which the pipeline treats as an unusable output: the example is dropped
and nothing is applied for that call.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from memmgr.backends.base import Generation
from memmgr.parsing import parse_facts, parse_ops
from memmgr.prompts import parse_update_input, stage_of
from memmgr.sanitize import norm_text


def decision_key(messages: list[dict[str, str]], text: str) -> str:
    if stage_of(messages) == "extract":
        return json.dumps(sorted(norm_text(f) for f in parse_facts(text).facts))
    shown = dict(parse_update_input(messages)["memories"])
    ops = parse_ops(text, shown).ops
    return json.dumps(sorted((o.event, o.id or "", norm_text(o.text)) for o in ops))


class SelfConsistentBackend:
    def __init__(self, inner: Any, n: int, temperature: float = 0.7):
        self.inner, self.n, self.temperature = inner, n, temperature
        self.name = f"{inner.name}+sc{n}"
        self.prompt_style = getattr(inner, "prompt_style", None)  # a trained teacher keeps its manager card's style
        self.agreed = self.disagreed = 0

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        gens = [self.inner.generate(messages, json_schema=json_schema, max_tokens=max_tokens,
                                    temperature=self.temperature) for _ in range(self.n)]
        keys = [decision_key(list(messages), g.text) for g in gens]
        key, votes = Counter(keys).most_common(1)[0]
        usage = dict(prompt_tokens=sum(g.prompt_tokens for g in gens),
                     completion_tokens=sum(g.completion_tokens for g in gens),
                     latency_s=sum(g.latency_s for g in gens))
        if votes * 2 <= self.n:
            self.disagreed += 1
            return Generation(text="", **usage)
        self.agreed += 1
        return Generation(text=gens[keys.index(key)].text, **usage)
