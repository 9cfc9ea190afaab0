"""The LOCOMO dev split loads with the counts of ../shared/data/locomo/README.md."""

from collections import Counter

from eval.locomo_data import CATEGORY_NAMES, load_samples, select_split


def test_dev_split_counts_match_the_readme(locomo_dev_path):
    samples = {s.sample_id: s for s in load_samples(locomo_dev_path)}
    expected = {"conv-26": (19, 419, 152, 47), "conv-30": (19, 369, 81, 24)}
    for sid, (sessions, turns, qa14, qa5) in expected.items():
        s = samples[sid]
        cats = Counter(q.category for q in s.qa)
        assert len(s.conversation.sessions) == sessions
        assert sum(len(x.turns) for x in s.conversation.sessions) == turns
        assert sum(cats[c] for c in (1, 2, 3, 4)) == qa14 and cats[5] == qa5
        assert all(q.category_name == CATEGORY_NAMES[q.category] for q in s.qa)
        assert all(q.adversarial_answer for q in s.qa if q.category == 5)
    everything = list(samples.values())
    assert [s.sample_id for s in select_split(everything, "memory_r1", "train")] == ["conv-26"]
    assert [s.sample_id for s in select_split(everything, "memory_r1", "validation")] == ["conv-30"]
    assert select_split(everything, "memory_r1", "test") == []  # the test conversations are not shipped here
