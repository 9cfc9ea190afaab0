"""The main job, end to end: teacher traces -> base eval -> LoRA SFT -> eval (-> GRPO -> eval) -> pipeline on
held-out worlds -> LOCOMO slice -> report.

    python -m experiments.distill --config configs/main/smollm2_cpu.yaml            # 2-core CPU, ~16 min (`make demo`)
    python -m experiments.distill --config configs/main/smollm2_cpu.yaml --quick    # same path, small sizes
    python -m experiments.distill --config configs/main/smollm2_cpu.yaml --sft.overrides.max_steps 300 \\
        --grpo.enabled true
    # a before/after experiment on an existing trace dataset (no worlds / LOCOMO stages):
    python -m experiments.distill --config configs/main/smollm2_cpu.yaml --dataset data/synthetic_oracle/dataset \\
        --sft.config configs/sft/smollm2-135m_lora_cpu.yaml --sft.overrides '{}' --eval_samples 320 \\
        --skip '[worlds, locomo]' --output_dir runs/experiments/cpu

Options are config keys (`DistillConfig`, `--key value` overrides as everywhere: memmgr.settings); `--quick` applies
the config's `quick` block. `STAGES` is the one list of stages; each is a plain function of (config, output folder)
that calls the project's own entry points: `data_gen.generate`, `train/sft.py` and `train/grpo.py` and `eval.manager`
(in their own processes, so memory is returned between stages), `eval.manager.evaluate_worlds`, `eval.locomo`.
The prompt style of a trained manager is read from its adapter's manager card (memmgr.manager_card), never restated here.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from memmgr.settings import ConfigError, Strict, apply_overrides, load_yaml, parse_overrides, split_config_arg

log = logging.getLogger("experiments.distill")
REPO = Path(__file__).resolve().parents[1]
StageName = Literal["traces", "base_eval", "sft", "sft_eval", "grpo", "grpo_eval", "worlds", "locomo"]


class StageSFT(Strict):
    config: str = "configs/sft/smollm2-135m_lora_cpu.yaml"
    overrides: dict[str, Any] = Field(default_factory=dict)  # keys of train/sft.py


class StageGRPO(Strict):
    enabled: bool = False
    config: str = "configs/grpo/smollm2-135m_cpu.yaml"
    overrides: dict[str, Any] = Field(default_factory=dict)  # keys of train/grpo.py


class StageWorlds(Strict):
    n: int = 2
    n_sessions: tuple[int, int] = (3, 5)
    seed: int = 7
    max_tokens: int = 160
    qa_top_k: int = 5


class StageLocomo(Strict):
    enabled: bool = True
    data: str = "../shared/data/locomo/locomo_dev.json"
    sample_ids: list[str] = Field(default_factory=lambda: ["conv-30"])
    sessions: int = 1
    questions: int = 10
    top_k: int = 30
    manager_max_tokens: int | None = None  # None = eval_max_tokens; a base model fills whatever it is given
    # which managers ingest the slice: the untrained base retries most of its (invalid) outputs, so it costs ~3x
    managers: list[Literal["base", "sft", "grpo"]] = Field(default_factory=lambda: ["base", "sft", "grpo"])
    # the extract/skip gate for the trained managers (memmgr.gate; None = greedy decoding decides): a student whose
    # P('{"facts": []}') sits near 0.5 extracts from every pair or none depending on its seed
    extract_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    # rank the gate's pairs by a gate model fitted on the traces' extraction labels (train.gate, written to
    # <output_dir>/gate.json) instead of the student's P(empty); needs extract_rate
    gate_model: bool = False

    @model_validator(mode="after")
    def _gate_model_needs_rate(self) -> StageLocomo:
        if self.gate_model and self.extract_rate is None:
            raise ValueError("locomo.gate_model ranks pairs for the gate: set locomo.extract_rate too")
        return self


class DistillConfig(Strict):
    output_dir: str = "outputs/main/smollm2_cpu"
    model: str = "smollm2"
    dataset: str | None = None  # an existing trace dataset: the traces stage is skipped
    # trace sources: name -> a data_gen config (`config: FILE` + the keys it changes); several are mixed by `mix`
    data: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"synthetic": {"config": "configs/data_gen/synthetic_oracle.yaml"}})
    mix: dict[str, float] = Field(default_factory=dict)  # name -> share of the train split (data_gen.mix); {} = all
    mix_balance: list[str] = Field(default_factory=list)  # data_gen.mix `balance`: stages drawn evenly by stratum
    sft: StageSFT = Field(default_factory=StageSFT)
    grpo: StageGRPO = Field(default_factory=StageGRPO)
    eval_split: str = "test"
    eval_samples: int = 48
    eval_max_tokens: int = 160
    eval_batch_size: int = 8  # generation batch of the trace evaluations (64 suits one GPU)
    base_prompt_styles: list[Literal["teacher", "student"]] = Field(default_factory=lambda: ["teacher", "student"])
    worlds: StageWorlds = Field(default_factory=StageWorlds)
    locomo: StageLocomo = Field(default_factory=StageLocomo)
    skip: list[StageName] = Field(default_factory=list)
    # copy the SFT adapter to where the default manager (`adapter: auto`, memmgr.manager_card) finds it
    publish_student: bool = True
    quick: dict[str, Any] = Field(default_factory=dict)  # dotted-key overrides applied by --quick


def load_config(path: str | None, quick: bool = False, overrides: dict[str, Any] | Sequence[str] = ()
                ) -> DistillConfig:
    from memmgr.settings import build

    raw = load_yaml(path)
    if quick:
        raw = apply_overrides(raw, raw.get("quick") or {})
    ov = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    return build(DistillConfig, apply_overrides(raw, ov), str(path or "config"))


# ------------------------------------------------------------------------------------------------ stages
def _dataset(cfg: DistillConfig, out: Path) -> str:
    if cfg.dataset:
        return str(Path(cfg.dataset).resolve())
    if len(cfg.data) == 1:
        return str(out / "traces" / next(iter(cfg.data)) / "dataset")
    return str(out / "traces" / "mix" / "dataset")


def _run(cmd: list[str]) -> float:
    log.info("$ %s", " ".join(cmd))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - t0


def _flags(overrides: dict[str, Any]) -> list[str]:
    """{k: v} -> ['--k', v] in the shared grammar (JSON is YAML, so lists and nulls survive the trip)."""
    return [x for k, v in overrides.items() for x in (f"--{k}", v if isinstance(v, str) else json.dumps(v))]


def stage_traces(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    from data_gen.generate import GenerateConfig, generate
    from data_gen.generate import load_config as load_gen

    if cfg.dataset:
        return {"skipped": f"using the existing dataset {cfg.dataset}"}
    stats: dict[str, Any] = {}
    for name, dg in cfg.data.items():
        dg = dict(dg)
        base = _deep(load_gen(dg.pop("config", None), []).model_dump(), dg)
        path = base["source"].get("path")
        if base["source"]["kind"] != "synthetic" and path and not Path(path).exists():
            raise ConfigError(f"data.{name}: {path} not found (pass it with --data.{name}.source.path PATH, or "
                              f"leave the source out of `data` and `mix`)")
        stats[name] = generate(GenerateConfig.model_validate({**base, "output_dir": str(out / "traces" / name)}))
    if len(cfg.data) == 1:
        return next(iter(stats.values()))
    from data_gen.mix import MixConfig, mix

    mixed = mix(MixConfig(sources={n: str(out / "traces" / n) for n in cfg.data}, weights=cfg.mix,
                          balance=cfg.mix_balance, output_dir=str(out / "traces" / "mix")))
    return {"sources": {n: {"splits": s["splits"]} for n, s in stats.items()}, "mix": mixed}


def _deep(base: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    """`upd` merged into `base`, mapping into mapping (the main config names only the data_gen keys it changes)."""
    out = dict(base)
    for k, v in upd.items():
        out[k] = _deep(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def evaluate(cfg: DistillConfig, out: Path, name: str, adapter: Path | None = None,
             prompt_style: str | None = None) -> dict[str, Any]:
    """`python -m eval.manager` on the held-out split; returns its metrics (read back from its results file)."""
    folder = out / "eval" / name
    cmd = [sys.executable, "-m", "eval.manager", "--model", cfg.model, "--data", _dataset(cfg, out), "--split",
           cfg.eval_split, "--limit", str(cfg.eval_samples), "--max_tokens", str(cfg.eval_max_tokens),
           "--batch_size", str(cfg.eval_batch_size), "--name", name, "--output_dir", str(folder)]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    if prompt_style:
        cmd += ["--prompt_style", prompt_style]
    _run(cmd)
    newest = sorted(folder.glob("results_*.json"))[-1]
    return json.loads(newest.read_text())["results"][name]


def stage_base_eval(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    # the untrained model under the prompt(s) it is compared with: Mem0's (teacher) and/or the student's
    return {f"base_{style}_prompt": evaluate(cfg, out, f"base_{style}_prompt", None, style)
            for style in cfg.base_prompt_styles}


def _train(script: str, config: str, overrides: dict[str, Any], args: dict[str, Any], out_dir: Path
           ) -> dict[str, Any]:
    wall = _run([sys.executable, str(REPO / "train" / script), "--config", config,
                 *_flags({**args, "output_dir": str(out_dir)}), *_flags(overrides)])
    rs = out_dir / "run_summary.json"
    summary = json.loads(rs.read_text()) if rs.exists() else {}
    keep = ("steps", "train_loss", "wall_s", "tokens_per_s", "tokens_seen", "peak_rss_gib", "prompt_tokens",
            "first_reward", "last_reward", "log_history")
    return {"process_wall_s": wall, **{k: summary.get(k) for k in keep if k in summary}}


def stage_sft(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    res = _train("sft.py", cfg.sft.config, cfg.sft.overrides,
                 {"model_name_or_path": cfg.model, "dataset_path": _dataset(cfg, out)}, out / "sft")
    if cfg.publish_student and (out / "sft" / "adapter_config.json").exists():
        from memmgr.manager_card import publish_student

        res["published"] = publish_student(out / "sft", cfg.model)
        log.info("published the student for the default manager: %s", res["published"])
    return res


def stage_sft_eval(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    return evaluate(cfg, out, "sft", out / "sft")  # prompt style: the adapter's manager card


def stage_grpo(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    if not cfg.grpo.enabled:
        return {"skipped": "grpo.enabled is false"}
    return _train("grpo.py", cfg.grpo.config, cfg.grpo.overrides,
                  {"sft_adapter": str(out / "sft"), "dataset_path": _dataset(cfg, out)}, out / "grpo")


def stage_grpo_eval(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    if not cfg.grpo.enabled:
        return {"skipped": "grpo.enabled is false"}
    return evaluate(cfg, out, "grpo", out / "grpo")


def _managers(cfg: DistillConfig, out: Path) -> list[tuple[str, str | None]]:
    """(name, adapter) of the managers compared in the pipeline stages: the base and each trained adapter."""
    found = [("base", None)]
    for name in ("sft", "grpo"):
        if (out / name / "adapter_config.json").exists():
            found.append((name, str(out / name)))
    return found


def stage_worlds(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    """The real pipeline over held-out gold worlds with each manager (eval.manager.evaluate_worlds): final memory
    state against gold, QA probes answered from retrieved memories by the same answerer (the base model)."""
    from data_gen.synthetic import generate_worlds
    from eval.manager import evaluate_worlds
    from memmgr.backends.hf import TransformersBackend

    worlds = generate_worlds(cfg.worlds.n, seed=cfg.worlds.seed, split="test", n_sessions=cfg.worlds.n_sessions)
    base = TransformersBackend(cfg.model, max_tokens=cfg.worlds.max_tokens)
    res = {}
    for name, adapter in _managers(cfg, out):
        backend = base if adapter is None else TransformersBackend(cfg.model, adapter=adapter,
                                                                   max_tokens=cfg.worlds.max_tokens)
        log.info("pipeline on %d held-out worlds with the %s manager", len(worlds), name)
        res[name] = evaluate_worlds(backend, worlds, answerer=base, top_k=cfg.worlds.qa_top_k)["metrics"]
    return res


def stage_locomo(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    if not cfg.locomo.enabled:
        return {"skipped": "disabled in the config"}
    if not Path(cfg.locomo.data).exists():
        return {"skipped": f"{cfg.locomo.data} not found (pass the LOCOMO file with --locomo.data PATH)"}
    from eval.locomo import run_locomo
    from eval.transfer import TRANSFER_METRICS

    transfer_keys = (*TRANSFER_METRICS, "stored_tokens")
    results = {}
    answerer = {"backend": "transformers", "model": cfg.model, "max_tokens": 32}
    gate_model = _fit_gate(cfg, out) if cfg.locomo.extract_rate and cfg.locomo.gate_model else None
    for name, adapter in _managers(cfg, out):
        if name not in cfg.locomo.managers:
            continue
        manager = {"backend": "transformers", "model": cfg.model,
                   "max_tokens": cfg.locomo.manager_max_tokens or cfg.eval_max_tokens,
                   "extra": {"adapter": adapter} if adapter else {}}
        gate = {}
        if adapter and cfg.locomo.extract_rate:
            gate = {"pipeline": {"extract_rate": cfg.locomo.extract_rate,
                                 **({"gate_model": gate_model["output"]} if gate_model else {})}}
        ecfg = {"name": f"locomo_{name}", "methods": ["mem0"], "split": "dev", "sample_ids": cfg.locomo.sample_ids,
                "memory": {"manager": manager, "embedder": {"provider": "sentence-transformers"}, **gate},
                "answerer": answerer, "top_k": cfg.locomo.top_k,
                "limit": {"sessions": cfg.locomo.sessions, "questions": cfg.locomo.questions},
                "cache_dir": None, "output_dir": str(out / "locomo"), "plots": False}
        res = run_locomo(ecfg, cfg.locomo.data, progress=True)
        r = res["results"]["locomo_mem0"]
        results[name] = {k: r.get(k) for k in ("n", "f1", "bleu1", "j", "evidence_recall", "search_latency_p50",
                                                "total_latency_p50", "manager_calls", "rejected_ops",
                                                "manager_prompt_tokens", "manager_completion_tokens",
                                                "memories", *transfer_keys) if k in r}
        results[name]["results_file"] = res.get("paths", {}).get("results")
        if gate:
            results[name]["extract_rate"] = cfg.locomo.extract_rate
            if gate_model:
                results[name]["gate_model"] = {k: gate_model[k] for k in ("output", "train_rows", "eval")
                                               if k in gate_model}
        for ref in ("transfer_store_every_turn", "transfer_rag_chunks"):  # the references, computed the same way
            if ref in res["results"]:
                results[ref] = {k: res["results"][ref].get(k) for k in ("memories", *transfer_keys)}
    return results


def _fit_gate(cfg: DistillConfig, out: Path) -> dict[str, Any]:
    """The gate model on the run's train traces, scored on the LOCOMO traces' validation split (conv-30) when the run
    traced LOCOMO (the mix's validation rows are worlds, which any ranking separates)."""
    from train.gate import GateArguments, fit_gate

    locomo = out / "traces" / "locomo" / "dataset"
    return fit_gate(GateArguments(dataset_path=_dataset(cfg, out), output=str(out / "gate.json"),
                                  eval_dataset_path=str(locomo) if "locomo" in cfg.data and locomo.exists() else None))


STAGES: list[tuple[str, Callable[[DistillConfig, Path], dict[str, Any]]]] = [
    ("traces", stage_traces), ("base_eval", stage_base_eval), ("sft", stage_sft), ("sft_eval", stage_sft_eval),
    ("grpo", stage_grpo), ("grpo_eval", stage_grpo_eval), ("worlds", stage_worlds), ("locomo", stage_locomo)]


# ------------------------------------------------------------------------------------------------ driver
def run(cfg: DistillConfig) -> dict[str, Any]:
    import yaml

    import memmgr
    from eval.report import git_hash
    from experiments.report import write_report

    out = Path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    summary: dict[str, Any] = {"model": cfg.model, "memmgr_version": memmgr.__version__,
                               "prompt_version": memmgr.PROMPT_VERSION, "git": git_hash(REPO),
                               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                                          f"{'CUDA' if _has_cuda() else 'no GPU'}",
                               "config": cfg.model_dump(mode="json"), "stage_wall_s": {}}
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    t_all = time.perf_counter()
    for name, fn in STAGES:
        if name in cfg.skip:  # keep what an earlier run of this stage measured
            if name in previous:
                summary[name] = previous[name]
                summary["stage_wall_s"][name] = previous.get("stage_wall_s", {}).get(name)
            continue
        t0 = time.perf_counter()
        log.info("=== stage %s ===", name)
        summary[name] = fn(cfg, out)
        summary["stage_wall_s"][name] = time.perf_counter() - t0
        (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    summary["wall_s"] = time.perf_counter() - t_all
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    report = write_report(out, summary)
    print(report.read_text())
    print(f"\nreport: {report}\nresults: {out / 'results.json'}")
    return summary


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from memmgr.settings import help_text, wants_help

    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_help(argv):
        print(help_text(DistillConfig, __doc__) + "\n  --quick  (flag: apply the config's `quick` overrides)")
        raise SystemExit(0)
    quick = "--quick" in argv
    path, rest = split_config_arg([a for a in argv if a != "--quick"])
    try:
        cfg = load_config(path or "configs/main/smollm2_cpu.yaml", quick, rest)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return run(cfg)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


if __name__ == "__main__":
    main()
