"""The Mem0 pipeline stages as plain functions: extract -> retrieve -> decide -> (Memory applies).

Each manager call goes through `call_manager`, which parses the untrusted output, retries once when it does not
parse, and returns a `ManagerCall` record for the trace hook. Checks that need no store live here too: sanitising
and grounding of facts and op texts, facts about another speaker than the scope's owner, and the cap on destructive
operations per call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memmgr import prompts
from memmgr.backends.base import BackendError, Generation, LLMBackend
from memmgr.config import MemoryConfig
from memmgr.gate import EMPTY, NON_EMPTY_PREFIX, Gate, GateDecision
from memmgr.parsing import parse_facts, parse_ops
from memmgr.sanitize import (
    Rejected,
    check_grounded,
    check_memory_text,
    check_own_turn,
    check_owner,
    clean_text,
    support,
)
from memmgr.scoring import word_overlap
from memmgr.types import ManagerCall, MemoryItem, Message, Rejection

log = logging.getLogger(__name__)

EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
    "required": ["facts"],
}
# the extract/skip gate's extracted pairs on a backend that cannot force an output opening (vLLM, OpenAI-compatible
# servers): structured outputs hold the list to at least one fact instead
EXTRACT_SCHEMA_ONE: dict[str, Any] = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["facts"],
}
UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"memory": {"type": "array", "items": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "text": {"type": "string"},
                       "event": {"type": "string", "enum": ["ADD", "UPDATE", "DELETE", "NOOP"]},
                       "old_memory": {"type": "string"}},
        "required": ["id", "text", "event"],
    }}},
    "required": ["memory"],
}


@dataclass
class ResolvedOp:
    """A validated op with the real memory id resolved from the small id shown in the prompt."""

    event: str
    text: str
    memory_id: str | None = None
    small_id: str | None = None
    old_text: str | None = None
    confirms: bool = False  # a NOOP whose memory the call's facts support: the turns become its evidence


def call_manager(
    backend: LLMBackend, messages: list[dict[str, str]], *, stage: str, parse: Callable[[str], Any],
    max_retries: int, style: str, context: dict[str, Any], schema: dict[str, Any] | None = None,
    max_tokens: int | None = None, prefix: str | None = None,
) -> tuple[Any, ManagerCall]:
    """Generate + parse with one bounded retry on unparseable output. Transport failures raise BackendError.
    `prefix`: the output must open with it (the extract/skip gate; only backends that take `prefix`)."""
    forced = {"prefix": prefix} if prefix else {}
    total = Generation(text="")
    parsed: Any = None
    attempts = 0
    for attempt in range(max_retries + 1):
        attempts = attempt + 1
        t0 = time.perf_counter()
        try:
            gen = backend.generate(messages, json_schema=schema, max_tokens=max_tokens, **forced)
        except BackendError:
            raise
        except Exception as e:  # a backend that breaks in an unexpected way is still a backend failure
            raise BackendError(f"{getattr(backend, 'name', backend)} failed: {type(e).__name__}: {e}") from e
        text = gen.text if isinstance(gen.text, str) else repr(gen.text)
        total = Generation(text=text, prompt_tokens=total.prompt_tokens + (gen.prompt_tokens or 0),
                           completion_tokens=total.completion_tokens + (gen.completion_tokens or 0),
                           latency_s=total.latency_s + (gen.latency_s or time.perf_counter() - t0))
        parsed = parse(text)
        if parsed.valid:
            break
        log.info("%s output did not parse (attempt %d/%d): %s", stage, attempts, max_retries + 1,
                 [r.reason for r in parsed.rejected])
    call = ManagerCall(
        stage=stage, backend=getattr(backend, "name", type(backend).__name__),
        prompt_version=prompts.PROMPT_VERSION, prompt_style=style, messages=messages, raw_output=total.text,
        parsed=_parsed_payload(parsed), valid=bool(parsed.valid), rejected=list(parsed.rejected),
        latency_s=total.latency_s, prompt_tokens=total.prompt_tokens, completion_tokens=total.completion_tokens,
        attempts=attempts, context=dict(context),
    )
    return parsed, call


def _parsed_payload(parsed: Any) -> Any:
    if hasattr(parsed, "facts"):
        return {"facts": list(parsed.facts)}
    if hasattr(parsed, "ops"):
        return {"memory": [op.model_dump() for op in parsed.ops]}
    return None


def fact_sources(new: Sequence[Message], today: str) -> list[str]:
    """What a fact may be grounded in: the new turns (with speakers) and the date they happened."""
    return [f"{m.name or m.role}: {m.content}" for m in new] + ([today] if today else [])


def extract_facts(
    backend: LLMBackend, cfg: MemoryConfig, *, summary: str, recent: Sequence[Message], new: Sequence[Message],
    today: str, style: str, context: dict[str, Any], owner: Sequence[str] | None = None,
    gate: Gate | None = None,
) -> tuple[list[str], ManagerCall]:
    """The facts of the new pair. With `gate` (memmgr.gate) a skipped pair makes no generation (its call record
    holds the gate's P(empty) and rank), and an extracted one is made to write at least one fact: by forcing the
    output to open a fact list (the transformers backend) or, elsewhere, by a schema that wants one (honoured where
    structured outputs are: vLLM, OpenAI-compatible servers)."""
    owner = list(owner) if owner is not None else prompts.memory_owner([*recent, *new])
    speakers = prompts.speakers([*recent, *new])
    messages = prompts.render_extraction(summary, recent, new, today, style, owner=owner)
    guards = cfg.guards
    decision = gate(messages, new, owner) if gate else None
    forces = getattr(backend, "completion_prob", None) is not None  # the transformers engine: scores and forces
    if decision and not decision.extract:
        call = ManagerCall(
            stage="extract", backend=getattr(backend, "name", type(backend).__name__),
            prompt_version=prompts.PROMPT_VERSION, prompt_style=style, messages=messages, raw_output=EMPTY,
            parsed={"facts": []}, valid=True, prompt_tokens=decision.prompt_tokens, attempts=0,
            latency_s=decision.latency_s, context={**context, "gate": _gate_record(decision), "facts": []},
        )
        return [], call
    extract = dict(
        max_retries=cfg.pipeline.max_retries, style=style, context=context,
        parse=lambda raw: parse_facts(raw, max_facts=guards.max_facts_per_call, max_chars=guards.max_output_chars),
        schema=EXTRACT_SCHEMA_ONE if decision and not forces else EXTRACT_SCHEMA,
        prefix=_opening(owner, cfg.pipeline.open_with_owner) if decision and forces else None,
    )
    parsed, call = call_manager(backend, messages, stage="extract", **extract)
    if decision:  # the scoring pass (the manager's P(empty); 0 tokens for a gate model) read the prompt once more
        call.prompt_tokens += decision.prompt_tokens
        call.latency_s += decision.latency_s
        call.context["gate"] = _gate_record(decision)
    own = [m for m in new if prompts.is_owner(m.name or m.role, owner)]
    others = [m for m in new if not prompts.is_owner(m.name or m.role, owner)]
    check = dict(sources=fact_sources(new, today), owner=owner, speakers=speakers, guards=guards,
                 own=[m.content for m in own], others=[m.content for m in others])
    facts = _checked(parsed.facts, call, **check)
    if not facts and cfg.pipeline.retry_owner_turn and own and others and any(
            r.reason in RETRY_REASONS for r in call.rejected):
        # the pair's facts were read from the other speaker's turn (or drifted from both): ask for the owner's turn
        # alone; what the owner's turn answers or reacts to is still in the recent messages of the next pairs
        retry_messages = prompts.render_extraction(summary, recent, own, today, style, owner=owner)
        again, retry = call_manager(backend, retry_messages, stage="extract", **extract)
        facts = _checked(again.facts, call, **check)
        call.prompt_tokens += retry.prompt_tokens
        call.completion_tokens += retry.completion_tokens
        call.latency_s += retry.latency_s
        call.attempts += retry.attempts
        call.context["owner_turn_retry"] = {"raw_output": retry.raw_output, "valid": retry.valid,
                                            "rejected": [r.model_dump() for r in retry.rejected]}
    call.context["facts"] = facts
    call.applied = [{"fact": f} for f in facts]
    return facts, call


# what makes an extraction worth one more try on the owner's turn alone (pipeline.retry_owner_turn)
RETRY_REASONS = ("ungrounded", "other_speakers_turn")


def _checked(candidates: Sequence[str], call: ManagerCall, *, sources: Sequence[str], owner: Sequence[str],
             speakers: Sequence[str], guards: Any, own: Sequence[str], others: Sequence[str]) -> list[str]:
    """The extracted facts that pass the checks (distinct, in order); each rejected one is recorded on `call`."""
    facts: list[str] = []
    for fact in candidates:
        try:
            text = check_memory_text(fact, max_chars=guards.max_text_chars)
            check_grounded(text, sources, min_support=guards.min_fact_support)
            if guards.owner_only:
                check_owner(text, owner, speakers)
            check_own_turn(text, owner, own, others, margin=guards.other_turn_margin)
        except Rejected as r:
            call.rejected.append(Rejection(stage="extract", reason=r.reason, detail=r.detail, item=fact[:200]))
            continue
        if text.lower() not in {f.lower() for f in facts}:
            facts.append(text)
    return facts


def _opening(owner: Sequence[str], with_owner: bool) -> str:
    """The forced opening of an extracted pair's output: a fact list, and with `with_owner` its first fact begins
    with the owner's name (JSON-escaped) when the scope has exactly one."""
    name = json.dumps(owner[0])[1:-1] if with_owner and len(owner) == 1 else ""
    return NON_EMPTY_PREFIX + name


def _gate_record(d: GateDecision) -> dict[str, Any]:
    return {"extract": d.extract, "p_empty": round(d.p_empty, 4), "rank": round(d.rank, 4)}


def decide_ops(
    backend: LLMBackend, cfg: MemoryConfig, *, facts: Sequence[str], candidates: Sequence[MemoryItem], today: str,
    style: str, context: dict[str, Any], names: Sequence[str] = (),
) -> tuple[list[ResolvedOp], ManagerCall]:
    """Show candidates under small integer ids, parse the decisions, and resolve/validate them. `names`: the
    conversation's speakers, left out when a DELETE's memory is compared with the facts (every fact and memory of a
    scope names its owner)."""
    shown = [(str(i), c.memory) for i, c in enumerate(candidates)]
    id_map = {str(i): c for i, c in enumerate(candidates)}
    messages = prompts.render_update(facts, shown, today, style)
    guards = cfg.guards
    parsed, call = call_manager(
        backend, messages, stage="update", max_retries=cfg.pipeline.max_retries, style=style,
        context={**context, "facts": list(facts), "shown": shown, "shown_memory_ids": {k: v.id for k, v in
                                                                                        id_map.items()}},
        parse=lambda raw: parse_ops(raw, dict(shown), max_chars=guards.max_output_chars), schema=UPDATE_SCHEMA,
    )
    if parsed.repaired:  # applied as UPDATEs below; the record keeps what the answer said
        call.context["repaired"] = [r.model_dump() for r in parsed.repaired]
    rewrites = {r.item["id"] for r in parsed.repaired}
    resolved: list[ResolvedOp] = []
    destructive = 0
    for op in parsed.ops:
        target = id_map.get(op.id or "")
        try:
            text = ""
            if op.event == "DELETE" and target:
                about = max((word_overlap(target.memory, f, names) for f in facts), default=0.0)
                if about < guards.min_delete_overlap:
                    raise Rejected("unrelated_delete", f"word overlap with the facts {about:.2f} < "
                                                       f"{guards.min_delete_overlap}: memory {op.id}")
            if op.event == "UPDATE" and target and op.id in rewrites:
                # the answer said NOOP: replacing the memory is our reading of it, so the new text must at least be
                # about that memory (the DELETE guard's overlap), else nothing changes, as a NOOP would leave it
                about = word_overlap(target.memory, op.text, names)
                if about < guards.min_delete_overlap:
                    raise Rejected("unrelated_rewrite", f"word overlap with memory {op.id} {about:.2f} < "
                                                        f"{guards.min_delete_overlap}")
            if op.event in ("ADD", "UPDATE"):
                text = check_memory_text(op.text, max_chars=guards.max_text_chars)
                sources = list(facts) + ([target.memory] if target and op.event == "UPDATE" else [])
                check_grounded(text, sources, min_support=guards.min_op_support)
            if op.event in ("UPDATE", "DELETE"):
                if destructive >= guards.max_destructive_per_call:
                    raise Rejected("destructive_cap", f"more than {guards.max_destructive_per_call} per call")
                destructive += 1
        except Rejected as r:
            call.rejected.append(Rejection(stage="update", reason=r.reason, detail=r.detail, item=op.model_dump()))
            continue
        # a NOOP says "already held"; only a memory the facts actually restate gains the turns as evidence
        confirms = bool(op.event == "NOOP" and target and support(target.memory, facts) >= guards.min_op_support)
        resolved.append(ResolvedOp(event=op.event, text=text, memory_id=target.id if target else None,
                                   small_id=op.id, old_text=target.memory if target else None, confirms=confirms))
    return resolved, call


def summarize(backend: LLMBackend, *, previous: str, new: Sequence[Message], today: str,
              context: dict[str, Any], max_chars: int = 2000) -> tuple[str, ManagerCall]:
    """Refresh the running conversation summary S. A bad answer keeps the previous summary."""
    messages = prompts.render_summary(previous, new, today)

    @dataclass
    class _Summary:
        text: str
        valid: bool
        rejected: list[Rejection]

    def parse(raw: str) -> _Summary:
        text = clean_text(raw)[:max_chars] if isinstance(raw, str) else ""
        ok = len(text) >= 3
        return _Summary(text, ok, [] if ok else [Rejection(stage="summary", reason="empty_output")])

    parsed, call = call_manager(backend, messages, stage="summary", parse=parse, max_retries=0, style="teacher",
                                context=context, max_tokens=256)
    call.parsed = {"summary": parsed.text}
    return (parsed.text if parsed.valid else previous), call
