import json

import pytest

from eval.ablate import cell_config, cells, run_ablation, set_dotted
from tests.eval.locomo_fixture import tiny_locomo
from tests.helpers import ScriptedBackend


def test_cells_cartesian_product_and_named_variants():
    grid = {"memory.pipeline.top_s": [1, 10], "manager": {"a": {"memory.manager.model": "x"},
                                                          "b": {"memory.manager.model": "y"}}}
    got = cells(grid)
    assert [n for n, _ in got] == ["top_s=1,manager=a", "top_s=1,manager=b", "top_s=10,manager=a",
                                   "top_s=10,manager=b"]
    assert got[3][1] == {"memory.pipeline.top_s": 10, "memory.manager.model": "y"}
    assert cells({}) == [("base", {})]
    d = {"a": {"b": 1}}
    set_dotted(d, "a.c.d", [1])
    assert d == {"a": {"b": 1, "c": {"d": [1]}}}


def test_unknown_key_in_a_cell_is_an_error(tmp_path):
    from eval.ablate import AblationConfig

    ab = AblationConfig(base={"name": "x"}, grid={})
    assert cell_config(ab, {"memory.pipeline.top_s": 3}).memory_config().pipeline.top_s == 3
    with pytest.raises(ValueError):
        cell_config(ab, {"memory.pipeline.nope": 3}).memory_config()


def test_run_ablation_table(tmp_path):
    data = tiny_locomo(tmp_path / "locomo.json")
    cfg = {
        "name": "t", "output_dir": str(tmp_path / "abl"), "seeds": [0, 1],
        "base": {"methods": ["mem0"], "split": "validation", "cache_dir": str(tmp_path / "cache"),
                 "memory": {"manager": {"backend": "tests.helpers:ScriptedBackend", "model": "echo"},
                            "embedder": {"provider": "hash"}}},
        "grid": {"memory.pipeline.update_mode": ["per_fact", "batched"]},
    }
    answerer = ScriptedBackend(lambda m: "Pixel" if "Pixel" in m[-1]["content"] else "no idea", name="ans")
    out = run_ablation(cfg, data, backends={"answerer": answerer}, progress=False)
    assert set(out["results"]) == {"update_mode=per_fact / locomo_mem0", "update_mode=batched / locomo_mem0"}
    per_fact, batched = (out["results"][f"update_mode={m} / locomo_mem0"] for m in ("per_fact", "batched"))
    assert per_fact["n_seeds"] == 2 and per_fact["f1_sd"] == 0.0
    # batched update: one update call per extraction instead of one per fact
    assert per_fact["manager_calls"] == 18 and batched["manager_calls"] == 12
    assert batched["manager_prompt_styles"] == {"teacher": 24}  # 12 calls a seed, 2 seeds; no card: Mem0's prompt
    doc = json.loads(open(out["paths"]["results"]).read())
    assert len(doc["config"]["grid"]["memory.pipeline.update_mode"]) == 2 and len(doc["cells"]) == 2
    assert "| update_mode=batched / locomo_mem0 |" in out["paths"]["markdown_text"]
    # each cell's samples land beside the table, under a file name without the row name's "/" and spaces
    name = doc["samples"]["update_mode=batched / locomo_mem0"]
    assert name.startswith("samples_update_mode=batched_locomo_mem0_") and "/" not in name
    lines = (tmp_path / "abl" / "t" / name).read_text().splitlines()
    assert len(lines) == 2 * per_fact["n"] and json.loads(lines[0])["method"] == "mem0"  # questions x 2 seeds
