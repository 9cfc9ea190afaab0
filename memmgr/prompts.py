"""Every prompt memmgr sends, as named constants, plus the renderers that fill them.

Two prompt styles share one input layout (the user message):
- "teacher": Mem0-style long instructions with few-shot examples, for a large teacher model;
- "student": a compact instruction with no examples, for a distilled manager (context distillation).
Because both styles render the *same* user message, `parse_extraction_input` / `parse_update_input` recover the
inputs from either (the oracle teacher and the trace tools use them). Bump PROMPT_VERSION on any change here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from memmgr.types import Message

PROMPT_VERSION = "mm-2026.11-v3"  # v2: extraction names the memory's owner; v3: and marks the owner's turns
PROMPT_STYLES = ("teacher", "student")

# --------------------------------------------------------------------------------------------- extraction
EXTRACTION_SYSTEM_TEACHER = """You maintain the long-term memory of a conversational assistant. Your job in this step is \
fact extraction: read the NEW MESSAGES (the conversation summary and recent messages are context only) and write \
down the facts worth remembering about the memory's owner (the "Memory of:" line; their turns are marked \
"(owner)"): what they say about themselves, their lives and the people around them. The other speakers' messages \
are context: keep what they reveal about the owner, never facts about the other speakers themselves.

Remember: personal details (names, family, relationships, where they live, jobs, studies), preferences and dislikes, \
plans and goals, events and experiences, health and diet, hobbies, pets and possessions, opinions that matter to them.
Do not remember: greetings, small talk, questions without information, general knowledge, anything said only in the \
summary or recent messages, or anything from these instructions.

Rules:
- Each fact is one short, self-contained sentence that names the person (use the speaker's name; "User" if unknown).
- Resolve relative dates against today's date: at 8 May 2023 "yesterday" is "7 May 2023", "last week" is \
"the week before 8 May 2023", "next month" is "June 2023". Never leave "yesterday", "last year" or "soon" unresolved.
- Keep numbers, names and places exactly as said. Do not invent anything.
- Return only JSON: {"facts": ["...", "..."]}. Return {"facts": []} when there is nothing worth remembering.

Examples (illustrations only; never return their content):
Memory of: Sam. New messages: [A] Sam (owner): hey, how's it going?
Output: {"facts": []}
Memory of: Sam. New messages: [B] Sam (owner): I just adopted a beagle called Pixel! [C] Lee: Cute! I have two cats.
Output: {"facts": ["Sam adopted a beagle called Pixel"]}
Memory of: Lee. New messages: [B] Sam: I just adopted a beagle called Pixel! [C] Lee (owner): Cute! I have two cats.
Output: {"facts": ["Lee has two cats"]}
Memory of: Sam. New messages: [D] Sam (owner): Last weekend I ran my first half marathon. (today: 15 March 2022)
Output: {"facts": ["Sam ran a first half marathon on the weekend of 12-13 March 2022"]}
"""

EXTRACTION_SYSTEM_STUDENT = """Extract memorable facts about the memory's owner (Memory of; turns marked (owner)) \
from the NEW MESSAGES only; other speakers are context. One short sentence per fact, naming the person; resolve \
relative dates against today's date. Output JSON: {"facts": [...]}."""

# ------------------------------------------------------------------------------------------------- update
UPDATE_SYSTEM_TEACHER = """You maintain the long-term memory of a conversational assistant. Your job in this step is \
the memory update: compare each NEW FACT with the EXISTING MEMORIES (shown with small integer ids) and decide one \
operation per fact:
- ADD: the fact is new information. Give its text.
- UPDATE: the fact refines, corrects or changes an existing memory about the same thing (a new city, a new job, \
more detail). Give the id of that memory, the new merged text, and its old text as old_memory.
- DELETE: the fact says an existing memory is no longer true or was wrong (stopped, broke up, sold it, never did). \
Give the id of that memory and its text.
- NOOP: the fact is already in memory with the same meaning, or is not worth storing. Give the id of the memory that \
already holds it, if any.

Rules:
- Use only ids from EXISTING MEMORIES. Never invent ids. Leave memories that no fact touches out of the output.
- One operation per fact, in the order of the facts. Keep names, numbers and dates.
- Return only JSON: {"memory": [{"id": "...", "text": "...", "event": "ADD|UPDATE|DELETE|NOOP", "old_memory": "..."}]}

Example (illustration only; never return its content):
Existing memories:
0: Sam lives in Leeds
1: Sam has a beagle called Pixel
New facts:
- Sam moved to York in June 2022
- Sam has a beagle named Pixel
- Sam started learning the cello
Output: {"memory": [{"id": "0", "text": "Sam moved to York in June 2022", "event": "UPDATE", "old_memory": "Sam lives \
in Leeds"}, {"id": "1", "text": "Sam has a beagle called Pixel", "event": "NOOP"}, {"id": "new", "text": "Sam \
started learning the cello", "event": "ADD"}]}
"""

UPDATE_SYSTEM_STUDENT = """Memory update. For each new fact choose ADD, UPDATE (id, new text, old_memory), DELETE (id) \
or NOOP (id) against the existing memories; use only the ids shown. Output JSON: {"memory": [{"id", "text", "event", \
"old_memory"}]}."""

# ------------------------------------------------------------------------------------------------ summary
SUMMARY_SYSTEM = """Update the running summary of a conversation. Keep what matters about each person (facts, \
events with dates, plans, preferences); drop small talk. At most 150 words, plain prose, no lists."""

# -------------------------------------------------------------------------------------- answer and judge
ANSWER_SYSTEM = """You answer questions about two people from their memories. Each memory has the date it was \
recorded; use it to resolve relative time ("last year" in a memory dated 4 May 2022 means 2021). If memories \
conflict, trust the most recent. Answer in at most six words, with the specific name, date or thing asked for. \
If the memories contain nothing relevant, give your best short guess."""

ANSWER_USER_TEMPLATE = """Memories for {speaker_1}:
{memories_1}

Memories for {speaker_2}:
{memories_2}

Question: {question}
Answer:"""

FULL_CONTEXT_ANSWER_USER_TEMPLATE = """Conversation:
{conversation}

Question: {question}
Answer:"""

RAG_ANSWER_USER_TEMPLATE = """Conversation excerpts:
{chunks}

Question: {question}
Answer:"""

JUDGE_SYSTEM = """You grade answers to questions about a conversation. You get the question, the gold answer and a \
generated answer. Be generous: the generated answer is CORRECT if it refers to the same thing as the gold answer, even \
if it is longer, phrased differently or gives a date in another format; it is WRONG if it misses or contradicts it. \
Reply with JSON only: {"label": "CORRECT"} or {"label": "WRONG"}."""

JUDGE_USER_TEMPLATE = """Question: {question}
Gold answer: {gold}
Generated answer: {prediction}"""

# Strings from the teacher prompts' examples: a manager that returns one of these copied its prompt.
PROMPT_EXAMPLE_TEXTS: tuple[str, ...] = (
    "Sam adopted a beagle called Pixel",
    "Lee has two cats",
    "Sam ran a first half marathon on the weekend of 12-13 March 2022",
    "Sam lives in Leeds",
    "Sam has a beagle called Pixel",
    "Sam moved to York in June 2022",
    "Sam started learning the cello",
    "Sam has a beagle named Pixel",
)

SYSTEM_PROMPTS = {
    ("extract", "teacher"): EXTRACTION_SYSTEM_TEACHER,
    ("extract", "student"): EXTRACTION_SYSTEM_STUDENT,
    ("update", "teacher"): UPDATE_SYSTEM_TEACHER,
    ("update", "student"): UPDATE_SYSTEM_STUDENT,
}

_H_DATE, _H_SUMMARY, _H_RECENT, _H_NEW = "Today's date:", "### Summary", "### Recent messages", "### New messages"
_H_OWNER = "Memory of:"
_H_MEMORIES, _H_FACTS = "### Existing memories", "### New facts"
_LINE_RE = re.compile(r"^\[(?P<id>[^\]]*)\] (?P<name>[^:]*): (?P<text>.*)$")
OWNER_MARK = " (owner)"  # after the speaker's name on the owner's turns of an extraction prompt (prompts v3)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def speakers(messages: Sequence[Message]) -> list[str]:
    """The conversation's speakers in order of appearance (a name, or the role when unnamed)."""
    return list(dict.fromkeys(m.name or m.role for m in messages))


def is_owner(speaker: str, owner: Sequence[str]) -> bool:
    """Whether a turn's speaker (a name, or a role when unnamed: "user" is "User") is one of the memory's `owner`."""
    speaker = _one_line(speaker)
    return speaker in owner or speaker.capitalize() in owner


def format_turn(msg: Message, owner: Sequence[str] = ()) -> str:
    """`[id] Name: text`; `[id] Name (owner): text` when the speaker is one of `owner` (extraction prompts)."""
    speaker = _one_line(msg.name or msg.role)
    mark = OWNER_MARK if is_owner(speaker, owner) else ""
    return f"[{msg.id or ''}] {speaker}{mark}: {_one_line(msg.content)}"


def _system(stage: str, style: str) -> str:
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {PROMPT_STYLES}")
    return SYSTEM_PROMPTS[(stage, style)]


def memory_owner(messages: Sequence[Message], role: str = "user") -> list[str]:
    """Whose memory a call writes: the speakers with `role` (a scope is one user's memory; in Mem0's LOCOMO
    ingestion the other speaker is the "assistant" counterpart; an agent's own scope, as mem0's agent memory, is the
    "assistant"'s), or every speaker when no message has that role. Unnamed speakers are their role ("User")."""
    owners = [m for m in messages if m.role == role] or list(messages)
    return list(dict.fromkeys(_one_line(m.name or m.role.capitalize()) for m in owners))


def render_extraction(
    summary: str, recent: Sequence[Message], new: Sequence[Message], today: str, style: str = "teacher",
    owner: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """P = (summary S, last m messages, m_{t-1}, m_t) as chat messages, naming the memory's owner (default: the
    user-role speakers of recent + new, `memory_owner`): without it a two-speaker pair is the same prompt in both
    speakers' scopes, and a model cannot know whose facts to keep. The owner's turns are also marked "(owner)" beside
    the name (prompts v3): a 135M student matched the owner line to the turns' names poorly, naming the owner over
    the other speaker's news or the other speaker over the owner's."""
    owner = list(owner) if owner is not None else memory_owner([*recent, *new])
    recent_block = "\n".join(format_turn(m, owner) for m in recent) or "(none)"
    new_block = "\n".join(format_turn(m, owner) for m in new)
    user = (
        f"{_H_DATE} {today or 'unknown'}\n{_H_OWNER} {', '.join(owner) or 'User'}\n"
        f"{_H_SUMMARY}\n{_one_line(summary) or '(none)'}\n"
        f"{_H_RECENT}\n{recent_block}\n{_H_NEW}\n{new_block}"
    )
    return [{"role": "system", "content": _system("extract", style)}, {"role": "user", "content": user}]


def render_update(
    facts: Sequence[str], memories: Sequence[tuple[str, str]], today: str, style: str = "teacher"
) -> list[dict[str, str]]:
    """`memories` are (small id, text) pairs; ids are strings of small integers."""
    mem_block = "\n".join(f"{i}: {_one_line(t)}" for i, t in memories) or "(none)"
    fact_block = "\n".join(f"- {_one_line(f)}" for f in facts)
    user = f"{_H_DATE} {today or 'unknown'}\n{_H_MEMORIES}\n{mem_block}\n{_H_FACTS}\n{fact_block}"
    return [{"role": "system", "content": _system("update", style)}, {"role": "user", "content": user}]


def render_summary(previous: str, new: Sequence[Message], today: str) -> list[dict[str, str]]:
    turns = "\n".join(format_turn(m) for m in new)
    user = f"{_H_DATE} {today or 'unknown'}\nPrevious summary:\n{previous or '(none)'}\nNew messages:\n{turns}"
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def render_answer(
    question: str, speaker_1: str, memories_1: str, speaker_2: str, memories_2: str
) -> list[dict[str, str]]:
    user = ANSWER_USER_TEMPLATE.format(
        speaker_1=speaker_1, memories_1=memories_1 or "(none)", speaker_2=speaker_2,
        memories_2=memories_2 or "(none)", question=question,
    )
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]


def render_judge(question: str, gold: str, prediction: str) -> list[dict[str, str]]:
    user = JUDGE_USER_TEMPLATE.format(question=question, gold=gold, prediction=prediction)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def render_messages_for_style(messages: list[dict[str, str]], stage: str, style: str) -> list[dict[str, str]]:
    """Re-render a recorded manager prompt under another style (same inputs, other system prompt)."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] = _system(stage, style)
    return out


# ------------------------------------------------------------------------------- inverse of the renderers
def _user_text(messages: Sequence[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m.get("role") == "user"]
    if not users:
        raise ValueError("no user message in the prompt")
    return users[-1]


def _section(text: str, header: str, next_headers: Sequence[str]) -> list[str]:
    lines = text.split("\n")
    try:
        start = lines.index(header) + 1
    except ValueError as e:
        raise ValueError(f"prompt has no section {header!r}") from e
    end = len(lines)
    for i in range(start, len(lines)):
        if lines[i] in next_headers:
            end = i
            break
    body = lines[start:end]
    return [] if body == ["(none)"] else body


def _today(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first[len(_H_DATE) :].strip() if first.startswith(_H_DATE) else ""


def _owner(text: str) -> list[str]:
    for line in text.split("\n"):
        if line.startswith(_H_OWNER):
            return [n.strip() for n in line[len(_H_OWNER):].split(",") if n.strip()]
        if line == _H_SUMMARY:
            break
    return []


def _turns(lines: Sequence[str]) -> list[dict[str, str]]:
    out = []
    for line in lines:
        m = _LINE_RE.match(line)
        if m:
            name = m["name"].removesuffix(OWNER_MARK)
            out.append({"id": m["id"], "name": name, "text": m["text"]})
    return out


def parse_extraction_input(messages: Sequence[dict[str, str]]) -> dict:
    """{'today', 'owner': [names], 'summary', 'recent': [{id, name, text}], 'new': [...]} from a rendered
    extraction prompt (owner [] in a prompt of v1, which had no owner line)."""
    text = _user_text(messages)
    summary = _section(text, _H_SUMMARY, [_H_RECENT])
    return {
        "today": _today(text),
        "owner": _owner(text),
        "summary": " ".join(summary),
        "recent": _turns(_section(text, _H_RECENT, [_H_NEW])),
        "new": _turns(_section(text, _H_NEW, [])),
    }


def parse_update_input(messages: Sequence[dict[str, str]]) -> dict:
    """{'today', 'memories': [(id, text)], 'facts': [...]} from a rendered update prompt."""
    text = _user_text(messages)
    mems = []
    for line in _section(text, _H_MEMORIES, [_H_FACTS]):
        mid, sep, mtext = line.partition(": ")
        if sep:
            mems.append((mid.strip(), mtext))
    facts = [line[2:] for line in _section(text, _H_FACTS, []) if line.startswith("- ")]
    return {"today": _today(text), "memories": mems, "facts": facts}


def stage_of(messages: Sequence[dict[str, str]]) -> str:
    """Which manager stage a rendered prompt belongs to ('extract' or 'update')."""
    text = _user_text(messages)
    if _H_NEW in text.split("\n"):
        return "extract"
    if _H_FACTS in text.split("\n"):
        return "update"
    raise ValueError("not a memmgr manager prompt")


def extraction_output(facts: Sequence[str]) -> str:
    """The canonical answer text for an extraction call (what a teacher/oracle returns, what SFT learns)."""
    return json.dumps({"facts": list(facts)}, ensure_ascii=False)


def update_output(ops: Sequence[dict]) -> str:
    """Canonical answer text for an update call; ops are dicts with id/text/event[/old_memory]."""
    clean = []
    for op in ops:
        d = {"id": str(op.get("id") if op.get("id") is not None else "new"), "text": op.get("text", ""),
             "event": op["event"]}
        if op.get("old_memory"):
            d["old_memory"] = op["old_memory"]
        clean.append(d)
    return json.dumps({"memory": clean}, ensure_ascii=False)
