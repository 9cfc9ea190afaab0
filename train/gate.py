"""Fit the extract/skip gate model (memmgr.gate.GateModel) on the extraction labels of an SFT dataset.

```bash
python -m train.gate --dataset_path runs/mix/dataset --output runs/gate/minilm.json \
    [--eval_dataset_path runs/traces/locomo/dataset] [--C 1.0] [--embedder_provider hash]
```
Then serve or evaluate with `pipeline.extract_rate: R` and `pipeline.gate_model: runs/gate/minilm.json`.

Each extraction row of the train split is one example: the features are the embedder's vectors of the owner's new
turns and of the other speakers' ones, plus their log word counts (memmgr.gate.gate_features); the label is whether
the teacher wrote any fact. A logistic regression (scikit-learn, L2, `C`) is fitted; the validation split's ROC AUC
(overall and per `source`; `eval_dataset_path` scores another dataset's split, e.g. conv-30's observation traces)
and the teacher's rate of non-empty rows are logged and kept in the file's `info`, with the operating curve that
picks `extract_rate`: per rate, the share of pairs the gate would extract and of the teacher's non-empty pairs among
them, each scope's pairs ranked in order as the gate ranks them (`operating_curve`). The gate ranks pairs by the
model, so only the order of its scores matters, not their calibration.
Seconds on CPU (780 train and 1,243 validation rows: ~10 s on 2 cores): the time is embedding two texts per row.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memmgr.config import PipelineConfig
from memmgr.scoring import auc
from train.args import ConfigError, parse_cli

log = logging.getLogger("train.gate")


@dataclass
class GateArguments:
    dataset_path: str = field(default="data/synthetic_oracle/dataset", metadata={"help": "DatasetDict folder/JSONL"})
    output: str = field(default="runs/gate/gate.json", metadata={"help": "the gate model file (JSON)"})
    train_split: str = "train"
    eval_split: str | None = "validation"
    eval_dataset_path: str | None = field(default=None, metadata={"help": "score on this dataset's eval_split "
                                                                          "instead (e.g. LOCOMO validation traces)"})
    embedder_provider: str = field(default="sentence-transformers", metadata={"help": "as memory.embedder.provider"})
    embedder_model: str | None = field(default=None, metadata={"help": "None = all-MiniLM-L6-v2 (shipped)"})
    embedder_dim: int = field(default=384, metadata={"help": "the hash embedder's size"})
    C: float = field(default=1.0, metadata={"help": "inverse L2 strength of the logistic regression"})
    max_eval_rows: int | None = 2000
    rates: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8, 0.85, 0.9],
                               metadata={"help": "extract rates to report the gate's operating curve at"})
    gate_window: int = field(default=PipelineConfig().gate_window,
                             metadata={"help": "as pipeline.gate_window (for the operating curve)"})

    def __post_init__(self) -> None:
        if self.C <= 0:
            raise ConfigError(f"C must be > 0, got {self.C}")
        if any(not 0 < r <= 1 for r in self.rates) or self.gate_window < 1:
            raise ConfigError(f"rates must lie in (0, 1] and gate_window be >= 1, got {self.rates}, {self.gate_window}")


def examples(rows: Sequence[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[bool], list[str], list[str]]:
    """(owner text, other text) pairs, labels (the teacher wrote a fact), sources and scopes (conversation and
    owner) of the extraction rows, in the dataset's order (a scope's pairs in conversation order)."""
    from memmgr.gate import split_turns
    from memmgr.parsing import parse_facts
    from memmgr.prompts import parse_extraction_input

    pairs, labels, sources, scopes = [], [], [], []
    for r in rows:
        if r["stage"] != "extract":
            continue
        p = parse_extraction_input(r["prompt"])
        pairs.append(split_turns([(t["name"], t["text"]) for t in p["new"]], p["owner"]))
        labels.append(bool(parse_facts(r["label"]).facts))
        sources.append(r.get("source") or "all")
        scopes.append(f"{r.get('conversation_id')}:{','.join(p['owner'])}")
    return pairs, labels, sources, scopes


def operating_curve(p_facts: Sequence[float], labels: Sequence[bool], scopes: Sequence[str],
                    rates: Sequence[float], window: int) -> list[dict[str, float]]:
    """What `pipeline.extract_rate` R does with this model: each scope's pairs are ranked as the gate ranks them
    (memmgr.gate.scope_ranks over 1 - P(facts)); per R, the share of pairs extracted and the share of the pairs with
    facts among them (the teacher's recall the gate allows; the manager can only lose more after it)."""
    from memmgr.gate import scope_ranks

    ranks = [0.0] * len(labels)
    for scope in dict.fromkeys(scopes):
        idx = [i for i, s in enumerate(scopes) if s == scope]
        for i, r in zip(idx, scope_ranks([1.0 - p_facts[i] for i in idx], window)):
            ranks[i] = r
    positive = max(1, sum(labels))
    return [{"rate": rate, "extracted": sum(r < rate for r in ranks) / len(ranks),
             "positive_recall": sum(r < rate and y for r, y in zip(ranks, labels)) / positive} for rate in rates]


def fit_gate(args: GateArguments) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from data_gen.traces import load_traces
    from memmgr.config import EmbedderConfig
    from memmgr.embed import make_embedder
    from memmgr.gate import FEATURES, GateModel, gate_features

    dd = load_traces(args.dataset_path)
    if args.train_split not in dd:
        raise ConfigError(f"{args.dataset_path} has no split {args.train_split!r} ({list(dd)})")
    embedder = make_embedder(EmbedderConfig(provider=args.embedder_provider, model=args.embedder_model,
                                            dim=args.embedder_dim))
    pairs, y, _, _ = examples(dd[args.train_split])
    if len(set(y)) < 2:
        raise ConfigError(f"{args.dataset_path}:{args.train_split} needs extraction rows with and without facts "
                          f"({len(y)} rows, {sum(y)} with facts)")
    log.info("embedding %d train rows (%d with facts)", len(y), sum(y))
    clf = LogisticRegression(C=args.C, max_iter=5000).fit(gate_features(embedder, pairs), y)
    info: dict[str, Any] = {"dataset_path": args.dataset_path, "train_rows": len(y), "train_positive": sum(y),
                            "args": asdict(args), "higher_is_better": {"auc": True}}
    ed = load_traces(args.eval_dataset_path) if args.eval_dataset_path else dd
    if args.eval_split and args.eval_split in ed:
        rows = list(ed[args.eval_split])[: args.max_eval_rows]
        vpairs, vy, vsrc, vscopes = examples(rows)
        if vpairs:
            scores = [float(x) for x in clf.predict_proba(gate_features(embedder, vpairs))[:, 1]]
            info["eval"] = {"all": {"rows": len(vy), "positive_rate": sum(vy) / len(vy), "auc": auc(vy, scores),
                                    "curve": operating_curve(scores, vy, vscopes, args.rates, args.gate_window)}}
            for s in sorted(set(vsrc)):
                idx = [i for i, x in enumerate(vsrc) if x == s]
                info["eval"][s] = {"rows": len(idx), "positive_rate": sum(vy[i] for i in idx) / len(idx),
                                   "auc": auc([vy[i] for i in idx], [scores[i] for i in idx])}
            log.info("validation: %s", json.dumps(info["eval"]))
    model = GateModel(features=FEATURES, embedder=embedder.name, dim=embedder.dim,
                      weights=[float(w) for w in clf.coef_[0]], bias=float(clf.intercept_[0]), info=info)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(model.model_dump_json(indent=1))
    log.info("wrote %s", out)
    return {"output": str(out), **info}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = parse_cli(lambda: (GateArguments,), __doc__, argv)
    try:
        result = fit_gate(args)
    except (ConfigError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps({k: result[k] for k in ("output", "train_rows", "train_positive")} | {"eval": result.get("eval")}))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
