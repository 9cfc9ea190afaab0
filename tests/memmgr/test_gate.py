"""The extract/skip gate (memmgr.gate): ranks of P(empty) per scope, skipped pairs make no generation, extracted
ones are forced to open a fact list; a manager that cannot score completions is a clear error."""

from __future__ import annotations

import pytest

from memmgr import Memory, MemoryConfig
from memmgr.gate import EMPTY, NON_EMPTY_PREFIX, ExtractGate, rank_in
from memmgr.prompts import parse_extraction_input, stage_of
from tests.helpers import ScriptedBackend, pair


class ScoringBackend(ScriptedBackend):
    """P(empty) is looked up by a word of the new turns; generation echoes what it was forced to open with."""

    def __init__(self, p_by_word: dict[str, float]):
        super().__init__(self._answer)
        self.p_by_word = p_by_word
        self.prefixes: list[str | None] = []
        self.scored = 0

    def _answer(self, messages):
        if stage_of(messages) == "extract":
            return EMPTY  # left alone, this manager never extracts (the all-or-nothing failure)
        return '{"memory": []}'

    def completion_prob(self, messages, completion, *, return_tokens=False):
        assert completion == EMPTY
        self.scored += 1
        new = " ".join(t["text"] for t in parse_extraction_input(messages)["new"])
        p = next((v for w, v in self.p_by_word.items() if w in new), 0.5)
        return (p, 7) if return_tokens else p

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None, prefix=None):
        self.prefixes.append(prefix)
        if prefix:
            self.calls.append(list(messages))
            new = parse_extraction_input(messages)["new"][0]
            from memmgr.backends.base import Generation

            fact = f'{new["name"]} said {new["text"]}'
            opened = prefix[len(NON_EMPTY_PREFIX):]  # the owner's name under pipeline.open_with_owner
            return Generation(text=prefix + fact[len(opened):] + '"]}', prompt_tokens=10, completion_tokens=5)
        return super().generate(messages, json_schema=json_schema, max_tokens=max_tokens, temperature=temperature)


def test_rank_in_counts_ties_half():
    assert rank_in([0.1, 0.2, 0.3], 0.1) == pytest.approx(0.5 / 3)
    assert rank_in([0.3, 0.3], 0.3) == pytest.approx(0.5)
    assert rank_in([0.9, 0.1, 0.5], 0.9) == pytest.approx(2.5 / 3)


class FixedScore:
    name = "fixed"
    p = 0.5

    def completion_prob(self, messages, completion, *, return_tokens=False):
        return (self.p, 3) if return_tokens else self.p


def test_gate_ranks_within_its_window():
    b = FixedScore()
    gate = ExtractGate(0.5, window=3)
    decide, hist = {}, []
    for i, p in enumerate([0.6, 0.2, 0.9, 0.4]):
        b.p = p
        decide[i] = gate.decide(b, hist, [{"role": "user", "content": "x"}])
        hist = decide[i].history
    assert not decide[0].extract  # alone in its window: rank 0.5, not below 0.5
    assert decide[1].extract and not decide[2].extract
    assert decide[3].rank == pytest.approx(1.5 / 3)  # 0.6 left the window of 3: [0.2, 0.9, 0.4]
    assert hist == [0.2, 0.9, 0.4] and decide[3].prompt_tokens == 3
    with pytest.raises(ValueError, match="extract_rate"):
        ExtractGate(0.0, 4)


def test_the_window_is_scope_state_in_the_store(tmp_path):
    """A reopened store ranks against the scope's earlier pairs (one process per `memmgr add` works); another
    scope starts from nothing."""
    cfg = {"embedder": {"provider": "hash"}, "store": {"path": str(tmp_path / "s")},
           "pipeline": {"extract_rate": 0.5, "gate_window": 8}}
    b = ScoringBackend({"dog": 0.1, "weather": 0.9})
    calls = []
    with Memory(MemoryConfig.load(cfg), manager=b, trace_hooks=[calls.append]) as mem:
        mem.add(pair("Nice weather today."), user_id="maya")
    with Memory(MemoryConfig.load(cfg), manager=b, trace_hooks=[calls.append]) as mem:
        assert mem.add(pair("I adopted a dog.", ids=("D1:3", "D1:4")), user_id="maya")["facts"]
        assert not mem.add(pair("I adopted a dog."), user_id="bob")["facts"]  # bob's first pair: rank 0.5
    ranks = [c.context["gate"]["rank"] for c in calls if c.stage == "extract"]
    assert ranks == pytest.approx([0.5, 0.25, 0.5])


def test_memory_skips_low_ranked_pairs_and_forces_facts_on_the_others():
    b = ScoringBackend({"dog": 0.1, "weather": 0.9, "sister": 0.2, "hello": 0.95})
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"},
                                    "pipeline": {"extract_rate": 0.5, "gate_window": 8}}), manager=b)
    calls = []
    mem.trace_hooks.append(calls.append)
    turns = ["I adopted a dog named Rex.", "Nice weather today.", "My sister moved to Lisbon.", "hello there"]
    out = [mem.add(pair(t, ids=(f"D1:{2 * i + 1}", f"D1:{2 * i + 2}")), user_id="maya") for i, t in enumerate(turns)]
    extracted = [bool(o["facts"]) for o in out]
    # the first pair is alone in its window (rank 0.5); 0.9 ranks above 0.1; 0.2 sits mid-way; 0.95 is the highest
    ext = [c for c in calls if c.stage == "extract"]
    ranks = [c.context["gate"]["rank"] for c in ext]
    assert ranks == pytest.approx([0.5, 0.75, 0.5, 0.875])
    assert extracted == [False, False, False, False] and b.prefixes.count(NON_EMPTY_PREFIX) == 0
    out = mem.add(pair("We took the dog to the vet.", ids=("D2:1", "D2:2")), user_id="maya")
    assert out["facts"] == ["Maya said We took the dog to the vet."]  # 0.1 ranks below half of the window
    [forced] = [c for c in calls if c.stage == "extract" and c.context["gate"]["extract"]]
    assert forced.raw_output.startswith(NON_EMPTY_PREFIX + "Maya") and forced.prompt_tokens == 10 + 7
    skipped = [c for c in calls if c.stage == "extract" and not c.context["gate"]["extract"]]
    assert all(c.raw_output == EMPTY and c.attempts == 0 and c.prompt_tokens == 7 for c in skipped)
    assert b.scored == 5 and [p for p in b.prefixes if p] == [NON_EMPTY_PREFIX + "Maya"]  # pipeline.open_with_owner
    mem.close()


def test_rate_one_extracts_every_pair():
    b = ScoringBackend({})
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}, "pipeline": {"extract_rate": 1.0}}), manager=b)
    for i in range(3):
        assert mem.add(pair(f"I ran {i} miles.", ids=(f"D1:{2 * i + 1}", f"D1:{2 * i + 2}")), user_id="maya")["facts"]
    mem.close()


def test_gate_needs_a_manager_that_scores():
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}, "pipeline": {"extract_rate": 0.4}}),
                 manager=ScriptedBackend([EMPTY]))
    with pytest.raises(ValueError, match="scores completions"):
        mem.add(pair("I adopted a dog."), user_id="maya")
    mem.close()


def test_config_bounds():
    from memmgr.settings import ConfigError

    for bad in (0.0, 1.5):
        with pytest.raises((ValueError, ConfigError)):
            MemoryConfig.load({"pipeline": {"extract_rate": bad}})


def test_a_store_from_before_the_gate_opens_and_keeps_its_state(tmp_path):
    import sqlite3

    from memmgr.stores.sqlite import SQLiteStore

    path = str(tmp_path / "old.sqlite")
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)  # the conversation-state table as it was before the gate's column
    conn.executescript("DROP TABLE conv_state; CREATE TABLE conv_state (scope_key TEXT PRIMARY KEY, summary TEXT NOT "
                       "NULL DEFAULT '', recent TEXT NOT NULL DEFAULT '[]', pairs_seen INTEGER NOT NULL DEFAULT 0, "
                       "pairs_since_summary INTEGER NOT NULL DEFAULT 0);"
                       "INSERT INTO conv_state VALUES ('u=maya|a=|r=', 'S', '[]', 4, 1);")
    conn.commit()
    conn.close()
    db = SQLiteStore(path)
    assert db.get_state("u=maya|a=|r=") == {"scope_key": "u=maya|a=|r=", "summary": "S", "recent": [],
                                             "pairs_seen": 4, "pairs_since_summary": 1, "gate": []}
    db.set_state("u=maya|a=|r=", "S", [], 5, 2, [0.25])
    assert db.get_state("u=maya|a=|r=")["gate"] == [0.25]
    db.close()


def test_cli_gate_on_a_manager_that_cannot_score_is_one_line(tmp_path, capsys):
    from memmgr.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("manager: {backend: 'tests.helpers:ScriptedBackend', model: echo}\nembedder: {provider: hash}\n"
                   "pipeline: {extract_rate: 0.5}\n")
    assert main(["--config", str(cfg), "--store", str(tmp_path / "s"), "add", "--user", "maya", "I have a dog."]) == 2
    err = capsys.readouterr().err.strip()
    assert "scores completions" in err and "\n" not in err and "Traceback" not in err


def test_open_with_owner_names_the_owner_in_the_forced_opening():
    """pipeline.open_with_owner: the extracted pair's output opens '{"facts": ["Maya' (both prompts ask for facts
    that name the person); several owners or none: the plain opening; the name is JSON-escaped."""
    from memmgr.pipeline import _opening

    b = ScoringBackend({"dog": 0.1, "weather": 0.9})
    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}, "pipeline": {
        "extract_rate": 0.5, "gate_window": 8}}), manager=b)  # the default
    mem.add(pair("Nice weather today."), user_id="maya")
    mem.add(pair("I adopted a dog.", ids=("D1:3", "D1:4")), user_id="maya")
    assert [p for p in b.prefixes if p] == [NON_EMPTY_PREFIX + "Maya"]
    mem.close()
    assert _opening(["Jon"], False) == NON_EMPTY_PREFIX
    assert _opening(["Jon", "Gina"], True) == _opening([], True) == NON_EMPTY_PREFIX
    assert _opening(['Jo "JJ" Lee'], True) == NON_EMPTY_PREFIX + 'Jo \\"JJ\\" Lee'
