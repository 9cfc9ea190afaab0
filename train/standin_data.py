"""A stand-in synthetic-oracle trace set, for training runs before/without data_gen's generator.

Same schema as data_gen's datasets (see train/data.py). A small slot world (people x attributes) gives gold facts
and gold ops by construction; user messages are phrased from *phrasing families*, and the test split uses a family
never seen in training (held-out phrasing), validation another. Prompts are rendered with memmgr.prompts (teacher
style, as a teacher trace would be); SFT re-renders them for the student.

    python -m train.standin_data --out data/standin_oracle --n_train 1200 --n_eval 160
"""

from __future__ import annotations

import argparse
import json
import random

from memmgr.prompts import PROMPT_VERSION, extraction_output, render_extraction, render_update, update_output
from memmgr.scoring import apply_ops_to_snapshot
from memmgr.types import Message, Op

NAMES = ["Sam", "Lee", "Ana", "Kai", "Mia", "Joe", "Nora", "Omar", "Priya", "Tom", "Zoe", "Ravi"]
# slot -> (fact template, values, negated fact template)
SLOTS = {
    "pet": ("{n} has a {v}", ["beagle called Pixel", "tabby cat", "parrot named Kiwi", "golden retriever",
                               "hamster called Bean", "pair of goldfish"], "{n} no longer has a {v}"),
    "city": ("{n} lives in {v}", ["Leeds", "York", "Lisbon", "Osaka", "Denver", "Bristol", "Toronto"], None),
    "job": ("{n} works as a {v}", ["nurse", "teacher", "software engineer", "baker", "pilot", "librarian"], None),
    "hobby": ("{n} enjoys {v}", ["pottery", "rock climbing", "chess", "gardening", "salsa dancing", "birdwatching"],
              "{n} stopped {v}"),
    "instrument": ("{n} plays the {v}", ["cello", "guitar", "piano", "violin", "drums"], "{n} quit playing the {v}"),
    "diet": ("{n} is {v}", ["vegetarian", "vegan", "allergic to peanuts", "lactose intolerant"], None),
}
# phrasing families: how a person states a slot value in chat (first person)
FAMILIES = {
    "plain": {"pet": "I have a {v}.", "city": "I live in {v}.", "job": "I work as a {v}.", "hobby": "I enjoy {v}.",
              "instrument": "I play the {v}.", "diet": "I'm {v}."},
    "excited": {"pet": "Guess what, I just got a {v}!", "city": "Big news: I'm living in {v} now!",
                "job": "I finally got a job as a {v}!", "hobby": "I've totally fallen for {v} lately!",
                "instrument": "I picked up the {v} and I love it!", "diet": "Fun fact about me: I'm {v}!"},
    "casual": {"pet": "oh btw my {v} says hi lol", "city": "yeah things are chill here in {v}",
               "job": "work's busy, being a {v} is no joke", "hobby": "spent the weekend on {v} again haha",
               "instrument": "been practicing the {v} every night", "diet": "can't eat that, I'm {v} remember"},
    "formal": {"pet": "I should mention that I own a {v}.", "city": "My home is currently in {v}.",
               "job": "Professionally, I am employed as a {v}.", "hobby": "In my free time I pursue {v}.",
               "instrument": "I am a {v} player.", "diet": "For health reasons, I am {v}."},
}
SPLIT_FAMILIES = {"train": ["plain", "excited"], "validation": ["formal"], "test": ["casual"]}
CHITCHAT = ["hey, how are you?", "haha that's so funny", "what are you up to tonight?", "good morning!",
            "ok talk later", "did you see the game yesterday?", "thanks, you too!"]
REPLIES = ["That's great to hear!", "Oh nice, tell me more.", "Haha, love that.", "Sounds lovely.", "Cool!"]
DATES = ["8 May 2023", "14 June 2023", "2 February 2022", "20 October 2023", "5 March 2024"]


def _fact(slot: str, name: str, value: str) -> str:
    return SLOTS[slot][0].format(n=name, v=value)


def extract_row(rng: random.Random, family: str, i: int) -> tuple[list[dict], str]:
    """One new message pair: two people talking, or a person and the assistant (whose reply holds no facts)."""
    a, b = rng.sample(NAMES, 2)
    with_bot = rng.random() < 0.5
    turns, facts = [], []
    for speaker in [a] if with_bot else [a, b]:
        r = rng.random()
        if r < 0.3:
            turns.append(Message(role="user", name=speaker, content=rng.choice(CHITCHAT)))
            continue
        slot = rng.choice(list(SLOTS))
        value = rng.choice(SLOTS[slot][1])
        text = FAMILIES[family][slot].format(v=value)
        facts.append(_fact(slot, speaker, value))
        if r > 0.85:  # two statements in one message
            slot2 = rng.choice([x for x in SLOTS if x != slot])
            v2 = rng.choice(SLOTS[slot2][1])
            text += " " + FAMILIES[family][slot2].format(v=v2)
            facts.append(_fact(slot2, speaker, v2))
        turns.append(Message(role="user", name=speaker, content=text))
    if with_bot:
        turns.append(Message(role="assistant", name="Assistant", content=rng.choice(REPLIES)))
    for k, m in enumerate(turns):
        m.id = f"D{i}:{k + 1}"
    return render_extraction("", [], turns, rng.choice(DATES)), extraction_output(facts)


def update_row(rng: random.Random, i: int) -> tuple[list[dict], str, list[list[str]], list[str]]:
    name = rng.choice(NAMES)
    slots = rng.sample(list(SLOTS), rng.randint(2, 4))
    state = {s: rng.choice(SLOTS[s][1]) for s in slots}
    shown_slots = slots[:-1]  # the last slot is not in memory yet (ADD target)
    other = rng.choice([n for n in NAMES if n != name])
    # plus a distractor about someone else, as retrieval would show
    shown = [_fact(s, name, state[s]) for s in shown_slots] + [_fact("city", other, rng.choice(SLOTS["city"][1]))]
    rng.shuffle(shown)
    snapshot = [[str(k), t] for k, t in enumerate(shown)]
    idx = {t: str(k) for k, t in enumerate(shown)}
    facts, ops = [], []
    for s in rng.sample(slots, rng.randint(1, min(2, len(slots)))):
        known = s in shown_slots
        old = _fact(s, name, state[s]) if known else None
        choices = ["UPDATE", "NOOP"] + (["DELETE"] if SLOTS[s][2] else []) if known else ["ADD"]
        ev = rng.choice(choices)
        if ev == "ADD":
            f = _fact(s, name, state[s])
            ops.append({"event": "ADD", "id": None, "text": f})
        elif ev == "NOOP":
            f = old
            ops.append({"event": "NOOP", "id": idx[old], "text": old})
        elif ev == "UPDATE":
            f = _fact(s, name, rng.choice([v for v in SLOTS[s][1] if v != state[s]]))
            ops.append({"event": "UPDATE", "id": idx[old], "text": f, "old_memory": old})
        else:
            f = SLOTS[s][2].format(n=name, v=state[s])
            ops.append({"event": "DELETE", "id": idx[old], "text": old})
        facts.append(f)
    after = apply_ops_to_snapshot(snapshot, [Op(event=o["event"], id=o["id"], text=o["text"]) for o in ops])
    return render_update(facts, [(k, t) for k, t in snapshot], rng.choice(DATES)), update_output(ops), snapshot, after


def rows(split: str, n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(f"{seed}-{split}")
    out = []
    for i in range(n):
        if i % 2 == 0:
            fam = rng.choice(SPLIT_FAMILIES[split])
            prompt, answer = extract_row(rng, fam, i)
            stage, shown, after = "extract", [], ""
        else:
            prompt, answer, shown, after_list = update_row(rng, i)
            stage, after = "update", json.dumps(after_list)
        completion = [{"role": "assistant", "content": answer}]
        out.append({"messages": prompt + completion, "prompt": prompt, "completion": completion, "stage": stage,
                    "label": answer, "shown_memories": json.dumps(shown), "source_texts": json.dumps([]),
                    "gold_after": after, "conversation_id": f"{split}-{i // 6}", "pair_id": f"{split}-{i}",
                    "teacher": "standin-oracle", "prompt_version": PROMPT_VERSION, "prompt_style": "teacher",
                    "source": "standin"})
    return out


def build(out_dir: str, n_train: int = 1200, n_eval: int = 160, seed: int = 0) -> str:
    from datasets import Dataset, DatasetDict

    DatasetDict({s: Dataset.from_list(rows(s, n, seed)) for s, n in
                 (("train", n_train), ("validation", n_eval), ("test", n_eval))}).save_to_disk(out_dir)
    return out_dir


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="data/standin_oracle")
    ap.add_argument("--n_train", type=int, default=1200)
    ap.add_argument("--n_eval", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build(a.out, a.n_train, a.n_eval, a.seed))
    for r in rows("test", 4, a.seed)[:4]:
        print(r["prompt"][1]["content"], "\n->", r["label"], "\n")
