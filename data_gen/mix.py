"""Mix trace datasets (synthetic worlds, LOCOMO-like worlds, real dialogue labelled by observations) into one.

    python -m data_gen.mix --sources '{synthetic: data/synthetic_oracle, life: data/life_oracle,
        locomo: data/locomo_observations}' --weights '{synthetic: 0.4, life: 0.4, locomo: 0.2}' --output_dir data/mix

`weights` are the shares of the *train* split: the largest train set with those shares that the sources can fill
is taken (the limiting source whole, the others subsampled, seeded), so no row repeats. Validation and test splits
are concatenated whole. Every row gets a `mix_source` column naming its source, so evaluations can be broken down
per source (`eval.manager --source NAME`). Output: `<output_dir>/dataset` (DatasetDict), per-split JSONL, stats.json.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from memmgr.settings import Strict

log = logging.getLogger(__name__)


class MixConfig(Strict):
    sources: dict[str, str]  # name -> a data_gen output folder (or a DatasetDict folder / JSONL)
    weights: dict[str, float] = Field(default_factory=dict)  # name -> share of train; empty = every source whole
    output_dir: str = "data/mix"
    seed: int = 0
    max_train: int | None = None  # cap on the mixed train split (shares kept)

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        unknown = set(self.weights) - set(self.sources)
        if unknown:
            raise ValueError(f"weights name sources that are not listed: {sorted(unknown)}")
        if any(w < 0 for w in self.weights.values()) or (self.weights and not sum(self.weights.values())):
            raise ValueError("weights must be non-negative with a positive sum")
        return self


def _dataset_path(path: str) -> Path:
    p = Path(path)
    return p / "dataset" if (p / "dataset").is_dir() else p


def train_counts(sizes: dict[str, int], weights: dict[str, float], cap: int | None = None) -> dict[str, int]:
    """Rows per source for the train split: shares = weights, as many as the sources can fill (then `cap`)."""
    if not weights:
        counts = dict(sizes)
    else:
        total_w = sum(weights.values())
        shares = {k: w / total_w for k, w in weights.items() if w > 0}
        total = min(sizes[k] / s for k, s in shares.items())
        counts = {k: int(total * s) for k, s in shares.items()}
    n = sum(counts.values())
    if cap is not None and n > cap:
        counts = {k: int(v * cap / n) for k, v in counts.items()}
    return counts


def mix(cfg: MixConfig) -> dict[str, Any]:
    from datasets import DatasetDict, concatenate_datasets

    from data_gen.traces import load_traces

    rng = random.Random(cfg.seed)
    loaded = {name: load_traces(_dataset_path(p)) for name, p in cfg.sources.items()}
    tagged = {name: DatasetDict({s: d.add_column("mix_source", [name] * len(d)) for s, d in dd.items()})
              for name, dd in loaded.items()}
    sizes = {name: len(dd["train"]) if "train" in dd else 0 for name, dd in tagged.items()}
    counts = train_counts(sizes, cfg.weights, cfg.max_train)
    out: dict[str, Any] = {}
    parts = [tagged[k]["train"].select(sorted(rng.sample(range(sizes[k]), n))) for k, n in counts.items() if n]
    if parts:
        out["train"] = concatenate_datasets(_common_columns(parts)).shuffle(seed=cfg.seed)
    for split in ("validation", "test"):
        parts = [dd[split] for dd in tagged.values() if split in dd and len(dd[split])]
        if parts:
            out[split] = concatenate_datasets(_common_columns(parts))
    dd = DatasetDict(out)
    dest = Path(cfg.output_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dd.save_to_disk(str(dest / "dataset"))
    for split, d in dd.items():
        d.to_json(str(dest / f"{split}.jsonl"), lines=True, force_ascii=False)
    stats = {"sources": cfg.sources, "weights": cfg.weights, "train_rows": counts,
             "splits": {s: {"examples": len(d), "by_source": _by_source(d)} for s, d in dd.items()}}
    (dest / "stats.json").write_text(json.dumps(stats, indent=2))
    log.info("mixed %s -> %s", counts, dest)
    return stats


def _common_columns(parts: Sequence[Any]) -> list[Any]:
    """Sources written by different data_gen versions may differ in optional columns: keep the shared ones."""
    cols = set(parts[0].column_names)
    for p in parts[1:]:
        cols &= set(p.column_names)
    return [p.select_columns([c for c in p.column_names if c in cols]) for p in parts]


def _by_source(d: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in d["mix_source"]:
        counts[s] = counts.get(s, 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from memmgr.settings import cli_config

    cfg = cli_config(MixConfig, argv, __doc__)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stats = mix(cfg)
    print(json.dumps(stats["splits"], indent=2))
    return stats


if __name__ == "__main__":
    main()
