"""train.experiment orchestration: which evaluations and trainings it launches, and the table it collects."""

import json
from pathlib import Path

from train import experiment


def _fake_run(calls):
    def run(cmd):
        calls.append(cmd)
        if "--out" in cmd:  # an evaluation: write what train.evaluate would
            out = Path(cmd[cmd.index("--out") + 1])
            out.write_text(json.dumps({"json_validity": 1.0, "op_macro_f1": 0.5, "n": 4}))
        return 1.0
    return run


def test_base_styles_and_skips(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(experiment, "_run", _fake_run(calls))
    summary = experiment.main(["--dataset", str(tmp_path / "ds"), "--out", str(tmp_path / "exp"), "--base_styles",
                               "teacher", "--skip", "grpo", "--eval_batch_size", "64", "--sft", "max_steps=3"])
    assert set(summary["results"]) == {"base_teacher_prompt", "sft"}
    evals = [c for c in calls if "train.evaluate" in c]
    assert all(c[c.index("--batch_size") + 1] == "64" for c in evals)
    sft = next(c for c in calls if any(str(x).endswith("train/sft.py") for x in c))
    assert sft[-2:] == ["--max_steps", "3"]
    assert "| base_teacher_prompt |" in (tmp_path / "exp" / "results.md").read_text()


def test_default_evaluates_base_under_both_prompts(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(experiment, "_run", _fake_run(calls))
    summary = experiment.main(["--dataset", str(tmp_path / "ds"), "--out", str(tmp_path / "exp"), "--skip", "sft",
                               "grpo"])
    assert set(summary["results"]) == {"base_teacher_prompt", "base_student_prompt"}
    assert not any(str(x).endswith("train/sft.py") for c in calls for x in c)
