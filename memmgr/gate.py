"""The extract/skip gate: decide from P('{"facts": []}') whether a pair gets an extraction, ranked per scope.

A small manager writes `{"facts": []}` or a fact list with probabilities close to each other, and greedy decoding
turns that into all or nothing: two training seeds of one recipe ranked conv-30's pairs alike (which pairs more
likely hold facts) but one extracted from 75% of them and the other from 2%, because one sat just under 0.5 and the
other just over (eval.p_empty, docs/real_dialogue.md). The level also moves between conversations (the same
student's median P(empty) is 0.46 on conv-30 and 0.59 on conv-26), so one fixed threshold does not carry over.

With `pipeline.extract_rate` set, the gate keeps the level out of it: each pair's P(empty) is ranked among the last
`pipeline.gate_window` pairs of the same scope (this one included); the pair is extracted when its rank is below
`extract_rate` (the manager is then made to write at least one fact: its output is forced to open with
`{"facts": ["`), else it is skipped without generating. So a scope's pairs are extracted at about that rate, those
most likely to hold facts first. The window is part of the scope's conversation state in the store (beside its
recent messages), so a restarted process, or one process per `memmgr add`, ranks as one long-lived process would; one
scope's history never moves another's decisions. A scope's first pair ranks 0.5, so with a rate at or below 0.5 it is
skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memmgr.prompts import extraction_output

EMPTY = extraction_output([])  # '{"facts": []}'
NON_EMPTY_PREFIX = EMPTY[: EMPTY.index("[") + 1] + '"'  # '{"facts": ["'


@dataclass
class GateDecision:
    extract: bool
    p_empty: float
    rank: float  # share of the window (this pair included) with a lower P(empty); ties count half
    prompt_tokens: int
    history: list[float]  # the scope's window after this pair: what the conversation state keeps
    latency_s: float = 0.0


def rank_in(history: Sequence[float], p: float) -> float:
    """Mid-rank of `p` among `history` (which holds p itself): 0 = the least likely empty of them all."""
    below = sum(h < p for h in history)
    ties = sum(h == p for h in history)
    return (below + 0.5 * ties) / len(history) if history else 0.0


class ExtractGate:
    def __init__(self, rate: float, window: int) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"pipeline.extract_rate must be in (0, 1], got {rate}")
        if window < 1:
            raise ValueError(f"pipeline.gate_window must be >= 1, got {window}")
        self.rate, self.window = rate, window

    def decide(self, backend: Any, history: Sequence[float], messages: list[dict[str, str]]) -> GateDecision:
        """`history`: the scope's P(empty) of its last pairs (oldest first), from its conversation state."""
        score = getattr(backend, "completion_prob", None)
        if score is None:
            raise ValueError(f"pipeline.extract_rate needs a manager that scores completions (the transformers "
                             f"backend); {getattr(backend, 'name', backend)} does not")
        t0 = time.perf_counter()
        p, n_tokens = score(messages, EMPTY, return_tokens=True)
        latency = time.perf_counter() - t0
        window = [*history, p][-self.window:]
        rank = rank_in(window, p)
        return GateDecision(extract=rank < self.rate, p_empty=p, rank=rank, prompt_tokens=n_tokens,
                            history=window, latency_s=latency)

    def for_scope(self, backend: Any, state: dict[str, Any]) -> Callable[[list[dict[str, str]]], GateDecision]:
        """The gate over a scope's conversation state (its `gate` window), which the decision updates."""
        def decide(messages: list[dict[str, str]]) -> GateDecision:
            decision = self.decide(backend, state["gate"], messages)
            state["gate"] = decision.history
            return decision
        return decide
