"""LOCOMO's locomo10.json format (eval.locomo_data over memmgr.conversations): an inline sample and the dev split."""

import json
from collections import Counter
from datetime import datetime

import pytest

from eval.locomo_data import CATEGORY_NAMES, SPLITS, load_samples, select_split

SAMPLE = {
    "sample_id": "conv-x",
    "conversation": {
        "speaker_a": "Caroline", "speaker_b": "Melanie",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Caroline", "dia_id": "D1:1", "text": "Hey Mel!"},
            {"speaker": "Melanie", "dia_id": "D1:2", "text": "Look at this.", "img_url": ["http://x"],
             "blip_caption": "a photo of a dog on a beach", "query": "dog beach"},
            {"speaker": "Caroline", "dia_id": "D1:3", "text": "Cute!"},
        ],
        "session_2_date_time": "10:05 am on 12 June, 2023",
        "session_2": [{"speaker": "Melanie", "dia_id": "D2:1", "text": "Back from Paris."},
                      {"speaker": "Caroline", "dia_id": "D2:2", "text": "Welcome back."}],
    },
    "qa": [{"question": "Where did Melanie go?", "answer": "Paris", "evidence": ["D2:1"], "category": 4},
           {"question": "When?", "answer": 2023, "evidence": ["D1:2; D2:1"], "category": 2},
           {"question": "What is Caroline's dog called?", "adversarial_answer": "Rex", "evidence": [], "category": 5},
           {"question": "Null answer?", "answer": None, "evidence": [], "category": 5, "adversarial_answer": "x"}],
}


def test_inline_sample(tmp_path):
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([SAMPLE]))
    (sample,) = load_samples(path)
    conv = sample.conversation
    assert conv.speakers == ["Caroline", "Melanie"] and len(conv.sessions) == 2
    assert conv.sessions[0].date_time == datetime(2023, 5, 8, 13, 56)
    assert conv.sessions[1].date_time == datetime(2023, 6, 12, 10, 5)
    turns = [m for s in conv.sessions for m in s.turns]
    assert turns[1].content == "Look at this. [shares a photo of a dog on a beach]"
    assert [(m.role, m.name, m.id) for m in turns[:2]] == [("user", "Caroline", "D1:1"),
                                                            ("assistant", "Melanie", "D1:2")]
    assert all(m.timestamp == s.date_time for s in conv.sessions for m in s.turns)
    # pairs never straddle sessions; the odd last turn of session 1 stays alone
    pairs = conv.message_pairs()
    assert [[m.id for m in p] for p, _ in pairs] == [["D1:1", "D1:2"], ["D1:3"], ["D2:1", "D2:2"]]
    assert [ts for _, ts in pairs] == [conv.sessions[0].date_time] * 2 + [conv.sessions[1].date_time]
    assert len(conv.message_pairs(max_sessions=1)) == 2
    qa = sample.qa
    assert qa[1].answer == "2023" and qa[1].evidence == ["D1:2", "D2:1"] and qa[1].category_name == "temporal"
    assert qa[1].evidence_sessions() == {1, 2}
    assert qa[2].answer == "" and qa[2].adversarial_answer == "Rex" and qa[2].category_name == "adversarial"
    assert qa[3].answer == ""  # a null answer is no answer, not the string "None"
    assert select_split([sample], "memory_r1", "train") == []
    assert select_split([sample], "memory_r1", "test") == [sample]  # test = every conversation no other split names
    with pytest.raises(ValueError):
        select_split([sample], "memory_r1", "nope")


def test_bad_date_is_an_error(tmp_path):
    bad = json.loads(json.dumps(SAMPLE))
    bad["conversation"]["session_1_date_time"] = "sometime in May"
    (tmp_path / "b.json").write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match="LOCOMO date-time"):
        load_samples(tmp_path / "b.json")


def test_dev_split_counts_match_the_readme(locomo_dev_path):
    samples = {s.sample_id: s for s in load_samples(locomo_dev_path)}
    # ../shared/data/locomo/README.md: sessions, turns, QA of categories 1-4, QA of category 5
    expected = {"conv-26": (19, 419, 152, 47), "conv-30": (19, 369, 81, 24)}
    for sid, (sessions, turns, qa14, qa5) in expected.items():
        s = samples[sid]
        cats = Counter(q.category for q in s.qa)
        assert len(s.conversation.sessions) == sessions
        assert sum(len(x.turns) for x in s.conversation.sessions) == turns
        assert sum(len(p) for p, _ in s.conversation.message_pairs()) == turns  # no turn dropped
        assert sum(cats[c] for c in (1, 2, 3, 4)) == qa14 and cats[5] == qa5
        assert all(q.category_name == CATEGORY_NAMES[q.category] for q in s.qa)
        assert all(q.adversarial_answer for q in s.qa if q.category == 5)
        assert all(q.answer for q in s.qa if q.category != 5)
    everything = list(samples.values())
    assert [s.sample_id for s in select_split(everything, "memory_r1", "train")] == ["conv-26"]
    assert [s.sample_id for s in select_split(everything, "memory_r1", "validation")] == ["conv-30"]
    assert [s.sample_id for s in select_split(everything, "memory_r1", "dev")] == ["conv-26", "conv-30"]
    assert select_split(everything, "memory_r1", "test") == []  # the test conversations are not shipped here
    assert set(SPLITS["memory_r1"]) == {"train", "validation", "dev", "test"}
