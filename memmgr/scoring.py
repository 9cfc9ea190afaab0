"""Manager-level scorers. eval/ reports them and train/rewards.py turns them into GRPO rewards: one code path.

All functions are pure and cheap (no model calls; `match_facts` takes an embedder): facts are matched by normalised
token F1, or by embedding similarity + content-word overlap (`match_facts`). `score_row` and
`aggregate` score answers to recorded manager prompts (data_gen's trace rows): `eval.manager` and the SFT callback
both call them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from memmgr.parsing import ParsedOps, parse_facts, parse_ops
from memmgr.qa_metrics import mean, token_f1
from memmgr.sanitize import content_words, norm_text
from memmgr.types import EVENTS, Op

FACT_MATCH_THRESHOLD = 0.6


def text_f1(a: str, b: str) -> float:
    """Token F1 of SQuAD/LoCoMo-normalised texts: the same function that scores LOCOMO answers."""
    return token_f1(a, b)


def _greedy_matches(pred: Sequence[str], gold: Sequence[str], threshold: float) -> int:
    """Number of one-to-one matches, best pairs first."""
    pairs = sorted(((text_f1(p, g), i, j) for i, p in enumerate(pred) for j, g in enumerate(gold)), reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    n = 0
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            n += 1
    return n


def set_scores(pred: Sequence[str], gold: Sequence[str], threshold: float = FACT_MATCH_THRESHOLD) -> dict[str, float]:
    """Precision/recall/F1 of a predicted text set against a gold one (both empty = perfect)."""
    if not pred and not gold:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    m = _greedy_matches(pred, gold, threshold)
    p = m / len(pred) if pred else 0.0
    r = m / len(gold) if gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def score_extraction(raw: str, gold_facts: Sequence[str]) -> dict[str, Any]:
    parsed = parse_facts(raw)
    scores = set_scores(parsed.facts, list(gold_facts)) if parsed.valid else {"precision": 0.0, "recall": 0.0,
                                                                              "f1": 0.0}
    return {"parseable": float(parsed.valid), **scores, "n_pred": len(parsed.facts), "n_gold": len(gold_facts)}


def _gold_op(d: dict[str, Any]) -> Op:
    return Op(event=d["event"], id=None if d.get("id") in (None, "", "new") else str(d["id"]),
              text=d.get("text") or "", old_memory=d.get("old_memory"))


def align_ops(pred: Sequence[Op], gold: Sequence[Op]) -> list[tuple[Op | None, Op | None]]:
    """Pair predicted and gold ops: same target id first (UPDATE/DELETE/NOOP), then ADDs by text, rest unmatched."""
    pairs: list[tuple[Op | None, Op | None]] = []
    left = list(pred)
    for g in gold:
        best = None
        if g.id is not None:
            best = next((p for p in left if p.id == g.id), None)
        if best is None:
            cands = [p for p in left if p.id is None or g.id is None]
            if cands:
                best = max(cands, key=lambda p: text_f1(p.text, g.text or g.old_memory or ""))
                if text_f1(best.text, g.text or "") < 0.3 and not (best.event == g.event == "NOOP"):
                    best = None
        if best is not None:
            left.remove(best)
        pairs.append((best, g))
    pairs.extend((p, None) for p in left)
    return pairs


def _parsed(raw: str | ParsedOps, shown: Collection[str] | Mapping[str, str]) -> ParsedOps:
    """An update answer as the pipeline reads it; `score_row` parses once and hands the result to every scorer."""
    return raw if isinstance(raw, ParsedOps) else parse_ops(raw, shown)


def score_update(raw: str | ParsedOps, gold_ops: Sequence[dict[str, Any]],
                 shown: Sequence[str] | Mapping[str, str]) -> dict[str, Any]:
    """Op accuracy (per gold op), id accuracy (for gold ops with a target), hallucinated ids, confusion pairs.
    `shown`: the shown ids, or id -> text (then the parser reads a NOOP that rewrites its memory as the UPDATE the
    pipeline applies: `parse_ops`). `raw` may be the answer already parsed against the same `shown`."""
    parsed = _parsed(raw, shown)
    gold = [_gold_op(g) for g in gold_ops]
    hallucinated = sum(1 for r in parsed.rejected if r.reason in ("unknown_id", "missing_id"))
    if not parsed.valid:
        return {"parseable": 0.0, "op_accuracy": 0.0, "id_accuracy": 0.0, "hallucinated_ids": hallucinated,
                "n_pred": 0, "n_gold": len(gold), "text_f1": 0.0,
                "pairs": [(g.event, "INVALID") for g in gold]}
    pairs = align_ops(parsed.ops, gold)
    correct_event = sum(1 for p, g in pairs if g is not None and p is not None and p.event == g.event)
    targeted = [(p, g) for p, g in pairs if g is not None and g.event != "ADD" and g.id is not None]
    correct_id = sum(1 for p, g in targeted if p is not None and p.id == g.id)
    texts = [text_f1(p.text, g.text) for p, g in pairs if g is not None and p is not None and g.event in
             ("ADD", "UPDATE")]
    n_extra = sum(1 for p, g in pairs if g is None)
    denom = max(len(gold), 1)
    return {
        "parseable": 1.0,
        # extra predicted ops count against accuracy so that "emit everything" is not rewarded
        "op_accuracy": correct_event / (denom + n_extra) if gold else float(not parsed.ops),
        "id_accuracy": correct_id / len(targeted) if targeted else 1.0,
        "hallucinated_ids": hallucinated,
        "n_pred": len(parsed.ops),
        "n_gold": len(gold),
        "text_f1": sum(texts) / len(texts) if texts else 1.0,
        "pairs": [(g.event if g else "NONE", p.event if p else "MISSING") for p, g in pairs],
    }


def per_op_f1(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Per-op precision/recall/F1 and macro-F1 from (gold_event, pred_event) pairs (from score_update)."""
    out: dict[str, Any] = {}
    f1s = []
    for ev in EVENTS:
        tp = sum(1 for g, p in pairs if g == ev and p == ev)
        fp = sum(1 for g, p in pairs if p == ev and g != ev)
        fn = sum(1 for g, p in pairs if g == ev and p != ev)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[ev] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
        if tp + fn:
            f1s.append(f1)
    out["macro_f1"] = sum(f1s) / len(f1s) if f1s else 0.0
    return out


def apply_ops_to_snapshot(snapshot: Sequence[tuple[str, str]] | Sequence[list[str]], ops: Sequence[Op]) -> list[str]:
    """Apply validated ops to a list of (small id, text) memories; returns the resulting memory texts."""
    state = {str(i): t for i, t in snapshot}
    added: list[str] = []
    for op in ops:
        if op.event == "ADD":
            added.append(op.text)
        elif op.event == "UPDATE" and op.id in state:
            state[op.id] = op.text
        elif op.event == "DELETE" and op.id in state:
            del state[op.id]
    return list(state.values()) + added


def outcome_scores(raw: str | ParsedOps, snapshot: Sequence[Sequence[str]],
                   gold_after: Sequence[str]) -> dict[str, float]:
    """Apply the proposed ops to the shown snapshot and score the resulting memory state against gold. The states
    hold every shown memory that no op touches, so this is lenient: a NOOP where gold UPDATEs one of n shown
    memories keeps n - 1 exact matches, and its stale text often matches the new one by token F1 ("Kai lives in
    Quito" / "Kai lives in Denver": 0.75): `change_scores` scores only what changed."""
    after = _state_after(raw, snapshot)
    if after is None:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return state_scores(after, gold_after)


def _state_after(raw: str | ParsedOps, snapshot: Sequence[Sequence[str]]) -> list[str] | None:
    """The memory texts after the answer's ops are applied to the shown snapshot; None when it does not parse."""
    parsed = _parsed(raw, {str(i): t for i, t in snapshot})
    return apply_ops_to_snapshot(snapshot, parsed.ops) if parsed.valid else None


def state_scores(pred_texts: Sequence[str], gold_texts: Sequence[str]) -> dict[str, float]:
    return set_scores(list(pred_texts), list(gold_texts))


def state_change(snapshot: Sequence[Sequence[str]], after: Sequence[str]) -> tuple[list[str], list[str]]:
    """What turned the shown snapshot into `after`: (texts added, shown texts removed), by normalised text. An
    UPDATE is a removal and an addition; an UPDATE to the same text is no change."""
    before = {norm_text(t) for _, t in snapshot}
    now = {norm_text(t) for t in after}
    return [t for t in after if norm_text(t) not in before], [t for _, t in snapshot if norm_text(t) not in now]


def change_scores(raw: str | ParsedOps, snapshot: Sequence[Sequence[str]],
                  gold_after: Sequence[str]) -> dict[str, float]:
    """P/R/F1 of the change the proposed ops make to the shown snapshot against the gold change (`state_change`):
    a removal (a shown memory deleted or rewritten) must be the same memory, an addition (ADD text, UPDATE
    rewrite) matches as facts do (token F1 >= FACT_MATCH_THRESHOLD, one to one). No change on either side (a NOOP
    row answered with NOOPs) = 1; a NOOP where gold UPDATEs = 0. Additions keep token F1's leniency on a swapped
    value ("...in Quito" / "...in Denver"), but the stale memory itself no longer counts."""
    after = _state_after(raw, snapshot)
    if after is None:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    pred_add, pred_rm = state_change(snapshot, after)
    gold_add, gold_rm = state_change(snapshot, gold_after)
    n_pred, n_gold = len(pred_add) + len(pred_rm), len(gold_add) + len(gold_rm)
    if not n_pred and not n_gold:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    m = len({norm_text(t) for t in pred_rm} & {norm_text(t) for t in gold_rm})
    m += _greedy_matches(pred_add, gold_add, FACT_MATCH_THRESHOLD)
    p = m / n_pred if n_pred else 0.0
    r = m / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


# ------------------------------------------------------------------------------ trace rows (eval/ and SFT callback)
def strict_json(raw: str, stage: str) -> float:
    """1 if the answer is exactly the documented JSON object with the stage's key ({"facts": [...]} or
    {"memory": [...]}: no prose, no fence, no repair needed). This is `json_validity`, the headline figure; the
    parser is lenient (json-repair, prose around JSON) and its `valid` is `parseable_rate`."""
    try:
        obj = json.loads(raw.strip())
    except ValueError:
        return 0.0
    key = "facts" if stage == "extract" else "memory"
    return float(isinstance(obj, dict) and isinstance(obj.get(key), list))


def score_row(row: dict[str, Any], raw: str) -> dict[str, Any]:
    """Scores of one completion against a trace row's label (data_gen's schema; stage-dependent)."""
    if row["stage"].startswith("graph_"):  # graph-manager rows: memmgr/graph/scoring.py
        from memmgr.graph.scoring import score_graph_row

        return score_graph_row(row, raw)
    strict = strict_json(raw, row["stage"])
    label = json.loads(row["label"])
    if row["stage"] == "extract":
        return {"stage": "extract", "json_valid": strict, **score_extraction(raw, list(label.get("facts", [])))}
    shown = [list(x) for x in json.loads(row.get("shown_memories") or "[]")]
    shown_by_id = {str(i): t for i, t in shown}
    parsed = parse_ops(raw, shown_by_id)
    out = {"stage": "update", "json_valid": strict, **score_update(parsed, list(label.get("memory", [])), shown_by_id)}
    if row.get("gold_after"):
        gold_after = json.loads(row["gold_after"])
        out["outcome_f1"] = outcome_scores(parsed, shown, gold_after)["f1"]
        out["change_f1"] = change_scores(parsed, shown, gold_after)["f1"]
    return out


def aggregate(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean metrics over calls; op macro-F1 and per-op P/R/F1 from the pooled (gold, pred) event pairs.

    `json_validity` is the strict figure (share of outputs that are exactly the documented JSON object, `strict_json`);
    `parseable_rate` is the share of outputs the lenient parser could recover an answer from (prose around the
    JSON, fences, json-repair, bare lists). Both also per stage (`_extract`, `_update`). Graph-manager rows are
    aggregated apart, under `graph` (only when there are some)."""
    graph = [s for s in scores if s["stage"].startswith("graph_")]
    scores = [s for s in scores if not s["stage"].startswith("graph_")]
    ex = [s for s in scores if s["stage"] == "extract"]
    up = [s for s in scores if s["stage"] == "update"]
    pairs = [p for s in up for p in s["pairs"]]
    f1 = per_op_f1(pairs) if pairs else {"macro_f1": None}
    n_pred_ops = sum(s["n_pred"] for s in up)
    n_halluc = sum(s["hallucinated_ids"] for s in up)
    return {
        "n": len(scores), "n_extract": len(ex), "n_update": len(up),
        "json_validity": mean(s.get("json_valid", 0.0) for s in scores),
        "json_validity_extract": mean(s.get("json_valid", 0.0) for s in ex),
        "json_validity_update": mean(s.get("json_valid", 0.0) for s in up),
        "parseable_rate": mean(s["parseable"] for s in scores),
        "parseable_rate_extract": mean(s["parseable"] for s in ex),
        "parseable_rate_update": mean(s["parseable"] for s in up),
        "fact_precision": mean(s["precision"] for s in ex),
        "fact_recall": mean(s["recall"] for s in ex),
        "fact_f1": mean(s["f1"] for s in ex),
        "op_accuracy": mean(s["op_accuracy"] for s in up),
        "id_accuracy": mean(s["id_accuracy"] for s in up),
        "op_macro_f1": f1["macro_f1"],
        "op_f1": {k: v["f1"] for k, v in f1.items() if k != "macro_f1"},
        "per_op": {k: v for k, v in f1.items() if k != "macro_f1"},
        "hallucinated_ids": n_halluc,
        # share of proposed/rejected id-bearing ops that named an id not shown
        "hallucinated_id_rate": n_halluc / max(n_pred_ops + n_halluc, 1) if up else None,
        "outcome_f1": mean(s["outcome_f1"] for s in up if "outcome_f1" in s),
        "change_f1": mean(s["change_f1"] for s in up if "change_f1" in s),
        **({"graph": _aggregate_graph(graph)} if graph else {}),
    }


def _aggregate_graph(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from memmgr.graph.scoring import aggregate_graph

    return aggregate_graph(scores)


# ------------------------------------------------------------- fact matching (eval.transfer, data_gen.observations)
# A memory and a gold fact match when the cosine of their embeddings >= SIM_THRESHOLD and the overlap coefficient
# of their content words (speakers' names removed) >= OVERLAP_THRESHOLD. Defaults calibrated with all-MiniLM-L6-v2
# (the default embedder); see eval/README.md "Transfer".
SIM_THRESHOLD = 0.5
OVERLAP_THRESHOLD = 0.6

def word_set(text: str, ignore: Iterable[str] = ()) -> set[str]:
    """Content words of `text` (memmgr.sanitize.content_words) minus `ignore` (names, compared as content words)."""
    return set(content_words(text, ignore))


def word_overlap(a: str, b: str, ignore: Iterable[str] = ()) -> float:
    """Overlap coefficient |A & B| / min(|A|, |B|) of the content-word sets (0.0 when either is empty)."""
    wa, wb = word_set(a, ignore), word_set(b, ignore)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def _unit(vecs: Sequence[Sequence[float]]) -> list[list[float]]:
    out = []
    for v in vecs:
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        out.append([x / n for x in v])
    return out


def cosine_matrix(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> list[list[float]]:
    """Cosine of every row of `a` with every row of `b` (numpy when installed)."""
    if not a or not b:
        return [[] for _ in a]
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with sentence-transformers
        ua, ub = _unit(a), _unit(b)
        return [[sum(x * y for x, y in zip(u, v)) for v in ub] for u in ua]
    ma, mb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma /= np.maximum(np.linalg.norm(ma, axis=1, keepdims=True), 1e-12)
    mb /= np.maximum(np.linalg.norm(mb, axis=1, keepdims=True), 1e-12)
    return (ma @ mb.T).tolist()


def match_facts(pred_texts: Sequence[str], gold_texts: Sequence[str], embedder: Any, *,
                sim_threshold: float = SIM_THRESHOLD, overlap_threshold: float = OVERLAP_THRESHOLD,
                ignore_words: Iterable[str] = ()) -> dict[str, Any]:
    """Many-to-many match of predicted facts (memories) against gold facts (observations).

    Returns recall (share of gold matched by some pred; None without gold), match_rate (share of preds matching
    some gold, a precision; None without preds), the counts, per-text flags, and `pairs`: every matching
    (pred index, gold index, cosine, overlap). Pure apart from the embedder call."""
    pred, gold = list(pred_texts), list(gold_texts)
    ignore = list(ignore_words)
    sims: list[list[float]] = [[] for _ in pred]
    if pred and gold:
        vecs = embedder.embed(pred + gold)
        sims = cosine_matrix(vecs[: len(pred)], vecs[len(pred):])
    gold_words = [word_set(g, ignore) for g in gold]
    pairs: list[dict[str, Any]] = []
    for i, p in enumerate(pred):
        pw = word_set(p, ignore)
        for j, gw in enumerate(gold_words):
            sim = sims[i][j]
            if sim < sim_threshold or not pw or not gw:
                continue
            ov = len(pw & gw) / min(len(pw), len(gw))
            if ov >= overlap_threshold:
                pairs.append({"pred": i, "gold": j, "sim": sim, "overlap": ov})
    pred_hit, gold_hit = [False] * len(pred), [False] * len(gold)
    for pr in pairs:
        pred_hit[pr["pred"]] = gold_hit[pr["gold"]] = True
    return {"recall": sum(gold_hit) / len(gold) if gold else None,
            "match_rate": sum(pred_hit) / len(pred) if pred else None,
            "n_pred": len(pred), "n_gold": len(gold), "matched_pred": sum(pred_hit), "matched_gold": sum(gold_hit),
            "pred_matched": pred_hit, "gold_matched": gold_hit, "pairs": pairs}


def pooled_fact_match(rows: Sequence[dict[str, Any]], outputs: Sequence[str], embedder: Any, **match: Any
                      ) -> dict[str, Any]:
    """The transfer matcher (`match_facts`) on extraction trace rows: each output's facts against its row's gold
    facts; `fact_match_recall` = matched gold / gold, `fact_match_rate` = matched facts / extracted facts, pooled
    over rows (None when there is nothing to divide by). Invalid outputs count as no facts."""
    gold_n = gold_hit = pred_n = pred_hit = 0
    for row, raw in zip(rows, outputs, strict=True):
        if row["stage"] != "extract":
            continue
        parsed = parse_facts(raw)
        m = match_facts(parsed.facts if parsed.valid else [], json.loads(row["label"]).get("facts", []), embedder,
                        **match)
        gold_n, gold_hit = gold_n + m["n_gold"], gold_hit + m["matched_gold"]
        pred_n, pred_hit = pred_n + m["n_pred"], pred_hit + m["matched_pred"]
    return {"fact_match_recall": gold_hit / gold_n if gold_n else None,
            "fact_match_rate": pred_hit / pred_n if pred_n else None}


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """ROC AUC: P(a positive's score > a negative's), ties half (Mann-Whitney U over average ranks); None without
    both classes. One definition for the gate model's fit (train.gate) and the P(empty) diagnostic (eval.p_empty)."""
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels for {len(scores)} scores")
    n_pos = sum(1 for y in labels if y)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):  # a run of tied scores shares the mean of its ranks (1-based)
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    u = sum(r for r, y in zip(ranks, labels) if y) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)
