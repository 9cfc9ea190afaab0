"""eval.p_empty: P('{"facts": []}') on a run's saved extraction calls, level apart from ranking (AUC)."""

import json

import pytest

from eval import p_empty

LOCOMO = [{"sample_id": "c1", "conversation": {"speaker_a": "Ann", "speaker_b": "Bo", "session_1_date_time":
                                               "1:00 pm on 8 May, 2023", "session_1": [
    {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a cat."}, {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice!"},
    {"speaker": "Ann", "dia_id": "D1:3", "text": "Ha."}, {"speaker": "Bo", "dia_id": "D1:4", "text": "I moved to Oslo."}]},
           "observation": {"session_1_observation": {"Ann": [["Ann adopted a cat.", "D1:1"]],
                                                     "Bo": [["Bo moved to Oslo.", "D1:4"]]}},
           "qa": []}]


def _call(i, owner, ids, facts):
    return {"stage": "extract", "call_id": f"k{i}", "messages": [{"role": "user", "content": f"prompt {i}"}],
            "parsed": {"facts": facts}, "context": {"conversation_id": "c1", "perspective": owner, "source_ids": ids}}


class FakeBackend:
    def __init__(self, p):
        self.p = p

    def completion_prob(self, messages, completion):
        assert completion == p_empty.EMPTY
        return self.p[messages[0]["content"]]


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO))
    calls = tmp_path / "samples_x_calls_1.jsonl"
    rows = [_call(0, "Ann", ["D1:1", "D1:2"], ["Ann adopted a cat"]), _call(1, "Ann", ["D1:3", "D1:4"], []),
            _call(2, "Bo", ["D1:1", "D1:2"], []), _call(3, "Bo", ["D1:3", "D1:4"], ["Bo moved to Oslo"]),
            {"stage": "update", "messages": [{"role": "user", "content": "u"}]}]
    calls.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return data, calls


def test_level_and_ranking_per_adapter(files, tmp_path):
    data, calls = files
    # owner-observed pairs: call 0 (Ann, D1:1) and call 3 (Bo, D1:4)
    low = FakeBackend({"prompt 0": 0.40, "prompt 1": 0.45, "prompt 2": 0.48, "prompt 3": 0.42})  # extracts from all
    high = FakeBackend({"prompt 0": 0.55, "prompt 1": 0.70, "prompt 2": 0.65, "prompt 3": 0.60})  # from none
    cfg = p_empty.PEmptyConfig(calls=str(tmp_path / "samples_*_calls_*.jsonl"), adapters=["s0", "s1"],
                               data=str(data), output_dir=str(tmp_path / "out"))
    out = p_empty.run(cfg, backends={"s0": low, "s1": high})
    r0, r1 = out["results"]["s0"], out["results"]["s1"]
    assert r0["n"] == 4 and r0["share_above_half"] == 0.0 and r1["share_above_half"] == 1.0
    assert r0["auc_owner_obs"] == 1.0 and r1["auc_owner_obs"] == 1.0  # same ranking, other level
    assert r0["p_empty_owner_obs"] == pytest.approx(0.41) and r1["p_empty_other"] == pytest.approx(0.675)
    samples = [json.loads(x) for x in open(out["paths"]["samples"]["s1"])]
    assert {s["call_id"]: s["owner_observed"] for s in samples} == {"k0": True, "k1": False, "k2": False, "k3": True}
    assert "AUC" in out["paths"]["markdown_text"]


def test_auc_ties_and_empty_groups():
    assert p_empty.auc([0.5], [0.5]) == 0.5 and p_empty.auc([], [0.3]) is None
    assert p_empty.auc([0.2, 0.6], [0.4]) == 0.5


@pytest.mark.parametrize("case,message", [("nofile", "no calls file matches"), ("noextract", "no extraction calls"),
                                          ("conv", "is not in")])
def test_bad_input_is_a_one_line_error(files, tmp_path, case, message):
    data, calls = files
    pattern = str(calls)
    if case == "nofile":
        pattern = str(tmp_path / "nope_*.jsonl")
    elif case == "noextract":
        (tmp_path / "u.jsonl").write_text(json.dumps({"stage": "update"}) + "\n")
        pattern = str(tmp_path / "u.jsonl")
    elif case == "conv":
        data.write_text(json.dumps([{**LOCOMO[0], "sample_id": "other"}]))
    argv = ["--calls", pattern, "--adapters", "[null]", "--data", str(data), "--output_dir", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as e:
        p_empty.main(argv)
    assert str(e.value).startswith("error: ") and message in str(e.value) and "\n" not in str(e.value)
