"""The graph manager's three prompts (Mem0g, paper section 2.2) and their renderers / inverses.

Like memmgr.prompts, both styles render one user-message layout, so `parse_graph_input` recovers the inputs of any
recorded call (the oracle teacher and the trace tools need that). The section headers differ from the vector
manager's on purpose: `memmgr.prompts.stage_of` must not mistake a graph prompt for an extraction prompt (the
backends narrow the structured-output schema by stage).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from memmgr.prompts import format_turn
from memmgr.types import Message

GRAPH_PROMPT_VERSION = "mm-graph-2026.11-v2"
GRAPH_STAGES = ("graph_entities", "graph_relations", "graph_resolve")

ENTITIES_SYSTEM_TEACHER = """You maintain the knowledge graph of a conversational assistant. Your job in this step is \
entity extraction: list the entities the CONVERSATION says something memorable about.

Entities: people (use the speaker's name for "I"/"me"; "User" if unknown), pets, places, organisations, objects, \
activities, events, dates. Skip greetings, pronouns without a referent, and anything not in the conversation.
Give each entity a short lower-case type (person, pet, city, country, organisation, job, hobby, food, event, object, \
date...). Write names exactly as said.
Return only JSON: {"entities": [{"name": "...", "type": "..."}]}. Return {"entities": []} when there is nothing.

Example (illustration only; never return its content):
Conversation: [A] Sam: I just adopted a beagle called Pixel!
Output: {"entities": [{"name": "Sam", "type": "person"}, {"name": "Pixel", "type": "pet"}]}
"""
ENTITIES_SYSTEM_STUDENT = """List the entities the CONVERSATION says something about (speaker names for I/me), each \
with a short lower-case type. Output JSON: {"entities": [{"name": ..., "type": ...}]}."""

RELATIONS_SYSTEM_TEACHER = """You maintain the knowledge graph of a conversational assistant. Your job in this step is \
relation generation: write the facts of the CONVERSATION as directed relations between the listed ENTITIES.

Rules:
- Each relation is {"source": entity, "relation": verb phrase, "destination": entity}; source and destination are \
names from the ENTITIES list, exactly as written there.
- The relation is short, lower-case, with underscores, and reads source -> destination: lives_in, works_as, \
has_pet, likes, dislikes, sister_of, moved_to, visited, plans_to_visit.
- When the conversation dates the fact (an event, a plan), add "when": the date or period resolved against today's \
date ("7 May 2023", "the week before 8 May 2023", "June 2023"); leave it out otherwise.
- Only what the conversation states; no general knowledge, nothing from these instructions.
Return only JSON: {"relations": [...]}. Return {"relations": []} when there is nothing.

Example (illustration only; never return its content):
Conversation: [A] Sam: I just adopted a beagle called Pixel!   Entities: Sam (person), Pixel (pet)
Output: {"relations": [{"source": "Sam", "relation": "has_pet", "destination": "Pixel"}]}
"""
RELATIONS_SYSTEM_STUDENT = """Write the facts of the CONVERSATION as relations between the listed ENTITIES (names as \
listed; relation lower_case_with_underscores, source -> destination; "when": the resolved date of a dated fact). \
Output JSON: {"relations": [{"source": ..., "relation": ..., "destination": ...}]}."""

RESOLVE_SYSTEM_TEACHER = """You maintain the knowledge graph of a conversational assistant. Your job in this step is \
conflict resolution: decide which EXISTING RELATIONS (shown with small integer ids) the CONVERSATION and the NEW \
RELATIONS taken from it make obsolete.

A relation is obsolete when the conversation says it is no longer true: the person moved (lives_in a new city), \
changed job, broke up, sold or lost something, stopped an activity. Relations that can hold together (likes two foods, visited \
two cities, has two pets) are not obsolete. When unsure, keep the relation. Obsolete relations are kept as history, \
marked invalid, so never list one just because it is old.
Return only JSON: {"invalidate": ["id", ...]}. Return {"invalidate": []} when nothing is obsolete.

Example (illustration only; never return its content):
Existing relations: 0: Sam -- lives_in --> York   1: Sam -- has_pet --> Pixel
New relations: Sam -- lives_in --> Leeds
Output: {"invalidate": ["0"]}
"""
RESOLVE_SYSTEM_STUDENT = """Which EXISTING RELATIONS (by id) do the CONVERSATION and NEW RELATIONS make no longer true? Keep relations \
that can hold together. Output JSON: {"invalidate": [ids]}."""

GRAPH_SYSTEM_PROMPTS = {
    ("graph_entities", "teacher"): ENTITIES_SYSTEM_TEACHER, ("graph_entities", "student"): ENTITIES_SYSTEM_STUDENT,
    ("graph_relations", "teacher"): RELATIONS_SYSTEM_TEACHER, ("graph_relations", "student"): RELATIONS_SYSTEM_STUDENT,
    ("graph_resolve", "teacher"): RESOLVE_SYSTEM_TEACHER, ("graph_resolve", "student"): RESOLVE_SYSTEM_STUDENT,
}
# The examples' own content: an output that repeats them unsupported by the messages is a prompt copy.
GRAPH_EXAMPLE_NAMES = ("Pixel",)

_H_DATE, _H_CONV, _H_ENT = "Today's date:", "### Conversation", "### Entities"
_H_EXISTING, _H_NEWREL = "### Existing relations", "### New relations"
_ENT_RE = re.compile(r"^- (?P<name>.*) \((?P<type>[^()]*)\)$")
_REL_RE = re.compile(r"^(?:(?P<id>\d+): |- )(?P<s>.*) -- (?P<r>\S+) --> (?P<d>.*)$")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def triple_text(source: str, relation: str, destination: str) -> str:
    """How a relation is shown to the manager and in `search` (also what triplet matching embeds, with spaces)."""
    return f"{_one_line(source)} -- {relation} --> {_one_line(destination)}"


def relation_line(r: dict) -> str:
    """A relation as `search` returns it, as one line of an answer prompt's context: "Maya visited Rome (the week
    before 8 May 2023)"; an invalidated one says when it held ("(from ... until ...)")."""
    text = f"{r['source']} {r['relationship'].replace('_', ' ')} {r['destination']}"
    text += f" ({r['when']})" if r.get("when") else ""
    return text if r.get("valid", True) else f"{text} (from {r['valid_from']} until {r['invalidated_at']})"


def _system(stage: str, style: str) -> str:
    if (stage, style) not in GRAPH_SYSTEM_PROMPTS:
        raise ValueError(f"no graph prompt for stage {stage!r}, style {style!r}")
    return GRAPH_SYSTEM_PROMPTS[(stage, style)]


def _conversation(new: Sequence[Message], today: str) -> str:
    return f"{_H_DATE} {today or 'unknown'}\n{_H_CONV}\n" + "\n".join(format_turn(m) for m in new)


def render_entities(new: Sequence[Message], today: str, style: str = "teacher") -> list[dict[str, str]]:
    return [{"role": "system", "content": _system("graph_entities", style)},
            {"role": "user", "content": _conversation(new, today)}]


def render_relations(new: Sequence[Message], entities: Sequence[tuple[str, str]], today: str,
                     style: str = "teacher") -> list[dict[str, str]]:
    """`entities` are (name, type) pairs."""
    ents = "\n".join(f"- {_one_line(n)} ({t})" for n, t in entities) or "(none)"
    return [{"role": "system", "content": _system("graph_relations", style)},
            {"role": "user", "content": f"{_conversation(new, today)}\n{_H_ENT}\n{ents}"}]


def render_resolve(conversation: Sequence[Message], existing: Sequence[tuple[str, tuple[str, str, str]]],
                   new: Sequence[tuple[str, str, str]], today: str, style: str = "teacher") -> list[dict[str, str]]:
    """`existing` are (small id, (source, relation, destination)); `new` are triples. The conversation is shown
    too: a retraction ("I quit my job") obsoletes a relation without making a new one."""
    old = "\n".join(f"{i}: {triple_text(*t)}" for i, t in existing) or "(none)"
    fresh = "\n".join(f"- {triple_text(*t)}" for t in new) or "(none)"
    user = f"{_conversation(conversation, today)}\n{_H_EXISTING}\n{old}\n{_H_NEWREL}\n{fresh}"
    return [{"role": "system", "content": _system("graph_resolve", style)}, {"role": "user", "content": user}]


def render_graph_for_style(messages: list[dict[str, str]], stage: str, style: str) -> list[dict[str, str]]:
    """Re-render a recorded graph prompt under another style (same inputs, other system prompt)."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] = _system(stage, style)
    return out


# ------------------------------------------------------------------------------- inverse of the renderers
def graph_stage_of(messages: Sequence[dict[str, str]]) -> str:
    """Which graph stage a rendered prompt belongs to; ValueError for any other prompt."""
    users = [m["content"] for m in messages if m.get("role") == "user"]
    lines = users[-1].split("\n") if users else []
    if _H_EXISTING in lines:
        return "graph_resolve"
    if _H_ENT in lines:
        return "graph_relations"
    if _H_CONV in lines:
        return "graph_entities"
    raise ValueError("not a memmgr graph prompt")


def parse_graph_input(messages: Sequence[dict[str, str]]) -> dict:
    """{'stage', 'today', 'new': [{id, name, text}], 'entities': [(name, type)], 'existing': [(id, triple)],
    'relations': [triple]} from a rendered graph prompt (keys that the stage has)."""
    from memmgr.prompts import _turns

    stage = graph_stage_of(messages)
    lines = [m["content"] for m in messages if m.get("role") == "user"][-1].split("\n")
    first = lines[0]
    out: dict = {"stage": stage, "today": first[len(_H_DATE):].strip() if first.startswith(_H_DATE) else ""}
    section = ""
    for line in lines[1:]:
        if line.startswith("### "):
            section = line
            continue
        if section == _H_CONV:
            out.setdefault("new", []).extend(_turns([line]))
        elif section == _H_ENT and (m := _ENT_RE.match(line)):
            out.setdefault("entities", []).append((m["name"], m["type"]))
        elif section in (_H_EXISTING, _H_NEWREL) and (m := _REL_RE.match(line)):
            triple = (m["s"], m["r"], m["d"])
            if section == _H_EXISTING:
                out.setdefault("existing", []).append((m["id"], triple))
            else:
                out.setdefault("relations", []).append(triple)
    return out


def entities_output(entities: Sequence[tuple[str, str]]) -> str:
    """Canonical answers (what an oracle returns and SFT learns)."""
    return json.dumps({"entities": [{"name": n, "type": t} for n, t in entities]}, ensure_ascii=False)


def relations_output(triples: Sequence[Sequence[str]]) -> str:
    """Triples, or (source, relation, destination, when) for a dated one."""
    return json.dumps({"relations": [{"source": t[0], "relation": t[1], "destination": t[2],
                                      **({"when": t[3]} if len(t) > 3 and t[3] else {})} for t in triples]},
                      ensure_ascii=False)


def resolve_output(ids: Sequence[str]) -> str:
    return json.dumps({"invalidate": [str(i) for i in ids]})
