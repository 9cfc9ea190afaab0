"""The gold-labelled world: JSON-serialisable pydantic models, gold replay, JSONL save/load."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from memmgr.types import Message


class GoldOp(BaseModel):
    event: Literal["ADD", "UPDATE", "DELETE", "NOOP"]
    fact: str  # the extracted fact that triggers this op
    target: str | None = None  # text of the existing memory it touches (UPDATE/DELETE/NOOP)
    text: str = ""  # memory text after ADD/UPDATE; the target's text for NOOP/DELETE (mem0's convention)
    # whose fact it is: the speaker whose memory scope keeps it (None: the world's main speaker, as in worlds saved
    # before speakers had scopes of their own; their friend's facts were kept in the main speaker's scope)
    speaker: str | None = None


def said_by(ops: list[GoldOp], speaker: str) -> list[GoldOp]:
    """`ops` as the facts of `speaker` (copies)."""
    return [op.model_copy(update={"speaker": speaker}) for op in ops]


class GoldPair(BaseModel):
    pair_id: str
    session: int
    messages: list[Message]  # (m_{t-1}, m_t), ids unique across worlds, timestamps = session date-time
    facts: list[str] = Field(default_factory=list)
    ops: list[GoldOp] = Field(default_factory=list)


class SessionInfo(BaseModel):
    index: int
    date_time: datetime
    pair_ids: list[str] = Field(default_factory=list)


class World(BaseModel):
    world_id: str
    split: str
    speakers: list[str]  # [main persona, friend]
    user_id: str
    sessions: list[SessionInfo]
    pairs: list[GoldPair]
    final_state: list[str]  # the main speaker's gold memory texts at the end, in insertion order (= replay(world))
    qa: list[dict[str, str]]  # {question, answer, category}

    def ops_of(self, pair: GoldPair, speaker: str | None = None) -> list[GoldOp]:
        """The gold ops of `pair` in `speaker`'s memory scope (default: the main speaker, speakers[0])."""
        speaker = speaker or self.speakers[0]
        return [op for op in pair.ops if (op.speaker or self.speakers[0]) == speaker]

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data):
        """Worlds saved by generator v1 carried `session_dates` instead of `sessions`."""
        if isinstance(data, dict) and "sessions" not in data and "session_dates" in data:
            data = dict(data)
            pairs = data.get("pairs") or []
            data["sessions"] = [{"index": i, "date_time": d,
                                 "pair_ids": [p["pair_id"] for p in pairs if isinstance(p, dict) and p.get("session") == i]}
                                for i, d in enumerate(data.pop("session_dates"), 1)]
        return data


def replay(world: World, speaker: str | None = None) -> list[str]:
    """Apply `speaker`'s gold ops (default: the main speaker's) in order to an empty store: the main speaker's must
    equal `world.final_state`. Raises on an op whose target is not stored or an ADD of a text already stored (gold
    that would be ambiguous for the manager)."""
    state: list[str] = []
    for pair in world.pairs:
        for op in world.ops_of(pair, speaker):
            if op.event == "ADD":
                if op.text in state:
                    raise ValueError(f"{pair.pair_id}: ADD of a memory already stored: {op.text!r}")
                state.append(op.text)
                continue
            if op.target not in state:
                raise ValueError(f"{pair.pair_id}: {op.event} of a memory that is not stored: {op.target!r}")
            if op.event == "UPDATE":
                state[state.index(op.target)] = op.text
            elif op.event == "DELETE":
                state.remove(op.target)
    return state


def save_worlds(worlds: list[World], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for w in worlds:
            f.write(json.dumps(w.to_dict(), ensure_ascii=False) + "\n")


def load_worlds(path: str | Path) -> list[World]:
    with open(path, encoding="utf-8") as f:
        return [World.model_validate_json(line) for line in f if line.strip()]
