"""data_gen.dialogues: the documented JSONL format round-trips into the LOCOMO Conversation type."""

import json
from datetime import datetime

import pytest

from data_gen.dialogues import load_dialogues, save_dialogues, world_to_conversation
from data_gen.locomo import load_locomo, to_messages
from data_gen.synthetic import generate_worlds


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_documented_example_and_defaults(tmp_path):
    rows = [{"conversation_id": "c1", "session": 1, "timestamp": "2023-05-08T13:56:00", "speaker": "Maya",
             "text": "I moved to Lisbon last week."},
            {"conversation_id": "c1", "session": 1, "speaker": "Leo", "text": "Nice!"},
            {"conversation_id": "c1", "session": 2, "timestamp": "2023-06-01T09:00:00", "speaker": "Leo",
             "text": "How is Lisbon?", "id": "x"}]
    _write(tmp_path / "d.jsonl", rows)
    (conv,) = load_dialogues(tmp_path / "d.jsonl")
    assert (conv.sample_id, conv.speaker_a, conv.speaker_b) == ("c1", "Maya", "Leo")
    assert [s.index for s in conv.sessions] == [1, 2]
    assert [t.dia_id for t in conv.turns()] == ["c1:1:1", "c1:1:2", "x"]
    assert conv.turns()[1].timestamp == datetime(2023, 5, 8, 13, 56)  # inherits the session's timestamp
    msgs = to_messages(conv.turn_pairs()[0], speaker_a=conv.speaker_a)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[0].content.startswith("I moved")


def test_errors_name_the_problem(tmp_path):
    _write(tmp_path / "a.jsonl", [{"conversation_id": "c", "speaker": "A", "text": "hi"}])
    with pytest.raises(ValueError, match="no timestamp"):
        load_dialogues(tmp_path / "a.jsonl")
    _write(tmp_path / "b.jsonl", [{"conversation_id": "c", "speaker": "A", "timestamp": "2023-01-01T00:00:00"}])
    with pytest.raises(ValueError, match="missing field"):
        load_dialogues(tmp_path / "b.jsonl")
    three = [{"conversation_id": "c", "speaker": s, "text": "x", "timestamp": "2023-01-01T00:00:00"} for s in "ABC"]
    _write(tmp_path / "c.jsonl", three)
    with pytest.raises(ValueError, match="two"):
        load_dialogues(tmp_path / "c.jsonl")
    declared = [{**three[0], "speakers": ["B", "A"]}, {**three[1]}]
    _write(tmp_path / "d.jsonl", declared)
    assert load_dialogues(tmp_path / "d.jsonl")[0].speakers == ["B", "A"]  # declared order wins
    _write(tmp_path / "e.jsonl", [{**three[0], "speakers": ["X", "Y"]}])
    with pytest.raises(ValueError, match="declared"):
        load_dialogues(tmp_path / "e.jsonl")


def test_world_round_trip(tmp_path):
    w = generate_worlds(1, seed=0, n_sessions=(3, 4))[0]
    conv = world_to_conversation(w)
    assert save_dialogues([conv], tmp_path / "w.jsonl") == 2 * len(w.pairs)
    (back,) = load_dialogues(tmp_path / "w.jsonl")
    assert back == conv


def test_locomo_round_trip(tmp_path, locomo_dev_path):
    convs = load_locomo(locomo_dev_path)
    save_dialogues(convs, tmp_path / "locomo.jsonl")
    back = load_dialogues(tmp_path / "locomo.jsonl")
    assert [(c.sample_id, c.speakers, c.sessions) for c in back] == [(c.sample_id, c.speakers, c.sessions)
                                                                      for c in convs]
