"""Answering from memories, Mem0-LOCOMO style: memories listed with their dates, a short-answer prompt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from memmgr import prompts
from memmgr.backends.base import Generation, LLMBackend


def memory_date(item: dict[str, Any]) -> str:
    """'8 May 2023' from a search result's session_date (or created_at); '' when unknown."""
    raw = item.get("session_date") or item.get("created_at") or ""
    try:
        dt = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return ""
    return f"{dt.day} {dt.strftime('%B %Y')}"


def format_memories(items: Sequence[dict[str, Any]]) -> str:
    """One line per memory, oldest first, each prefixed with its date so relative times can be resolved."""
    ordered = sorted(items, key=lambda it: it.get("session_date") or it.get("created_at") or "")
    lines = []
    for it in ordered:
        date = memory_date(it)
        lines.append(f"- [{date}] {it['memory']}" if date else f"- {it['memory']}")
    return "\n".join(lines)


def answer_messages(question: str, speaker_1: str, memories_1: Sequence[dict[str, Any]], speaker_2: str = "",
                    memories_2: Sequence[dict[str, Any]] = ()) -> list[dict[str, str]]:
    return prompts.render_answer(question, speaker_1, format_memories(memories_1), speaker_2 or "(other)",
                                 format_memories(memories_2))


def answer(backend: LLMBackend, question: str, speaker_1: str, memories_1: Sequence[dict[str, Any]],
           speaker_2: str = "", memories_2: Sequence[dict[str, Any]] = (), max_tokens: int = 32) -> Generation:
    gen = backend.generate(answer_messages(question, speaker_1, memories_1, speaker_2, memories_2),
                           max_tokens=max_tokens)
    gen.text = (gen.text or "").strip().split("\n")[0]
    return gen
