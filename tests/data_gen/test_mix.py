"""Mixing trace datasets by train shares (data_gen.mix)."""

import json

import pytest

from data_gen import generate as gen
from data_gen.mix import MixConfig, main, mix, train_counts


def test_train_counts_keep_shares_and_the_limiting_source_whole():
    assert train_counts({"a": 100, "b": 10}, {"a": 0.5, "b": 0.5}) == {"a": 10, "b": 10}
    assert train_counts({"a": 100, "b": 100}, {"a": 3, "b": 1}) == {"a": 100, "b": 33}
    assert train_counts({"a": 100, "b": 100}, {"a": 1, "b": 0}) == {"a": 100}
    assert train_counts({"a": 5, "b": 7}, {}) == {"a": 5, "b": 7}
    assert sum(train_counts({"a": 100, "b": 100}, {"a": 1, "b": 1}, cap=50).values()) == 50


def test_mix_two_sources(tmp_path):
    for name, seed in (("a", 0), ("b", 1)):
        gen.generate(gen.load_config("configs/data_gen/tiny.yaml", ["--output_dir", str(tmp_path / name),
                                                                   "--seed", str(seed)]))
    stats = mix(MixConfig(sources={"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}, weights={"a": 3, "b": 1},
                          output_dir=str(tmp_path / "mix")))
    by = stats["splits"]["train"]["by_source"]
    assert by["a"] == 3 * by["b"] or abs(by["a"] - 3 * by["b"]) <= 3
    assert set(stats["splits"]["test"]["by_source"]) == {"a", "b"}  # held-out splits concatenated whole
    rows = [json.loads(x) for x in (tmp_path / "mix" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == stats["splits"]["train"]["examples"] and {"prompt", "label", "mix_source"} <= set(rows[0])


def test_bad_weights_are_one_line_errors(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["--sources", "{a: x}", "--weights", "{b: 1}", "--output_dir", str(tmp_path)])
    assert "not listed" in str(e.value) and "\n" not in str(e.value)
