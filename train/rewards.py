"""GRPO rewards: pure functions `f(completions, **columns) -> list[float | None]` over `memmgr.scoring`.

TRL passes every dataset column as a keyword list aligned with `completions` (plus prompts, completion_ids, ...).
A reward returns None where it does not apply (e.g. fact F1 on an update call); TRL then ignores it for that row.
Each reward calls the scorer that eval/ reports, so RL optimises exactly what is measured. Weights live in the GRPO
config (`reward_funcs` + TRL's `reward_weights`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from typing import Any

from memmgr.parsing import parse_facts, parse_ops
from memmgr.sanitize import words
from memmgr.scoring import (
    apply_ops_to_snapshot,
    change_scores,
    outcome_scores,
    score_extraction,
    score_row,
    score_update,
)

Reward = Callable[..., list[float | None]]


def completion_text(c: Any) -> str:
    """Plain or conversational completion ([{'role': 'assistant', 'content': ...}]) -> text."""
    if isinstance(c, str):
        return c
    if isinstance(c, list) and c and isinstance(c[-1], dict):
        return str(c[-1].get("content", ""))
    if isinstance(c, dict):
        return str(c.get("content", ""))
    return ""


def _label(label: str) -> dict[str, Any]:
    try:
        obj = json.loads(label)
    except (TypeError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _shown(raw: Any) -> list[list[str]]:
    if not raw:
        return []
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [[str(i), str(t)] for i, t in items]


def format_reward(completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any] | None = None,
                  **kw: Any) -> list[float | None]:
    """1 if the answer parses into the stage's schema with nothing rejected, 0.5 if it parses but some items were
    rejected (unknown ids, empty text, duplicates), 0 if it does not parse."""
    out: list[float | None] = []
    shown = shown_memories or [None] * len(completions)
    for c, st, sm in zip(completions, stage, shown, strict=True):
        text = completion_text(c)
        if st.startswith("graph_"):
            p = _parse_graph(text, st, sm)
        elif st == "extract":
            p = parse_facts(text)
        else:
            p = parse_ops(text, dict(_shown(sm)))
        out.append(0.0 if not p.valid else (1.0 if not p.rejected else 0.5))
    return out


def _parse_graph(text: str, stage: str, shown: Any) -> Any:
    from memmgr.graph.parsing import parse_entities, parse_invalidations, parse_relations

    if stage == "graph_entities":
        return parse_entities(text)
    if stage == "graph_relations":
        return parse_relations(text)
    return parse_invalidations(text, [i for i, _ in _shown(shown)])


def graph_f1_reward(completions: Sequence[Any], stage: Sequence[str], label: Sequence[str],
                    shown_memories: Sequence[Any], **kw: Any) -> list[float | None]:
    """Graph-manager calls: F1 of the entities / triples / invalidated ids against the label (the scorer
    eval.manager reports for graph rows, memmgr.graph.scoring); None on vector-manager calls."""
    out: list[float | None] = []
    for c, st, lab, sm in zip(completions, stage, label, shown_memories, strict=True):
        if not st.startswith("graph_"):
            out.append(None)
            continue
        out.append(score_row({"stage": st, "label": lab, "shown_memories": sm}, completion_text(c))["f1"])
    return out


def op_agreement_reward(completions: Sequence[Any], stage: Sequence[str], label: Sequence[str],
                        shown_memories: Sequence[Any], **kw: Any) -> list[float | None]:
    """Update calls: mean of per-op event accuracy and target-id accuracy against the label (score_update)."""
    out: list[float | None] = []
    for c, st, lab, sm in zip(completions, stage, label, shown_memories, strict=True):
        if st != "update":
            out.append(None)
            continue
        s = score_update(completion_text(c), _label(lab).get("memory", []), dict(_shown(sm)))
        out.append(0.5 * s["op_accuracy"] + 0.5 * s["id_accuracy"] if s["parseable"] else 0.0)
    return out


def fact_f1_reward(completions: Sequence[Any], stage: Sequence[str], label: Sequence[str],
                   **kw: Any) -> list[float | None]:
    """Extraction calls: F1 of the predicted fact set against the label's (normalised-token matching)."""
    out: list[float | None] = []
    for c, st, lab in zip(completions, stage, label, strict=True):
        if st != "extract":
            out.append(None)
            continue
        out.append(score_extraction(completion_text(c), _label(lab).get("facts", []))["f1"])
    return out


def hallucinated_id_penalty(completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any],
                            label: Sequence[str] | None = None, **kw: Any) -> list[float | None]:
    """Update calls: -1 per op naming an id that was not shown (or UPDATE/DELETE without one), floored at -1."""
    out: list[float | None] = []
    labels = label or ['{"memory": []}'] * len(completions)
    for c, st, sm, lab in zip(completions, stage, shown_memories, labels, strict=True):
        if st != "update":
            out.append(None)
            continue
        s = score_update(completion_text(c), _label(lab).get("memory", []), dict(_shown(sm)))
        out.append(-min(1.0, float(s["hallucinated_ids"])) or 0.0)  # never -0.0 in logs
    return out


def length_reward(completions: Sequence[Any], label: Sequence[str], slack: float = 1.25,
                  **kw: Any) -> list[float | None]:
    """Concision: 0 up to `slack` x the label's length, then linearly down to -1 at twice that (rambling, loops)."""
    out: list[float | None] = []
    for c, lab in zip(completions, label, strict=True):
        n, budget = len(completion_text(c)), max(len(lab), 16) * slack
        out.append(-min(1.0, max(0.0, (n - budget) / budget)) or 0.0)
    return out


def outcome_reward(completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any],
                   gold_after: Sequence[str], **kw: Any) -> list[float | None]:
    """Update calls with a gold world: apply the proposed ops to the shown snapshot, F1 of the resulting memory
    state against the gold state (state-level credit, as in Memory-R1, without an answerer in the loop)."""
    return _gold_world_reward(outcome_scores, completions, stage, shown_memories, gold_after)


def change_reward(completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any],
                  gold_after: Sequence[str], **kw: Any) -> list[float | None]:
    """Update calls with a gold world: F1 of the change the proposed ops make to the shown snapshot against the gold
    change (memmgr.scoring.change_scores): unlike `outcome`, the shown memories no op touches earn nothing, so a
    NOOP where an UPDATE was due scores 0."""
    return _gold_world_reward(change_scores, completions, stage, shown_memories, gold_after)


def _gold_world_reward(score: Any, completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any],
                       gold_after: Sequence[str]) -> list[float | None]:
    """`score(answer, shown snapshot, gold state)["f1"]` for update rows with a gold world; None for the rest."""
    out: list[float | None] = []
    for c, st, sm, ga in zip(completions, stage, shown_memories, gold_after, strict=True):
        out.append(score(completion_text(c), _shown(sm), json.loads(ga))["f1"] if st == "update" and ga else None)
    return out


def qa_answer_reward(completions: Sequence[Any], stage: Sequence[str], shown_memories: Sequence[Any],
                     qa_answers: Sequence[str] | None = None, **kw: Any) -> list[float | None]:
    """Where QA gold exists (column `qa_answers`: JSON list of gold answers whose evidence is in this call): share of
    answers whose words all appear in one memory of the resulting state. A cheap, LLM-free proxy for Memory-R1's
    answer reward: the state must still hold what the questions need."""
    if qa_answers is None:
        return [None] * len(completions)
    out: list[float | None] = []
    for c, st, sm, qa in zip(completions, stage, shown_memories, qa_answers, strict=True):
        answers = json.loads(qa) if qa else []
        if st != "update" or not answers:
            out.append(None)
            continue
        shown = _shown(sm)
        parsed = parse_ops(completion_text(c), dict(shown))
        state = apply_ops_to_snapshot(shown, parsed.ops) if parsed.valid else [t for _, t in shown]
        mem_words = [set(words(m)) for m in state]
        hit = sum(1 for a in answers if words(str(a)) and any(set(words(str(a))) <= mw for mw in mem_words))
        out.append(hit / len(answers))
    return out


def label_similarity_reward(completions: Sequence[Any], label: Sequence[str], **kw: Any) -> list[float | None]:
    """Character-level similarity to the label in [0, 1]. Dense even for a random model: smoke tests need it
    (all-zero rewards give zero advantages and no gradient); a mild shaping term otherwise."""
    return [difflib.SequenceMatcher(None, completion_text(c)[:2000], lab[:2000]).ratio()
            for c, lab in zip(completions, label, strict=True)]


REWARDS: dict[str, Reward] = {
    "format": format_reward,
    "op_agreement": op_agreement_reward,
    "fact_f1": fact_f1_reward,
    "hallucinated_ids": hallucinated_id_penalty,
    "length": length_reward,
    "outcome": outcome_reward,
    "change": change_reward,
    "qa_answer": qa_answer_reward,
    "label_similarity": label_similarity_reward,
    "graph_f1": graph_f1_reward,
}


def reward_funcs(names: Sequence[str]) -> list[Reward]:
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown rewards {unknown}; known: {sorted(REWARDS)}")
    return [REWARDS[n] for n in names]  # TRL logs each as rewards/<function name>
