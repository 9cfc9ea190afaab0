"""Small data types shared by the pipeline, the trace generator, the trainer and the evals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Event = Literal["ADD", "UPDATE", "DELETE", "NOOP"]
# graph_* are the graph manager's three calls (memmgr.graph): entities, relations, conflict resolution
Stage = Literal["extract", "update", "summary", "graph_entities", "graph_relations", "graph_resolve"]
EVENTS: tuple[str, ...] = ("ADD", "UPDATE", "DELETE", "NOOP")


def new_id() -> str:
    return str(uuid.uuid4())


class Message(BaseModel):
    """One conversation turn. `id` is its provenance id (a LOCOMO `dia_id`), `name` the speaker."""

    role: str = "user"
    content: str
    name: str | None = None
    id: str | None = None
    timestamp: datetime | None = None


class Scope(BaseModel):
    """Memories are partitioned by user / agent / run, as in mem0."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def key(self) -> str:
        return f"u={self.user_id or ''}|a={self.agent_id or ''}|r={self.run_id or ''}"

    def is_empty(self) -> bool:
        return not (self.user_id or self.agent_id or self.run_id)

    def as_filters(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}

    def contains(self, other: Any) -> bool:
        """Whether a memory (or anything with user_id/agent_id/run_id) is in this scope: equal on every id this
        scope sets (an empty scope contains everything)."""
        return all(getattr(other, k, None) == v for k, v in self.as_filters().items())

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.as_filters().items()) or "(all scopes)"


class MemoryItem(BaseModel):
    id: str
    memory: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    hash: str = ""
    created_at: str = ""
    updated_at: str | None = None
    source_ids: list[str] = Field(default_factory=list)
    session_date: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    score: float | None = None

    @property
    def scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id)


class Op(BaseModel):
    """One manager decision. `id` is the small integer id shown in the prompt (as a string), not a UUID."""

    event: Event
    id: str | None = None
    text: str = ""
    old_memory: str | None = None


class Rejection(BaseModel):
    """Something the manager said that was not applied, and why. `reason` is a short stable code."""

    stage: Stage
    reason: str
    detail: str = ""
    item: Any = None


class ManagerCall(BaseModel):
    """Everything about one manager call: the trace hook receives these."""

    call_id: str = Field(default_factory=new_id)
    stage: Stage
    backend: str = ""
    prompt_version: str = ""
    prompt_style: str = "teacher"
    messages: list[dict[str, str]] = Field(default_factory=list)
    raw_output: str = ""
    parsed: Any = None
    valid: bool = False
    applied: list[dict[str, Any]] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    # scope, source ids, facts, the shown memories {small id: text}, conversation/turn ids...
    context: dict[str, Any] = Field(default_factory=dict)


def iso(ts: datetime | None) -> str:
    return ts.isoformat() if ts else ""


def human_date(ts: datetime | None) -> str:
    """'8 May 2023' (the form facts and prompts use); empty when unknown."""
    return f"{ts.day} {ts.strftime('%B %Y')}" if ts else ""
