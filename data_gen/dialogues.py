"""Bring your own dialogues: a generic JSONL format loaded into the same `Conversation` type as LOCOMO.

Format: UTF-8 JSON Lines, **one turn per line**, the turns of a conversation in order (conversations may follow
each other; lines of different conversations should not interleave within a session):

    {"conversation_id": "msc-0001", "session": 1, "timestamp": "2023-05-08T13:56:00", "speaker": "Maya",
     "text": "I moved to Lisbon last week.", "id": "msc-0001:1:1"}

| field | required | meaning |
|---|---|---|
| `conversation_id` | yes | groups turns into a conversation (one memory scope per speaker) |
| `speaker` | yes | who says it; the first speaker seen is `speaker_a`, the second `speaker_b` (at most two) |
| `speakers` | no | `["A", "B"]` on any line of a conversation: fixes `speaker_a`/`speaker_b` (LOCOMO's order) |
| `text` | yes | what is said (append image captions yourself, e.g. `"... [shares a photo of a dog]"`) |
| `timestamp` | yes* | ISO 8601 date-time of the session (or of the turn): relative dates in facts resolve against it |
| `session` | no | session number (default 1); a new number starts a new session |
| `id` | no | provenance id kept on the memories (default `"<conversation_id>:<session>:<n>"`) |

*A line without `timestamp` takes its session's earlier timestamp; a session with none at all is an error here
(memmgr's own ingestion tolerates it, but traces need dates). Multi-Session Chat style exports map directly:
one conversation per dialogue, `session` per episode, the episode date as `timestamp`.

    python -m data_gen.generate --config configs/data_gen/tiny.yaml --source.kind jsonl --source.path my.jsonl \\
        --teacher '{backend: openai, model: gpt-4o-mini}'

Parsing is `memmgr.conversations.load_dialogue_jsonl` (what `memmgr` ingests); `load_dialogues` adds the checks
that traces need and returns the same `memmgr.conversations.Conversation` that LOCOMO loads into
(`eval.locomo_data.load_samples`). `save_dialogues` writes the format back, e.g. to export LOCOMO or synthetic worlds
for another tool.
"""

from __future__ import annotations

import json
from pathlib import Path

from memmgr.conversations import Conversation, Session, load_dialogue_jsonl
from memmgr.types import Message


def _declared_speakers(path: str | Path) -> dict[str, list[str]]:
    declared: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and '"speakers"' in line:
                row = json.loads(line)
                if isinstance(row.get("speakers"), list):
                    declared.setdefault(str(row.get("conversation_id")), [str(x) for x in row["speakers"]])
    return declared


def _with_roles(turns: list[Message], speaker_a: str, date_time) -> list[Message]:
    # speaker_a is the "user" so that a chat template still alternates roles
    return [m.model_copy(update={"role": "user" if m.name == speaker_a else "assistant",
                                 "timestamp": m.timestamp or date_time}) for m in turns]


def load_dialogues(path: str | Path) -> list[Conversation]:
    """The JSONL format above, checked: at most two speakers (declared order wins), a timestamp for every session."""
    out = []
    declared = _declared_speakers(path)
    for conv in load_dialogue_jsonl(path):
        if len(conv.speakers) > 2:
            raise ValueError(f"{path}: conversation {conv.conversation_id!r} has {len(conv.speakers)} speakers "
                             f"({conv.speakers}); the format allows two")
        speakers = declared.get(conv.conversation_id) or conv.speakers
        if set(conv.speakers) - set(speakers):
            raise ValueError(f"{path}: conversation {conv.conversation_id!r}: speakers {conv.speakers} are not all "
                             f"among the declared {speakers}")
        sessions = []
        for s in conv.sessions:
            stamps = [m.timestamp for m in s.turns if m.timestamp is not None]
            if s.date_time is None and not stamps:
                raise ValueError(f"{path}: conversation {conv.conversation_id!r} session {s.index} has no timestamp")
            date_time = s.date_time or stamps[0]
            sessions.append(Session(index=s.index, date_time=date_time,
                                    turns=_with_roles(s.turns, speakers[0], date_time)))
        out.append(Conversation(conversation_id=conv.conversation_id, speakers=list(speakers), sessions=sessions))
    return out


def save_dialogues(convs: list[Conversation], path: str | Path) -> int:
    """Write conversations in the format above; returns the number of turns written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for conv in convs:
            first = True
            for sess in conv.sessions:
                for i, m in enumerate(sess.turns, 1):
                    ts = m.timestamp or sess.date_time
                    row = {"conversation_id": conv.conversation_id, "session": sess.index,
                           "timestamp": ts.isoformat() if ts else None, "speaker": m.name or m.role,
                           "text": m.content, "id": m.id or f"{conv.conversation_id}:{sess.index}:{i}"}
                    if first:
                        row["speakers"] = list(conv.speakers)
                        first = False
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
    return n


def world_to_conversation(world) -> Conversation:
    """A synthetic world as a plain conversation (its gold dropped), e.g. to run a real teacher over it."""
    sessions = []
    for info in world.sessions:
        turns = [m for p in world.pairs if p.session == info.index for m in p.messages]
        sessions.append(Session(index=info.index, date_time=info.date_time,
                                turns=_with_roles(turns, world.speakers[0], info.date_time)))
    return Conversation(conversation_id=world.world_id, speakers=list(world.speakers), sessions=sessions)
