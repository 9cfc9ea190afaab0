"""eval.annotations: how consistent LOCOMO's observation annotations are, and a blind reader's agreement with them."""

import json

import pytest

from eval import annotations

TURNS = [("Ann", "D1:1", "I adopted a cat named Tom last week."), ("Bo", "D1:2", "Thanks for the support, it means a lot!"),
         ("Ann", "D1:3", "Thanks for the support, it means a lot!"), ("Bo", "D1:4", "I moved to Oslo for a new job."),
         ("Ann", "D1:5", "Thanks for the support, it means a lot!"), ("Bo", "D1:6", "Bye!")]
LOCOMO = [{"sample_id": "c1", "conversation": {
    "speaker_a": "Ann", "speaker_b": "Bo", "session_1_date_time": "1:00 pm on 8 May, 2023",
    "session_1": [{"speaker": s, "dia_id": d, "text": t} for s, d, t in TURNS]},
    # D1:3 is annotated, its twin D1:5 is not; Bo's observation cites Ann's D1:1 too, which is not Ann's annotation
    "observation": {"session_1_observation": {"Ann": [["Ann adopted a cat named Tom.", "D1:1"],
                                                      ["Ann is grateful for Bo's support.", "D1:3"]],
                                              "Bo": [["Bo moved to Oslo for a job.", ["D1:4", "D1:1"]]]}},
    "qa": []}]


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "locomo.json"
    p.write_text(json.dumps(LOCOMO))
    return p


def _run(tmp_path, data, *extra):
    return annotations.main(["--name", "t", "--data", str(data), "--output_dir", str(tmp_path / "out"),
                             "--embedder", '{provider: hash, dim: 64}', *extra])


def test_turns_are_annotated_by_their_own_speakers_observations(data):
    conv = annotations.load_conversations(data)[0]
    labels = {t.id: lab for t, lab in annotations.annotated(conv)}
    assert labels == {"D1:1": True, "D1:2": False, "D1:3": True, "D1:4": True, "D1:5": False, "D1:6": False}


def test_twins_that_disagree_and_the_chance_rate(tmp_path, data):
    res = _run(tmp_path, data)["results"]["c1"]
    # one same-speaker pair of identical turns (Ann's D1:3 / D1:5; Bo's D1:2 is the other speaker's): labels differ
    assert res["twin_pairs"] == 1 and res["twin_disagreement"] == 1.0
    assert res["annotated_rate"] == pytest.approx(0.5) and res["twin_chance"] == pytest.approx(0.5)
    assert "reader_n" not in res


def test_a_readers_labels_give_recall_precision_and_pick_rate(tmp_path, data):
    labels = tmp_path / "labels.jsonl"
    rows = [("D1:1", 1), ("D1:2", 0), ("D1:3", 0), ("D1:4", 1), ("D1:5", 1), ("D1:6", None)]
    labels.write_text("".join(json.dumps({"conversation_id": "c1", "dia_id": d, "label": v}) + "\n" for d, v in rows))
    out = _run(tmp_path, data, "--labels", str(labels))
    res = out["results"]["c1"]
    # 5 labelled turns, 3 annotated among them (D1:1, D1:3, D1:4); the reader picks D1:1, D1:4, D1:5
    assert res["reader_n"] == 5 and res["reader_pick_rate"] == pytest.approx(0.6)
    assert res["reader_recall"] == pytest.approx(2 / 3) and res["reader_precision"] == pytest.approx(2 / 3)
    assert res["reader_recall_se"] == pytest.approx((2 / 3 * 1 / 3 / 3) ** 0.5)
    assert out["results"]["all"]["reader_recall"] == pytest.approx(2 / 3)
    assert "reader recall" in out["paths"]["markdown_text"]


def test_the_sheet_is_blind_and_its_labels_file_round_trips(tmp_path, data):
    out = _run(tmp_path, data, "--sheet", "4", "--seed", "1")
    sheet = (tmp_path / "out" / "t" / "sheet.md").read_text()
    rows = [json.loads(line) for line in (tmp_path / "out" / "t" / "labels.jsonl").read_text().splitlines()]
    assert out["paths"]["turns"] == 4 and len(rows) == 4 and all(r["label"] is None for r in rows)
    assert not any(o in sheet for o in ("Ann adopted a cat named Tom.", "grateful", "Bo moved to Oslo for a job."))
    assert sheet.count("TURN:") == 4
    for r in rows:
        r["label"] = 1
    filled = tmp_path / "filled.jsonl"
    filled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = _run(tmp_path, data, "--labels", str(filled))["results"]["c1"]
    assert res["reader_n"] == 4 and res["reader_pick_rate"] == 1.0 and res["reader_recall"] == 1.0


@pytest.mark.parametrize("args, msg", [
    (["--conversations", "[c9]"], "no conversation with observations called ['c9']"),
    (["--labels", "/nope.jsonl"], "labels file /nope.jsonl not found"),
    (["--sheet", "99"], "sheet must be between 1 and 6 turns"),
])
def test_bad_input_is_a_one_line_error(tmp_path, data, args, msg):
    with pytest.raises(SystemExit) as e:
        _run(tmp_path, data, *args)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_a_bad_label_row_names_its_line(tmp_path, data):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"conversation_id": "c1", "dia_id": "D1:1", "label": 1}) + "\n"
                   + json.dumps({"conversation_id": "c1", "dia_id": "D1:2", "label": "yes"}) + "\n")
    with pytest.raises(SystemExit, match=r"line 2: not a label row \(needs conversation_id, dia_id and a label 0, 1 or null"):
        _run(tmp_path, data, "--labels", str(bad))


def test_the_matcher_is_scored_against_a_readers_pair_labels(tmp_path, data):
    pairs = [  # (memory, observation, style, the reader's label)
        ("Ann adopted a cat named Tom", "Ann adopted a cat named Tom.", "student memory", 1),  # both match
        ("Ann likes rainy days", "Ann adopted a cat named Tom.", "student memory", 0),  # neither
        ("Tom is the name of my new kitten, got him from the shelter", "Ann adopted a cat named Tom.",
         "verbatim turn", 1),  # the reader sees it, the matcher's words do not
    ]
    f = tmp_path / "pairs.jsonl"
    f.write_text("".join(json.dumps({"memory": m, "observation": o, "style": s, "label": y, "speakers": ["Ann", "Bo"]})
                         + "\n" for m, o, s, y in pairs))
    res = _run(tmp_path, data, "--match_labels", str(f), "--sim_threshold", "0.3")["results"]
    assert res["matcher: student memory"] == {"pairs": 2, "reader_matches": 1, "matcher_recall": 1.0,
                                              "matcher_precision": 1.0}
    assert res["matcher: verbatim turn"]["matcher_recall"] == 0.0
    assert res["matcher: verbatim turn"]["matcher_precision"] is None
    assert res["matcher: all pairs"]["matcher_recall"] == pytest.approx(0.5)
    f.write_text(json.dumps({"memory": "x", "label": 1}) + "\n")
    with pytest.raises(SystemExit, match=r"line 1: not a label row \(needs memory, observation and a label 0, 1\)"):
        _run(tmp_path, data, "--match_labels", str(f))
