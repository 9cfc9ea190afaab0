"""The before/after experiment: evaluate the base model, SFT it, evaluate, GRPO it, evaluate; one table.

```bash
OMP_NUM_THREADS=2 flock /tmp/memmgr-heavy.lock python -m train.experiment --dataset data/synthetic_oracle \
    --sft_config configs/sft/smollm2-135m_lora_cpu.yaml --grpo_config configs/grpo/smollm2-135m_cpu.yaml \
    --eval_samples 80 --out runs/experiments/smollm2
```
Each stage runs in its own process (memory is returned between stages); extra `--sft KEY=VALUE` /
`--grpo KEY=VALUE` pairs override the configs. Results: `<out>/results.json` and `<out>/results.md`.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("train.experiment")

METRICS = ("json_validity", "strict_json_validity", "op_accuracy", "op_macro_f1", "id_accuracy", "fact_f1", "hallucinated_id_rate",
           "outcome_f1", "prompt_tokens_per_call", "completion_tokens_per_s")


REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str]) -> float:
    log.info("$ %s", " ".join(cmd))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)  # `-m train.evaluate` needs the repo root
    return time.perf_counter() - t0


def _kv(pairs: Sequence[str]) -> list[str]:
    out: list[str] = []
    for p in pairs:
        k, _, v = p.partition("=")
        out += [f"--{k}", v]
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["| model | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for name, r in results.items():
        cells = [f"{r[m]:.3f}" if isinstance(r.get(m), float) else str(r.get(m)) for m in METRICS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="base -> SFT -> GRPO, evaluated on the held-out split")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--sft_config", default="configs/sft/smollm2-135m_lora_cpu.yaml")
    ap.add_argument("--grpo_config", default="configs/grpo/smollm2-135m_cpu.yaml")
    ap.add_argument("--sft", nargs="*", default=[], help="KEY=VALUE overrides for SFT")
    ap.add_argument("--grpo", nargs="*", default=[], help="KEY=VALUE overrides for GRPO")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eval_samples", type=int, default=80)
    ap.add_argument("--eval_max_tokens", type=int, default=192)
    ap.add_argument("--eval_batch_size", type=int, default=8, help="generation batch (64 suits one GPU)")
    ap.add_argument("--base_styles", nargs="*", default=["teacher", "student"], choices=["teacher", "student"],
                    help="prompt styles the base model is evaluated under (teacher = Mem0's long prompt)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["base", "sft", "grpo"])
    ap.add_argument("--out", default="runs/experiments/smollm2")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if Path(args.dataset).exists():
        args.dataset = str(Path(args.dataset).resolve())
    py, repo = sys.executable, REPO
    sft_dir, grpo_dir = out / "sft", out / "grpo"

    def evaluate(name: str, adapter: str | None, style: str | None) -> None:
        cmd = [py, "-m", "train.evaluate", "--model", args.model, "--dataset", args.dataset, "--split", args.split,
               "--max_samples", str(args.eval_samples), "--max_tokens", str(args.eval_max_tokens),
               "--batch_size", str(args.eval_batch_size),
               "--out", str(out / f"eval_{name}.json")]
        if adapter:
            cmd += ["--adapter", adapter]
        if style:
            cmd += ["--prompt_style", style]
        _run(cmd)

    walls: dict[str, float] = {}
    if "base" not in args.skip:
        t0 = time.perf_counter()
        for style in args.base_styles:  # teacher: the base model gets the long prompt with examples
            evaluate(f"base_{style}_prompt", None, style)
        walls["eval_base"] = time.perf_counter() - t0
    if "sft" not in args.skip:
        walls["sft"] = _run([py, str(repo / "train/sft.py"), "--config", args.sft_config, "--model_name_or_path",
                             args.model, "--dataset_path", args.dataset, "--output_dir", str(sft_dir),
                             *_kv(args.sft)])
        evaluate("sft", str(sft_dir), "student")
    if "grpo" not in args.skip:
        walls["grpo"] = _run([py, str(repo / "train/grpo.py"), "--config", args.grpo_config, "--sft_adapter",
                              str(sft_dir), "--dataset_path", args.dataset, "--output_dir", str(grpo_dir),
                              *_kv(args.grpo)])
        evaluate("grpo", str(grpo_dir), "student")

    results = {p.stem.removeprefix("eval_"): json.loads(p.read_text()) for p in sorted(out.glob("eval_*.json"))}
    summary: dict[str, Any] = {"walls_s": walls, "results": {k: {m: v.get(m) for m in METRICS + ("op_f1", "n")}
                                                           for k, v in results.items()}}
    for stage, d in (("sft", sft_dir), ("grpo", grpo_dir)):
        if (d / "run_summary.json").exists():
            rs = json.loads((d / "run_summary.json").read_text())
            summary[f"{stage}_run"] = {k: rs.get(k) for k in ("steps", "train_loss", "wall_s", "tokens_per_s",
                                                              "tokens_seen", "peak_rss_gib", "prompt_tokens",
                                                              "first_reward", "last_reward")}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "results.md").write_text(table(results) + "\n")
    print(table(results))
    return summary


if __name__ == "__main__":
    main()
