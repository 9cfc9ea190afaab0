"""The main job's report: `<output_dir>/report.md` with the traces, training and evaluation tables, and PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MANAGER_METRICS = ["json_validity", "parseable_rate", "op_accuracy", "op_macro_f1", "id_accuracy", "fact_f1",
                   "outcome_f1", "change_f1"]


def manager_results(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{model name: trace metrics} from the base_eval / sft_eval / grpo_eval stages, in that order."""
    out = dict(summary.get("base_eval") or {})
    for name in ("sft", "grpo"):
        r = summary.get(f"{name}_eval")
        if r and "skipped" not in r:
            out[name] = r
    return out


def _plots(out: Path, exp: dict[str, dict[str, Any]], loss: list[tuple[int, float]]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    if exp:
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(exp)
        for i, (n, r) in enumerate(exp.items()):
            ax.bar([j + i * width for j in range(len(MANAGER_METRICS))], [r.get(m) or 0 for m in MANAGER_METRICS],
                   width, label=f"{n} (n={r.get('n')})")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(MANAGER_METRICS))], MANAGER_METRICS, rotation=15)
        ax.set_ylim(0, 1)
        ax.set_title("Manager metrics on held-out traces")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "manager_metrics.png", dpi=120)
        plots.append("manager_metrics.png")
        plt.close(fig)
    if loss:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(*zip(*loss, strict=True), marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("train loss")
        ax.set_title("LoRA SFT")
        fig.tight_layout()
        fig.savefig(out / "sft_loss.png", dpi=120)
        plots.append("sft_loss.png")
        plt.close(fig)
    return plots


def _row(name: str, r: dict[str, Any], keys: list[str]) -> str:
    cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
    return f"| {name} | " + " | ".join(cells) + " |"


def write_report(out: Path, summary: dict[str, Any]) -> Path:
    exp = manager_results(summary)
    sft = summary.get("sft") or {}
    loss = [(h["step"], h["loss"]) for h in sft.get("log_history") or [] if "loss" in h]
    plots = _plots(out, exp, loss)
    walls = summary.get("stage_wall_s", {})
    lines = [f"# memmgr distillation report — {summary['model']}", "",
             f"- machine: {summary['machine']}", f"- wall time: {summary.get('wall_s', 0) / 60:.1f} min "
             f"({', '.join(f'{k} {v / 60:.1f}' for k, v in walls.items() if v is not None)} min)",
             f"- git {summary.get('git')}, memmgr {summary['memmgr_version']}, prompts {summary['prompt_version']}", ""]
    traces = summary.get("traces") or {}
    sources = traces.get("sources") or ({"traces": traces} if traces.get("splits") else {})
    if sources:
        lines += ["## Traces", "", "| source | split | conversations | examples | ADD | UPDATE | DELETE | NOOP |",
                  "|---" * 8 + "|"]
        lines += [f"| {name} | {s} | {d['conversations']} | {d['examples']} | {d['ops'].get('ADD', 0)} | "
                  f"{d['ops'].get('UPDATE', 0)} | {d['ops'].get('DELETE', 0)} | {d['ops'].get('NOOP', 0)} |"
                  for name, st in sources.items() for s, d in st["splits"].items()]
        mix = traces.get("mix") or {}
        if mix.get("train_rows"):
            lines += ["", f"Mixed train split (rows per source): {mix['train_rows']} (weights {mix['weights']})"]
        lines.append("")
    if sft.get("steps") is not None:
        lines += ["## SFT", "", f"steps {sft.get('steps')}, final train loss {sft.get('train_loss') or 0:.4f}, "
                  f"{(sft.get('wall_s') or 0) / 60:.1f} min, {sft.get('tokens_per_s') or 0:.0f} tokens/s, "
                  f"peak RSS {sft.get('peak_rss_gib') or 0:.2f} GiB", ""]
    if exp:
        keys = ["n", *MANAGER_METRICS, "hallucinated_id_rate", "prompt_tokens_per_call"]
        lines += ["## Manager metrics on held-out traces", "", "| model | " + " | ".join(keys) + " |",
                  "|---" * (len(keys) + 1) + "|"] + [_row(n, r, keys) for n, r in exp.items()] + [""]
        split = [(f"{n} / {s}", m) for n, r in exp.items() for s, m in (r.get("by_source") or {}).items()]
        if split:
            lines += ["By source of the held-out rows (synthetic: unseen phrasing; life: unseen topic families):", "",
                      "| model / source | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
            lines += [_row(n, m, keys) for n, m in split] + [""]
    for title, key in (("Pipeline on held-out worlds", "worlds"), ("LOCOMO slice (mem0 method)", "locomo")):
        block = summary.get(key) or {}
        if block and "skipped" not in block:
            keys = sorted({k for v in block.values() for k, x in v.items() if isinstance(x, (int, float))})
            lines += [f"## {title}", "", "| manager | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
            lines += [_row(n, v, keys) for n, v in block.items()] + [""]
        elif block:
            lines += [f"## {title}", "", f"skipped: {block['skipped']}", ""]
    lines += [f"![{p}]({p})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
