"""Seeded simulation of a persona whose attributes evolve over dated sessions, with gold facts and ops per pair.

Every world is generated from its own `random.Random(f"world:{seed}:{split}:{index}")`, so a world does not depend
on how many others are generated with it. The simulator keeps the gold memory list while it speaks: each utterance
returns the ops it implies *given the current state* (first mention: ADD; restatement: NOOP; change: UPDATE of the
slot's memory; retraction: DELETE), so the gold is self-consistent by construction (`replay` checks it).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from data_gen.synthetic.models import GoldOp, GoldPair, SessionInfo, World, replay, said_by
from data_gen.synthetic.phrasing import (
    CHITCHAT,
    EVENTS,
    FAMILIES,
    FAMILY_SPLITS,
    KIN,
    RELATIVE_SLOTS,
    REPLIES,
    SLOTS,
)
from memmgr.types import human_date

NAMES = ["Maya", "Leo", "Ana", "Kai", "Mia", "Omar", "Priya", "Tomas", "Zoe", "Ravi", "Ines", "Hugo", "Lena",
         "Jonas", "Aiko", "Nadia", "Felix", "Sara", "Diego", "Elif", "Marta", "Yusuf", "Chloe", "Ivan"]
Value = tuple[str, str]  # (spoken value, resolved date phrase or "")


def relative_past(rng: random.Random, date: datetime) -> tuple[str, str]:
    """(relative phrase, resolved absolute phrase) for something that happened before `date`."""
    kind = rng.choice(["yesterday", "last week", "last month", "last weekend"])
    if kind == "yesterday":
        return "yesterday", f"on {human_date(date - timedelta(days=1))}"
    if kind == "last week":
        return "last week", f"in the week before {human_date(date)}"
    if kind == "last weekend":
        sat = date - timedelta(days=(date.weekday() - 5) % 7 or 7)
        return "last weekend", f"on the weekend of {human_date(sat)}"
    prev = date.replace(day=1) - timedelta(days=1)
    return "last month", f"in {prev.strftime('%B %Y')}"


def relative_future(rng: random.Random, date: datetime) -> tuple[str, str]:
    """(relative phrase, resolved absolute phrase) for a plan after `date`."""
    if rng.random() < 0.5:
        return "next week", f"in the week after {human_date(date)}"
    nxt = (date.replace(day=28) + timedelta(days=4)).replace(day=1)
    return "next month", f"in {nxt.strftime('%B %Y')}"


def _strip_in_on(phrase: str) -> str:
    for prefix in ("on ", "in "):
        if phrase.startswith(prefix):
            return phrase[len(prefix):]
    return phrase


class _Sim:
    def __init__(self, rng: random.Random, split: str):
        self.rng = rng
        self.families = FAMILY_SPLITS[split]
        self.state: dict[tuple[str, str], Value] = {}  # (person, slot) -> current value
        self.memory: list[str] = []  # gold memory texts in insertion order
        self.history: list[tuple[str, str, str]] = []  # (person, slot, spoken value), every value ever held
        self.events_left = rng.sample(EVENTS, len(EVENTS))
        self.event_facts: list[tuple[str, str]] = []  # (base form, resolved date phrase)

    def _tmpl(self, fam: str, kind: str, slot: str | None = None) -> str:
        group = FAMILIES[fam][kind]
        return self.rng.choice(group[slot] if isinstance(group, dict) else group)

    @staticmethod
    def memory_text(person: str, slot: str, value: Value) -> str:
        return SLOTS[slot].memory.format(n=person, v=value[0], when=value[1])

    def _add(self, person: str, slot: str, value: Value) -> str:
        text = self.memory_text(person, slot, value)
        self.state[(person, slot)] = value
        self.memory.append(text)
        self.history.append((person, slot, value[0]))
        return text

    def slot_turn(self, person: str, slot: str, date: datetime, kin: tuple[str, str] | None = None
                  ) -> tuple[str, list[GoldOp]]:
        """One statement about `person`'s `slot`. `kin=(kinship, name)`: the speaker talks about a relative, and
        `person` is then "Maya's brother Tom"."""
        fam = self.rng.choice(self.families)
        spec = SLOTS[slot]
        key = (person, slot)
        kw = {"kin": kin[0], "who": kin[1]} if kin else {}
        state_kind, change_kind = ("rel_state", "rel_change") if kin else ("state", "change")

        def new_value(exclude: str = "") -> tuple[Value, str]:
            v = self.rng.choice([x for x in spec.values if x != exclude])
            rel, when = relative_future(self.rng, date) if spec.dated else ("", "")
            return (v, when), rel

        if key not in self.state:
            value, rel = new_value()
            text = self._add(person, slot, value)
            return self._tmpl(fam, state_kind, slot).format(v=value[0], rel=rel, **kw), [
                GoldOp(event="ADD", fact=text, text=text)]
        old = self.state[key]
        old_text = self.memory_text(person, slot, old)
        # a dated plan restated later would carry a stale relative date: plans only change or get cancelled
        kinds = (["UPDATE"] if spec.dated else ["NOOP", "UPDATE"]) + ["UPDATE"]
        if spec.retract and not kin:
            kinds.append("DELETE")
        event = self.rng.choice(kinds)
        if event == "NOOP":
            said = self._tmpl(fam, state_kind, slot).format(v=old[0], rel="", **kw)
            said = self._tmpl(fam, "restate").format(s=said)
            return said, [GoldOp(event="NOOP", fact=old_text, target=old_text, text=old_text)]
        if event == "UPDATE":
            value, rel = new_value(exclude=old[0])
            new_text = self.memory_text(person, slot, value)
            self.state[key] = value
            self.memory[self.memory.index(old_text)] = new_text
            self.history.append((person, slot, value[0]))
            said = self._tmpl(fam, change_kind, slot).format(v=value[0], o=old[0], rel=rel, **kw)
            return said, [GoldOp(event="UPDATE", fact=new_text, target=old_text, text=new_text)]
        fact = spec.retract.format(n=person, v=old[0])
        del self.state[key]
        self.memory.remove(old_text)
        said = self._tmpl(fam, "retract", slot).format(o=old[0])
        return said, [GoldOp(event="DELETE", fact=fact, target=old_text, text=old_text)]

    def event_turn(self, person: str, date: datetime) -> tuple[str, list[GoldOp]] | None:
        if not self.events_left:
            return None
        past, base = self.events_left.pop()
        rel, resolved = relative_past(self.rng, date)
        text = f"{person} {past} {resolved}"
        self.memory.append(text)
        self.event_facts.append((base, resolved))
        said = self._tmpl(self.rng.choice(self.families), "event").format(rel=rel, Rel=rel.capitalize(), past=past)
        return said, [GoldOp(event="ADD", fact=text, text=text)]


def generate_world(seed: int, index: int, split: str = "train", n_sessions: tuple[int, int] = (3, 30)) -> World:
    rng = random.Random(f"world:{seed}:{split}:{index}")
    world_id = f"{split}-{seed}-{index:05d}"
    name, friend = rng.sample(NAMES, 2)
    kinship = rng.choice(sorted(KIN))
    kin = (kinship, rng.choice(KIN[kinship]))
    relative = f"{name}'s {kin[0]} {kin[1]}"
    sim = _Sim(rng, split)
    main_slots = rng.sample(list(SLOTS), rng.randint(5, len(SLOTS)))
    friend_slots = rng.sample(["city", "job", "pet", "car"], 2)
    date = datetime(2022, 1, 1) + timedelta(days=rng.randint(0, 500), hours=rng.randint(8, 20),
                                              minutes=rng.choice([0, 15, 30, 45]))
    pairs: list[GoldPair] = []
    sessions: list[SessionInfo] = []
    for s in range(1, rng.randint(*n_sessions) + 1):
        date += timedelta(days=rng.randint(3, 21))
        info = SessionInfo(index=s, date_time=date)
        for p in range(rng.randint(2, 4)):
            r = rng.random()
            ops: list[GoldOp] = []
            if r < 0.18:
                text = rng.choice(CHITCHAT)
            elif r < 0.28 and (ev := sim.event_turn(name, date)):
                text, ops = ev
            elif r < 0.36:  # distractor person: a relative of the speaker, facts named after them
                text, ops = sim.slot_turn(relative, rng.choice(RELATIVE_SLOTS), date, kin=kin)
            else:
                first, second = rng.sample(main_slots, 2)
                text, ops = sim.slot_turn(name, first, date)
                if r > 0.86:  # a second statement, about another attribute, in the same message
                    t2, ops2 = sim.slot_turn(name, second, date)
                    text, ops = f"{text} {t2}", ops + ops2
            if rng.random() < 0.25:  # the friend talks about themselves: facts of the friend's own scope
                reply, rops = sim.slot_turn(friend, rng.choice(friend_slots), date)
            else:
                reply, rops = rng.choice(REPLIES), []
            pid = f"{world_id}:s{s}:p{p}"  # message ids unique across worlds: the oracle finds the pair by them
            msgs = [{"role": "user", "name": name, "content": text, "id": f"{pid}:a", "timestamp": date},
                    {"role": "assistant", "name": friend, "content": reply, "id": f"{pid}:b", "timestamp": date}]
            all_ops = said_by(ops, name) + said_by(rops, friend)  # the relative's facts are kept by the speaker
            pairs.append(GoldPair(pair_id=pid, session=s, messages=msgs, facts=[o.fact for o in all_ops],
                                  ops=all_ops))
            info.pair_ids.append(pid)
        sessions.append(info)
    world = World(world_id=world_id, split=split, speakers=[name, friend], user_id=world_id, sessions=sessions,
                  pairs=pairs, final_state=[], qa=_qa(sim, name, relative))
    world.final_state = replay(world)  # the main speaker's scope; the friend's is replay(world, friend)
    return world


_BEFORE = {"city": "Where did {n} live before moving to {v}?", "job": "What did {n} work as before being a {v}?",
           "car": "What car did {n} drive before the {v}?"}


def _qa(sim: _Sim, name: str, relative: str) -> list[dict[str, str]]:
    """Probes answerable from the gold: current values (single-hop), the value before a change (multi-hop),
    resolved dates of events and plans (temporal), and a relative's attributes (distractor person)."""
    qa = []
    for (person, slot), (v, when) in sim.state.items():
        if person == name:
            qa.append({"question": SLOTS[slot].question.format(n=name), "answer": v, "category": "single-hop"})
            if when:
                qa.append({"question": f"When is {name} planning to travel to {v}?", "answer": _strip_in_on(when),
                           "category": "temporal"})
        elif person == relative:
            qa.append({"question": SLOTS[slot].question.format(n=relative), "answer": v, "category": "single-hop"})
    values: dict[str, list[str]] = {}
    for person, slot, v in sim.history:
        if person == name:
            values.setdefault(slot, []).append(v)
    for slot, vals in values.items():
        if slot in _BEFORE and len(vals) >= 2 and vals[-2] != vals[-1] and sim.state.get((name, slot)):
            qa.append({"question": _BEFORE[slot].format(n=name, v=vals[-1]), "answer": vals[-2],
                       "category": "multi-hop"})
    for base, resolved in sim.event_facts:
        qa.append({"question": f"When did {name} {base}?", "answer": _strip_in_on(resolved), "category": "temporal"})
    return qa


def generate_worlds(n: int, seed: int = 0, split: str = "train", n_sessions: tuple[int, int] = (3, 30)) -> list[World]:
    if split not in FAMILY_SPLITS:
        raise ValueError(f"split must be one of {sorted(FAMILY_SPLITS)}")
    lo, hi = n_sessions
    if not 1 <= lo <= hi:
        raise ValueError(f"n_sessions must be (lo, hi) with 1 <= lo <= hi, got {n_sessions}")
    return [generate_world(seed, i, split, (lo, hi)) for i in range(n)]
