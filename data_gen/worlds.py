"""Synthetic gold worlds: seeded personas whose attributes evolve over dated sessions, with gold facts and gold
ADD/UPDATE/DELETE/NOOP ops for every message pair, the gold final memory state and QA probes.

    from data_gen.worlds import generate_worlds
    worlds = generate_worlds(200, seed=0, split="train", n_sessions=(3, 30))

Surface text comes from phrasing families; `FAMILY_SPLITS` reserves families for validation and test, so a model
cannot pass by memorising templates. Memory texts are canonical sentences ("Maya lives in Lisbon"): UPDATE replaces
the target's text, DELETE removes it, NOOP changes nothing, so replaying gold ops from an empty store gives
`final_state` exactly (see `replay`).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from memmgr.types import Message, human_date

NAMES = ["Maya", "Leo", "Ana", "Kai", "Mia", "Omar", "Priya", "Tomas", "Zoe", "Ravi", "Ines", "Hugo", "Lena",
         "Jonas", "Aiko", "Nadia", "Felix", "Sara", "Diego", "Elif", "Marta", "Yusuf", "Chloe", "Ivan"]

# slot -> (memory text template, values, retraction fact template or None, QA question)
SLOTS: dict[str, tuple[str, list[str], str | None, str]] = {
    "city": ("{n} lives in {v}", ["Lisbon", "Porto", "Leeds", "Osaka", "Denver", "Bristol", "Toronto", "Oslo",
                                  "Quito", "Krakow"], None, "Where does {n} live?"),
    "job": ("{n} works as a {v}", ["nurse", "teacher", "software engineer", "baker", "pilot", "librarian",
                                   "carpenter", "pharmacist"], "{n} quit the job as a {v}", "What does {n} do for work?"),
    "pet": ("{n} has a {v}", ["beagle called Pixel", "tabby cat", "parrot named Kiwi", "golden retriever",
                              "hamster called Bean", "rabbit named Clover"], "{n} no longer has the {v}",
            "What pet does {n} have?"),
    "hobby": ("{n} enjoys {v}", ["pottery", "rock climbing", "chess", "gardening", "salsa dancing",
                                 "birdwatching", "knitting"], "{n} stopped {v}", "What hobby does {n} enjoy?"),
    "instrument": ("{n} plays the {v}", ["cello", "guitar", "piano", "violin", "drums", "trumpet"],
                   "{n} quit playing the {v}", "Which instrument does {n} play?"),
    "diet": ("{n} is {v}", ["vegetarian", "vegan", "pescatarian", "lactose intolerant"], "{n} is no longer {v}",
             "What diet does {n} follow?"),
    "partner": ("{n} is dating {v}", ["Alex", "Jordan", "Sam", "Robin", "Charlie"], "{n} broke up with {v}",
                "Who is {n} dating?"),
}

# phrasing families: kind -> slot -> first-person templates ({v} new value, {o} old value)
_F = dict[str, dict[str, list[str]]]
FAMILIES: dict[str, _F] = {
    "plain": {
        "state": {"city": ["I live in {v}."], "job": ["I work as a {v}."], "pet": ["I have a {v}."],
                  "hobby": ["I enjoy {v}."], "instrument": ["I play the {v}."], "diet": ["I'm {v}."],
                  "partner": ["I'm dating {v}."]},
        "change": {"city": ["I moved from {o} to {v}, so I live in {v} now."],
                   "job": ["I changed jobs, I work as a {v} now."], "pet": ["I have a {v} now instead."],
                   "hobby": ["These days I enjoy {v} more than {o}."], "instrument": ["I play the {v} now."],
                   "diet": ["I'm {v} now."], "partner": ["I'm dating {v} now."]},
        "retract": {"job": ["I quit my job as a {o}."], "pet": ["Sadly I no longer have the {o}."],
                    "hobby": ["I stopped {o}, no time."], "instrument": ["I quit playing the {o}."],
                    "diet": ["I'm no longer {o}."], "partner": ["I broke up with {o}."]},
    },
    "chatty": {
        "state": {"city": ["Life here in {v} is great, I live in {v} and love it!"],
                  "job": ["Work is busy! I'm a {v}, you know, I work as a {v}."],
                  "pet": ["Guess what, I have a {v} at home!"], "hobby": ["I've been really into {v}, I enjoy {v} a lot!"],
                  "instrument": ["I play the {v} every evening, so relaxing!"], "diet": ["Fun fact: I'm {v}!"],
                  "partner": ["So... I'm dating {v}! Isn't that exciting?"]},
        "change": {"city": ["Big news, I left {o}! I live in {v} now!"],
                   "job": ["New job! I work as a {v} now, bye bye {o} life!"],
                   "pet": ["Our home has a {v} now, the {o} went to my sister!"],
                   "hobby": ["Forget {o}, I enjoy {v} now!"], "instrument": ["I switched, I play the {v} now!"],
                   "diet": ["Guess what, I'm {v} now!"], "partner": ["Plot twist: I'm dating {v} now!"]},
        "retract": {"job": ["Ugh, I quit my job as a {o} today."], "pet": ["So sad, I no longer have the {o}."],
                    "hobby": ["Honestly I stopped {o}, it got boring."],
                    "instrument": ["I quit playing the {o}, my neighbours are happy lol."],
                    "diet": ["Confession: I'm no longer {o}!"], "partner": ["Well... I broke up with {o}."]},
    },
    "formal": {  # validation
        "state": {"city": ["My residence is in {v}; I live in {v}."], "job": ["Professionally, I work as a {v}."],
                  "pet": ["I should mention that I have a {v}."], "hobby": ["In my free time I enjoy {v}."],
                  "instrument": ["I am able to play the {v}."], "diet": ["For health reasons, I am {v}."],
                  "partner": ["I am currently dating {v}."]},
        "change": {"city": ["I have relocated from {o}; I now live in {v}."],
                   "job": ["I have taken a new position; I now work as a {v}."],
                   "pet": ["We now have a {v} in the household instead."],
                   "hobby": ["I now enjoy {v} rather than {o}."], "instrument": ["I now play the {v} instead."],
                   "diet": ["I have become {v}."], "partner": ["I am now dating {v}."]},
        "retract": {"job": ["I have quit my job as a {o}."], "pet": ["I regret to say I no longer have the {o}."],
                    "hobby": ["I have stopped {o} entirely."], "instrument": ["I have quit playing the {o}."],
                    "diet": ["I am no longer {o}."], "partner": ["I have broken up with {o}."]},
    },
    "casual": {  # test (held-out phrasing)
        "state": {"city": ["yeah {v} is home, I live in {v} haha"], "job": ["being a {v} is no joke, that's my job lol"],
                  "pet": ["my {v} says hi lol, yes I have a {v}"], "hobby": ["spent all weekend on {v} again, I enjoy {v} so much"],
                  "instrument": ["been jamming, I play the {v} now and then"], "diet": ["can't eat that, I'm {v} remember"],
                  "partner": ["me and {v} are a thing now, I'm dating {v}"]},
        "change": {"city": ["packed up and left {o} lol, I live in {v} now"],
                   "job": ["done with {o} stuff, I work as a {v} now haha"],
                   "pet": ["the {o} lives with my mom now, I have a {v} now"],
                   "hobby": ["{o} is out, I enjoy {v} now"], "instrument": ["ditched the {o}, I play the {v} now"],
                   "diet": ["new me, I'm {v} now"], "partner": ["yeah so I'm dating {v} now lol"]},
        "retract": {"job": ["lol I quit my job as a {o}"], "pet": ["rip, I no longer have the {o}"],
                    "hobby": ["nah I stopped {o} tbh"], "instrument": ["quit playing the {o}, whatever"],
                    "diet": ["not {o} anymore lol, I'm no longer {o}"], "partner": ["broke up with {o}, it's fine"]},
    },
}
FAMILY_SPLITS = {"train": ["plain", "chatty"], "validation": ["formal"], "test": ["casual"]}
RESTATE = ["As I said before, {s}", "Like I told you, {s}", "{s} Still true!", "Reminder: {s}"]
CHITCHAT = ["Hey, how are you?", "Haha that's so funny.", "What are you up to tonight?", "Good morning!",
            "Ok, talk later.", "Did you see the game?", "Thanks, you too!", "The weather is awful today."]
REPLIES = ["That's great to hear!", "Oh nice, tell me more.", "Haha, love that.", "Sounds lovely.", "Cool!",
           "Wow, really?", "I'm happy for you."]
# one-off events with relative dates: (past tense, base form for questions)
EVENTS = [("visited Rome", "visit Rome"), ("ran a half marathon", "run a half marathon"),
          ("went to a jazz concert", "go to a jazz concert"), ("painted a sunrise", "paint a sunrise"),
          ("visited Kyoto", "visit Kyoto"), ("planted a tomato garden", "plant a tomato garden"),
          ("hiked Mount Snowdon", "hike Mount Snowdon"), ("baked a wedding cake", "bake a wedding cake")]


class GoldOp(BaseModel):
    event: Literal["ADD", "UPDATE", "DELETE", "NOOP"]
    fact: str
    target: str | None = None  # text of the existing memory it touches
    text: str = ""  # memory text after ADD/UPDATE; the target's text for NOOP/DELETE


class GoldPair(BaseModel):
    pair_id: str
    session: int
    messages: list[Message]
    facts: list[str] = Field(default_factory=list)
    ops: list[GoldOp] = Field(default_factory=list)


class World(BaseModel):
    world_id: str
    split: str
    speakers: list[str]
    user_id: str
    session_dates: list[datetime]
    pairs: list[GoldPair]
    final_state: list[str]
    qa: list[dict[str, str]]

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def _relative(rng: random.Random, date: datetime) -> tuple[str, str]:
    """(relative phrase, resolved absolute phrase) against the message date."""
    kind = rng.choice(["yesterday", "last week", "last month", "last weekend"])
    if kind == "yesterday":
        return "yesterday", f"on {human_date(date - timedelta(days=1))}"
    if kind == "last week":
        return "last week", f"in the week before {human_date(date)}"
    if kind == "last weekend":
        sat = date - timedelta(days=(date.weekday() - 5) % 7 or 7)
        return "last weekend", f"on the weekend of {human_date(sat)}"
    prev = (date.replace(day=1) - timedelta(days=1))
    return "last month", f"in {prev.strftime('%B %Y')}"


class _Sim:
    def __init__(self, rng: random.Random, world_id: str, split: str):
        self.rng, self.world_id = rng, world_id
        self.families = FAMILY_SPLITS[split]
        self.state: dict[tuple[str, str], str] = {}  # (person, slot) -> value
        self.memory: list[str] = []  # gold memory texts in insertion order
        self.history: list[tuple[str, str, str, datetime]] = []  # (person, slot, value, date) incl. changes
        self.events_left = rng.sample(EVENTS, len(EVENTS))
        self.event_facts: list[tuple[str, str, str]] = []  # (fact, base form, resolved)

    def say(self, kind: str, slot: str, v: str, o: str = "") -> str:
        fam = self.rng.choice(self.families)
        return self.rng.choice(FAMILIES[fam][kind][slot]).format(v=v, o=o)

    def slot_turn(self, person: str, slots: list[str], date: datetime, slot: str | None = None
                  ) -> tuple[str, list[GoldOp]]:
        slot = slot or self.rng.choice(slots)
        tmpl, values, retract, _ = SLOTS[slot]
        key = (person, slot)
        if key not in self.state:
            v = self.rng.choice(values)
            text = tmpl.format(n=person, v=v)
            self.state[key] = v
            self.memory.append(text)
            self.history.append((person, slot, v, date))
            return self.say("state", slot, v), [GoldOp(event="ADD", fact=text, text=text)]
        old = self.state[key]
        old_text = tmpl.format(n=person, v=old)
        kinds = ["NOOP", "UPDATE", "UPDATE"] + (["DELETE"] if retract and slot in FAMILIES["plain"]["retract"] else [])
        ev = self.rng.choice(kinds)
        if ev == "NOOP":
            said = self.rng.choice(RESTATE).format(s=self.say("state", slot, old))
            return said, [GoldOp(event="NOOP", fact=old_text, target=old_text, text=old_text)]
        if ev == "UPDATE":
            v = self.rng.choice([x for x in values if x != old])
            new_text = tmpl.format(n=person, v=v)
            self.state[key] = v
            self.memory[self.memory.index(old_text)] = new_text
            self.history.append((person, slot, v, date))
            return self.say("change", slot, v, old), [GoldOp(event="UPDATE", fact=new_text, target=old_text,
                                                              text=new_text)]
        fact = retract.format(n=person, v=old)
        del self.state[key]
        self.memory.remove(old_text)
        return self.say("retract", slot, "", old), [GoldOp(event="DELETE", fact=fact, target=old_text,
                                                           text=old_text)]

    def event_turn(self, person: str, date: datetime) -> tuple[str, list[GoldOp]] | None:
        if not self.events_left:
            return None
        past, base = self.events_left.pop()
        rel, resolved = _relative(self.rng, date)
        text = f"{person} {past} {resolved}"
        self.memory.append(text)
        self.event_facts.append((text, base, resolved))
        return f"{rel.capitalize()} I {past}!", [GoldOp(event="ADD", fact=text, text=text)]


def generate_world(seed: int, index: int, split: str = "train", n_sessions: tuple[int, int] = (3, 30)) -> World:
    rng = random.Random(f"world:{seed}:{split}:{index}")
    world_id = f"{split}-{seed}-{index:05d}"
    name, friend = rng.sample(NAMES, 2)
    sim = _Sim(rng, world_id, split)
    main_slots = rng.sample(list(SLOTS), rng.randint(4, len(SLOTS)))
    friend_slots = rng.sample(["city", "job", "pet"], 2)
    date = datetime(2022, 1, 1) + timedelta(days=rng.randint(0, 500), hours=rng.randint(8, 20),
                                              minutes=rng.choice([0, 15, 30, 45]))
    pairs: list[GoldPair] = []
    dates = []
    for s in range(1, rng.randint(*n_sessions) + 1):
        date += timedelta(days=rng.randint(3, 21))
        dates.append(date)
        for p in range(rng.randint(2, 4)):
            r = rng.random()
            ops: list[GoldOp] = []
            if r < 0.2:
                text = rng.choice(CHITCHAT)
            elif r < 0.32 and (ev := sim.event_turn(name, date)):
                text, ops = ev
            else:
                first, second = rng.sample(main_slots, 2)
                text, ops = sim.slot_turn(name, main_slots, date, slot=first)
                if r > 0.88:  # a second statement, about another attribute, in the same message
                    t2, ops2 = sim.slot_turn(name, main_slots, date, slot=second)
                    text, ops = f"{text} {t2}", ops + ops2
            if rng.random() < 0.25:  # the other speaker talks about themselves: distractor facts, other person
                reply, rops = sim.slot_turn(friend, friend_slots, date)
            else:
                reply, rops = rng.choice(REPLIES), []
            pid = f"{world_id}:s{s}:p{p}"
            msgs = [Message(role="user", name=name, content=text, id=f"{pid}:a", timestamp=date),
                    Message(role="assistant", name=friend, content=reply, id=f"{pid}:b", timestamp=date)]
            all_ops = ops + rops
            pairs.append(GoldPair(pair_id=pid, session=s, messages=msgs, facts=[o.fact for o in all_ops],
                                  ops=all_ops))
    return World(world_id=world_id, split=split, speakers=[name, friend], user_id=world_id, session_dates=dates,
                 pairs=pairs, final_state=list(sim.memory), qa=_qa(sim, name))


def _qa(sim: _Sim, name: str) -> list[dict[str, str]]:
    qa = []
    for (person, slot), v in sim.state.items():
        if person == name:
            qa.append({"question": SLOTS[slot][3].format(n=name), "answer": v, "category": "single-hop"})
    changes: dict[str, list[tuple[str, datetime]]] = {}
    for person, slot, v, d in sim.history:
        if person == name:
            changes.setdefault(slot, []).append((v, d))
    for slot, vals in changes.items():
        if len(vals) >= 2 and slot == "city":
            qa.append({"question": f"Where did {name} live before {vals[-1][0]}?", "answer": vals[-2][0],
                       "category": "multi-hop"})
    for _text, base, resolved in sim.event_facts:
        answer = resolved
        for prefix in ("on the weekend of ", "in the week before ", "on ", "in "):
            answer = answer.removeprefix(prefix)
        qa.append({"question": f"When did {name} {base}?", "answer": answer, "category": "temporal"})
    return qa


def generate_worlds(n: int, seed: int = 0, split: str = "train", n_sessions: tuple[int, int] = (3, 30)) -> list[World]:
    if split not in FAMILY_SPLITS:
        raise ValueError(f"split must be one of {sorted(FAMILY_SPLITS)}")
    return [generate_world(seed, i, split, n_sessions) for i in range(n)]


def replay(world: World) -> list[str]:
    """Apply the gold ops in order to an empty store: must equal `world.final_state`."""
    state: list[str] = []
    for pair in world.pairs:
        for op in pair.ops:
            if op.event == "ADD":
                state.append(op.text)
            elif op.event == "UPDATE":
                state[state.index(op.target)] = op.text
            elif op.event == "DELETE":
                state.remove(op.target)
            elif op.target not in state:
                raise ValueError(f"NOOP on a memory that is not stored: {op.target}")
    return state


def save_worlds(worlds: list[World], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for w in worlds:
            f.write(json.dumps(w.to_dict(), ensure_ascii=False) + "\n")


def load_worlds(path: str | Path) -> list[World]:
    with open(path, encoding="utf-8") as f:
        return [World.model_validate_json(line) for line in f if line.strip()]
