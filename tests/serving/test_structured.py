"""Structured output without an engine: the per-call schemas, the openai/vllm backends' request shapes and switch."""

from __future__ import annotations

import types

import pytest

from memmgr import prompts
from memmgr.backends import call_schema, engine_schema, structured_mode
from memmgr.backends.openai import OpenAIBackend
from memmgr.backends.vllm import GUIDANCE_JSON, VLLMBackend, lora_rank, supported_lora_rank
from memmgr.parsing import parse_facts, parse_ops
from memmgr.pipeline import EXTRACT_SCHEMA, UPDATE_SCHEMA
from memmgr.types import Message
from tests.serving.fixtures import schema_errors

EX = prompts.render_extraction("", [], [Message(role="user", content="I have a beagle", name="Sam", id="1")],
                               "8 May 2023", "student")
UP = prompts.render_update(["Sam has a beagle", "Sam is 30"], [("0", "Sam has a dog"), ("3", "Sam lives in York")],
                           "8 May 2023", "teacher")
UP_EMPTY = prompts.render_update(["Sam has a beagle"], [], "8 May 2023", "student")


def test_extraction_schema_is_bounded():
    s = call_schema(EXTRACT_SCHEMA, EX, max_chars=50, max_facts=4)
    assert s["additionalProperties"] is False and s["properties"]["facts"]["maxItems"] == 4
    assert schema_errors({"facts": ["Sam has a beagle"]}, s) == []
    assert schema_errors({"facts": ["x" * 51]}, s) and schema_errors({"facts": ["a"] * 5}, s)
    assert schema_errors({"facts": [], "extra": 1}, s)


def test_update_schema_restricts_ids_to_the_shown_ones():
    s = call_schema(UPDATE_SCHEMA, UP)
    ok = {"memory": [{"id": "0", "text": "Sam has a beagle", "event": "UPDATE", "old_memory": "Sam has a dog"},
                     {"id": "new", "text": "Sam is 30", "event": "ADD"}]}
    assert schema_errors(ok, s) == []
    bad = [
        {"memory": [{"id": "7", "text": "x", "event": "UPDATE"}]},  # an id that was not shown
        {"memory": [{"id": "0", "text": "x", "event": "ADD"}]},  # ADD must say "new"
        {"memory": [{"id": "new", "text": "x", "event": "DELETE"}]},  # DELETE needs a shown id
        {"memory": [{"id": "3", "text": "x", "event": "NONE"}]},  # unknown event
        {"memory": [{"id": "new", "text": "a", "event": "ADD"}] * 3},  # more ops than facts
    ]
    for value in bad:
        assert schema_errors(value, s), value
    # whatever the schema lets through, the pipeline's own validation accepts the same ids
    parsed = parse_ops(__import__("json").dumps(ok), ["0", "3"])
    assert parsed.valid and not parsed.rejected


def test_update_schema_without_memories_allows_only_add_and_noop():
    s = call_schema(UPDATE_SCHEMA, UP_EMPTY)
    events = [v["properties"]["event"]["enum"][0] for v in s["properties"]["memory"]["items"]["anyOf"]]
    assert events == ["ADD", "NOOP"]
    assert schema_errors({"memory": [{"id": "new", "text": "x", "event": "NOOP"}]}, s) == []


def test_non_manager_prompts_and_modes():
    other = [{"role": "user", "content": "hello"}]
    assert call_schema(EXTRACT_SCHEMA, other) is EXTRACT_SCHEMA
    assert engine_schema("off", EXTRACT_SCHEMA, EX) is None
    assert engine_schema("schema", EXTRACT_SCHEMA, EX) == EXTRACT_SCHEMA
    assert engine_schema("strict", None, EX) is None
    assert [structured_mode(v) for v in (True, None, False, "OFF", "schema")] == ["strict", "strict", "off", "off",
                                                                                  "schema"]
    with pytest.raises(ValueError):
        structured_mode("loose")


def test_schema_valid_output_parses():
    s = call_schema(EXTRACT_SCHEMA, EX)
    text = '{"facts": ["Sam has a beagle"]}'
    assert schema_errors(__import__("json").loads(text), s) == [] and parse_facts(text).facts == ["Sam has a beagle"]


class FakeCompletions:
    def __init__(self):
        self.kwargs = []

    def create(self, **kwargs):
        self.kwargs.append(kwargs)
        msg = types.SimpleNamespace(content='{"facts": []}', tool_calls=None)
        return types.SimpleNamespace(choices=[types.SimpleNamespace(message=msg)],
                                     usage=types.SimpleNamespace(prompt_tokens=3, completion_tokens=2))


def _openai(**extra) -> tuple[OpenAIBackend, FakeCompletions]:
    b = OpenAIBackend("memmgr", base_url="http://127.0.0.1:1/v1", **extra)
    fake = FakeCompletions()
    b.client = types.SimpleNamespace(chat=types.SimpleNamespace(completions=fake))
    return b, fake


def test_openai_request_shapes():
    b, fake = _openai()
    b.generate(UP, json_schema=UPDATE_SCHEMA)
    rf = fake.kwargs[-1]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == call_schema(UPDATE_SCHEMA, UP)
    b, fake = _openai(structured_api="vllm", guidance_json=True, extra_body={"top_k": 1})
    b.generate(EX, json_schema=EXTRACT_SCHEMA)
    body = fake.kwargs[-1]["extra_body"]
    assert body["top_k"] == 1 and body["structured_outputs"]["json"]["x-guidance"] == GUIDANCE_JSON
    assert "response_format" not in fake.kwargs[-1]
    b, fake = _openai(structured_api="guided_json", structured_output="schema")
    b.generate(EX, json_schema=EXTRACT_SCHEMA)
    assert fake.kwargs[-1]["extra_body"]["guided_json"] == EXTRACT_SCHEMA
    for off in ({"structured_output": "off"}, {"json_mode": False}, {"structured_output": False}):
        b, fake = _openai(**off)
        b.generate(EX, json_schema=EXTRACT_SCHEMA)
        assert "response_format" not in fake.kwargs[-1] and "extra_body" not in fake.kwargs[-1]
    with pytest.raises(ValueError):
        _openai(structured_api="grammar")


def test_vllm_backend_schema_and_options_without_an_engine():
    b = VLLMBackend.__new__(VLLMBackend)
    b.structured, b.structured_backend, b.schema_bounds = "strict", "guidance", {"max_chars": 60, "max_facts": 5}
    s = b.schema_for(UPDATE_SCHEMA, UP)
    assert s["x-guidance"] == GUIDANCE_JSON and "anyOf" in s["properties"]["memory"]["items"]
    b.structured_backend = "xgrammar"
    assert "x-guidance" not in b.schema_for(EXTRACT_SCHEMA, EX)
    b.structured = "off"
    assert b.schema_for(EXTRACT_SCHEMA, EX) is None
    cfg = types.SimpleNamespace(model="m", temperature=0.0, max_tokens=8, extra={"structured_ouput": "off"})
    with pytest.raises(ValueError, match="structured_ouput"):
        VLLMBackend.from_config(cfg)


def test_lora_rank_rounding(tmp_path):
    (tmp_path / "adapter_config.json").write_text('{"r": 12, "rank_pattern": {"q_proj": 24}}')
    assert lora_rank(tmp_path) == 24 and supported_lora_rank(24) == 32 and supported_lora_rank(16) == 16
    assert lora_rank(tmp_path / "missing") is None and supported_lora_rank(None) == 16
