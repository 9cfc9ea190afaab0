"""The observations teacher: LOCOMO's annotations as extraction labels, the documented update rule, dropped calls."""

import json

import pytest

from data_gen import generate as gen
from data_gen.observations import ObservationsTeacher, decide
from memmgr.config import EmbedderConfig
from memmgr.conversations import as_speaker, load_locomo_conversations
from memmgr.embed import make_embedder
from memmgr.prompts import render_extraction
from memmgr.types import Message

EMB = make_embedder(EmbedderConfig(provider="hash"))
LOW = {"sim": 0.2, "overlap": 0.6}  # the hash embedder's cosines run lower than MiniLM's


def test_rule_add_noop_update_and_undecidable():
    shown = [("0", "Maya adopted a beagle called Pixel"), ("1", "Tom lives in Leeds")]
    assert decide("Maya works as a nurse", shown, EMB, ["Maya", "Tom"], **LOW)["event"] == "ADD"
    assert decide("anything", [], EMB, **LOW)["event"] == "ADD"
    noop = decide("Maya adopted a beagle called Pixel", shown, EMB, ["Maya", "Tom"], **LOW)
    assert noop == {"id": "0", "text": "Maya adopted a beagle called Pixel", "event": "NOOP"}
    up = decide("Maya adopted a beagle called Pixel from a shelter", shown, EMB, ["Maya", "Tom"], **LOW)
    assert up["event"] == "UPDATE" and up["id"] == "0" and up["old_memory"] == shown[0][1]
    # about the same thing, but each text has words the other lacks: a revision or a second fact? not decided
    assert decide("Maya adopted a beagle puppy called Rex", shown, EMB, ["Maya", "Tom"], **LOW) is None


def _sample(tmp_path):
    from tests.eval.locomo_fixture import tiny_locomo

    path = tiny_locomo(tmp_path / "locomo.json")
    data = json.loads(path.read_text())
    for s in data:
        s["observation"] = {
            "session_1_observation": {"Maya": [["Maya adopted a beagle called Pixel.", "D1:1"],
                                               ["Maya works as a nurse at the city hospital.", "D1:3"]],
                                      "Tom": [["Tom lives in Leeds with two cats.", "D1:2"]]},
            "session_2_observation": {"Maya": [["Pixel learned to sit.", "D2:1"]]}}
    path.write_text(json.dumps(data))
    return path


def test_extraction_label_is_the_pairs_observations(tmp_path):
    conv = load_locomo_conversations(_sample(tmp_path))[0]
    assert len(conv.observations) == 4 and conv.observations[0].dia_ids == ["D1:1"]
    teacher = ObservationsTeacher(conv, EMB, **LOW)
    pair = [Message(content="hi", name="Maya", id="D1:1"), Message(content="ok", name="Tom", id="D1:2")]
    facts = json.loads(teacher.generate(render_extraction("", [], pair, "8 May 2023")).text)["facts"]
    assert facts == ["Maya adopted a beagle called Pixel.", "Tom lives in Leeds with two cats."]  # both users
    # one speaker's scope (Mem0's LOCOMO ingestion): the prompt names the owner, the label is the owner's only
    for me, other, want in (("Maya", "Tom", "Maya adopted"), ("Tom", "Maya", "Tom lives")):
        prompt = render_extraction("", [], as_speaker(pair, me), "8 May 2023")
        assert f"Memory of: {me}\n" in prompt[1]["content"]
        [fact] = json.loads(teacher.generate(prompt).text)["facts"]
        assert fact.startswith(want) and other not in fact
    none = [Message(content="bye", name="Maya", id="D9:1")]
    assert json.loads(teacher.generate(render_extraction("", [], none, "8 May 2023")).text) == {"facts": []}


def test_generate_with_observations_teacher(tmp_path):
    path = _sample(tmp_path)
    cfg = gen.load_config(None, ["--source.kind", "locomo", "--source.path", str(path), "--teacher", "observations",
                                 "--observation_rule.sim", "0.2", "--output_dir", str(tmp_path / "out"),
                                 "--max_noop_fraction", "null", "--source.split_of", "{conv-30: train, conv-99: test}"])
    stats = gen.generate(cfg)
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    labels = {r["pair_id"].rsplit(":", 1)[0]: [] for r in rows}
    for r in rows:
        if r["stage"] == "extract":
            labels[r["pair_id"].rsplit(":", 1)[0]] += json.loads(r["label"])["facts"]
    # each speaker's scope learns that speaker's observations only
    assert "Maya adopted a beagle called Pixel." in labels["conv-30:Maya"]
    assert labels["conv-30:Tom"] == ["Tom lives in Leeds with two cats."]
    assert stats["teacher_decisions"]["ADD"] >= 3 and "undecided_calls_dropped" in stats


def test_observations_teacher_needs_locomo_source(tmp_path):
    cfg = gen.load_config("configs/data_gen/tiny.yaml", ["--teacher", "observations", "--output_dir",
                                                         str(tmp_path / "o")])
    with pytest.raises(ValueError, match="LOCOMO source"):
        gen.generate(cfg)
