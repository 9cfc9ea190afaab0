"""eval.combine: replicate runs (one recipe, several training seeds) -> one row with mean ± sd over the runs."""

import json
import math

import pytest

from eval import combine
from eval.report import write_report


def _run(tmp_path, name, row, task="manager=loc50 / locomo_mem0"):
    out = tmp_path / name
    write_report({task: row}, {}, {"config": {"name": name}}, out, plots=False)
    return out


def _row(f1, coverage, n=81, **extra):
    return {"n": n, "f1": f1, "f1_stderr": 0.015, "evidence_coverage": coverage, "memories": 200.0,
            "per_category": {"single-hop": {"n": 44, "f1": f1, "j": None}}, **extra}


def test_mean_and_sd_over_runs(tmp_path, capsys):
    a = _run(tmp_path, "s0", _row(0.10, 0.70, memory_redundancy=0.2, f1_sd=0.5, n_seeds=1))
    b = _run(tmp_path, "s1", _row(0.14, 0.80))
    out = combine.main(["--name", "rec", "--results", f"[{a}, {b}]", "--output_dir", str(tmp_path / "c")])
    r = out["results"]
    assert r["n_seeds"] == 2 and r["n"] == 81
    assert r["f1"] == pytest.approx(0.12) and r["f1_sd"] == pytest.approx(math.sqrt(2) * 0.02)
    assert r["evidence_coverage"] == pytest.approx(0.75) and r["memories_sd"] == 0.0
    assert "memory_redundancy" not in r  # missing from one run: left out, not averaged over the other
    assert r["per_category"]["single-hop"]["f1"] == pytest.approx(0.12)
    doc = json.loads(open(out["paths"]["results"]).read())
    assert [x["row"] for x in doc["runs"]] == ["manager=loc50 / locomo_mem0"] * 2
    assert doc["higher_is_better"]["rec / locomo_mem0 (2 runs)"]["evidence_coverage"] is True
    assert "0.120 ± 0.028" in capsys.readouterr().out


def test_the_newest_results_file_of_a_folder_is_read(tmp_path):
    a = _run(tmp_path, "s0", _row(0.10, 0.70))
    _run(tmp_path, "s0", _row(0.30, 0.70))  # a re-run into the same folder
    b = _run(tmp_path, "s1", _row(0.30, 0.70))
    out = combine.run(combine.CombineConfig(name="x", results=[str(a), str(b)], output_dir=str(tmp_path / "c")))
    assert out["results"]["f1"] == pytest.approx(0.30) and out["results"]["f1_sd"] == 0.0


def test_manager_rows_get_their_own_columns(tmp_path):
    row = {"n": 192, "json_validity": 1.0, "op_macro_f1": 0.4}
    a = _run(tmp_path, "a", row, task="manager_traces")
    b = _run(tmp_path, "b", {**row, "op_macro_f1": 0.5}, task="manager_traces")
    out = combine.run(combine.CombineConfig(name="m", task="manager_traces", results=[str(a), str(b)],
                                            output_dir=str(tmp_path / "c")))
    assert "op macro-F1" in out["paths"]["markdown_text"] and "0.450 ± 0.071" in out["paths"]["markdown_text"]


@pytest.mark.parametrize("case,message", [
    ("missing", "not found"), ("one", "two runs or more"), ("task", "no rows for task 'manager_traces'"),
    ("n", "different numbers of items"), ("empty_dir", "no results_"),
])
def test_bad_input_is_a_one_line_error(tmp_path, case, message):
    a = _run(tmp_path, "a", _row(0.1, 0.7))
    b = _run(tmp_path, "b", _row(0.1, 0.7, n=25))
    (tmp_path / "empty").mkdir()
    results = {"missing": [a, tmp_path / "nope"], "one": [a], "task": [a, a], "n": [a, b],
               "empty_dir": [a, tmp_path / "empty"]}[case]
    argv = ["--name", "x", "--results", "[" + ", ".join(map(str, results)) + "]", "--output_dir", str(tmp_path / "c")]
    if case == "task":
        argv += ["--task", "manager_traces"]
    with pytest.raises(SystemExit) as e:
        combine.main(argv)
    assert str(e.value).startswith("error: ") and message in str(e.value) and "\n" not in str(e.value)
