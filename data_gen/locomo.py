"""LOCOMO loader for trace generation: the original `locomo10.json` format as typed dataclasses.

    from data_gen.locomo import load_locomo, select_split, to_messages
    convs = select_split(load_locomo("locomo10.json"), "memory_r1", "train")   # [conv-26]
    for pair in convs[0].turn_pairs():
        messages = to_messages(pair)          # memmgr.types.Message list for Memory.add

Format (see ../shared/data/locomo/README.md): a JSON list of samples with `sample_id`, `conversation`
(`speaker_a`, `speaker_b`, `session_N_date_time` like "1:56 pm on 8 May, 2023", `session_N` turns
`{speaker, dia_id, text, [img_url, blip_caption, query]}`) and `qa` (`question`, `answer`, `evidence`, `category`;
category-5 items carry `adversarial_answer` instead of `answer`). LOCOMO dates sessions, not turns: every turn gets
its session's date-time. Date parsing and the caption convention are shared with `memmgr.conversations` (one
implementation); this module adds the QA, speakers and split helpers that data generation needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from memmgr.conversations import locomo_turn_text, parse_locomo_datetime
from memmgr.qa_metrics import split_evidence
from memmgr.types import Message

CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
# Memory-R1's split of the ten LOCOMO conversations (sample ids as in locomo10.json).
SPLITS: dict[str, dict[str, list[str]]] = {
    "memory_r1": {
        "train": ["conv-26"],
        "validation": ["conv-30"],
        "test": ["conv-41", "conv-42", "conv-43", "conv-44", "conv-47", "conv-48", "conv-49", "conv-50"],
    },
}


@dataclass
class Turn:
    dia_id: str
    speaker: str
    text: str  # with " [shares <blip_caption>]" appended when the turn shared an image
    session: int
    timestamp: datetime


@dataclass
class Session:
    index: int
    date_time: datetime
    turns: list[Turn] = field(default_factory=list)


@dataclass
class QA:
    question: str
    answer: str
    category: int
    category_name: str
    evidence: list[str] = field(default_factory=list)
    adversarial_answer: str | None = None


@dataclass
class Conversation:
    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: list[Session] = field(default_factory=list)
    qa: list[QA] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        return [self.speaker_a, self.speaker_b]

    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]

    def turn_pairs(self, max_sessions: int | None = None) -> list[list[Turn]]:
        """Consecutive (m_{t-1}, m_t) pairs within each session, as Mem0 ingests LOCOMO. A session with an odd
        number of turns ends with a one-turn "pair": no turn is dropped and no pair straddles two sessions."""
        out = []
        for sess in self.sessions[: max_sessions or None]:
            out.extend(sess.turns[i : i + 2] for i in range(0, len(sess.turns), 2))
        return out


def _sessions(conv: dict[str, Any]) -> list[Session]:
    sessions = []
    n = 1
    # session numbers are contiguous in locomo10.json, but tolerate a date without turns (or turns without a date)
    while f"session_{n}" in conv or f"session_{n}_date_time" in conv:
        raw_turns = conv.get(f"session_{n}") or []
        if raw_turns:
            date_time = parse_locomo_datetime(conv.get(f"session_{n}_date_time", ""))
            turns = [Turn(dia_id=str(t.get("dia_id", f"D{n}:{i + 1}")), speaker=str(t["speaker"]),
                          text=locomo_turn_text(t), session=n, timestamp=date_time)
                     for i, t in enumerate(raw_turns)]
            sessions.append(Session(index=n, date_time=date_time, turns=turns))
        n += 1
    return sessions


def _qa(d: dict[str, Any]) -> QA:
    category = int(d.get("category", 0))
    answer = d.get("answer", "")
    return QA(question=str(d.get("question", "")), answer="" if answer is None else str(answer), category=category,
              category_name=CATEGORY_NAMES.get(category, f"cat{category}"),
              evidence=split_evidence(d.get("evidence") or []),
              adversarial_answer=None if d.get("adversarial_answer") is None else str(d["adversarial_answer"]))


def parse_sample(sample: dict[str, Any]) -> Conversation:
    conv = sample["conversation"]
    return Conversation(sample_id=str(sample["sample_id"]), speaker_a=str(conv["speaker_a"]),
                        speaker_b=str(conv["speaker_b"]), sessions=_sessions(conv),
                        qa=[_qa(q) for q in sample.get("qa") or []])


def load_locomo(path: str | Path) -> list[Conversation]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of LOCOMO samples, got {type(data).__name__}")
    return [parse_sample(s) for s in data]


def select_split(convs: list[Conversation], split_name: str = "memory_r1", split: str = "test") -> list[Conversation]:
    """The conversations of one split, in file order; a split whose conversations are absent gives []."""
    try:
        ids = SPLITS[split_name][split]
    except KeyError:
        raise ValueError(f"unknown split {split_name}/{split}; known: "
                         f"{ {k: sorted(v) for k, v in SPLITS.items()} }") from None
    return [c for c in convs if c.sample_id in ids]


def to_messages(turns: list[Turn], speaker_a: str | None = None) -> list[Message]:
    """Turns as pipeline messages: name=speaker, id=dia_id, timestamp=session date-time. `speaker_a` (if given)
    gets role "user" and everyone else "assistant", so a chat template still alternates roles."""
    return [Message(role="assistant" if speaker_a is not None and t.speaker != speaker_a else "user",
                    content=t.text, name=t.speaker, id=t.dia_id, timestamp=t.timestamp) for t in turns]
