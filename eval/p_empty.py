"""How close is a student to writing no facts? P('{"facts": []}') on the extraction calls a run saved, per adapter.

    python -m eval.p_empty --calls 'outputs/ablations/NAME/samples_*_calls_*.jsonl' \
        --adapters '[runs/a/sft, runs/b/sft]' [--data ../shared/data/locomo/locomo_dev.json] [--limit 80]

Greedy decoding turns the extract/skip decision into all or nothing: a student whose P(empty) sits just under 0.5 on
every prompt extracts from nearly every pair, one just over 0.5 from nearly none. This scores the same prompts
(the extraction calls of an eval run with `--save_calls true`, a seeded sample of `limit`) under each adapter and
reports the level (median and quartiles of P(empty), the share above 0.5) apart from the ranking: with LOCOMO
`data`, the AUC of P(empty) for telling the pairs holding an observation of the memory's owner (lower P(empty)) from
the rest. Two seeds of one recipe that differ in level but not in ranking want a decision by rank
(`pipeline.extract_rate`, memmgr/gate.py), not more training. Output: a results JSON + Markdown under `output_dir`,
one row per adapter.
"""

from __future__ import annotations

import glob
import json
import logging
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr import scoring
from memmgr.gate import EMPTY  # what a manager writes for "no facts"
from memmgr.settings import Strict

log = logging.getLogger(__name__)
COLUMNS = (("n", "n", "{:.0f}"), ("P(empty) median", "p_empty_median", "{:.3f}"), ("q1", "p_empty_q1", "{:.3f}"),
           ("q3", "p_empty_q3", "{:.3f}"), ("share > 0.5", "share_above_half", "{:.3f}"),
           ("owner-obs. pairs", "p_empty_owner_obs", "{:.3f}"), ("other pairs", "p_empty_other", "{:.3f}"),
           ("AUC", "auc_owner_obs", "{:.3f}"))


class PEmptyConfig(Strict):
    calls: str  # a samples_*_calls_*.jsonl of eval.locomo / eval.ablate (--save_calls true); a glob is fine
    adapters: list[str | None]  # LoRA adapters (null: the base model)
    model: str = "smollm2"
    data: str | None = None  # LOCOMO JSON with observations: adds the AUC
    limit: int | None = 80  # extraction calls scored (a seeded sample); None = all
    seed: int = 0
    output_dir: str = "outputs/eval/p_empty"


def load_calls(pattern: str, limit: int | None, seed: int) -> list[dict[str, Any]]:
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no calls file matches {pattern}")
    calls = []
    for line in Path(paths[-1]).read_text().splitlines():
        c = json.loads(line)
        if c.get("stage") == "extract" and c.get("messages"):
            calls.append(c)
    if not calls:
        raise ValueError(f"{paths[-1]} holds no extraction calls with their messages (run with --save_calls true)")
    random.Random(seed).shuffle(calls)
    return calls[:limit] if limit else calls


def owner_observed(calls: Sequence[dict[str, Any]], data: str) -> list[bool]:
    """Per call: does an observation of the memory's owner come from one of the call's turns?"""
    from memmgr.conversations import load_locomo_conversations

    convs = {c.conversation_id: c for c in load_locomo_conversations(data)}
    out = []
    for call in calls:
        ctx = call.get("context") or {}
        conv = convs.get(ctx.get("conversation_id"))
        if conv is None:
            raise ValueError(f"conversation {ctx.get('conversation_id')!r} of the calls is not in {data}")
        owner = ctx.get("perspective")
        turns = set(ctx.get("source_ids") or [])
        out.append(any(o.speaker == owner and turns & set(o.dia_ids) for o in conv.observations))
    return out


def auc(low: Sequence[float], high: Sequence[float]) -> float | None:
    """P(a value of `low` < a value of `high`), ties half: how well P(empty) ranks the `low` group first."""
    return scoring.auc([False] * len(low) + [True] * len(high), [*low, *high])


def summarize(ps: Sequence[float], observed: Sequence[bool] | None) -> dict[str, Any]:
    q = statistics.quantiles(ps, n=4) if len(ps) > 1 else [ps[0]] * 3
    out: dict[str, Any] = {"n": len(ps), "p_empty_median": statistics.median(ps), "p_empty_q1": q[0],
                           "p_empty_q3": q[2], "share_above_half": sum(p > 0.5 for p in ps) / len(ps)}
    if observed is not None:
        pos = [p for p, o in zip(ps, observed) if o]
        neg = [p for p, o in zip(ps, observed) if not o]
        out.update(p_empty_owner_obs=statistics.median(pos) if pos else None,
                   p_empty_other=statistics.median(neg) if neg else None, auc_owner_obs=auc(pos, neg))
    return out


def run(cfg: PEmptyConfig, backends: dict[str | None, Any] | None = None) -> dict[str, Any]:
    from eval.report import write_report

    calls = load_calls(cfg.calls, cfg.limit, cfg.seed)
    observed = owner_observed(calls, cfg.data) if cfg.data else None
    rows, samples = {}, {}
    for adapter in cfg.adapters:
        if backends and adapter in backends:
            backend = backends[adapter]
        else:
            from memmgr.backends.hf import TransformersBackend

            backend = TransformersBackend(cfg.model, adapter=adapter)
        ps = [backend.completion_prob(c["messages"], EMPTY) for c in calls]
        name = adapter or f"{cfg.model} (base)"
        rows[name] = summarize(ps, observed)
        samples[name] = [{"call_id": c.get("call_id"), "p_empty": p, "owner_observed": o,
                          "extracted": bool((c.get("parsed") or {}).get("facts"))}
                         for c, p, o in zip(calls, ps, observed or [None] * len(calls))]
        log.info("%s: %s", name, rows[name])
    meta = {"config": {**cfg.model_dump(mode="json"), "name": "p_empty"}}
    paths = write_report(rows, samples, meta, cfg.output_dir, plots=False, columns=COLUMNS)
    return {"results": rows, "paths": paths}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from eval.report import print_paths, run_command

    out = run_command(PEmptyConfig, argv, __doc__, run)
    print_paths(out["paths"])
    return out


if __name__ == "__main__":
    main()
