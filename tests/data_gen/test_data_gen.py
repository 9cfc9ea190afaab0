import json
from pathlib import Path

import pytest

from data_gen import generate as gen
from data_gen.gates import quality_gates, teacher_schema_ok
from data_gen.oracle import OracleBackend, run_world
from data_gen.synthetic import generate_worlds
from memmgr import Memory, MemoryConfig


@pytest.mark.parametrize("mode", ["per_fact", "batched"])
def test_oracle_through_real_pipeline_reproduces_gold_state(mode):
    for w in generate_worlds(8, seed=1, split="validation", n_sessions=(3, 12)):
        got, rejected, oracle = run_world(w, {"embedder": {"provider": "hash"}, "pipeline": {"update_mode": mode}})
        assert sorted(got) == sorted(w.final_state), (w.world_id, oracle.missing_targets, rejected)
        assert not rejected and oracle.missing_targets == 0 and oracle.unknown_prompts == 0


@pytest.mark.slow
def test_oracle_with_minilm_embeddings_reproduces_gold_state():
    for w in generate_worlds(3, seed=2, split="train", n_sessions=(8, 12)):
        mem = Memory(MemoryConfig(), manager=OracleBackend([w]))
        for p in w.pairs:
            mem.add(p.messages, user_id=w.user_id, timestamp=p.messages[0].timestamp)
        assert sorted(m["memory"] for m in mem.get_all(user_id=w.user_id)["results"]) == sorted(w.final_state)


def test_world_traces_feed_each_speaker_their_own_facts(tmp_path):
    """Both scopes of a world are fed: each extraction label holds only facts about the prompt's owner, and the
    friend's facts reach the friend's scope (they used to be labelled in the main speaker's)."""
    from memmgr.prompts import parse_extraction_input

    stats = gen.generate(_cfg(tmp_path, prompt_styles=["teacher"]))
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    worlds = {w.world_id: w for w in generate_worlds(4, seed=0, split="train", n_sessions=(3, 5))}
    seen = {"main": 0, "friend": 0}
    for r in (r for r in rows if r["stage"] == "extract"):
        owner = parse_extraction_input(r["prompt"])["owner"]
        main, friend = worlds[r["conversation_id"]].speakers
        facts = json.loads(r["label"])["facts"]
        assert owner in ([main], [friend])
        assert all(not f.startswith(friend if owner == [main] else main) for f in facts), (owner, facts)
        seen["main" if owner == [main] else "friend"] += bool(facts)
    assert seen["main"] and seen["friend"], seen
    assert stats["splits"]["train"]["examples"] == len(rows)


def _cfg(tmp_path, **kw):
    return gen.GenerateConfig.model_validate({
        "source": {"kind": "synthetic", "worlds": {"train": 4, "validation": 2, "test": 2}, "n_sessions": [3, 5]},
        "output_dir": str(tmp_path / "out"), "prompt_styles": ["teacher", "student"], **kw})


def test_generate_dataset_schema_and_splits(tmp_path):
    from datasets import load_dataset, load_from_disk

    stats = gen.generate(_cfg(tmp_path))
    out = tmp_path / "out"
    dd = load_from_disk(str(out / "dataset"))
    assert set(dd) == {"train", "validation", "test"}
    cols = {"messages", "prompt", "completion", "stage", "label", "shown_memories", "source_texts", "gold_after",
            "conversation_id", "pair_id", "teacher", "prompt_version", "prompt_style", "source"}
    assert cols <= set(dd["train"].column_names)
    convs = {s: set(dd[s]["conversation_id"]) for s in dd}
    assert not (convs["train"] & convs["test"]) and not (convs["train"] & convs["validation"])
    row = next(r for r in dd["train"] if r["stage"] == "update" and r["prompt_style"] == "student")
    assert row["messages"][-1]["role"] == "assistant" and row["messages"][:-1] == row["prompt"]
    assert json.loads(row["label"])["memory"] and json.loads(row["gold_after"]) is not None
    assert {r["prompt_style"] for r in dd["train"]} == {"teacher", "student"}
    js = load_dataset("json", data_files={"train": str(out / "train.jsonl")})["train"]
    assert len(js) == len(dd["train"])
    assert (out / "README.md").read_text().startswith("# memmgr manager traces")
    assert stats["splits"]["train"]["examples"] == len(dd["train"])


def test_resume_after_crash_no_duplicates_nothing_lost(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, prompt_styles=["teacher"], max_noop_fraction=None)
    full = gen.generate(cfg.model_copy(update={"output_dir": str(tmp_path / "ref")}))
    calls = {"n": 0}
    real = gen.run_unit

    def crashing(unit, c, shared):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("simulated crash")
        return real(unit, c, shared)

    monkeypatch.setattr(gen, "run_unit", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        gen.generate(cfg)
    done = json.loads((tmp_path / "out" / "manifest.json").read_text())["units"]
    assert 0 < len(done) < 8
    monkeypatch.setattr(gen, "run_unit", real)
    resumed = gen.generate(cfg)
    assert resumed["splits"] == full["splits"]
    rows = [json.loads(line) for s in ("train", "validation", "test")
            for line in (tmp_path / "out" / f"{s}.jsonl").read_text().splitlines()]
    keys = [json.dumps([r["prompt"], r["label"]]) for r in rows]
    assert len(keys) == len(set(keys))


def test_rebalance_caps_noop_share(tmp_path):
    stats = gen.generate(_cfg(tmp_path, max_noop_fraction=0.1, prompt_styles=["teacher"]))
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    upd = [r for r in rows if r["stage"] == "update"]
    noop_only = [r for r in upd if all(o["event"] == "NOOP" for o in json.loads(r["label"])["memory"])]
    assert len(noop_only) <= 0.1 * len(upd) + 1
    assert stats["dropped"]["rebalanced_noop"] >= 0


def test_self_consistency_drops_disagreeing_calls():
    from data_gen.consistency import SelfConsistentBackend
    from memmgr.prompts import render_extraction
    from memmgr.types import Message
    from tests.helpers import ScriptedBackend

    msgs = render_extraction("", [], [Message(content="I live in Oslo", name="Maya")], "8 May 2023")
    agree = SelfConsistentBackend(ScriptedBackend(['{"facts": ["Maya lives in Oslo"]}']), 3)
    assert "Oslo" in agree.generate(msgs).text
    flip = SelfConsistentBackend(ScriptedBackend(['{"facts": ["a b"]}', '{"facts": ["c d"]}', '{"facts": []}']), 3)
    assert flip.generate(msgs).text == "" and flip.disagreed == 1


def test_locomo_source_with_scripted_teacher(tmp_path, locomo_dev_path):
    cfg = gen.GenerateConfig.model_validate({
        "source": {"kind": "locomo", "path": locomo_dev_path, "samples": ["conv-26"], "max_sessions": 1,
                   "max_pairs": 4},
        "teacher": {"backend": "tests.helpers:ScriptedBackend", "model": "echo"},
        "output_dir": str(tmp_path / "lo"), "max_noop_fraction": None})
    stats = gen.generate(cfg)
    # 4 pairs, one memory scope per speaker (Mem0's LOCOMO ingestion): 8 extraction calls, none a duplicate: each
    # prompt names its owner, the speaker whose turns are the user's
    assert stats["splits"]["train"]["conversations"] == 1 and stats["splits"]["train"]["extract"] == 8
    # (the echo teacher writes the same facts in both scopes: their identical update prompts are dropped once)
    assert stats["splits"]["train"]["update"] > 0
    from data_gen.traces import load_traces
    from memmgr.prompts import parse_extraction_input

    rows = [r for r in load_traces(tmp_path / "lo")["train"] if r["stage"] == "extract"]
    owners = [parse_extraction_input(r["prompt"])["owner"] for r in rows]
    assert sorted(map(tuple, owners)) == [("Caroline",)] * 4 + [("Melanie",)] * 4
    assert {r["pair_id"] for r in rows} >= {"conv-26:Caroline:0", "conv-26:Melanie:0"}


def test_jsonl_source_is_checked_and_traced(tmp_path):
    from data_gen.dialogues import save_dialogues, world_to_conversation
    from data_gen.synthetic import generate_worlds

    save_dialogues([world_to_conversation(generate_worlds(1, seed=3, n_sessions=(2, 2))[0])], tmp_path / "d.jsonl")
    cfg = gen.GenerateConfig.model_validate({
        "source": {"kind": "jsonl", "path": str(tmp_path / "d.jsonl"), "max_pairs": 3},
        "teacher": {"backend": "tests.helpers:ScriptedBackend", "model": "echo"},
        "output_dir": str(tmp_path / "js"), "max_noop_fraction": None})
    stats = gen.generate(cfg)
    assert sum(s["extract"] for s in stats["splits"].values()) == 3 * 2  # 3 pairs, once per speaker
    (tmp_path / "undated.jsonl").write_text('{"conversation_id": "c", "speaker": "A", "text": "hi"}\n')
    with pytest.raises(ValueError, match="no timestamp"):
        gen.generate(cfg.model_copy(update={"source": cfg.source.model_copy(
            update={"path": str(tmp_path / "undated.jsonl")}), "overwrite": True}))


def test_extraction_examples_whose_teacher_output_was_all_rejected_are_dropped(tmp_path):
    cfg = _cfg(tmp_path, prompt_styles=["teacher"], max_noop_fraction=None)
    ok = {"prompt": [{"role": "user", "content": "a"}], "label": '{"facts": []}', "stage": "extract",
          "split": "train", "teacher_rejected": 0}
    bad = {**ok, "prompt": [{"role": "user", "content": "b"}], "teacher_rejected": 2}
    kept, dropped = quality_gates([ok, bad], cfg)
    assert kept == [ok] and dropped["teacher_output_rejected"] == 1


def test_resume_refuses_a_changed_config(tmp_path):
    cfg = _cfg(tmp_path, prompt_styles=["teacher"])
    gen.generate(cfg)
    changed = cfg.model_copy(update={"seed": 1})
    with pytest.raises(ValueError, match="another config"):
        gen.generate(changed)
    # gates/rebalancing/concurrency are applied over all shards at the end: changing them resumes
    gen.generate(cfg.model_copy(update={"max_noop_fraction": None, "concurrency": 2}))
    stats = gen.generate(changed.model_copy(update={"overwrite": True}))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["fingerprint"] == changed.fingerprint() and len(manifest["units"]) == 8
    assert stats["oracle_missing_targets"] == 0 and stats["oracle_unknown_prompts"] == 0
    assert "mean prompt tokens" in (tmp_path / "out" / "README.md").read_text()


def test_teacher_schema_gate():
    assert teacher_schema_ok('```json\n{"facts": ["Maya lives in Oslo"]}\n```', "extract")
    assert teacher_schema_ok('Sure! {"memory": [{"id": "0", "event": "NOOP", "text": "x"}]}', "update")
    assert not teacher_schema_ok("The user's summary is:\n[D1:2] Melanie: Hey", "extract")
    assert not teacher_schema_ok('["Maya lives in Oslo"]', "extract")  # the parser salvages it; labels don't
    assert not teacher_schema_ok('{"facts": "Maya lives in Oslo"}', "extract")
    assert not teacher_schema_ok('{"memory": [{"id": "0"}]}', "update")
    cfg = _cfg(Path("/nonexistent"), max_noop_fraction=None)
    ok = {"prompt": [{"role": "user", "content": "a"}], "label": '{"facts": ["x"]}', "stage": "extract",
          "split": "train", "teacher_rejected": 0, "teacher_schema_ok": True}
    bad = {**ok, "prompt": [{"role": "user", "content": "b"}], "teacher_schema_ok": False}
    kept, dropped = quality_gates([ok, bad], cfg)
    assert kept == [ok] and dropped["teacher_schema"] == 1


@pytest.mark.parametrize("name", ["tiny", "synthetic_oracle", "locomo_local"])
def test_shipped_configs_validate(name):
    path = Path("configs/data_gen") / f"{name}.yaml"
    header = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
    assert path.read_text().startswith("#") and any(f"--config {path}" in ln for ln in header)
    cfg = gen.load_config(str(path), ["--seed", "3"])
    assert cfg.seed == 3 and cfg.output_dir.startswith("data/")


def test_cli_config_errors_are_one_line():
    with pytest.raises(SystemExit, match=r"^error: .*unknown key 'sourc'"):
        gen.main(["--config", "configs/data_gen/tiny.yaml", "--sourc.x", "1"])
    with pytest.raises(SystemExit, match=r"^error: config file not found"):
        gen.main(["--config", "configs/data_gen/nope.yaml"])


def test_a_turned_down_rewrite_is_labelled_as_the_noop_it_was():
    from data_gen.recorder import _label_ops
    from memmgr.types import ManagerCall, Rejection

    rewrite = {"event": "UPDATE", "id": "0", "text": "Maya adopted a cat", "old_memory": "Maya lives in Porto"}
    ungrounded = {"event": "ADD", "id": None, "text": "Maya won the lottery", "old_memory": None}
    call = ManagerCall(stage="update", valid=True, parsed={"memory": [rewrite, ungrounded, {
        "event": "ADD", "id": None, "text": "Maya adopted a cat", "old_memory": None}]},
        rejected=[Rejection(stage="update", reason="unrelated_rewrite", item=rewrite),
                  Rejection(stage="update", reason="ungrounded", item=ungrounded)])
    assert _label_ops(call) == [{"id": "0", "text": "Maya lives in Porto", "event": "NOOP"},
                                {"event": "ADD", "text": "Maya adopted a cat"}]
