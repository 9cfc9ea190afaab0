"""Seeded simulation of two friends chatting over dated sessions about their lives, with gold facts and ops.

Each world uses its own `random.Random(f"life:{seed}:{split}:{index}")` and draws every fact from the topic
families of its split only. The simulator keeps the gold memory list while it speaks; each fact comes with the op
it implies given the current state: new event / plan / state / opinion / feeling -> ADD; a plan that happens or
changes -> UPDATE of the plan, cancelled -> DELETE; a state restated -> NOOP, changed -> UPDATE, stopped -> DELETE;
an opinion restated -> NOOP, turned around -> UPDATE. The gold must survive the real pipeline, so every generated
fact is checked as the pipeline will check it (see `data_gen/life/__init__.py`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from data_gen.life import talk
from data_gen.life.schema import Act, Family, State, past_of, slots_of
from data_gen.life.talk import PERSON_SLOTS, SAY, cap, decap, tidy, voice
from data_gen.synthetic.models import GoldOp
from memmgr.embed import HashEmbedder
from memmgr.sanitize import norm_text

DUP_MAX = 0.9  # no ADD this close (hash cosine) to a stored memory: the pipeline drops ADDs at 0.95 as duplicates
RANK_MAX = 5  # UPDATE/DELETE targets are among the 5 memories nearest their fact (the pipeline shows top_s=10)
MIN_SUPPORT = 0.6  # every gold fact is grounded in its own turns at least this well (the pipeline guard: 0.5)
_EMB = HashEmbedder(384)


@lru_cache(maxsize=1 << 16)
def _vec(text: str) -> dict[int, float]:
    return {i: x for i, x in enumerate(_EMB.embed([text])[0]) if x}


def _cos(a: str, b: str) -> float:
    va, vb = _vec(a), _vec(b)
    return sum(x * vb.get(i, 0.0) for i, x in va.items())


def fmt(template: str, v: dict[str, str], vals: dict[str, str]) -> str:
    """Fill a template: markers from the voice, slot values (which may hold markers themselves)."""
    return tidy(template.format(**v, **{k: x.format(**v) for k, x in vals.items()}))


@dataclass
class Person:
    name: str
    gender: str
    people: list[tuple[str, str, str]]  # (kinship, name, gender)


@dataclass
class Said:
    kind: str
    text: str
    ops: list[GoldOp]
    fam: Family
    cap: str = ""  # photo caption, "" when nothing to show
    bare: str = ""  # the sentence without its companion (stories name the companion separately)
    comp: str = ""
    noun: tuple[str, str] | None = None  # (as said, as in the gold) for a feeling fact


@dataclass
class Rec:
    """A fact that can evolve: a plan, a state or an opinion (also kept, frozen, for events and QA)."""

    person: Person
    fam: Family
    item: Any  # Act | State | opinion topic
    sv: dict[str, str]
    fv: dict[str, str]
    vals: dict[str, str]
    text: str
    when: str = ""
    due: datetime | None = None
    since: datetime | None = None  # when it was last said to change: it changes again only in a later session
    extra: dict[str, str] = field(default_factory=dict)


class Life:
    def __init__(self, rng: random.Random, families: list[Family]):
        self.rng, self.families = rng, families
        self.memory: list[str] = []
        self.locked: set[str] = set()  # memories touched in the current pair (touched once, never re-targeted)
        self.pair_facts: set[str] = set()
        self.used: set[tuple] = set()
        self.plans: list[Rec] = []
        self.states: dict[tuple, Rec] = {}
        self.opinions: dict[tuple, Rec] = {}
        self.events: list[Rec] = []
        self.changes: list[tuple[Rec, str, str]] = []  # (record after the change, old answer, new answer)

    # ------------------------------------------------------------------------------------------ gold state
    def _can_add(self, text: str, ignore: str | None = None) -> bool:
        n = norm_text(text)
        if n in self.pair_facts or any(norm_text(m) == n for m in self.memory):
            return False
        return all(_cos(text, m) < DUP_MAX for m in self.memory if m != ignore)

    def _can_target(self, fact: str, target: str) -> bool:
        if target in self.locked or norm_text(fact) in self.pair_facts:
            return False
        t = _cos(fact, target)
        return sum(1 for m in self.memory if m != target and _cos(fact, m) >= t) < RANK_MAX

    def _op(self, event: str, fact: str, target: str | None = None, text: str | None = None) -> GoldOp:
        if event == "ADD":
            self.memory.append(fact)
            text = fact
        elif event == "UPDATE":
            self.memory[self.memory.index(target)] = text
        elif event == "DELETE":
            self.memory.remove(target)
            text = target
        else:
            text = target
        self.locked.update(x for x in (target, text) if x)
        self.pair_facts.add(norm_text(fact))
        return GoldOp(event=event, fact=fact, target=target, text=text or "")

    # ------------------------------------------------------------------------------------------- filling
    def _voices(self, p: Person, who: str | None) -> tuple[dict, dict, str] | None:
        """(speech voice, gold voice, subject key): the speaker, or one of their people in the person slot."""
        if who is None:
            return voice(True, "I", p.gender), voice(False, p.name, p.gender), p.name
        cands = [x for x in p.people if x[0] in PERSON_SLOTS[who]]
        if not cands:
            return None
        kin, name, g = self.rng.choice(cands)
        return voice(False, f"my {kin} {name}", g), voice(False, f"{p.name}'s {kin} {name}", g), f"{kin} {name}"

    def _value(self, p: Person, fam: Family, slot: str, exclude: str = "") -> str | None:
        rng = self.rng
        if slot == "with":
            r = rng.random()
            if r < 0.45:
                return ""
            if r < 0.6:
                return "with " + rng.choice(talk.GROUPS)
            kin, name, _ = rng.choice(p.people)
            return f"with {{pos}} {kin} {name}"
        if slot in PERSON_SLOTS:
            cands = [f"{{pos}} {k} {n}" for k, n, _ in p.people if k in PERSON_SLOTS[slot]]
        else:
            cands = list(fam.slots[slot])
        cands = [c for c in cands if c != exclude]
        return rng.choice(cands) if cands else None

    def _values(self, p: Person, fam: Family, names: list[str]) -> dict[str, str] | None:
        vals = {n: self._value(p, fam, n) for n in names}
        return None if any(v is None for v in vals.values()) else vals

    def _say(self, kind: str, core: str, rel: str = "", **kw: str) -> str:
        t = self.rng.choice(SAY[kind])
        return tidy(t.format(core=decap(core), Core=cap(core), rel=rel, Rel=cap(rel), **kw))

    def _pick(self, p: Person, item_of) -> tuple[Family, Any, tuple] | None:
        fam = self.rng.choice(self.families)
        item = item_of(fam)
        vo = self._voices(p, getattr(item, "who", None))
        return (fam, item, vo) if vo else None

    # ---------------------------------------------------------------------------------------- fact kinds
    def _fresh_act(self, p: Person, ok=lambda act: True):
        """(family, activity, (sv, fv, skey), slot values, signature) of an activity `p` has not used, or None."""
        got = self._pick(p, lambda f: self.rng.choice(f.acts))
        if not got or not ok(got[1]):
            return None
        fam, act, forms = got
        vals = self._values(p, fam, slots_of(act.base, act.noun, act.cap))
        sig = (p.name, act.base, forms[2], tuple(sorted((vals or {}).items())))
        if vals is None or sig in self.used:
            return None
        return fam, act, forms, vals, sig

    def event(self, p: Person, date: datetime) -> Said | None:
        got = self._fresh_act(p)
        if not got:
            return None
        fam, act, (sv, fv, _), vals, sig = got
        rel, when = talk.past_date(self.rng, date)
        fact = tidy(f"{fv['subj']} {past_of(fmt(act.base, fv, vals))} {when}")
        if not self._can_add(fact):
            return None
        self.used.add(sig)
        op = self._op("ADD", fact)
        self.events.append(Rec(p, fam, act, sv, fv, vals, fact, when))
        return self._event_said("event", p, fam, act, sv, fv, vals, rel, [op])

    def _event_said(self, kind, p, fam, act: Act, sv, fv, vals, rel, ops) -> Said:
        core = f"{sv['subj']} {past_of(fmt(act.base, sv, vals))}"
        said = Said(kind, self._say(kind, core, rel), ops, fam, fmt(act.cap, fv, vals) if act.cap else "")
        if vals.get("with"):
            said.comp = vals["with"][5:].format(**sv)
            said.bare = self._say(kind, f"{sv['subj']} {past_of(fmt(act.base, sv, {**vals, 'with': ''}))}", rel)
        if act.noun and act.who is None:
            said.noun = (fmt(act.noun, sv, vals), fmt(act.noun, fv, vals))
        return said

    def plan(self, p: Person, date: datetime) -> Said | None:
        got = self._fresh_act(p, lambda act: act.plan and sum(r.person is p for r in self.plans) < 4)
        if not got:
            return None
        fam, act, (sv, fv, _), vals, sig = got
        rel, when, due = talk.future_date(self.rng, date)
        fact = tidy(f"{fv['subj']} is planning to {fmt(act.base, fv, vals)} {when}")
        if not self._can_add(fact):
            return None
        self.used.add(sig)
        op = self._op("ADD", fact)
        self.plans.append(Rec(p, fam, act, sv, fv, vals, fact, when, due, date, {"sig": sig}))
        return Said("plan", self._say("plan", self._plan_core(act, sv, vals), rel), [op], fam)

    def _plan_core(self, act: Act, sv: dict, vals: dict) -> str:
        b = fmt(act.base, sv, vals)
        forms = talk.PLAN_SELF if act.who is None else talk.PLAN_OTHER
        return self.rng.choice(forms).format(b=b, subj=sv["subj"])

    def resolve(self, p: Person, date: datetime) -> Said | None:
        open_ = [r for r in self.plans if r.person is p and r.text not in self.locked and date > r.since]
        if not open_:
            return None
        r = self.rng.choice(open_)
        act, sv, fv, vals = r.item, r.sv, r.fv, r.vals
        how = self.rng.choice(["cancel", "change"] + (["happen"] * 3 if date >= r.due else []))
        if how == "cancel":
            fact = tidy(f"{fv['subj']} cancelled the plan to {fmt(act.base, fv, vals)}")
            if not self._can_target(fact, r.text):
                return None
            self.plans.remove(r)
            core = f"{sv['subj']} cancelled the plan to {fmt(act.base, sv, vals)}"
            return Said("cancel", self._say("cancel", core), [self._op("DELETE", fact, r.text)], r.fam)
        if how == "happen":
            rel, when = talk.past_date(self.rng, date)
            fact = tidy(f"{fv['subj']} {past_of(fmt(act.base, fv, vals))} {when}")
            if not (self._can_target(fact, r.text) and self._can_add(fact, ignore=r.text)):
                return None
            self.plans.remove(r)
            op = self._op("UPDATE", fact, r.text, fact)
            self.events.append(Rec(p, r.fam, act, sv, fv, vals, fact, when))
            return self._event_said("happen", p, r.fam, act, sv, fv, vals, rel, [op])
        new = dict(vals)
        movable = [s for s in slots_of(act.base) if s != "with" and s not in PERSON_SLOTS]
        if movable and self.rng.random() < 0.5:
            slot = self.rng.choice(movable)
            new[slot] = self._value(p, r.fam, slot, exclude=vals[slot]) or vals[slot]
        sig = r.extra["sig"][:3] + (tuple(sorted(new.items())),)
        rel, when, due = talk.future_date(self.rng, date)
        fact = tidy(f"{fv['subj']} is planning to {fmt(act.base, fv, new)} {when}")
        if (new != vals and sig in self.used) or not (self._can_target(fact, r.text)
                                                      and self._can_add(fact, ignore=r.text)):
            return None
        self.used.add(sig)
        op = self._op("UPDATE", fact, r.text, fact)
        r.vals, r.text, r.when, r.due, r.since, r.extra["sig"] = new, fact, when, due, date, sig
        return Said("change", self._say("change", self._plan_core(act, sv, new), rel), [op], r.fam)

    def state(self, p: Person, date: datetime) -> Said | None:
        held = [k for k in self.states if k[0] == p.name]
        if held and self.rng.random() < 0.5:  # talk again about something already said (restate, change, stop)
            fam, si = self.states[(k := self.rng.choice(held))].fam, k[2]
        else:
            fam = self.rng.choice(self.families)
            si = self.rng.randrange(len(fam.states))
        st: State = fam.states[si]
        key = (p.name, fam.name, si)
        cur = self.states.get(key)
        if cur is None:
            vo = None if st.single and any(k in PERSON_SLOTS["partner"] for k, _, _ in p.people) else \
                self._voices(p, st.who)
            vals = vo and self._values(p, fam, slots_of(st.say, st.stop, st.cap))
            if not vals or not self._can_add(fact := fmt(st.say, vo[1], vals)):
                return None
            self.states[key] = Rec(p, fam, st, vo[0], vo[1], vals, fact, since=date)
            text = self._say("state", fmt(st.say, vo[0], vals))
            return Said("state", text, [self._op("ADD", fact)], fam, fmt(st.cap, vo[1], vals) if st.cap else "")
        how = self.rng.choice(["restate"] + (["restate", "shift", "shift"] + (["stop"] if st.stop else [])
                                             if date > cur.since else []))
        if cur.text in self.locked:
            return None
        if how == "restate":
            return Said("restate", self._say("restate", fmt(st.say, cur.sv, cur.vals)),
                        [self._op("NOOP", cur.text, cur.text)], fam, fmt(st.cap, cur.fv, cur.vals) if st.cap else "")
        if how == "stop":
            fact = fmt(st.stop, cur.fv, cur.vals)
            if not self._can_target(fact, cur.text):
                return None
            del self.states[key]
            return Said("stop", self._say("stop", fmt(st.stop, cur.sv, cur.vals)),
                        [self._op("DELETE", fact, cur.text)], fam)
        new = {**cur.vals, st.key: self._value(p, fam, st.key, exclude=cur.vals[st.key])}
        fact = fmt(st.say, cur.fv, new)
        if new[st.key] is None or not (self._can_target(fact, cur.text) and self._can_add(fact, ignore=cur.text)):
            return None
        op = self._op("UPDATE", fact, cur.text, fact)
        old = cur.vals[st.key].format(**cur.fv)
        cur.vals, cur.text, cur.since = new, fact, date
        self.changes.append((cur, old, new[st.key].format(**cur.fv)))
        return Said("shift", self._say("shift", fmt(st.say, cur.sv, new)), [op], fam)

    def opinion(self, p: Person, date: datetime) -> Said | None:
        held = [k for k in self.opinions if k[0] == p.name]
        if held and self.rng.random() < 0.5:
            key = self.rng.choice(held)
            fam, topic = self.opinions[key].fam, key[1]
        else:
            fam = self.rng.choice(self.families)
            topic = self.rng.choice(fam.slots[self.rng.choice(fam.topics)])
            key = (p.name, topic)
        cur = self.opinions.get(key)
        sv, fv = voice(True, "I", p.gender), voice(False, p.name, p.gender)
        if cur is not None and cur.text in self.locked:
            return None
        if cur is not None and (self.rng.random() < 0.4 or date <= cur.since):
            return Said("reopinion", self._say("reopinion", fmt(cur.extra["t"], sv, {"topic": topic})),
                        [self._op("NOOP", cur.text, cur.text)], fam)
        good = cur.extra["good"] != "1" if cur else self.rng.random() < 0.6
        feel = self.rng.choice(talk.POS_FEEL if good else talk.NEG_FEEL)
        t = "{subj} " + feel + " {topic}"
        if self.rng.random() < 0.7:
            t += " because " + self.rng.choice(talk.POS_REASONS if good else talk.NEG_REASONS)
        fact = fmt(t, fv, {"topic": topic})
        extra = {"t": t, "good": "1" if good else "0", "feel": feel.format(**fv).removeprefix("is ")}
        if cur is None:
            if not self._can_add(fact):
                return None
            self.opinions[key] = Rec(p, fam, topic, sv, fv, {"topic": topic}, fact, since=date, extra=extra)
            return Said("opinion", self._say("opinion", fmt(t, sv, {"topic": topic})), [self._op("ADD", fact)], fam)
        if not (self._can_target(fact, cur.text) and self._can_add(fact, ignore=cur.text)):
            return None
        op = self._op("UPDATE", fact, cur.text, fact)
        self.changes.append((cur, cur.extra["feel"], extra["feel"]))
        cur.text, cur.extra, cur.since = fact, extra, date
        return Said("turn", self._say("turn", fmt(t, sv, {"topic": topic})), [op], fam)

    def feeling(self, p: Person, said: Said) -> Said | None:
        if not said.noun:
            return None
        feeling = self.rng.choice(talk.FEELINGS)
        fact = tidy(f"{p.name} felt {feeling} after {said.noun[1]}")
        sig = ("felt", p.name, said.noun[1])  # one feeling per thing: "felt proud / happy after X" are near-duplicates
        if sig in self.used or not self._can_add(fact):
            return None
        self.used.add(sig)
        text = tidy(self.rng.choice(SAY["feeling"]).format(feeling=feeling, noun=said.noun[0]))
        return Said("feeling", text, [self._op("ADD", fact)], said.fam)

    KINDS = {"event": 0.26, "plan": 0.14, "resolve": 0.18, "state": 0.28, "opinion": 0.14}

    def fact(self, p: Person, date: datetime, prefer: str | None = None) -> Said | None:
        for attempt in range(14):
            kind = prefer if prefer and attempt < 4 else self.rng.choices(list(self.KINDS),
                                                                          list(self.KINDS.values()))[0]
            said = getattr(self, kind)(p, date)
            if said:
                return said
        return None
