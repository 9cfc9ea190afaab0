"""The prompt style travels with a trained manager (memmgr.manager_card) and Memory uses it."""

import logging

from memmgr import Memory
from memmgr.manager_card import read_manager_card, resolve_prompt_style, write_manager_card
from memmgr.prompts import EXTRACTION_SYSTEM_STUDENT, EXTRACTION_SYSTEM_TEACHER
from tests.helpers import ScriptedBackend


def test_card_round_trip_and_bad_cards(tmp_path, caplog):
    write_manager_card(tmp_path / "a", prompt_style="student", base_model="m")
    assert read_manager_card(tmp_path / "nope", tmp_path / "a")["prompt_style"] == "student"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "memmgr_manager.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert read_manager_card(tmp_path / "b") is None
    assert "unreadable" in caplog.text
    caplog.clear()
    (tmp_path / "c").mkdir()  # a student trained on older prompts still loads, with a warning to retrain it
    (tmp_path / "c" / "memmgr_manager.json").write_text('{"prompt_style": "student", "prompt_version": "mm-old"}')
    with caplog.at_level(logging.WARNING):
        assert read_manager_card(tmp_path / "c")["prompt_style"] == "student"
    assert "trained on prompts mm-old" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_manager_card(tmp_path / "a")  # written now: current prompts, no warning
    assert not caplog.text


def test_resolution_order_and_mismatch_warning(caplog):
    assert resolve_prompt_style(None, None) == "teacher"
    assert resolve_prompt_style(None, "student") == "student"
    with caplog.at_level(logging.WARNING):
        assert resolve_prompt_style("teacher", "student", "sft") == "teacher"
    assert "trained with the student prompt" in caplog.text


def _system_prompts(style_of_backend, configured):
    seen = []

    def answer(messages):
        seen.append(messages[0]["content"])
        return '{"facts": []}'

    backend = ScriptedBackend(answer, name="m")
    backend.prompt_style = style_of_backend
    cfg = {"embedder": {"provider": "hash"}, "manager": {"prompt_style": configured}}
    mem = Memory.from_config(cfg, manager=backend)
    mem.add("I have a dog called Biscuit.", user_id="u")
    mem.close()
    return seen


def test_memory_prompts_a_trained_manager_with_its_style():
    assert _system_prompts("student", None)[0] == EXTRACTION_SYSTEM_STUDENT
    assert _system_prompts(None, None)[0] == EXTRACTION_SYSTEM_TEACHER
    assert _system_prompts("student", "teacher")[0] == EXTRACTION_SYSTEM_TEACHER  # configured wins (warned)
