"""Mix trace datasets (synthetic worlds, LOCOMO-like worlds, real dialogue labelled by observations) into one.

    python -m data_gen.mix --sources '{synthetic: data/synthetic_oracle, life: data/life_oracle,
        locomo: data/locomo_observations}' --weights '{synthetic: 0.4, life: 0.4, locomo: 0.2}' --output_dir data/mix

`weights` are the shares of the *train* split: the largest train set with those shares that the sources can fill
is taken (the limiting source whole, the others subsampled, seeded), so no row repeats. Validation and test splits
are concatenated whole. Every row gets a `mix_source` column naming its source, so evaluations can be broken down
per source (`eval.manager --source NAME`). Output: `<output_dir>/dataset` (DatasetDict), per-split JSONL, stats.json.

`stages: {locomo: [extract]}` keeps only those stages of a source's *train* rows before the shares are taken (held-out
splits stay whole): e.g. real-dialogue extraction rows at a high weight without conv-26's update rows, whose labels
are all ADD (LOCOMO's observations rarely restate each other; docs/real_dialogue.md). One trace folder may be listed
under two names with different `stages`, to weight its stages apart: `sources: {synu: T, syne: T, ...}, stages: {synu:
[update], syne: [extract]}, weights: {synu: 0.33, syne: 0.12, ...}`; its validation and test rows are taken once
(under the first name).

`balance: [extract, update]` (or one of them) draws each subsampled source's rows of those stages evenly across
strata (`row_stratum`) instead of as they come, each stage keeping its share: extraction rows by whether the scope's
owner speaks first or second in the new messages and whether the label is empty; update rows by the ops of their
label. World traces are lopsided on both (the main speaker opens every pair and the friend says fewer facts, so
"owner speaks second" is mostly an empty label; NOOP/DELETE are rare), and a student trained on them as they come
never answers NOOP. A source taken whole (the limiting one) is unchanged. Measured in the README: balancing both
stages taught NOOP but also to extract nothing from template-world turns.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from data_gen.traces import GRAPH_STAGES, STAGES, load_traces
from memmgr.prompts import parse_extraction_input
from memmgr.settings import Strict

log = logging.getLogger(__name__)


class MixConfig(Strict):
    sources: dict[str, str]  # name -> a data_gen output folder (or a DatasetDict folder / JSONL)
    weights: dict[str, float] = Field(default_factory=dict)  # name -> share of train; empty = every source whole
    output_dir: str = "data/mix"
    seed: int = 0
    max_train: int | None = None  # cap on the mixed train split (shares kept)
    balance: list[str] = Field(default_factory=list)  # stages whose subsampled rows are drawn evenly across strata
    stages: dict[str, list[str]] = Field(default_factory=dict)  # name -> the only stages kept of its train rows

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        unknown = set(self.weights) - set(self.sources)
        if unknown:
            raise ValueError(f"weights name sources that are not listed: {sorted(unknown)}")
        unknown = set(self.stages) - set(self.sources)
        if unknown:
            raise ValueError(f"stages name sources that are not listed: {sorted(unknown)}")
        if any(not v for v in self.stages.values()):
            raise ValueError("stages: each listed source keeps at least one stage")
        typos = {st for v in self.stages.values() for st in v} - set(STAGES + GRAPH_STAGES)
        if typos:  # a misspelt stage would empty the source, and with it the whole train split, silently
            raise ValueError(f"stages takes {', '.join(STAGES + GRAPH_STAGES)}, got {sorted(typos)}")
        if set(self.balance) - set(STAGES):
            raise ValueError(f"balance takes stages extract / update, got {self.balance}")
        for names in (v for v in self.by_folder().values() if len(v) > 1):  # else a train row could be drawn twice
            kept = [set(self.stages.get(n, STAGES + GRAPH_STAGES)) for n in names]
            if any(a & b for i, a in enumerate(kept) for b in kept[i + 1:]):
                raise ValueError(f"sources {names} name one folder: give each its own `stages` (no stage twice)")
        if any(w < 0 for w in self.weights.values()) or (self.weights and not sum(self.weights.values())):
            raise ValueError("weights must be non-negative with a positive sum")
        return self

    def by_folder(self) -> dict[str, list[str]]:
        """Source names per trace folder (resolved), in the order listed: one folder may serve two names."""
        out: dict[str, list[str]] = {}
        for name, path in self.sources.items():
            out.setdefault(str(_dataset_path(path).resolve()), []).append(name)
        return out


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


def row_stratum(row: dict[str, Any]) -> str:
    """The stratum `balance` evens out: "extract:<owner_first|owner_second|no_owner>:<facts|empty>",
    "update:<sorted ops of the label>", or the stage (graph rows)."""
    stage = row.get("stage") or ""
    try:
        label = json.loads(row.get("label") or "{}")
    except ValueError:
        label = {}
    if stage == "extract":
        try:
            inp = parse_extraction_input(row.get("prompt") or [])
        except ValueError:  # no user message: nothing to read
            inp = {"owner": [], "new": []}
        first = inp["new"][0]["name"] if inp["new"] else None
        pos = "no_owner" if not inp["owner"] else ("owner_first" if first in inp["owner"] else "owner_second")
        return f"extract:{pos}:{'facts' if (label or {}).get('facts') else 'empty'}"
    if stage == "update":
        ops = sorted({str(o.get("event")) for o in (label or {}).get("memory") or [] if isinstance(o, dict)})
        return f"update:{'+'.join(ops) or 'none'}"
    return stage


def balanced_sample(strata: Sequence[str], stages: Sequence[str], n: int, rng: random.Random) -> list[int]:
    """n row indices: each stage keeps its share of the rows, and within a stage every stratum gets an equal part
    (a stratum with fewer rows gives all it has, the others share the rest)."""
    by_stage: dict[str, dict[str, list[int]]] = {}
    for i, (st, key) in enumerate(zip(stages, strata)):
        by_stage.setdefault(st, {}).setdefault(key, []).append(i)
    total = len(strata)
    stage_n = {st: round(n * sum(len(v) for v in groups.values()) / total) for st, groups in by_stage.items()}
    picked: list[int] = []
    for st, groups in sorted(by_stage.items()):
        want, pools = min(stage_n[st], sum(len(v) for v in groups.values())), sorted(groups.items())
        quota = {k: 0 for k, _ in pools}
        open_ = [k for k, _ in pools]
        while want > 0 and open_:  # water-filling: equal parts, capped by what each stratum has
            part = max(1, want // len(open_))
            for k in list(open_):
                take = min(part, len(groups[k]) - quota[k], want)
                quota[k] += take
                want -= take
                if quota[k] == len(groups[k]):
                    open_.remove(k)
                if want == 0:
                    break
        for k, ids in pools:
            picked += rng.sample(ids, quota[k])
    return sorted(picked)


def mix(cfg: MixConfig) -> dict[str, Any]:
    from datasets import DatasetDict, concatenate_datasets

    rng = random.Random(cfg.seed)
    loaded = {name: load_traces(_dataset_path(p)) for name, p in cfg.sources.items()}
    tagged = {name: DatasetDict({s: d.add_column("mix_source", [name] * len(d)) for s, d in dd.items()})
              for name, dd in loaded.items()}
    for name, keep in cfg.stages.items():
        if "train" in tagged[name]:
            train = tagged[name]["train"]
            tagged[name]["train"] = train.select([i for i, st in enumerate(train["stage"]) if st in keep])
    sizes = {name: len(dd["train"]) if "train" in dd else 0 for name, dd in tagged.items()}
    counts = train_counts(sizes, cfg.weights, cfg.max_train)
    out: dict[str, Any] = {}
    parts = [tagged[k]["train"].select(_draw(tagged[k]["train"], n, rng, cfg.balance)) for k, n in counts.items() if n]
    if parts:
        out["train"] = concatenate_datasets(_common_columns(parts)).shuffle(seed=cfg.seed)
    # one trace folder listed under two names (each with its own `stages`) gives its held-out rows once
    held_out = [names[0] for names in cfg.by_folder().values()]
    for split in ("validation", "test"):
        parts = [tagged[n][split] for n in held_out if split in tagged[n] and len(tagged[n][split])]
        if parts:
            out[split] = concatenate_datasets(_common_columns(parts))
    dd = DatasetDict(out)
    dest = Path(cfg.output_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dd.save_to_disk(str(dest / "dataset"))
    for split, d in dd.items():
        d.to_json(str(dest / f"{split}.jsonl"), lines=True, force_ascii=False)
    stats = {"sources": cfg.sources, "weights": cfg.weights, "stages": cfg.stages, "balance": cfg.balance,
             "train_rows": counts,
             "splits": {s: {"examples": len(d), "by_source": _by_source(d)} for s, d in dd.items()}}
    if "train" in dd:  # what the student will see: rows per stratum (see `balance`)
        stats["train_strata"] = dict(sorted(Counter(row_stratum(r) for r in dd["train"]).items()))
    (dest / "stats.json").write_text(json.dumps(stats, indent=2))
    log.info("mixed %s -> %s", counts, dest)
    return stats


def _draw(ds: Any, n: int, rng: random.Random, balance: Sequence[str]) -> list[int]:
    if n >= len(ds) or not balance:
        return sorted(rng.sample(range(len(ds)), n))
    stages = list(ds["stage"])
    rows = ds.select_columns([c for c in ("stage", "label", "prompt") if c in ds.column_names])
    strata = [row_stratum(r) if st in balance else st for r, st in zip(rows, stages)]  # one stratum: as they come
    return balanced_sample(strata, stages, n, rng)


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
