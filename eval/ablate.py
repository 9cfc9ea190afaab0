"""Ablations: a grid over pipeline/manager settings, each cell run on LOCOMO with seeds, one table mean ± sd + costs.

    python -m eval.ablate --config configs/ablations/tiny.yaml --data ../shared/data/locomo/locomo_dev.json

Config:
    base: configs/eval/tiny.yaml          # an eval config (eval.locomo.EvalConfig), path or inline mapping
    overrides: {methods: [mem0]}          # dotted keys applied to every cell
    seeds: [0, 1]
    grid:                                 # the cartesian product of the axes is run
      memory.pipeline.top_s: [5, 10]      # a list: one dotted key, its values
      manager:                            # a mapping: named variants, each a mapping of dotted overrides
        base: {memory.manager.model: smollm2}
        sft: {memory.manager.extra.adapter: runs/sft/adapter}
Results like eval.locomo's: one table, and each cell's samples (answers; per-memory / per-observation transfer items)
beside it as `samples_<cell>_<task>_<stamp>.jsonl`. The LLM cache (`cache_dir` of the base config) is shared by
the cells, so cells that repeat a request (same manager prompt, same answer prompt) do not pay for it twice.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from eval.locomo import EvalConfig, run_locomo
from memmgr.settings import Strict, build, cli_config, load_yaml, set_dotted

log = logging.getLogger(__name__)


class AblationConfig(Strict):
    name: str = "ablation"
    base: str | dict[str, Any]
    data: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] | None = None  # None = the base config's seeds
    grid: dict[str, list[Any] | dict[str, dict[str, Any]]] = Field(default_factory=dict)
    output_dir: str = "outputs/ablations"

    @classmethod
    def load(cls, source: AblationConfig | dict | str | Path) -> AblationConfig:
        if isinstance(source, AblationConfig):
            return source
        if isinstance(source, (str, Path)):
            return build(cls, load_yaml(source), str(source))
        return build(cls, source)


def cells(grid: dict[str, list[Any] | dict[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """[(cell name, {dotted key: value})] for the cartesian product of the axes (one cell for an empty grid)."""
    axes: list[list[tuple[str, dict[str, Any]]]] = []
    for axis, spec in grid.items():
        if isinstance(spec, dict):
            axes.append([(f"{axis}={name}", dict(over or {})) for name, over in spec.items()])
        else:
            short = axis.rsplit(".", 1)[-1]
            axes.append([(f"{short}={v}", {axis: v}) for v in spec])
    out = []
    for combo in itertools.product(*axes):
        name = ",".join(n for n, _ in combo) or "base"
        merged: dict[str, Any] = {}
        for _, over in combo:
            merged.update(over)
        out.append((name, merged))
    return out


def cell_config(ab: AblationConfig, overrides: dict[str, Any]) -> EvalConfig:
    base = ab.base if isinstance(ab.base, dict) else load_yaml(ab.base)
    cfg = copy.deepcopy(base)
    for k, v in {**ab.overrides, **overrides}.items():
        set_dotted(cfg, k, v)
    if ab.seeds is not None:
        cfg["seeds"] = list(ab.seeds)
    return EvalConfig.model_validate(cfg)


def run_ablation(config: AblationConfig | dict | str | Path, data: str | Path | None = None, *,
                 backends: dict[str, Any] | None = None, embedder: Any = None, progress: bool = True
                 ) -> dict[str, Any]:
    from eval.report import write_report

    ab = AblationConfig.load(config)
    data = data or ab.data
    if not data:
        raise ValueError("no LOCOMO data: pass --data or set `data:` in the ablation config")
    rows: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    cell_meta = []
    grid = cells(ab.grid)
    for i, (name, over) in enumerate(grid, 1):
        cfg = cell_config(ab, over)
        log.info("cell %d/%d: %s", i, len(grid), name)
        out = run_locomo(cfg, data, backends=backends, embedder=embedder, write=False, progress=progress)
        for task, metrics in out["results"].items():
            rows[f"{name} / {task}"] = {k: v for k, v in metrics.items() if k not in ("per_seed", "costs")}
            styles: dict[str, int] = {}  # which prompt the manager got (a student: its manager card's)
            for c in metrics.get("costs") or []:
                for style, n in (c.get("prompt_styles") or {}).items():
                    styles[style] = styles.get(style, 0) + n
            if styles:
                rows[f"{name} / {task}"]["manager_prompt_styles"] = styles
        samples.update({f"{name} / {task}": recs for task, recs in out["samples"].items()})
        cell_meta.append({"cell": name, "overrides": over, "backends": out["backends"], "cache": out["cache"],
                          "n_questions": out["n_questions"], "wall_s": out["wall_s"]})
    meta = {"config": {**ab.model_dump(mode="json"), "name": ab.name}, "data": str(data), "cells": cell_meta,
            "backends": {c["cell"]: c["backends"] for c in cell_meta}}
    paths = write_report(rows, samples, meta, Path(ab.output_dir) / ab.name, plots=True)
    return {"results": rows, "cells": cell_meta, "paths": paths}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ab = cli_config(AblationConfig, argv, __doc__)  # --config FILE [--data PATH] [--output_dir DIR] [--key value]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = run_ablation(ab, ab.data)
    from eval.report import print_paths

    print_paths(out["paths"])
    return out


if __name__ == "__main__":
    main()
