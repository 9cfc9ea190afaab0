"""The main job's own logic (config merging, stage list, what each stage launches, the report); the full run is
`make demo-quick`."""

import json
from pathlib import Path

import pytest

from experiments import distill
from experiments.distill import STAGES, DistillConfig, load_config
from experiments.report import write_report


def test_main_config_and_quick_overrides():
    full = load_config("configs/main/smollm2_cpu.yaml", False, [])
    quick = load_config("configs/main/smollm2_cpu.yaml", True, ["--sft.overrides.max_steps", "3"])
    assert isinstance(full, DistillConfig) and quick.output_dir != full.output_dir
    assert quick.sft.overrides["max_steps"] == 3 and quick.eval_samples < full.eval_samples
    assert [n for n, _ in STAGES] == ["traces", "base_eval", "sft", "sft_eval", "grpo", "grpo_eval", "worlds",
                                      "locomo"]


def test_bad_keys_are_one_line_errors():
    with pytest.raises(SystemExit) as e:
        distill.main(["--config", "configs/main/smollm2_cpu.yaml", "--eval_sample", "3"])
    assert "did you mean 'eval_samples'" in str(e.value)
    with pytest.raises(SystemExit) as e:
        distill.main(["--config", "configs/main/smollm2_cpu.yaml", "--skip", "[nope]"])
    assert str(e.value).startswith("error:") and "\n" not in str(e.value)


def test_report_renders_tables_and_plots(tmp_path):
    summary = {"model": "m", "machine": "cpu", "wall_s": 60.0, "stage_wall_s": {"traces": 5.0}, "git": "abc",
               "memmgr_version": "0", "prompt_version": "p",
               "traces": {"splits": {"train": {"conversations": 2, "examples": 10, "ops": {"ADD": 3}}}},
               "base_eval": {"base_teacher_prompt": {"n": 4, "json_validity": 0.0, "parseable_rate": 0.2,
                                                     "op_accuracy": 0.0}},
               "sft_eval": {"n": 4, "json_validity": 1.0, "parseable_rate": 1.0, "op_accuracy": 0.8},
               "sft": {"steps": 3, "train_loss": 1.5, "wall_s": 30, "tokens_per_s": 100, "peak_rss_gib": 1.0,
                       "log_history": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]},
               "grpo": {"skipped": "grpo.enabled is false"}, "grpo_eval": {"skipped": "grpo.enabled is false"},
               "worlds": {"base": {"state_f1": 0.0}, "sft": {"state_f1": 0.5}},
               "locomo": {"skipped": "no data"}}
    path = write_report(tmp_path, summary)
    text = path.read_text()
    assert "| model | n | json_validity | parseable_rate | op_accuracy |" in text
    assert "| base_teacher_prompt | 4 | 0.000 | 0.200 | 0.000 |" in text
    assert "| sft | 4 | 1.000 | 1.000 | 0.800 |" in text and "skipped: no data" in text
    assert "| grpo |" not in text
    assert (tmp_path / "manager_metrics.png").exists() and (tmp_path / "sft_loss.png").exists()
    json.dumps(summary)


def _fake_run(calls):
    def run(cmd):
        calls.append(cmd)
        if "eval.manager" in cmd:  # an evaluation: write the results file eval.manager would
            folder, name = Path(cmd[cmd.index("--output_dir") + 1]), cmd[cmd.index("--name") + 1]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "results_2026.json").write_text(json.dumps({"results": {name: {"json_validity": 1.0,
                                                                                    "n": 4}}}))
        return 1.0
    return run


def test_stages_launch_the_entry_points_with_the_configured_keys(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(distill, "_run", _fake_run(calls))
    cfg = load_config("configs/main/smollm2_cpu.yaml", False, {
        "dataset": str(tmp_path / "ds"), "output_dir": str(tmp_path / "out"), "base_prompt_styles": ["teacher",
                                                                                                     "student"],
        "eval_batch_size": 64, "sft.overrides": {"max_steps": 3, "report_to": ["none"]}, "skip": ["worlds", "locomo"]})
    summary = distill.run(cfg)
    assert set(summary["base_eval"]) == {"base_teacher_prompt", "base_student_prompt"}
    assert summary["traces"]["skipped"].startswith("using the existing dataset")
    evals = [c for c in calls if "eval.manager" in c]
    assert len(evals) == 3 and all(c[c.index("--batch_size") + 1] == "64" for c in evals)
    styles = [c[c.index("--prompt_style") + 1] if "--prompt_style" in c else None for c in evals]
    assert styles == ["teacher", "student", None]  # the adapter's style comes from its manager card
    sft = next(c for c in calls if str(c[1]).endswith("train/sft.py"))
    assert sft[-4:] == ["--max_steps", "3", "--report_to", '["none"]']
    assert not any(str(c[1]).endswith("train/grpo.py") for c in calls)  # grpo.enabled is false
    assert "| base_student_prompt |" in (tmp_path / "out" / "report.md").read_text()


def test_locomo_stage_gates_the_trained_managers_only(tmp_path, monkeypatch):
    """`locomo.extract_rate` reaches the trained managers' pipeline (memmgr.gate); the base model keeps greedy."""
    import eval.locomo

    seen = {}

    def fake_run_locomo(ecfg, data, progress=False):
        seen[ecfg["name"]] = ecfg["memory"].get("pipeline")
        return {"results": {"locomo_mem0": {"n": 1, "f1": 0.5}}, "paths": {}}

    monkeypatch.setattr(eval.locomo, "run_locomo", fake_run_locomo)
    monkeypatch.setattr(distill, "_managers", lambda cfg, out: [("base", None), ("sft", str(tmp_path / "sft"))])
    data = tmp_path / "locomo.json"
    data.write_text("[]")
    cfg = load_config("configs/main/smollm2_cpu.yaml", False, {
        "output_dir": str(tmp_path / "out"), "locomo": {"data": str(data), "managers": ["base", "sft"],
                                                        "extract_rate": 0.5, "gate_model": False}})
    out = distill.stage_locomo(cfg, tmp_path / "out")
    assert seen == {"locomo_base": None, "locomo_sft": {"extract_rate": 0.5}} and out["sft"]["f1"] == 0.5
    assert out["sft"]["extract_rate"] == 0.5 and "extract_rate" not in out["base"]

    # with locomo.gate_model the gate model is fitted on the run's traces and ranks the trained managers' pairs
    fitted = {"output": str(tmp_path / "out" / "gate.json"), "train_rows": 9, "eval": {"all": {"auc": 0.8}}}
    monkeypatch.setattr(distill, "_fit_gate", lambda cfg, out: fitted)
    cfg = load_config("configs/main/smollm2_cpu.yaml", False, {
        "output_dir": str(tmp_path / "out"), "locomo": {"data": str(data), "managers": ["sft"], "extract_rate": 0.5,
                                                        "gate_model": True}})
    out = distill.stage_locomo(cfg, tmp_path / "out")
    assert seen["locomo_sft"] == {"extract_rate": 0.5, "gate_model": fitted["output"]}
    assert out["sft"]["gate_model"]["eval"] == {"all": {"auc": 0.8}}
    with pytest.raises(ValueError, match="extract_rate"):
        load_config("configs/main/smollm2_cpu.yaml", False, {"locomo": {"extract_rate": None, "gate_model": True}})
