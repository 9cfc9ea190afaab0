"""data_gen.dialogues: the documented JSONL format round-trips into the Conversation type LOCOMO loads into."""

import json
from datetime import datetime

import pytest

from data_gen.dialogues import load_dialogues, save_dialogues, world_to_conversation
from data_gen.synthetic import generate_worlds
from eval.locomo_data import load_samples


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
    assert (conv.conversation_id, conv.speakers) == ("c1", ["Maya", "Leo"])
    assert [s.index for s in conv.sessions] == [1, 2]
    turns = [m for s in conv.sessions for m in s.turns]
    assert [m.id for m in turns] == ["c1:1:1", "c1:1:2", "x"]
    assert turns[1].timestamp == datetime(2023, 5, 8, 13, 56)  # inherits the session's timestamp
    msgs, ts = conv.message_pairs()[0]
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[0].content.startswith("I moved")
    assert ts == datetime(2023, 5, 8, 13, 56)


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
    (conv,) = load_dialogues(tmp_path / "d.jsonl")
    assert conv.speakers == ["B", "A"]  # declared order wins, and with it who is the "user"
    assert [(m.name, m.role) for m in conv.sessions[0].turns] == [("A", "assistant"), ("B", "user")]
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
    convs = [s.conversation for s in load_samples(locomo_dev_path)]
    save_dialogues(convs, tmp_path / "locomo.jsonl")
    assert load_dialogues(tmp_path / "locomo.jsonl") == convs
