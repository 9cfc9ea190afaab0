"""Mixing trace datasets by train shares (data_gen.mix)."""

import json

import pytest

from data_gen import generate as gen
from data_gen.mix import MixConfig, balanced_sample, main, mix, row_stratum, train_counts


def test_train_counts_keep_shares_and_the_limiting_source_whole():
    assert train_counts({"a": 100, "b": 10}, {"a": 0.5, "b": 0.5}) == {"a": 10, "b": 10}
    assert train_counts({"a": 100, "b": 100}, {"a": 3, "b": 1}) == {"a": 100, "b": 33}
    assert train_counts({"a": 100, "b": 100}, {"a": 1, "b": 0}) == {"a": 100}
    assert train_counts({"a": 5, "b": 7}, {}) == {"a": 5, "b": 7}
    assert sum(train_counts({"a": 100, "b": 100}, {"a": 1, "b": 1}, cap=50).values()) == 50


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    """Two tiny trace datasets (seeds 0 and 1), generated once for the module: {name: folder}."""
    root = tmp_path_factory.mktemp("sources")
    for name, seed in (("a", 0), ("b", 1)):
        gen.generate(gen.load_config("configs/data_gen/tiny.yaml", ["--output_dir", str(root / name),
                                                                   "--seed", str(seed)]))
    return {"a": str(root / "a"), "b": str(root / "b")}


def test_mix_two_sources(tmp_path, two_sources):
    stats = mix(MixConfig(sources=two_sources, weights={"a": 3, "b": 1},
                          output_dir=str(tmp_path / "mix")))
    by = stats["splits"]["train"]["by_source"]
    assert by["a"] == 3 * by["b"] or abs(by["a"] - 3 * by["b"]) <= 3
    assert set(stats["splits"]["test"]["by_source"]) == {"a", "b"}  # held-out splits concatenated whole
    rows = [json.loads(x) for x in (tmp_path / "mix" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == stats["splits"]["train"]["examples"] and {"prompt", "label", "mix_source"} <= set(rows[0])


def test_mix_stages_keeps_only_the_named_stages_of_a_sources_train_rows(tmp_path, two_sources):
    stats = mix(MixConfig(sources=two_sources, stages={"b": ["extract"]}, output_dir=str(tmp_path / "mix")))
    rows = [json.loads(x) for x in (tmp_path / "mix" / "train.jsonl").read_text().splitlines()]
    by = {(r["mix_source"], r["stage"]) for r in rows}
    assert ("b", "extract") in by and ("b", "update") not in by and ("a", "update") in by
    test_rows = [json.loads(x) for x in (tmp_path / "mix" / "test.jsonl").read_text().splitlines()]
    assert ("b", "update") in {(r["mix_source"], r["stage"]) for r in test_rows}  # held-out splits stay whole
    assert stats["stages"] == {"b": ["extract"]}


def test_one_folder_under_two_names_weights_its_stages_apart_and_gives_held_out_rows_once(tmp_path, two_sources):
    a = two_sources["a"]
    stats = mix(MixConfig(sources={"au": a, "ae": a}, weights={"au": 3, "ae": 1},
                          stages={"au": ["update"], "ae": ["extract"]}, output_dir=str(tmp_path / "mix")))
    rows = [json.loads(x) for x in (tmp_path / "mix" / "train.jsonl").read_text().splitlines()]
    assert {(r["mix_source"], r["stage"]) for r in rows} == {("au", "update"), ("ae", "extract")}
    with pytest.raises(ValueError, match="name one folder"):  # the same train rows would be drawn twice
        MixConfig(sources={"au": a, "ae": a}, stages={"au": ["update", "extract"], "ae": ["extract"]})
    alone = mix(MixConfig(sources={"a": a}, output_dir=str(tmp_path / "alone")))
    for split in ("validation", "test"):
        assert stats["splits"][split]["examples"] == alone["splits"][split]["examples"]
        assert stats["splits"][split]["by_source"] == {"au": alone["splits"][split]["examples"]}


@pytest.mark.parametrize("flag, value, message", [
    ("--weights", "{b: 1}", "not listed"),
    ("--balance", "[graph]", "balance takes stages"),
    ("--stages", "{b: [extract]}", "stages name sources"),
    ("--stages", "{a: [extrct]}", "stages takes extract"),
])
def test_bad_weights_are_one_line_errors(tmp_path, flag, value, message):
    with pytest.raises(SystemExit) as e:
        main(["--sources", "{a: x}", flag, value, "--output_dir", str(tmp_path)])
    assert message in str(e.value) and "\n" not in str(e.value)


def _row(stage, label, owner="Maya", first="Maya"):
    from memmgr.prompts import render_extraction
    from memmgr.types import Message

    second = "Leo" if first == "Maya" else "Maya"
    new = [Message(content="hi", name=first, id="D1:1"), Message(content="hello", name=second, id="D1:2")]
    prompt = render_extraction("", [], new, "8 May 2023", owner=[owner])
    return {"stage": stage, "label": json.dumps(label), "prompt": prompt}


def test_row_stratum_reads_the_owner_position_the_label_and_the_ops():
    assert row_stratum(_row("extract", {"facts": ["Maya moved"]})) == "extract:owner_first:facts"
    assert row_stratum(_row("extract", {"facts": []}, owner="Leo")) == "extract:owner_second:empty"
    ops = {"memory": [{"id": "0", "text": "a", "event": "NOOP"}, {"id": "1", "text": "b", "event": "ADD"}]}
    assert row_stratum(_row("update", ops)) == "update:ADD+NOOP"
    assert row_stratum({"stage": "extract", "label": "not json", "prompt": []}) == \
        "extract:no_owner:empty"


def test_balanced_sample_evens_strata_within_each_stage_and_keeps_stage_shares():
    import random
    from collections import Counter

    strata = ["x:a"] * 80 + ["x:b"] * 10 + ["u:add"] * 90 + ["u:noop"] * 20
    stages = ["extract"] * 90 + ["update"] * 110
    picked = balanced_sample(strata, stages, 60, random.Random(0))
    assert len(picked) == len(set(picked)) == 60
    got = Counter(strata[i] for i in picked)
    assert got["x:a"] + got["x:b"] == 27 and got["u:add"] + got["u:noop"] == 33  # stage shares 45% / 55%
    assert got["x:b"] == 10 and got["x:a"] == 17  # the small stratum gives all it has, the other fills
    assert {got["u:noop"], got["u:add"]} == {16, 17}  # equal parts (to one row) when both have enough


def test_mix_balance_draws_the_subsampled_source_evenly(tmp_path, two_sources):
    plain = mix(MixConfig(sources={"a": two_sources["a"]}, max_train=40, output_dir=str(tmp_path / "p")))
    bal = mix(MixConfig(sources={"a": two_sources["a"]}, max_train=40, balance=["extract"],
                        output_dir=str(tmp_path / "b")))
    assert bal["balance"] == ["extract"] and sum(bal["train_strata"].values()) == bal["splits"]["train"]["examples"]

    def spread(s):  # the largest stratum's share of its stage: lower when balanced
        ext = {k: v for k, v in s["train_strata"].items() if k.startswith("extract")}
        return max(ext.values()) / sum(ext.values())
    assert spread(bal) < spread(plain)
