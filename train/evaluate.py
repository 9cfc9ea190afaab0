"""Manager metrics of a model on a trace split: JSON validity, op accuracy / macro-F1, fact F1, hallucinated ids.

Every number comes from `memmgr.scoring` (the scorers eval/ and the GRPO rewards use). Used three ways: the SFT
callback (metrics on the validation split during training), the before/after experiment, and this CLI:

    python -m train.evaluate --model smollm2 [--adapter runs/sft/x] --dataset data/traces --split test \
        --max_samples 200 --prompt_style student --out runs/eval/x.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.prompts import render_messages_for_style
from memmgr.scoring import outcome_scores, per_op_f1, score_extraction, score_update

log = logging.getLogger(__name__)


def gold_facts(label: str) -> list[str]:
    return list(json.loads(label).get("facts", []))


def gold_ops(label: str) -> list[dict[str, Any]]:
    return list(json.loads(label).get("memory", []))


def shown_of(row: dict[str, Any]) -> list[list[str]]:
    return [list(x) for x in json.loads(row.get("shown_memories") or "[]")]


def strict_json(raw: str, stage: str) -> float:
    """1 if the answer is exactly one JSON object with the stage's key (no prose, no repair needed). The parser is
    lenient (json-repair, prose around JSON): this is the stricter figure next to its `valid`."""
    try:
        obj = json.loads(raw.strip())
    except ValueError:
        return 0.0
    key = "facts" if stage == "extract" else "memory"
    return float(isinstance(obj, dict) and isinstance(obj.get(key), list))


def score_row(row: dict[str, Any], raw: str) -> dict[str, Any]:
    """Scores of one completion against the row's label (stage-dependent)."""
    strict = strict_json(raw, row["stage"])
    if row["stage"] == "extract":
        return {"stage": "extract", "strict_valid": strict, **score_extraction(raw, gold_facts(row["label"]))}
    shown = shown_of(row)
    s = score_update(raw, gold_ops(row["label"]), [i for i, _ in shown])
    out = {"stage": "update", "strict_valid": strict, **s}
    if row.get("gold_after"):
        out["outcome_f1"] = outcome_scores(raw, shown, json.loads(row["gold_after"]))["f1"]
    return out


def aggregate(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean metrics over calls; op macro-F1 from the pooled (gold, pred) event pairs."""

    def mean(xs: Sequence[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    ex = [s for s in scores if s["stage"] == "extract"]
    up = [s for s in scores if s["stage"] == "update"]
    pairs = [p for s in up for p in s["pairs"]]
    f1 = per_op_f1(pairs) if pairs else {"macro_f1": None}
    n_pred_ops = sum(s["n_pred"] for s in up)
    return {
        "n": len(scores), "n_extract": len(ex), "n_update": len(up),
        "json_validity": mean([s["valid"] for s in scores]),
        "strict_json_validity": mean([s.get("strict_valid", 0.0) for s in scores]),
        "json_validity_extract": mean([s["valid"] for s in ex]),
        "json_validity_update": mean([s["valid"] for s in up]),
        "fact_precision": mean([s["precision"] for s in ex]),
        "fact_recall": mean([s["recall"] for s in ex]),
        "fact_f1": mean([s["f1"] for s in ex]),
        "op_accuracy": mean([s["op_accuracy"] for s in up]),
        "id_accuracy": mean([s["id_accuracy"] for s in up]),
        "op_macro_f1": f1["macro_f1"],
        "op_f1": {k: v["f1"] for k, v in f1.items() if k != "macro_f1"},
        "hallucinated_ids": sum(s["hallucinated_ids"] for s in up),
        # share of proposed/rejected id-bearing ops that named an id not shown (per update call when none valid)
        "hallucinated_id_rate": sum(s["hallucinated_ids"] for s in up) / max(n_pred_ops + sum(
            s["hallucinated_ids"] for s in up), 1) if up else None,
        "outcome_f1": mean([s["outcome_f1"] for s in up if "outcome_f1" in s]),
    }


def evaluate_backend(backend: Any, rows: Sequence[dict[str, Any]], *, prompt_style: str | None = None,
                     max_tokens: int = 256, progress: bool = True) -> dict[str, Any]:
    """Generate (greedy) for every row and score it. Returns aggregate metrics plus cost figures."""
    from memmgr.backends.base import generate_batch

    prompts = [render_messages_for_style(r["prompt"], r["stage"], prompt_style) if prompt_style else r["prompt"]
               for r in rows]
    bs = getattr(backend, "batch_size", 8)
    gens = []
    t0 = time.perf_counter()
    it = range(0, len(prompts), bs)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"eval {getattr(backend, 'name', 'model')}", unit="batch")
    for i in it:
        gens.extend(generate_batch(backend, prompts[i:i + bs], max_tokens=max_tokens, temperature=0.0))
    wall = time.perf_counter() - t0
    scores = [score_row(r, g.text) for r, g in zip(rows, gens, strict=True)]
    out = aggregate(scores)
    n_completion = sum(g.completion_tokens for g in gens)
    out.update({
        "prompt_tokens_per_call": sum(g.prompt_tokens for g in gens) / max(len(gens), 1),
        "completion_tokens_per_call": n_completion / max(len(gens), 1),
        "wall_s": wall, "completion_tokens_per_s": n_completion / wall if wall else None,
        "examples": [{"stage": r["stage"], "label": r["label"], "output": g.text[:500]}
                     for r, g in list(zip(rows, gens, strict=True))[:6]],
        "outputs": [{"pair_id": r.get("pair_id"), "stage": r["stage"], "output": g.text} for r, g in
                    zip(rows, gens, strict=True)],
    })
    return out


def make_manager_metrics_callback(rows: Sequence[dict[str, Any]], tokenizer: Any, *, prompt_style: str | None,
                                  max_tokens: int = 128, batch_size: int = 8) -> Any:
    """A TrainerCallback that, at every evaluation, generates on `rows` with the model being trained and logs the
    manager metrics next to eval_loss (as eval_manager/<metric>)."""
    from transformers import TrainerCallback

    from memmgr.backends.hf import TransformersBackend

    class ManagerMetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []

        def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, metrics: Any = None,
                        **kwargs: Any) -> None:
            if model is None or not rows or not state.is_world_process_zero:
                return
            backend = TransformersBackend.from_model(model, tokenizer, max_tokens=max_tokens, batch_size=batch_size,
                                                     name="in-training")
            res = evaluate_backend(backend, rows, prompt_style=prompt_style, max_tokens=max_tokens, progress=False)
            keys = ("json_validity", "fact_f1", "op_accuracy", "op_macro_f1", "hallucinated_id_rate", "outcome_f1")
            logged = {f"eval_manager/{k}": res[k] for k in keys if res.get(k) is not None}
            if metrics is not None:
                metrics.update(logged)
            # Trainer logged eval metrics before this hook ran: record ours in the history it saves too
            state.log_history.append({"step": state.global_step, **logged})
            self.history.append({"step": state.global_step, **logged})
            log.info("step %d manager metrics: %s", state.global_step, logged)

    return ManagerMetricsCallback()


def _rows(dataset: str, split: str, max_samples: int | None, seed: int) -> list[dict[str, Any]]:
    from train.data import load_traces, mix_stages

    ds = load_traces(dataset)[split]
    ds = mix_stages(ds, 0.5 if max_samples else None, seed=seed, max_samples=max_samples)
    return list(ds)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="hub id, folder, .gguf file or 'smollm2'")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--max_samples", type=int, default=None, help="balanced extract/update subsample")
    ap.add_argument("--prompt_style", default=None, choices=["teacher", "student"],
                    help="re-render prompts under this style (default: as recorded)")
    ap.add_argument("--max_tokens", type=int, default=256)
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from memmgr.backends.hf import TransformersBackend

    backend = TransformersBackend(args.model, adapter=args.adapter, batch_size=args.batch_size,
                                  max_tokens=args.max_tokens)
    rows = _rows(args.dataset, args.split, args.max_samples, args.seed)
    res = evaluate_backend(backend, rows, prompt_style=args.prompt_style, max_tokens=args.max_tokens)
    res.update({"model": args.model, "adapter": args.adapter, "split": args.split, "prompt_style": args.prompt_style})
    text = json.dumps(res, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    print(json.dumps({k: v for k, v in res.items() if k != "examples"}, indent=2))
    return res


if __name__ == "__main__":
    main()
