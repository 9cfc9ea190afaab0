"""data_gen.locomo: the original locomo10.json format, on a tiny inline sample and on the shared dev split."""

import json
from collections import Counter
from datetime import datetime

import pytest

from data_gen.locomo import CATEGORY_NAMES, SPLITS, load_locomo, select_split, to_messages

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
           {"question": "What is Caroline's dog called?", "adversarial_answer": "Rex", "evidence": [], "category": 5}],
}


def test_inline_sample(tmp_path):
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([SAMPLE]))
    (conv,) = load_locomo(path)
    assert conv.speakers == ["Caroline", "Melanie"] and len(conv.sessions) == 2
    assert conv.sessions[0].date_time == datetime(2023, 5, 8, 13, 56)
    assert conv.sessions[1].date_time == datetime(2023, 6, 12, 10, 5)
    assert conv.turns()[1].text == "Look at this. [shares a photo of a dog on a beach]"
    assert [t.session for t in conv.turns()] == [1, 1, 1, 2, 2]
    # pairs never straddle sessions; the odd last turn of session 1 stays alone
    assert [[t.dia_id for t in p] for p in conv.turn_pairs()] == [["D1:1", "D1:2"], ["D1:3"], ["D2:1", "D2:2"]]
    assert len(conv.turn_pairs(max_sessions=1)) == 2
    qa = conv.qa
    assert qa[1].answer == "2023" and qa[1].evidence == ["D1:2", "D2:1"] and qa[1].category_name == "temporal"
    assert qa[2].answer == "" and qa[2].adversarial_answer == "Rex" and qa[2].category_name == "adversarial"
    msgs = to_messages(conv.turn_pairs()[0], speaker_a=conv.speaker_a)
    assert [(m.role, m.name, m.id) for m in msgs] == [("user", "Caroline", "D1:1"), ("assistant", "Melanie", "D1:2")]
    assert msgs[0].timestamp == datetime(2023, 5, 8, 13, 56)
    assert select_split([conv], "memory_r1", "test") == []
    with pytest.raises(ValueError):
        select_split([conv], "memory_r1", "nope")


def test_bad_date_is_an_error(tmp_path):
    bad = json.loads(json.dumps(SAMPLE))
    bad["conversation"]["session_1_date_time"] = "sometime in May"
    (tmp_path / "b.json").write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match="LOCOMO date-time"):
        load_locomo(tmp_path / "b.json")


def test_dev_split_counts_match_the_readme(locomo_dev_path):
    convs = {c.sample_id: c for c in load_locomo(locomo_dev_path)}
    # ../shared/data/locomo/README.md: sessions, turns, QA of categories 1-4, QA of category 5
    expected = {"conv-26": (19, 419, 152, 47), "conv-30": (19, 369, 81, 24)}
    for sid, (sessions, turns, qa14, qa5) in expected.items():
        c = convs[sid]
        cats = Counter(q.category for q in c.qa)
        assert (len(c.sessions), len(c.turns())) == (sessions, turns)
        assert sum(cats[k] for k in (1, 2, 3, 4)) == qa14 and cats[5] == qa5
        assert all(q.category_name == CATEGORY_NAMES[q.category] for q in c.qa)
        assert all(q.adversarial_answer for q in c.qa if q.category == 5)
        assert all(q.answer for q in c.qa if q.category != 5)
        assert sum(len(p) for p in c.turn_pairs()) == turns
    everything = list(convs.values())
    assert [c.sample_id for c in select_split(everything, "memory_r1", "train")] == ["conv-26"]
    assert [c.sample_id for c in select_split(everything, "memory_r1", "validation")] == ["conv-30"]
    assert select_split(everything, "memory_r1", "test") == []  # conv-41..conv-50 are not shipped here
    assert len(SPLITS["memory_r1"]["test"]) == 8
