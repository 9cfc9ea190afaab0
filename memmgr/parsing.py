"""Untrusted manager output -> validated facts and operations.

json-repair recovers what it can from broken JSON; pydantic validates every item; anything that does not fit is
returned as a `Rejection` with a reason code instead of raising. Nothing here touches a store.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import json_repair
from pydantic import BaseModel, ValidationError, field_validator

from memmgr.sanitize import norm_text, words
from memmgr.types import EVENTS, Op, Rejection

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 32_000
_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_FENCE_RE = re.compile(r"```(?:json)?", re.I)
_EVENT_ALIASES = {"NONE": "NOOP", "NO_OP": "NOOP", "NO-OP": "NOOP", "NOCHANGE": "NOOP", "NO_CHANGE": "NOOP",
                  "KEEP": "NOOP", "REMOVE": "DELETE", "INSERT": "ADD", "CREATE": "ADD", "MODIFY": "UPDATE",
                  "ADD_MEMORY": "ADD", "UPDATE_MEMORY": "UPDATE", "DELETE_MEMORY": "DELETE"}
_OPS_KEYS = ("memory", "memories", "ops", "operations", "actions", "tool_calls")
_FACT_KEYS = ("facts", "fact", "memories")
_SINGLE_OP_KEYS = ("event", "name", "function")  # an update answer that is one bare op / tool call
_DECODER = json.JSONDecoder()
# Where an answer recovered from prose may start: an object, or an array whose first item is quoted text or an object
# (or an empty array). `hello [world]`, `see [1]` or `[note] here` are prose, not a list of facts.
_ANSWER_START_RE = re.compile(r"""\{|\[\s*["'{\]]""")


@dataclass
class ParsedFacts:
    facts: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    valid: bool = False


@dataclass
class ParsedOps:
    ops: list[Op] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    valid: bool = False
    # ops read otherwise than their event says (reason "noop_new_text"): applied, but kept on record
    repaired: list[Rejection] = field(default_factory=list)


def load_json(raw: Any, stage: str, *, max_chars: int = MAX_OUTPUT_CHARS,
              answer_keys: tuple[str, ...] = ()) -> tuple[Any, Rejection | None]:
    """Best-effort JSON decoding of a model answer; (None, rejection) when nothing usable comes out.

    Text around the JSON is ignored and the first complete value wins (small models often keep talking after
    their answer), unless a second, different complete answer (a list, or an object with one of `answer_keys`)
    follows it. Broken JSON goes to json-repair. Unless the whole text is JSON, the answer must start like one
    (`_ANSWER_START_RE`: `{`, or `[` then a quote, `{` or `]`), and a list is only taken from a `[`: bracketed
    words in prose are not facts.
    """
    if not isinstance(raw, str):
        return None, Rejection(stage=stage, reason="not_text", detail=type(raw).__name__)
    if len(raw) > max_chars:
        return None, Rejection(stage=stage, reason="output_too_long", detail=f"{len(raw)} chars > {max_chars}")
    text = _FENCE_RE.sub("", _THINK_RE.sub("", raw)).strip()
    if not text:
        return None, Rejection(stage=stage, reason="empty_output")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        start = _next_answer_start(text)
        if start < 0:
            return None, Rejection(stage=stage, reason="invalid_json", detail=text[:80])
        obj, rest = _first_value(text[start:])
        if obj is _NOTHING:
            try:
                obj = json_repair.loads(text[start:])
            except Exception as e:  # json-repair can fail on pathological input; that is still just bad output
                return None, Rejection(stage=stage, reason="invalid_json", detail=f"{type(e).__name__}: {text[:60]}")
            if isinstance(obj, list) and text[start] == "{":  # json-repair's reading of `{word} prose`
                return None, Rejection(stage=stage, reason="invalid_json", detail=text[:80])
        elif _competing_answer(obj, rest, answer_keys):
            # two different complete answers in one output: executing either one would be a guess
            return None, Rejection(stage=stage, reason="multiple_answers", detail=text[:80])
    if obj in ("", None, [], {}) and not text.startswith(("{", "[")):
        return None, Rejection(stage=stage, reason="invalid_json", detail=text[:80])
    return obj, None


_NOTHING = object()


def _next_answer_start(text: str) -> int:
    """Index of the first place in `text` where an answer may start (`_ANSWER_START_RE`), or -1."""
    m = _ANSWER_START_RE.search(text)
    return m.start() if m else -1


def _first_value(text: str) -> tuple[Any, str]:
    """The first complete JSON value at the start of `text` and what follows it, or (_NOTHING, text)."""
    try:
        obj, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return _NOTHING, text
    return obj, text[end:]


def _competing_answer(first: Any, rest: str, answer_keys: tuple[str, ...], max_tries: int = 64) -> bool:
    for _ in range(max_tries):  # bounded: each try may scan the rest, and the rest is untrusted
        start = _next_answer_start(rest)
        if start < 0:
            return False
        if rest.startswith(("[[[[", "{{{{"), start):  # a bracket run is junk; trying every bracket is quadratic
            rest = rest[start:].lstrip("[{")
            continue
        other, rest = _first_value(rest[start:])
        if other is _NOTHING:  # prose with a brace, or a truncated repeat: not an answer
            rest = rest[1:]
            continue
        is_answer = (isinstance(other, list) and bool(other)) or (
            isinstance(other, dict) and any(k in other for k in answer_keys))
        if is_answer and other != first:
            return True
    return False


def _as_text(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "fact", "memory", "content"):
            if isinstance(item.get(key), str):
                return item[key]
    return None


def item_list(raw: Any, stage: str, keys: tuple[str, ...], max_chars: int) -> tuple[list | None, Rejection | None]:
    """The list of items in an answer: under one of `keys`, a bare list, or (update) a single op object."""
    answer_keys = keys + (_SINGLE_OP_KEYS if stage == "update" else ())
    obj, rej = load_json(raw, stage, max_chars=max_chars, answer_keys=answer_keys)
    if rej:
        return None, rej
    items: Any = None
    if isinstance(obj, dict):
        items = next((obj[k] for k in keys if k in obj), None)
        if items is None and stage == "update" and any(k in obj for k in _SINGLE_OP_KEYS):
            items = [obj]
    elif isinstance(obj, list):
        items = obj
    if not isinstance(items, list):
        return None, Rejection(stage=stage, reason="schema", detail=f"no list under {keys[0]!r} in {str(obj)[:80]}")
    return items, None


def parse_facts(raw: Any, *, max_facts: int = 30, max_chars: int = MAX_OUTPUT_CHARS) -> ParsedFacts:
    out = ParsedFacts()
    items, rej = item_list(raw, "extract", _FACT_KEYS, max_chars)
    if rej or items is None:
        out.rejected.append(rej)
        return out
    out.valid = True
    seen: set[str] = set()
    for item in items:
        text = _as_text(item)
        if text is None or not text.strip():
            out.rejected.append(Rejection(stage="extract", reason="empty_text", item=short_item(item)))
            continue
        key = norm_text(text)
        if key in seen:
            out.rejected.append(Rejection(stage="extract", reason="duplicate", item=text[:200]))
            continue
        if len(out.facts) >= max_facts:
            out.rejected.append(Rejection(stage="extract", reason="too_many", item=text[:200]))
            continue
        seen.add(key)
        out.facts.append(text)
    return out


class _OpIn(BaseModel):
    event: str
    id: str | None = None
    text: str = ""
    old_memory: str | None = None

    @field_validator("event", mode="before")
    @classmethod
    def _event(cls, v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError("event must be a string")
        e = v.strip().upper().replace(" ", "_")
        e = _EVENT_ALIASES.get(e, e)
        if e not in EVENTS:
            raise ValueError(f"unknown event {v!r}")
        return e

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str | None:
        if v is None or isinstance(v, bool):
            return None
        if isinstance(v, (int, float, str)):
            s = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            return s.strip() or None
        raise ValueError("id must be a scalar")

    @field_validator("text", "old_memory", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return "" if v is None else v


def _normalise_item(item: Any) -> Any:
    """Accept tool-call shapes: {"name": "update_memory", "arguments": {...}} and OpenAI's {"function": {...}}."""
    if not isinstance(item, dict):
        return item
    if "function" in item and isinstance(item["function"], dict):
        item = item["function"]
    if "event" not in item:
        for key in ("operation", "action", "op", "type", "name"):
            if isinstance(item.get(key), str):
                args = item.get("arguments", item.get("args", {}))
                if isinstance(args, str):
                    args, _ = load_json(args, "update")
                merged = {**(args if isinstance(args, dict) else {}),
                          **{k: v for k, v in item.items() if k not in ("arguments", "args")}}
                merged["event"] = item[key]
                return merged
    if "memory_id" in item and "id" not in item:
        item = {**item, "id": item["memory_id"]}
    return item


def parse_ops(
    raw: Any, shown: Collection[str] | Mapping[str, str], *, max_ops: int = 50, max_chars: int = MAX_OUTPUT_CHARS
) -> ParsedOps:
    """Validate update decisions against the ids that were actually shown in the prompt.

    `shown`: those ids, or a mapping id -> the memory's text. With the texts, a NOOP that gives its memory a new
    text is read as an UPDATE of that memory to that text (recorded in `repaired`): the answer names an existing id
    and writes what it should now say, which in this format is an update; a NOOP keeps the memory's own text (every
    NOOP label does). Measured on the SmolLM2 student's held-out synthetic and life-world rows, test + validation
    (docs/real_dialogue.md, "A NOOP that rewrites its memory"): 121 of 123 NOOPs that kept the words were labelled
    NOOP; of 103 that changed them, 72 were labelled UPDATE, 30 ADD, 1 NOOP."""
    out = ParsedOps()
    texts = {str(k): v for k, v in shown.items()} if isinstance(shown, Mapping) else {}
    shown = {str(i) for i in shown}
    items, rej = item_list(raw, "update", _OPS_KEYS, max_chars)
    if rej or items is None:
        out.rejected.append(rej)
        return out
    out.valid = True
    touched: set[str] = set()
    added: set[str] = set()
    for item in items:
        try:
            op_in = _OpIn.model_validate(_normalise_item(item))
        except (ValidationError, TypeError, ValueError) as e:
            reason = "unknown_event" if "unknown event" in str(e) else "schema"
            out.rejected.append(Rejection(stage="update", reason=reason, detail=_err(e), item=short_item(item)))
            continue
        op = Op(event=op_in.event, id=op_in.id, text=op_in.text if isinstance(op_in.text, str) else "",
                old_memory=op_in.old_memory if isinstance(op_in.old_memory, str) else None)
        old = texts.get(op.id or "")
        # the same words in another case or punctuation are the same text, not a rewrite
        repair = op.event == "NOOP" and old is not None and bool(words(op.text)) and words(op.text) != words(old)
        if repair:
            op = Op(event="UPDATE", id=op.id, text=op.text, old_memory=old)
        reason = _op_problem(op, shown, touched, added)
        if reason is None and len(out.ops) >= max_ops:
            reason = "too_many"
        if reason:
            out.rejected.append(Rejection(stage="update", reason=reason, item=op.model_dump()))
            continue
        if repair:
            out.repaired.append(Rejection(stage="update", reason="noop_new_text", detail="read as UPDATE",
                                          item={**op.model_dump(), "event": "NOOP"}))
        if op.event in ("UPDATE", "DELETE"):
            touched.add(op.id or "")
        if op.event == "ADD":
            op.id = None
            added.add(norm_text(op.text))
        out.ops.append(op)
    return out


def _op_problem(op: Op, shown: set[str], touched: set[str], added: set[str]) -> str | None:
    if op.event in ("ADD", "UPDATE") and not op.text.strip():
        return "empty_text"
    if op.event in ("UPDATE", "DELETE"):
        if op.id is None:
            return "missing_id"
        if op.id not in shown:
            return "unknown_id"
        if op.id in touched:
            return "duplicate_id"
    if op.event == "NOOP" and op.id is not None and op.id not in shown and op.id.lower() != "new":
        return "unknown_id"
    if op.event == "ADD" and norm_text(op.text) in added:
        return "duplicate"
    return None


def short_item(item: Any) -> str:
    """A rejected item as a rejection shows it: the text, or its repr, cut to 200 characters."""
    return (item if isinstance(item, str) else repr(item))[:200]


def _err(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
