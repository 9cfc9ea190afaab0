"""Per-question records -> per-category and overall metrics; several seeds -> mean and standard deviation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memmgr.qa_metrics import mean, mean_sd, percentile, stderr

# metric name -> higher is better (lm-eval-harness style); cost and latency columns are lower-is-better
HIGHER_IS_BETTER: dict[str, bool] = {
    "f1": True, "bleu1": True, "j": True, "evidence_recall": True,
    "search_latency_p50": False, "search_latency_p95": False, "total_latency_p50": False, "total_latency_p95": False,
    "memory_tokens": False, "context_tokens": False, "manager_calls": False, "manager_prompt_tokens": False,
    "manager_completion_tokens": False, "rejected_ops": False, "memories": False, "relations": False,
    "ingest_s": False,
    "fact_precision": True, "fact_recall": True, "state_precision": True, "state_recall": True, "state_f1": True,
    "qa_accuracy": True, "qa_f1": True, "json_validity": True, "op_accuracy": True, "op_macro_f1": True,
    "json_validity_extract": True, "json_validity_update": True, "parseable_rate": True, "parseable_rate_extract": True,
    "parseable_rate_update": True, "outcome_f1": True, "change_f1": True,
    "id_accuracy": True, "hallucinated_id_rate": False, "fact_f1": True, "latency_p50": False, "latency_p95": False,
    # eval/transfer.py: memories against LOCOMO's observation annotations
    "evidence_coverage": True, "matched_coverage": True, "observation_recall": True, "memory_match_rate": True, "stored_tokens": False,
    "memory_redundancy": False,
}
QUALITY = ("f1", "bleu1", "j", "evidence_recall")


def quality_metrics(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean F1 / BLEU-1 / J / evidence recall, each with `<metric>_stderr` over the questions (what a difference
    between two rows must exceed to mean anything: ~0.015 F1 at n = 81); J and recall are None when no record has
    them (skipped, not 0)."""
    judged = [float(r["judge"]) for r in records if r.get("judge") is not None]
    values = {"f1": [r["f1"] for r in records], "bleu1": [r["bleu1"] for r in records], "j": judged,
              "evidence_recall": [r.get("evidence_recall") for r in records]}
    out: dict[str, Any] = {"n": len(records), "n_judged": len(judged)}
    for key, xs in values.items():
        out[key] = mean(xs)
        out[f"{key}_stderr"] = stderr(xs)
    return out


def summarize(records: Sequence[dict[str, Any]], costs: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One method, one seed: overall quality, per-category quality, latency percentiles, per-conversation costs."""
    out = quality_metrics(records)
    search = [r["search_latency_s"] for r in records if r.get("search_latency_s") is not None]
    total = [r["total_latency_s"] for r in records if r.get("total_latency_s") is not None]
    out.update({
        "search_latency_p50": percentile(search, 50), "search_latency_p95": percentile(search, 95),
        "total_latency_p50": percentile(total, 50), "total_latency_p95": percentile(total, 95),
        "memory_tokens": mean(r.get("memory_tokens") for r in records),
        "context_tokens": mean(r.get("context_tokens") for r in records),
    })
    # ingestion costs are per conversation (mean over conversations); absent for methods without a manager
    for key in ("manager_calls", "manager_prompt_tokens", "manager_completion_tokens", "rejected_ops", "memories",
                "relations", "ingest_s"):  # relations: graph memory only (None otherwise)
        out[key] = mean(c.get(key) for c in costs) if costs else None
    cats: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        cats.setdefault(r["category_name"], []).append(r)
    out["per_category"] = {name: quality_metrics(rs) for name, rs in sorted(cats.items())}
    return out


def combine_seeds(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric metric over seeds, with `<metric>_sd` beside it; per-category likewise."""
    if not per_seed:
        return {}
    out: dict[str, Any] = {"n_seeds": len(per_seed)}
    keys = [k for k, v in per_seed[0].items() if k != "per_category" and (v is None or isinstance(v, (int, float)))]
    for k in keys:
        m, sd = mean_sd(s.get(k) for s in per_seed)
        out[k] = m
        if k not in ("n", "n_judged") and not k.endswith("_stderr"):  # a stderr's mean over seeds is enough
            out[f"{k}_sd"] = sd
    cats = sorted({c for s in per_seed for c in s.get("per_category", {})})
    out["per_category"] = {}
    for c in cats:
        rows = [s["per_category"][c] for s in per_seed if c in s.get("per_category", {})]
        entry: dict[str, Any] = {}
        for k in rows[0]:
            m, sd = mean_sd(r.get(k) for r in rows)
            entry[k] = m
            if k in QUALITY:
                entry[f"{k}_sd"] = sd
        out["per_category"][c] = entry
    return out
