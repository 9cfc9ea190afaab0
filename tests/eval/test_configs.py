"""Every shipped eval and ablation config validates (unknown keys are errors), with its command in the header."""

from pathlib import Path

import pytest

from eval.ablate import AblationConfig, cell_config, cells
from eval.locomo import EvalConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "eval").glob("*.yaml")), ids=lambda p: p.name)
def test_eval_configs_validate(path):
    cfg = EvalConfig.load(path)
    cfg.memory_config()
    assert "python -m eval.locomo" in path.read_text().split("\nname:")[0]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "ablations").glob("*.yaml")), ids=lambda p: p.name)
def test_ablation_configs_validate(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # `base:` paths are relative to the repo root
    ab = AblationConfig.load(path)
    for _, over in cells(ab.grid):
        cell_config(ab, over).memory_config()
    assert "python -m eval.ablate" in path.read_text().split("\nname:")[0]
