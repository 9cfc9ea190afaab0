"""The main job, end to end: teacher traces -> LoRA SFT of a small manager -> base vs fine-tuned evaluation -> report.

    python -m train.distill --config configs/main/smollm2_cpu.yaml            # 2-core CPU, ~38 min (`make demo`)
    python -m train.distill --config configs/main/smollm2_cpu.yaml --quick    # same path, small sizes (~7 min)
    python -m train.distill --config configs/main/smollm2_cpu.yaml --set sft.max_steps=300 --set grpo.enabled=true

Stages (each reuses the project's own entry points, nothing is re-implemented here):
1. traces: `data_gen.generate` over synthetic gold worlds with the oracle teacher (or any teacher in the config);
2. base eval, SFT, SFT eval (and optional GRPO): `train.experiment` (manager metrics from `memmgr.scoring`);
3. pipeline on held-out worlds: `eval.manager.evaluate_worlds`, the real `Memory` with the base vs the fine-tuned
   manager, final memory state against gold and QA probes answered from memory;
4. LOCOMO slice: `eval.locomo` with the mem0 method, base vs fine-tuned manager, same answerer;
5. report: `<output_dir>/report.md`, `results.json` and PNG plots; the path is printed at the end.
Swap `data_gen.teacher` for an API endpoint, `model` for a GPU model and `locomo.data` for the full locomo10.json
to run the real thing with the same code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

log = logging.getLogger("train.distill")
REPO = Path(__file__).resolve().parents[1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageSFT(_Strict):
    config: str = "configs/sft/smollm2-135m_lora_cpu.yaml"
    overrides: dict[str, Any] = Field(default_factory=dict)


class StageGRPO(_Strict):
    enabled: bool = False
    config: str = "configs/grpo/smollm2-135m_cpu.yaml"
    overrides: dict[str, Any] = Field(default_factory=dict)


class StageWorlds(_Strict):
    n: int = 2
    n_sessions: tuple[int, int] = (3, 5)
    seed: int = 7
    max_tokens: int = 160
    qa_top_k: int = 5


class StageLocomo(_Strict):
    enabled: bool = True
    data: str = "../shared/data/locomo/locomo_dev.json"
    sample_ids: list[str] = Field(default_factory=lambda: ["conv-30"])
    sessions: int = 1
    questions: int = 10
    top_k: int = 30
    manager_max_tokens: int | None = None  # None = eval_max_tokens; a base model fills whatever it is given


class DistillConfig(_Strict):
    output_dir: str = "outputs/main/smollm2_cpu"
    model: str = "smollm2"
    data_gen: dict[str, Any] = Field(default_factory=lambda: {"config": "configs/data_gen/synthetic_oracle.yaml"})
    sft: StageSFT = Field(default_factory=StageSFT)
    grpo: StageGRPO = Field(default_factory=StageGRPO)
    eval_samples: int = 48
    eval_max_tokens: int = 160
    base_prompt_styles: list[str] = Field(default_factory=lambda: ["teacher", "student"])
    worlds: StageWorlds = Field(default_factory=StageWorlds)
    locomo: StageLocomo = Field(default_factory=StageLocomo)
    quick: dict[str, Any] = Field(default_factory=dict)  # dotted-key overrides applied by --quick


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def load_config(path: str, quick: bool, sets: list[str]) -> DistillConfig:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if quick:
        for k, v in (raw.get("quick") or {}).items():
            _set(raw, k, v)
    for item in sets:
        k, _, v = item.partition("=")
        _set(raw, k, yaml.safe_load(v))
    return DistillConfig.model_validate(raw)


# ------------------------------------------------------------------------------------------------ stages
def stage_traces(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    from data_gen.generate import GenerateConfig, generate
    from data_gen.generate import load_config as load_gen

    dg = dict(cfg.data_gen)
    base = load_gen(dg.pop("config", None), []).model_dump()
    return generate(GenerateConfig.model_validate({**_deep(base, dg), "output_dir": str(out / "traces")}))


def _deep(base: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in upd.items():
        out[k] = _deep(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def stage_experiment(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    from train import experiment

    args = ["--dataset", str(out / "traces" / "dataset"), "--model", cfg.model, "--sft_config", cfg.sft.config,
            "--grpo_config", cfg.grpo.config, "--eval_samples", str(cfg.eval_samples),
            "--eval_max_tokens", str(cfg.eval_max_tokens), "--out", str(out / "experiment"),
            "--base_styles", *cfg.base_prompt_styles]
    if cfg.sft.overrides:
        args += ["--sft", *[f"{k}={v}" for k, v in cfg.sft.overrides.items()]]
    if cfg.grpo.overrides:
        args += ["--grpo", *[f"{k}={v}" for k, v in cfg.grpo.overrides.items()]]
    if not cfg.grpo.enabled:
        args += ["--skip", "grpo"]
    return experiment.main(args)


def _manager_backend(cfg: DistillConfig, adapter: str | None, max_tokens: int) -> Any:
    from memmgr.backends.hf import TransformersBackend

    return TransformersBackend(cfg.model, adapter=adapter, max_tokens=max_tokens)


def stage_worlds(cfg: DistillConfig, adapter: Path) -> dict[str, Any]:
    """The real pipeline over held-out gold worlds with each manager (eval.manager.evaluate_worlds): final memory
    state against gold, QA probes answered from retrieved memories by the same answerer (the base model)."""
    from data_gen.worlds import generate_worlds
    from eval.manager import evaluate_worlds

    worlds = generate_worlds(cfg.worlds.n, seed=cfg.worlds.seed, split="test", n_sessions=cfg.worlds.n_sessions)
    base = _manager_backend(cfg, None, cfg.worlds.max_tokens)
    out = {}
    for name, ad, style in (("base", None, "teacher"), ("sft", str(adapter), "student")):
        if ad and not Path(ad).exists():
            continue
        backend = base if ad is None else _manager_backend(cfg, ad, cfg.worlds.max_tokens)
        log.info("pipeline on %d held-out worlds with the %s manager", len(worlds), name)
        res = evaluate_worlds(backend, worlds, answerer=base, top_k=cfg.worlds.qa_top_k,
                              memory_config={"pipeline": {"prompt_style": style}})
        out[name] = res["metrics"]
    return out


def stage_locomo(cfg: DistillConfig, adapter: Path, out: Path) -> dict[str, Any]:
    if not cfg.locomo.enabled:
        return {"skipped": "disabled in the config"}
    if not Path(cfg.locomo.data).exists():
        return {"skipped": f"{cfg.locomo.data} not found (pass the LOCOMO file with --set locomo.data=PATH)"}
    from eval.locomo import run_locomo

    results = {}
    answerer = {"backend": "transformers", "model": cfg.model, "max_tokens": 32}
    for name, extra, style in (("base", {}, "teacher"), ("sft", {"adapter": str(adapter)}, "student")):
        if extra and not adapter.exists():
            continue
        ecfg = {"name": f"locomo_{name}", "methods": ["mem0"], "split": "dev", "sample_ids": cfg.locomo.sample_ids,
                "memory": {"manager": {"backend": "transformers", "model": cfg.model,
                                       "max_tokens": cfg.locomo.manager_max_tokens or cfg.eval_max_tokens,
                                       "prompt_style": style, "extra": extra},
                           "embedder": {"provider": "sentence-transformers"}},
                "answerer": answerer, "top_k": cfg.locomo.top_k,
                "limit": {"sessions": cfg.locomo.sessions, "questions": cfg.locomo.questions},
                "cache_dir": None, "output_dir": str(out / "locomo"), "plots": False}
        res = run_locomo(ecfg, cfg.locomo.data, progress=True)
        r = res["results"]["locomo_mem0"]
        results[name] = {k: r.get(k) for k in ("n", "f1", "bleu1", "j", "evidence_recall", "search_latency_p50",
                                                "total_latency_p50", "manager_calls", "rejected_ops",
                                                "manager_prompt_tokens", "manager_completion_tokens",
                                                "memories") if k in r}
        results[name]["results_file"] = res.get("paths", {}).get("results")
    return results


# ------------------------------------------------------------------------------------------------ report
def write_report(out: Path, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = summary.get("experiment", {}).get("results", {})
    metrics = ["json_validity", "op_accuracy", "op_macro_f1", "id_accuracy", "fact_f1", "outcome_f1"]
    names = [n for n in ("base_teacher_prompt", "base_student_prompt", "sft", "grpo") if n in exp]
    plots = []
    if names:
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(names)
        for i, n in enumerate(names):
            ax.bar([j + i * width for j in range(len(metrics))], [exp[n].get(m) or 0 for m in metrics], width,
                   label=n)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics, rotation=15)
        ax.set_ylim(0, 1)
        ax.set_title("Manager metrics on held-out traces (test split, held-out phrasing)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "manager_metrics.png", dpi=120)
        plots.append("manager_metrics.png")
        plt.close(fig)
    loss = [(h["step"], h["loss"]) for h in summary.get("sft_log_history", []) if "loss" in h]
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

    def row(name: str, r: dict[str, Any], keys: list[str]) -> str:
        cells = [f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        return f"| {name} | " + " | ".join(cells) + " |"

    lines = [f"# memmgr distillation report — {summary['model']}", "",
             f"- machine: {summary['machine']}", f"- wall time: {summary['wall_s'] / 60:.1f} min "
             f"({', '.join(f'{k} {v / 60:.1f}' for k, v in summary['stage_wall_s'].items())} min)",
             f"- git {summary.get('git')}, memmgr {summary['memmgr_version']}, prompts {summary['prompt_version']}", ""]
    ds = summary.get("traces", {}).get("splits", {})
    if ds:
        lines += ["## Traces", "", "| split | conversations | examples | ADD | UPDATE | DELETE | NOOP |", "|---" * 7 + "|"]
        lines += [f"| {s} | {d['conversations']} | {d['examples']} | {d['ops'].get('ADD', 0)} | "
                  f"{d['ops'].get('UPDATE', 0)} | {d['ops'].get('DELETE', 0)} | {d['ops'].get('NOOP', 0)} |"
                  for s, d in ds.items()]
        lines.append("")
    sft = summary.get("experiment", {}).get("sft_run") or {}
    if sft:
        lines += ["## SFT", "", f"steps {sft.get('steps')}, final train loss {sft.get('train_loss'):.4f}, "
                  f"{(sft.get('wall_s') or 0) / 60:.1f} min, {sft.get('tokens_per_s') or 0:.0f} tokens/s, "
                  f"peak RSS {sft.get('peak_rss_gib') or 0:.2f} GiB", ""]
    if exp:
        keys = metrics + ["hallucinated_id_rate", "prompt_tokens_per_call"]
        lines += ["## Manager metrics on held-out traces", "", "| model | " + " | ".join(keys) + " |",
                  "|---" * (len(keys) + 1) + "|"] + [row(n, exp[n], keys) for n in names] + [""]
    for title, key in (("Pipeline on held-out worlds", "worlds"), ("LOCOMO slice (mem0 method)", "locomo")):
        block = summary.get(key) or {}
        if block and "skipped" not in block:
            keys = sorted({k for v in block.values() for k, x in v.items() if isinstance(x, (int, float))})
            lines += [f"## {title}", "", "| manager | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
            lines += [row(n, v, keys) for n, v in block.items()] + [""]
        elif block:
            lines += [f"## {title}", "", f"skipped: {block['skipped']}", ""]
    lines += [f"![{p}]({p})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/main/smollm2_cpu.yaml")
    ap.add_argument("--quick", action="store_true", help="apply the config's `quick` overrides (~5 min on CPU)")
    ap.add_argument("--set", action="append", default=[], help="dotted.key=value override, repeatable")
    ap.add_argument("--skip", nargs="*", default=[], choices=["traces", "experiment", "worlds", "locomo"])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = load_config(args.config, args.quick, args.set)
    out = Path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))

    import platform

    import memmgr
    from eval.report import git_hash

    summary: dict[str, Any] = {"model": cfg.model, "memmgr_version": memmgr.__version__,
                               "prompt_version": memmgr.PROMPT_VERSION, "git": git_hash(REPO),
                               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                                          f"{'CUDA' if _has_cuda() else 'no GPU'}",
                               "config": cfg.model_dump(mode="json"), "stage_wall_s": {}}
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    t_all = time.perf_counter()
    stages = [("traces", lambda: stage_traces(cfg, out)), ("experiment", lambda: stage_experiment(cfg, out)),
              ("worlds", lambda: stage_worlds(cfg, out / "experiment" / "sft")),
              ("locomo", lambda: stage_locomo(cfg, out / "experiment" / "sft", out))]
    for name, fn in stages:
        if name in args.skip:  # keep what an earlier run of this stage measured
            for key in (name, "sft_log_history"):
                if key in previous and (key != "sft_log_history" or name == "experiment"):
                    summary[key] = previous[key]
            if name in previous.get("stage_wall_s", {}):
                summary["stage_wall_s"][name] = previous["stage_wall_s"][name]
            continue
        t0 = time.perf_counter()
        log.info("=== stage %s ===", name)
        summary[name] = fn()
        summary["stage_wall_s"][name] = time.perf_counter() - t0
        if name == "experiment":
            rs = out / "experiment" / "sft" / "run_summary.json"
            if rs.exists():
                summary["sft_log_history"] = json.loads(rs.read_text()).get("log_history", [])
        (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    summary["wall_s"] = sum(summary["stage_wall_s"].values()) if args.skip else time.perf_counter() - t_all
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    report = write_report(out, summary)
    print(report.read_text())
    print(f"\nreport: {report}\nresults: {out / 'results.json'}")
    return summary


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


if __name__ == "__main__":
    main()
