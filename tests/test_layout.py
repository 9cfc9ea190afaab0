"""The project's layout rules: import direction memmgr <- data_gen <- train, eval <- experiments; light memmgr
import; scripts that run without sys.path tricks and print --help."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what each package may import from the project (itself always)
ALLOWED = {"memmgr": {"memmgr"}, "data_gen": {"memmgr", "data_gen"}, "train": {"memmgr", "data_gen", "train"},
           "eval": {"memmgr", "data_gen", "eval"},
           "experiments": {"memmgr", "data_gen", "train", "eval", "experiments"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_direction(package):
    bad = {}
    for f in (REPO / package).rglob("*.py"):
        wrong = (_imports(f) & set(ALLOWED)) - ALLOWED[package]
        if wrong:
            bad[str(f.relative_to(REPO))] = sorted(wrong)
    assert not bad, f"{package} may import only {sorted(ALLOWED[package])}: {bad}"


def test_no_sys_path_tricks():
    hits = [str(f.relative_to(REPO)) for p in ALLOWED for f in (REPO / p).rglob("*.py")
            if "sys.path.insert" in f.read_text()]
    assert not hits


def test_import_memmgr_stays_light():
    code = "import sys, memmgr; print(sorted(m for m in ('torch', 'transformers', 'qdrant_client', 'openai', 'trl') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("cmd", [["train/sft.py"], ["train/grpo.py"], ["-m", "train.sft"], ["-m", "eval.manager"],
                                 ["-m", "eval.locomo"], ["-m", "eval.ablate"], ["-m", "eval.combine"],
                                 ["-m", "eval.p_empty"], ["-m", "eval.annotations"],
                                 ["-m", "experiments.distill"], ["-m", "data_gen.generate"]])
def test_help_prints_and_exits_zero(cmd):
    out = subprocess.run([sys.executable, *cmd, "--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--" in out.stdout and "usage" in out.stdout.lower()
