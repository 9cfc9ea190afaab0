"""lm-evaluation-harness-like output: results_<timestamp>.json beside samples_<task>_<timestamp>.jsonl (a re-run
never overwrites the samples an older results file describes), a Markdown table, PNG plots.

results JSON schema (top level): results {task: metrics (+ per_category, per_seed, costs)}, higher_is_better
{task: {metric: bool}}, n_samples {task: int}, versions {task: version of the task's metric definitions}, samples
{task: samples file name}, config, git_hash, memmgr_version, prompt_version, backends, date, plus whatever the
caller's `meta` holds (data path, cache hits/misses, wall time).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eval.aggregate import HIGHER_IS_BETTER

log = logging.getLogger(__name__)
RESULTS_SCHEMA_KEYS = ("results", "higher_is_better", "n_samples", "versions", "samples", "config", "git_hash",
                       "memmgr_version", "prompt_version", "backends", "date")
# bumped when a task's metric definitions change, so results files from different definitions are not compared
TASK_VERSION = "2"

# (column title, metric key, format) for the main Markdown table
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n", "n", "{:.0f}"), ("F1", "f1", "{:.3f}"), ("BLEU-1", "bleu1", "{:.3f}"), ("J", "j", "{:.3f}"),
    ("evid. recall@k", "evidence_recall", "{:.3f}"), ("search p50 s", "search_latency_p50", "{:.3f}"),
    ("search p95 s", "search_latency_p95", "{:.3f}"), ("total p50 s", "total_latency_p50", "{:.2f}"),
    ("total p95 s", "total_latency_p95", "{:.2f}"), ("mem tokens", "memory_tokens", "{:.0f}"),
    ("mgr calls/conv", "manager_calls", "{:.0f}"), ("mgr prompt tok/conv", "manager_prompt_tokens", "{:.0f}"),
    ("mgr compl. tok/conv", "manager_completion_tokens", "{:.0f}"), ("rejected ops/conv", "rejected_ops", "{:.0f}"),
    # transfer to real dialogue (eval/transfer.py): stored memories against LOCOMO's observation annotations
    ("memories/conv", "memories", "{:.0f}"), ("relations/conv", "relations", "{:.0f}"),
    ("stored tok/conv", "stored_tokens", "{:.0f}"),
    ("obs. evid. coverage", "evidence_coverage", "{:.3f}"), ("matched coverage", "matched_coverage", "{:.3f}"),
    ("obs. recall", "observation_recall", "{:.3f}"),
    ("mem. match rate", "memory_match_rate", "{:.3f}"), ("mem. redundancy", "memory_redundancy", "{:.3f}"),
)


def git_hash(repo: str | Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo or Path(__file__).resolve().parent.parent,
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def fmt(metrics: dict[str, Any], key: str, pattern: str) -> str:
    v = metrics.get(key)
    if v is None:
        return "-"
    text = pattern.format(v)
    # several seeds: ± the sd over seeds; one seed: ± the standard error over questions (QA metrics only)
    spread = metrics.get(f"{key}_sd") if metrics.get("n_seeds", 1) > 1 else metrics.get(f"{key}_stderr")
    return f"{text} ± {pattern.format(spread)}" if spread else text


def markdown_table(results: dict[str, dict[str, Any]], columns: Sequence[tuple[str, str, str]] = COLUMNS) -> str:
    cols = [c for c in columns if any(r.get(c[1]) is not None for r in results.values())]
    lines = ["| task | " + " | ".join(c[0] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for task, r in results.items():
        lines.append(f"| {task} | " + " | ".join(fmt(r, key, pat) for _, key, pat in cols) + " |")
    if any(r.get("n_seeds", 1) > 1 or r.get("f1_stderr") for r in results.values()):
        lines += ["", "± : the sd over seeds where a row has several, else the standard error over its questions."]
    cats = sorted({c for r in results.values() for c in r.get("per_category", {})})
    if cats:
        lines += ["", "Per category (F1 / J, n):", "", "| task | " + " | ".join(cats) + " |",
                  "|---|" + "---|" * len(cats)]
        for task, r in results.items():
            if not r.get("per_category"):  # reference rows (eval.transfer) answer no question
                continue
            cells = []
            for c in cats:
                m = r.get("per_category", {}).get(c)
                if not m:
                    cells.append("-")
                    continue
                j = f"{m['j']:.3f}" if m.get("j") is not None else "-"
                cells.append(f"{m['f1']:.3f} / {j} (n={m['n']:.0f})")
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def samples_file(task: str, stamp: str) -> str:
    """File name of a task's samples; ablation tasks ("manager=mix / locomo_mem0") keep only safe characters."""
    return f"samples_{re.sub(r'[^A-Za-z0-9_.=,+-]+', '_', task)}_{stamp}.jsonl"


def write_report(results: dict[str, dict[str, Any]], samples: dict[str, list[dict[str, Any]]], meta: dict[str, Any],
                 out_dir: str | Path, *, plots: bool = True, columns: Sequence[tuple[str, str, str]] = COLUMNS
                 ) -> dict[str, Any]:
    """Write everything under out_dir; returns the written paths (and the Markdown text)."""
    import memmgr
    from memmgr.prompts import PROMPT_VERSION

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")
    doc = {
        "results": results,
        "higher_is_better": {t: {k: v for k, v in HIGHER_IS_BETTER.items() if r.get(k) is not None}
                             for t, r in results.items()},
        "n_samples": {t: len(samples.get(t, [])) or r.get("n") for t, r in results.items()},
        "versions": {t: TASK_VERSION for t in results},
        "samples": {t: samples_file(t, stamp) for t in samples},
        "config": meta.get("config"), "git_hash": git_hash(), "memmgr_version": memmgr.__version__,
        "prompt_version": PROMPT_VERSION, "backends": meta.get("backends"), "date": stamp,
        **{k: v for k, v in meta.items() if k not in ("config", "backends")},
    }
    paths: dict[str, Any] = {"results": str(out / f"results_{stamp}.json"), "samples": {}, "plots": []}
    Path(paths["results"]).write_text(json.dumps(_jsonable(doc), indent=2, ensure_ascii=False))
    for task, recs in samples.items():
        p = out / samples_file(task, stamp)
        with p.open("w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(_jsonable(r), ensure_ascii=False) + "\n")
        paths["samples"][task] = str(p)
    md = markdown_table(results, columns)
    header = (f"# {meta.get('config', {}).get('name', 'eval')} ({stamp})\n\nbackends: {meta.get('backends')}; "
              f"git {str(doc['git_hash'])[:10]}; prompts {PROMPT_VERSION}; LLM cache {meta.get('cache')}\n\n")
    (out / f"results_{stamp}.md").write_text(header + md + "\n")
    paths["markdown"] = str(out / f"results_{stamp}.md")
    paths["markdown_text"] = md
    if plots:
        paths["plots"] = write_plots(results, samples, out, stamp)
    return paths


def write_plots(results: dict[str, dict[str, Any]], samples: dict[str, list[dict[str, Any]]], out: Path,
                stamp: str) -> list[str]:
    """Per-category bars, latency CDF, memory tokens vs F1 (matplotlib Agg; skipped plots leave no file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    # QA tasks only: reference rows (e.g. eval.transfer's) have no per-category scores and would plot as zeros
    qa = {t: r for t, r in results.items() if r.get("per_category")}
    cats = sorted({c for r in qa.values() for c in r.get("per_category", {})})
    if cats:
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cats) * max(1, len(qa)) / 2), 4))
        width = 0.8 / max(len(qa), 1)
        for i, (task, r) in enumerate(qa.items()):
            ys = [(r.get("per_category", {}).get(c) or {}).get("f1") or 0.0 for c in cats]
            ax.bar([x + i * width for x in range(len(cats))], ys, width, label=task)
        ax.set_xticks([x + width * (len(qa) - 1) / 2 for x in range(len(cats))], cats)
        ax.set_ylabel("token F1")
        ax.set_ylim(0, 1)
        ax.set_title("F1 per LOCOMO category")
        ax.legend(fontsize=8)
        written.append(_save(fig, out / f"per_category_{stamp}.png"))
    lat = {t: sorted(r["total_latency_s"] for r in recs if r.get("total_latency_s") is not None)
           for t, recs in samples.items()}
    if any(lat.values()):
        fig, ax = plt.subplots(figsize=(6, 4))
        for task, xs in lat.items():
            if xs:
                ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=task)
        ax.set_xlabel("total latency per question (s): search + answer")
        ax.set_ylabel("fraction of questions")
        ax.set_title("Latency CDF")
        ax.legend(fontsize=8)
        written.append(_save(fig, out / f"latency_cdf_{stamp}.png"))
    points = [(t, r.get("memory_tokens"), r.get("j") if r.get("j") is not None else r.get("f1"))
              for t, r in results.items()]
    points = [p for p in points if p[1] is not None and p[2] is not None]
    if points:
        fig, ax = plt.subplots(figsize=(6, 4))
        for task, x, y in points:
            ax.scatter([x], [y])
            ax.annotate(task, (x, y), fontsize=8)
        ax.set_xscale("symlog")
        ax.set_xlabel("memory/context tokens in the answer prompt (mean)")
        ax.set_ylabel("J" if any(r.get("j") is not None for r in results.values()) else "token F1")
        ax.set_title("Tokens vs accuracy")
        written.append(_save(fig, out / f"tokens_vs_accuracy_{stamp}.png"))
    return written


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def run_command(model: type, argv: Sequence[str] | None, doc: str | None, run: Callable[[Any], dict[str, Any]]
                ) -> dict[str, Any]:
    """The body of an eval command: its config from the command line (`memmgr.settings.cli_config`), logging, then
    `run(cfg)`; what a user's input can break (config, a missing file, a bad value) exits with a one-line error."""
    from memmgr.settings import ConfigError, cli_config

    cfg = cli_config(model, argv, doc)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(cfg)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


def print_paths(paths: dict[str, Any]) -> None:
    """What every eval command prints at the end: the Markdown table and where the results file is."""
    print(paths["markdown_text"])
    print(f"\nresults: {paths['results']}")
