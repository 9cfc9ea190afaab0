"""Replicate runs -> one row, mean ± sd: e.g. one SFT recipe trained with several seeds, each adapter evaluated
the same way (eval.locomo, eval.ablate or eval.manager). A single run cannot say how much of a difference between
two recipes is the recipe and how much is the seed; this puts the spread beside the mean.

    python -m eval.combine --name loc50 --results '[outputs/ablations/transfer_cpu_loc50_whole,
        outputs/ablations/transfer_cpu_loc50_s1_whole]' [--task locomo_mem0] [--output_dir outputs/combined]
    python -m eval.combine --name loc50_synthetic --task manager_traces --results '[runs/a/eval, runs/b/eval]'

Each entry of `results` is a results_*.json or a folder holding them (the newest is read). From each, the row named
`task` is taken (an ablation's rows are "<cell> / <task>": the one cell whose task matches). Runs must score the
same items (same `n`, same metric version); metrics missing from any run are left out, with a log line. Output: a
results JSON + Markdown like eval.locomo's (each metric with `<metric>_sd` over the runs, `n_seeds` = runs), whose
`runs` list names every source file with its git hash and config.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.aggregate import combine_seeds
from memmgr.settings import Strict

log = logging.getLogger(__name__)


class CombineConfig(Strict):
    name: str
    results: list[str]  # results_*.json files, or folders holding them (the newest is read)
    task: str = "locomo_mem0"  # the row: its key, or the part after " / " of an ablation's "<cell> / <task>"
    output_dir: str = "outputs/combined"


def results_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        found = sorted(p.glob("results_*.json"))  # timestamped names: the last sorts newest
        if not found:
            raise FileNotFoundError(f"no results_*.json in {p}")
        return found[-1]
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found")
    return p


def pick_row(doc: dict[str, Any], task: str, source: Path) -> tuple[str, dict[str, Any]]:
    rows = doc.get("results")
    if not isinstance(rows, dict):
        raise ValueError(f"{source} is not a results file (no `results` mapping)")
    hits = [k for k in rows if k == task or k.rsplit(" / ", 1)[-1] == task]
    if len(hits) != 1:
        raise ValueError(f"{source}: {'no' if not hits else len(hits)} rows for task {task!r} "
                         f"(rows: {', '.join(rows) or 'none'})")
    return hits[0], rows[hits[0]]


def combine_runs(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over runs of every numeric metric all runs have (a run's own spread over eval seeds is dropped:
    the sd here is over runs)."""
    if len(rows) < 2:
        raise ValueError("combine needs two runs or more")
    if len({r.get("n") for r in rows}) > 1:
        raise ValueError(f"the runs scored different numbers of items (n = {[r.get('n') for r in rows]})")

    def metrics(r: dict[str, Any]) -> set[str]:
        return {k for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                and not k.endswith("_sd") and k != "n_seeds"}

    common = set.intersection(*(metrics(r) for r in rows))
    dropped = sorted(set.union(*(metrics(r) for r in rows)) - common)
    if dropped:
        log.info("left out (missing from some run): %s", ", ".join(dropped))
    cleaned = []
    for r in rows:
        c: dict[str, Any] = {k: r[k] for k in sorted(common)}
        if all(r.get("per_category") for r in rows):
            c["per_category"] = r["per_category"]
        cleaned.append(c)
    return combine_seeds(cleaned)


def _columns(row: dict[str, Any]) -> Sequence[tuple[str, str, str]]:
    """The Markdown columns of the evaluator that wrote the row (eval.manager's three kinds, else eval.locomo's)."""
    from eval.report import COLUMNS

    if not any(k in row for k in ("op_macro_f1", "graph_entities_f1", "state_f1")):
        return COLUMNS
    from eval.manager import GRAPH_COLUMNS, TRACE_COLUMNS, WORLD_COLUMNS

    return GRAPH_COLUMNS if "graph_entities_f1" in row else WORLD_COLUMNS if "state_f1" in row else TRACE_COLUMNS


def run(cfg: CombineConfig) -> dict[str, Any]:
    from eval.report import TASK_VERSION, write_report

    rows, runs = [], []
    for entry in cfg.results:
        path = results_file(entry)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not readable JSON ({e})") from None
        key, row = pick_row(doc, cfg.task, path)
        version = (doc.get("versions") or {}).get(key, TASK_VERSION)
        rows.append(row)
        runs.append({"results": str(path), "row": key, "version": version, "git_hash": doc.get("git_hash"),
                     "date": doc.get("date"), "config": doc.get("config")})
    if len({r["version"] for r in runs}) > 1:
        raise ValueError(f"the runs use different metric versions ({[r['version'] for r in runs]})")
    combined = combine_runs(rows)
    meta = {"config": {**cfg.model_dump(mode="json"), "name": cfg.name}, "runs": runs}
    task = f"{cfg.name} / {cfg.task} ({len(rows)} runs)"
    paths = write_report({task: combined}, {}, meta, Path(cfg.output_dir) / cfg.name, plots=False,
                         columns=_columns(combined))
    return {"results": combined, "paths": paths}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from eval.report import print_paths, run_command

    out = run_command(CombineConfig, argv, __doc__, run)
    print_paths(out["paths"])
    return out


if __name__ == "__main__":
    main()
