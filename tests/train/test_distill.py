"""The main job's own logic (config merging, the worlds stage scorer, the report); the full run is `make demo-quick`."""

import json

from train.distill import DistillConfig, load_config, write_report


def test_main_config_and_quick_overrides():
    full = load_config("configs/main/smollm2_cpu.yaml", False, [])
    quick = load_config("configs/main/smollm2_cpu.yaml", True, ["sft.overrides.max_steps=3"])
    assert isinstance(full, DistillConfig) and quick.output_dir != full.output_dir
    assert quick.sft.overrides["max_steps"] == 3 and quick.eval_samples < full.eval_samples


def test_report_renders_tables_and_plots(tmp_path):
    summary = {"model": "m", "machine": "cpu", "wall_s": 60.0, "stage_wall_s": {"traces": 5.0}, "git": "abc",
               "memmgr_version": "0", "prompt_version": "p",
               "traces": {"splits": {"train": {"conversations": 2, "examples": 10, "ops": {"ADD": 3}}}},
               "experiment": {"results": {"base_teacher_prompt": {"json_validity": 0.2, "op_accuracy": 0.0},
                                          "sft": {"json_validity": 1.0, "op_accuracy": 0.8}},
                              "sft_run": {"steps": 3, "train_loss": 1.5, "wall_s": 30, "tokens_per_s": 100,
                                          "peak_rss_gib": 1.0}},
               "sft_log_history": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}],
               "worlds": {"base": {"state_f1": 0.0}, "sft": {"state_f1": 0.5}},
               "locomo": {"skipped": "no data"}}
    path = write_report(tmp_path, summary)
    text = path.read_text()
    assert "| sft | 1.000 | 0.800 |" in text and "skipped: no data" in text
    assert (tmp_path / "manager_metrics.png").exists() and (tmp_path / "sft_loss.png").exists()
    json.dumps(summary)


def test_experiment_stage_passes_base_styles_and_overrides(tmp_path, monkeypatch):
    from train import distill, experiment

    seen: list[list[str]] = []
    monkeypatch.setattr(experiment, "main", lambda argv: seen.append(argv) or {})
    cfg = load_config("configs/main/smollm2_cpu.yaml", False, ["base_prompt_styles=[teacher, student]"])
    distill.stage_experiment(cfg, tmp_path)
    argv = seen[0]
    i = argv.index("--base_styles")
    assert argv[i + 1:i + 3] == ["teacher", "student"]
    assert f"max_steps={cfg.sft.overrides['max_steps']}" in argv and argv[-2:] == ["--skip", "grpo"]
