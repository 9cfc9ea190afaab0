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

Parsing is shared with `memmgr.conversations.load_dialogue_jsonl` (what `data_gen.generate` and `memmgr` ingest);
this module converts to `data_gen.locomo.Conversation` and writes the format back (`save_dialogues`), e.g. to
export LOCOMO or synthetic worlds for another tool.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_gen.locomo import Conversation, Session, Turn
from memmgr.conversations import load_dialogue_jsonl


def _declared_speakers(path: str | Path) -> dict[str, list[str]]:
    declared: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and '"speakers"' in line:
                row = json.loads(line)
                if isinstance(row.get("speakers"), list):
                    declared.setdefault(str(row.get("conversation_id")), [str(x) for x in row["speakers"]])
    return declared


def load_dialogues(path: str | Path) -> list[Conversation]:
    out = []
    declared = _declared_speakers(path)
    for conv in load_dialogue_jsonl(path):
        if len(conv.speakers) > 2:
            raise ValueError(f"{path}: conversation {conv.conversation_id!r} has {len(conv.speakers)} speakers "
                             f"({conv.speakers}); the format allows two")
        sessions = []
        for s in conv.sessions:
            stamps = [m.timestamp for m in s.turns if m.timestamp is not None]
            if s.date_time is None and not stamps:
                raise ValueError(f"{path}: conversation {conv.conversation_id!r} session {s.index} has no timestamp")
            date_time = s.date_time or stamps[0]
            turns = [Turn(dia_id=m.id or "", speaker=m.name or "", text=m.content, session=s.index,
                          timestamp=m.timestamp or date_time) for m in s.turns]
            sessions.append(Session(index=s.index, date_time=date_time, turns=turns))
        speakers = declared.get(conv.conversation_id) or conv.speakers
        if set(conv.speakers) - set(speakers):
            raise ValueError(f"{path}: conversation {conv.conversation_id!r}: speakers {conv.speakers} are not all "
                             f"among the declared {speakers}")
        speakers = speakers + [""] * (2 - len(speakers))
        out.append(Conversation(sample_id=conv.conversation_id, speaker_a=speakers[0], speaker_b=speakers[1],
                                sessions=sessions))
    return out


def save_dialogues(convs: list[Conversation], path: str | Path) -> int:
    """Write conversations in the format above; returns the number of turns written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for conv in convs:
            first = True
            for sess in conv.sessions:
                for t in sess.turns:
                    row = {"conversation_id": conv.sample_id, "session": sess.index,
                           "timestamp": t.timestamp.isoformat(), "speaker": t.speaker, "text": t.text, "id": t.dia_id}
                    if first:
                        row["speakers"] = [conv.speaker_a, conv.speaker_b]
                        first = False
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    n += 1
    return n


def world_to_conversation(world) -> Conversation:
    """A synthetic world as a plain conversation (its gold dropped), e.g. to run a real teacher over it."""
    sessions = []
    for info in world.sessions:
        turns = [Turn(dia_id=m.id or "", speaker=m.name or m.role, text=m.content, session=info.index,
                      timestamp=m.timestamp or info.date_time)
                 for p in world.pairs if p.session == info.index for m in p.messages]
        sessions.append(Session(index=info.index, date_time=info.date_time, turns=turns))
    return Conversation(sample_id=world.world_id, speaker_a=world.speakers[0], speaker_b=world.speakers[1],
                        sessions=sessions)
