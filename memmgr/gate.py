"""The extract/skip gate: decide from a pair's P(empty), ranked per scope, whether it gets an extraction.

A small manager writes `{"facts": []}` or a fact list with probabilities close to each other, and greedy decoding
turns that into all or nothing: two training seeds of one recipe ranked conv-30's pairs alike (which pairs more
likely hold facts) but one extracted from 75% of them and the other from 2%, because one sat just under 0.5 and the
other just over (eval.p_empty, docs/real_dialogue.md). The level also moves between conversations (the same
student's median P(empty) is 0.46 on conv-30 and 0.59 on conv-26), so one fixed threshold does not carry over.

With `pipeline.extract_rate` set, the gate keeps the level out of it: each pair's P(empty) is ranked among the last
`pipeline.gate_window` pairs of the same scope (this one included); the pair is extracted when its rank is below
`extract_rate` (the manager is then made to write at least one fact, below), else it is skipped without
generating. So a scope's pairs are extracted at about that rate, those most likely to hold facts first. The window
is part of the scope's conversation state in the store (beside its recent messages), so a restarted process, or one
process per `memmgr add`, ranks as one long-lived process would; one scope's history never moves another's
decisions. A scope's first pair ranks 0.5, so with a rate at or below 0.5 it is skipped.

What ranks the pairs (`pipeline.gate_model`):
- unset: the manager's own P('{"facts": []}') (one forward pass over the extraction prompt; the transformers backend).
  On conv-30 it separates the pairs that hold one of the owner's LOCOMO observations from the rest with AUC 0.63: a
  135M student knows that a turn says something, hardly whose it is.
- a gate model (`python -m train.gate`): a logistic regression over the embedder's vectors of the owner's new turns
  and of the other speakers' ones, plus their log word counts, fitted on the extraction labels of an SFT dataset
  (non-empty or not). Same conv-30 pairs: AUC 0.81 (the owner's word count alone: 0.79). It costs two embeddings
  and no manager pass, so it gates any backend. Its P(empty) is 1 - the model's P(facts).
- both (`pipeline.gate_manager_weight` w > 0 beside a gate model): P(empty) = sigmoid(logit(model's) + w *
  logit(manager's)). The manager's level moves with the seed and the conversation, but by about the same logit on
  every pair, which a rank within the window ignores; what the manager adds is its own ordering of the pairs.

An extracted pair's manager call is forced to open its output with `{"facts": ["` where the backend can (the
transformers one), followed by the owner's name when the scope has one (`pipeline.open_with_owner`, the default);
elsewhere it gets a schema with `minItems: 1` and no name (structured outputs: vLLM, OpenAI-compatible servers; a
backend that ignores schemas may still return none). A store that switches between the two rankers keeps
its window, so for up to `gate_window` pairs it ranks the new scores against the old ones.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from memmgr.prompts import extraction_output, is_owner
from memmgr.types import Message

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


def push(history: Sequence[float], p: float, window: int) -> tuple[list[float], float]:
    """A scope's window after a pair with P(empty) `p`, and the pair's rank in it."""
    new = [*history, p][-window:]
    return new, rank_in(new, p)


def scope_ranks(p_empty: Sequence[float], window: int) -> list[float]:
    """The ranks a scope's pairs get, in order (what `ExtractGate.decide` gives them one by one)."""
    history: list[float] = []
    ranks = []
    for p in p_empty:
        history, rank = push(history, p, window)
        ranks.append(rank)
    return ranks


FEATURES = "owner_other_words-v1"  # [vec(owner turns), vec(other turns), log1p words(owner), log1p words(other)]
NOTHING = "(nothing)"  # what is embedded for a side with no turn in the pair


def split_turns(turns: Sequence[tuple[str, str]], owner: Sequence[str]) -> tuple[str, str]:
    """(owner's text, others' text) of the new turns, given as (speaker, text); whose turn is the owner's is decided
    as the extraction prompt marks it (memmgr.prompts.is_owner)."""
    mine = [is_owner(s, owner) for s, _ in turns]
    own = [t for (_, t), m in zip(turns, mine) if m]
    other = [t for (_, t), m in zip(turns, mine) if not m]
    return " ".join(own), " ".join(other)


def gate_features(embedder: Any, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
    """The gate model's inputs for (owner text, other text) pairs: what `train.gate` fits and `GateModel` scores."""
    vecs = embedder.embed([t or NOTHING for pair in pairs for t in pair])
    return [[*vecs[2 * i], *vecs[2 * i + 1], math.log1p(len(o.split())), math.log1p(len(t.split()))]
            for i, (o, t) in enumerate(pairs)]


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class GateModel(BaseModel):
    """A fitted gate (`python -m train.gate` writes it as JSON): P(facts) = sigmoid(weights . features + bias)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["logistic"] = "logistic"
    features: Literal["owner_other_words-v1"] = FEATURES
    embedder: str  # the embedder's name (memmgr.embed): vectors of another embedder mean nothing to the weights
    dim: int
    weights: list[float]
    bias: float
    info: dict[str, Any] = {}  # what it was fitted on and how it scored (train.gate)

    @classmethod
    def load(cls, path: str | Path) -> GateModel:
        try:
            model = cls.model_validate(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ValueError(f"pipeline.gate_model: {path} does not exist") from None
        except (OSError, ValueError, ValidationError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"pipeline.gate_model: {path} is not a gate model ({first})") from None
        if len(model.weights) != 2 * model.dim + 2:
            raise ValueError(f"pipeline.gate_model: {path} has {len(model.weights)} weights, "
                             f"its features need {2 * model.dim + 2}")
        return model

    def p_facts(self, embedder: Any, turns: Sequence[tuple[str, str]], owner: Sequence[str]) -> float:
        x = gate_features(embedder, [split_turns(turns, owner)])[0]
        return _sigmoid(sum(w * v for w, v in zip(self.weights, x)) + self.bias)


# a scope's gate: (extraction prompt, new turns, owner) -> decision
Gate = Callable[[list[dict[str, str]], Sequence[Message], Sequence[str]], GateDecision]


class ExtractGate:
    def __init__(self, rate: float, window: int, model: GateModel | None = None, embedder: Any = None,
                 manager_weight: float = 0.0) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"pipeline.extract_rate must be in (0, 1], got {rate}")
        if window < 1:
            raise ValueError(f"pipeline.gate_window must be >= 1, got {window}")
        if model is not None and getattr(embedder, "name", None) != model.embedder:
            raise ValueError(f"pipeline.gate_model was fitted on {model.embedder} vectors; this memory embeds with "
                             f"{getattr(embedder, 'name', embedder)}")
        self.rate, self.window, self.model, self.embedder = rate, window, model, embedder
        self.manager_weight = manager_weight if model is not None else 0.0

    @classmethod
    def from_config(cls, pipeline: Any, embedder: Any) -> ExtractGate | None:
        """The gate of a `PipelineConfig` (None without `extract_rate`), its gate model loaded."""
        if pipeline.extract_rate is None:
            return None
        model = GateModel.load(pipeline.gate_model) if pipeline.gate_model else None
        return cls(pipeline.extract_rate, pipeline.gate_window, model, embedder, pipeline.gate_manager_weight)

    def _p_empty(self, backend: Any, messages: list[dict[str, str]], new: Sequence[Message],
                 owner: Sequence[str]) -> tuple[float, int]:
        p_model = None
        if self.model is not None:
            turns = [(m.name or m.role, m.content) for m in new]
            p_model = 1.0 - self.model.p_facts(self.embedder, turns, owner)
            if not self.manager_weight:
                return p_model, 0
        score = getattr(backend, "completion_prob", None)
        if score is None:
            what = ("pipeline.gate_manager_weight" if p_model is not None
                    else "pipeline.extract_rate without a gate_model")
            raise ValueError(f"{what} needs a manager that scores completions (the transformers backend); "
                             f"{getattr(backend, 'name', backend)} does not")
        p, n_tokens = score(messages, EMPTY, return_tokens=True)
        if p_model is None:
            return p, n_tokens
        return _sigmoid(_logit(p_model) + self.manager_weight * _logit(p)), n_tokens

    def decide(self, backend: Any, history: Sequence[float], messages: list[dict[str, str]],
               new: Sequence[Message] = (), owner: Sequence[str] = ()) -> GateDecision:
        """`history`: the scope's P(empty) of its last pairs (oldest first), from its conversation state;
        `messages`: the extraction prompt of the pair `new`, whose memory `owner` names."""
        t0 = time.perf_counter()
        p, n_tokens = self._p_empty(backend, messages, new, owner)
        latency = time.perf_counter() - t0
        window, rank = push(history, p, self.window)
        return GateDecision(extract=rank < self.rate, p_empty=p, rank=rank, prompt_tokens=n_tokens,
                            history=window, latency_s=latency)

    def for_scope(self, backend: Any, state: dict[str, Any]) -> Gate:
        """The gate over a scope's conversation state (its `gate` window), which the decision updates."""
        def decide(messages: list[dict[str, str]], new: Sequence[Message], owner: Sequence[str]) -> GateDecision:
            decision = self.decide(backend, state["gate"], messages, new, owner)
            state["gate"] = decision.history
            return decision
        return decide
