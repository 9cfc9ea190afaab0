"""LOCOMO samples for evaluation: the conversation (memmgr.conversations) plus its QA and observation annotations,
split selection, limits."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memmgr.conversations import Conversation, Observation, locomo_observations, locomo_sessions
from memmgr.qa_metrics import split_evidence

CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
# Memory-R1's split of the ten LOCOMO conversations; "dev" = the two conversations shipped in ../shared.
SPLITS: dict[str, dict[str, list[str] | None]] = {
    "memory_r1": {"train": ["conv-26"], "validation": ["conv-30"], "dev": ["conv-26", "conv-30"], "test": None},
}
_SESSION_RE = re.compile(r"^D(\d+):")


@dataclass
class QAItem:
    question: str
    answer: str
    category: int
    evidence: list[str] = field(default_factory=list)
    adversarial_answer: str | None = None

    @property
    def category_name(self) -> str:
        return CATEGORY_NAMES.get(self.category, f"cat{self.category}")

    def evidence_sessions(self) -> set[int]:
        return {int(m.group(1)) for e in self.evidence if (m := _SESSION_RE.match(e))}


@dataclass
class Sample:
    conversation: Conversation
    qa: list[QAItem]
    observations: list[Observation] = field(default_factory=list)

    @property
    def sample_id(self) -> str:
        return self.conversation.conversation_id


def _qa_item(d: dict[str, Any]) -> QAItem:
    answer, adversarial = d.get("answer"), d.get("adversarial_answer")
    return QAItem(question=str(d.get("question", "")), answer="" if answer is None else str(answer),
                  category=int(d.get("category", 0)), evidence=split_evidence(d.get("evidence") or []),
                  adversarial_answer=None if adversarial is None else str(adversarial))


def load_samples(path: str | Path) -> list[Sample]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for s in data:
        conv = s["conversation"]
        c = Conversation(conversation_id=s["sample_id"], speakers=[conv["speaker_a"], conv["speaker_b"]],
                         sessions=locomo_sessions(conv))
        out.append(Sample(conversation=c, qa=[_qa_item(q) for q in s.get("qa", [])],
                          observations=locomo_observations(s.get("observation"))))
    return out


def select_split(samples: list[Sample], scheme: str, split: str) -> list[Sample]:
    """`split` "all" keeps everything; "test" of memory_r1 is every conversation not named by another split."""
    if split == "all":
        return list(samples)
    if scheme not in SPLITS or split not in SPLITS[scheme]:
        raise ValueError(f"unknown split {scheme}/{split}; known: {sorted(SPLITS)} x {sorted(SPLITS['memory_r1'])}"
                         " or 'all'")
    ids = SPLITS[scheme][split]
    if ids is None:
        named = {i for v in SPLITS[scheme].values() if v for i in v}
        return [s for s in samples if s.sample_id not in named]
    return [s for s in samples if s.sample_id in ids]


def limit_sample(sample: Sample, *, sessions: int | None, questions: int | None, categories: set[int]) -> Sample:
    """Keep the first `sessions` sessions, their observations, and the questions answerable from them (all evidence
    inside), in the wanted categories, then the first `questions` of those."""
    conv = sample.conversation
    kept_sessions = conv.sessions[:sessions] if sessions else conv.sessions
    kept_idx = {s.index for s in kept_sessions}
    qa = [q for q in sample.qa if q.category in categories]
    if sessions:
        qa = [q for q in qa if q.evidence_sessions() and q.evidence_sessions() <= kept_idx]
    if questions:
        qa = qa[:questions]
    new_conv = Conversation(conversation_id=conv.conversation_id, speakers=conv.speakers, sessions=kept_sessions)
    observations = [o for o in sample.observations if o.session in kept_idx]
    return Sample(conversation=new_conv, qa=qa, observations=observations)
