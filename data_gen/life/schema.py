"""The shape of a topic family: activities (said as dated events or as plans), ongoing states and opinions, each a
template whose `{slots}` are filled from the family's value lists (or from the speaker's people), rendered once in
the speaker's first person (dialogue) and once in the third person (the gold memory, LOCOMO observation style).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from data_gen.life.talk import PERSON_SLOTS

MARKERS = frozenset({"subj", "pos", "obj", "is", "has", "s", "es"})
_IRREGULAR = {"go": "went", "take": "took", "have": "had", "give": "gave", "make": "made", "buy": "bought",
              "find": "found", "sell": "sold", "run": "ran", "see": "saw", "get": "got", "throw": "threw",
              "meet": "met", "spend": "spent", "write": "wrote", "build": "built", "teach": "taught", "win": "won",
              "ride": "rode", "hang": "hung", "fly": "flew", "sing": "sang", "lose": "lost", "do": "did",
              "swim": "swam", "bring": "brought", "leave": "left", "read": "read", "hold": "held",
              "begin": "began", "pay": "paid", "grow": "grew", "eat": "ate", "feel": "felt", "sit": "sat",
              "hurt": "hurt", "put": "put", "set": "set", "cut": "cut", "lead": "led", "drive": "drove",
              "break": "broke", "speak": "spoke", "catch": "caught", "sleep": "slept", "keep": "kept"}
_DOUBLE = {"plan", "shop", "stop", "jog", "drop", "ship", "hug", "chat", "tap"}


def past_of(base: str) -> str:
    """Past tense of a verb phrase: its first word conjugated ("go camping" -> "went camping")."""
    head, _, rest = base.partition(" ")
    if head in _IRREGULAR:
        out = _IRREGULAR[head]
    elif head in _DOUBLE:
        out = head + head[-1] + "ed"
    elif head.endswith("e"):
        out = head + "d"
    elif head.endswith("y") and head[-2:-1] not in "aeiou":
        out = head[:-1] + "ied"
    else:
        out = head + "ed"
    return f"{out} {rest}".strip()


def slots_of(*templates: str | None) -> list[str]:
    """The slot names used by templates (markers excluded), in first-seen order."""
    seen: list[str] = []
    for t in templates:
        for _, name, _, _ in string.Formatter().parse(t or ""):
            if name and name not in MARKERS and name not in seen:
                seen.append(name)
    return seen


@dataclass(frozen=True)
class Act:
    """Something done: an event ("{subj} went camping ... on 7 May 2023") or a plan ("... is planning to go
    camping ... in June 2023") that later happens, changes or is cancelled. `who`: the subject is one of the
    speaker's people with this person slot ("child": "my son Leo started kindergarten"), None: the speaker."""

    base: str  # verb phrase, base form: "go camping {with} at {park}"
    noun: str | None = None  # "the camping trip at {park}" (feelings about it); None: no feeling fact
    cap: str | None = None  # photo caption (third person); None: not photographed
    ask: tuple[str, str] | None = None  # single-hop probe: (question with {S} = subject, slot holding the answer)
    who: str | None = None
    plan: bool = True  # can be planned ahead (an injury cannot)


@dataclass(frozen=True)
class State:
    """An ongoing fact with one current value (`key` slot): restated (NOOP), changed (UPDATE), stopped (DELETE)."""

    say: str  # "{subj} {is} learning to play {instrument}"
    key: str
    ask: str  # "What instrument is {S} learning to play?"
    before: str  # multi-hop probe after a change: "What instrument did {S} learn before {new}?"
    stop: str | None = None  # "{subj} stopped learning to play {instrument}"; None: can only change
    cap: str | None = None
    who: str | None = None
    single: bool = False  # only for people without a partner (dating, engaged)


@dataclass(frozen=True)
class Family:
    name: str
    slots: dict[str, tuple[str, ...]]
    acts: tuple[Act, ...]
    states: tuple[State, ...]
    topics: tuple[str, ...]  # opinion topics: "{subj} love{s} {topic} because {reason}"
    colour: tuple[str, ...] = field(default=())  # fact-free story sentences

    def check(self) -> None:
        """Every slot a template uses has values (a person slot or this family's lists)."""
        known = set(self.slots) | set(PERSON_SLOTS) | {"with"}
        for a in self.acts:
            missing = set(slots_of(a.base, a.noun, a.cap, a.ask[0] if a.ask else None)) - known - {"S"}
            if missing or (a.ask and a.ask[1] not in slots_of(a.base)):
                raise ValueError(f"{self.name}: {a.base!r}: unknown slots {missing or a.ask}")
        for s in self.states:
            missing = set(slots_of(s.say, s.stop, s.cap)) - known
            if missing or s.key not in slots_of(s.say):
                raise ValueError(f"{self.name}: {s.say!r}: unknown slots {missing or s.key}")
