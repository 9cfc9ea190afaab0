"""Conversation sources the pipeline can ingest: LOCOMO's JSON and a documented dialogue JSONL format.

Dialogue JSONL (one turn per line; turns of a conversation in order):

    {"conversation_id": "c1", "session": 1, "timestamp": "2023-05-08T13:56:00", "speaker": "Maya",
     "text": "I moved to Lisbon last week.", "id": "c1:1:1"}

`id` is optional (defaults to "<conversation_id>:<session>:<n>"); `timestamp` is the session's (or the turn's)
date-time in ISO format and is what relative dates in facts are resolved against.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from memmgr.types import Message

_OBS_KEY_RE = re.compile(r"^session_(\d+)_observation$")
_LOCOMO_DT = re.compile(r"(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})", re.I)


def parse_locomo_datetime(text: str) -> datetime:
    """'1:56 pm on 8 May, 2023' -> datetime(2023, 5, 8, 13, 56)."""
    m = _LOCOMO_DT.search(text or "")
    if not m:
        raise ValueError(f"unrecognised LOCOMO date-time {text!r}")
    hour, minute, ampm, day, month, year = m.groups()
    h = int(hour) % 12 + (12 if ampm.lower() == "pm" else 0)
    month_num = datetime.strptime(month[:3].title(), "%b").month
    return datetime(int(year), month_num, int(day), h, int(minute))


def locomo_turn_text(turn: dict) -> str:
    """Turn text with the shared image's caption appended, as the LoCoMo authors feed it to models."""
    text = turn.get("text", "") or ""
    if turn.get("blip_caption"):
        text = f"{text} [shares {turn['blip_caption']}]".strip()
    return text


@dataclass
class Session:
    index: int
    date_time: datetime | None
    turns: list[Message] = field(default_factory=list)


@dataclass
class Observation:
    """A LOCOMO annotation: a short third-person fact about `speaker`, drawn from the turns `dia_ids`."""

    speaker: str
    text: str
    dia_ids: list[str]
    session: int


@dataclass
class Conversation:
    conversation_id: str
    speakers: list[str]
    sessions: list[Session] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)  # LOCOMO's per-turn annotations, when present

    def message_pairs(self, max_sessions: int | None = None) -> list[tuple[list[Message], datetime | None]]:
        """Consecutive (m_{t-1}, m_t) pairs per session, with the session date-time (Mem0's LOCOMO ingestion)."""
        out = []
        for sess in self.sessions[: max_sessions or None]:
            for i in range(0, len(sess.turns), 2):
                out.append((sess.turns[i : i + 2], sess.date_time))
        return out


def as_speaker(messages: list[Message], speaker: str) -> list[Message]:
    """The messages seen from one speaker's memory (Mem0's two-perspective LOCOMO ingestion): that speaker is the
    "user", every other speaker the "assistant" counterpart, so the extraction prompt names them as its owner."""
    return [m.model_copy(update={"role": "user" if m.name == speaker else "assistant"}) for m in messages]


def locomo_sessions(conv: dict) -> list[Session]:
    """Sessions of one LOCOMO sample's `conversation` dict, in order, turns as Messages."""
    sessions = []
    n = 1
    while f"session_{n}" in conv or f"session_{n}_date_time" in conv:
        turns = conv.get(f"session_{n}") or []
        if turns:
            dt = parse_locomo_datetime(conv[f"session_{n}_date_time"])
            role_of = {conv.get("speaker_a"): "user", conv.get("speaker_b"): "assistant"}
            msgs = [Message(role=role_of.get(t["speaker"], "user"), content=locomo_turn_text(t), name=t["speaker"],
                            id=t.get("dia_id"), timestamp=dt) for t in turns]
            sessions.append(Session(index=n, date_time=dt, turns=msgs))
        n += 1
    return sessions


def locomo_observations(obs: dict | None) -> list[Observation]:
    """`observation` of a LOCOMO sample: {"session_N_observation": {speaker: [[fact, dia_id or [dia_ids]], ...]}}
    (dia_id strings may hold several ids, "D8:6; D9:17"); sessions in order, empty facts skipped."""
    from memmgr.qa_metrics import split_evidence

    out = []
    keyed = [(int(m.group(1)), v) for k, v in (obs or {}).items() if (m := _OBS_KEY_RE.match(k))]
    for n, per_speaker in sorted(keyed, key=lambda kv: kv[0]):
        for speaker, items in (per_speaker or {}).items():
            for item in items or []:
                if isinstance(item, str):
                    text, ids = item, []
                else:
                    text, ids = (item[0] if item else ""), (item[1] if len(item) > 1 else [])
                ids = ids if isinstance(ids, list) else [ids]
                if str(text or "").strip():
                    out.append(Observation(speaker=str(speaker), text=str(text).strip(),
                                           dia_ids=split_evidence(ids), session=n))
    return out


def load_locomo_conversations(path: str | Path) -> list[Conversation]:
    data = json.loads(Path(path).read_text())
    return [Conversation(conversation_id=s["sample_id"],
                         speakers=[s["conversation"]["speaker_a"], s["conversation"]["speaker_b"]],
                         sessions=locomo_sessions(s["conversation"]),
                         observations=locomo_observations(s.get("observation")))
            for s in data]


def load_dialogue_jsonl(path: str | Path) -> list[Conversation]:
    convs: dict[str, Conversation] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                cid, speaker, text = str(row["conversation_id"]), str(row["speaker"]), str(row["text"])
            except KeyError as e:
                raise ValueError(f"{path}:{line_no}: missing field {e}") from e
            conv = convs.setdefault(cid, Conversation(conversation_id=cid, speakers=[]))
            if speaker not in conv.speakers:
                conv.speakers.append(speaker)
            sess_idx = int(row.get("session", 1))
            ts = datetime.fromisoformat(row["timestamp"]) if row.get("timestamp") else None
            if not conv.sessions or conv.sessions[-1].index != sess_idx:
                conv.sessions.append(Session(index=sess_idx, date_time=ts))
            sess = conv.sessions[-1]
            mid = row.get("id") or f"{cid}:{sess_idx}:{len(sess.turns) + 1}"
            role = "user" if speaker == conv.speakers[0] else "assistant"
            sess.turns.append(Message(role=role, content=text, name=speaker, id=mid, timestamp=ts or sess.date_time))
    return list(convs.values())


def load_conversations(path: str | Path) -> list[Conversation]:
    """LOCOMO JSON (a list of samples) or dialogue JSONL, by content."""
    p = Path(path)
    with open(p, encoding="utf-8") as f:
        head = f.read(1).strip() or " "
    if p.suffix == ".jsonl" or head == "{":
        return load_dialogue_jsonl(p)
    return load_locomo_conversations(p)
