"""A small trace dataset in data_gen's schema, rendered with memmgr.prompts (for tests; no data_gen needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from memmgr.prompts import PROMPT_VERSION, extraction_output, render_extraction, render_update, update_output
from memmgr.scoring import apply_ops_to_snapshot
from memmgr.types import Message, Op

_NAMES = ["Sam", "Lee", "Ana", "Kai"]
_THINGS = ["a beagle called Pixel", "two cats", "a red bike", "a cello", "a garden", "a blue car"]


def _extract_row(rng: random.Random, i: int) -> dict:
    name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
    chit = rng.random() < 0.3
    new = [Message(role="user", name=name, id=f"D1:{i}", content="hey, how are you?" if chit else f"I have {thing}!"),
           Message(role="assistant", name="Bot", id=f"D1:{i + 1}", content="Nice to hear.")]
    prompt = render_extraction("", [], new, "8 May 2023")
    facts = [] if chit else [f"{name} has {thing}"]
    return {"prompt": prompt, "answer": extraction_output(facts), "stage": "extract", "shown": [], "gold_after": ""}


def _update_row(rng: random.Random, i: int) -> dict:
    name = rng.choice(_NAMES)
    things = rng.sample(_THINGS, 3)
    shown = [(str(k), f"{name} has {t}") for k, t in enumerate(things[:2])]
    event = rng.choice(["ADD", "UPDATE", "DELETE", "NOOP"])
    if event == "ADD":
        fact, op = f"{name} has {things[2]}", {"event": "ADD", "id": None, "text": f"{name} has {things[2]}"}
    elif event == "UPDATE":
        fact = f"{name} has {things[0]} and {things[2]}"
        op = {"event": "UPDATE", "id": "0", "text": fact, "old_memory": shown[0][1]}
    elif event == "DELETE":
        fact = f"{name} no longer has {things[1]}"
        op = {"event": "DELETE", "id": "1", "text": shown[1][1]}
    else:
        fact, op = shown[0][1], {"event": "NOOP", "id": "0", "text": shown[0][1]}
    after = apply_ops_to_snapshot(shown, [Op(**{**op, "old_memory": op.get("old_memory")})])
    return {"prompt": render_update([fact], shown, "8 May 2023"), "answer": update_output([op]), "stage": "update",
            "shown": shown, "gold_after": json.dumps(after)}


def fixture_rows(n: int, seed: int = 0, split: str = "train") -> list[dict]:
    rng = random.Random(f"{seed}-{split}")
    rows = []
    for i in range(n):
        r = _extract_row(rng, i) if i % 2 == 0 else _update_row(rng, i)
        completion = [{"role": "assistant", "content": r["answer"]}]
        rows.append({
            "messages": r["prompt"] + completion, "prompt": r["prompt"], "completion": completion,
            "stage": r["stage"], "label": r["answer"], "shown_memories": json.dumps(r["shown"]),
            "source_texts": json.dumps([m["content"] for m in r["prompt"][1:]]), "gold_after": r["gold_after"],
            "conversation_id": f"{split}-{i // 4}", "pair_id": f"{split}-{i}", "teacher": "fixture",
            "prompt_version": PROMPT_VERSION, "prompt_style": "teacher", "source": "fixture",
        })
    return rows


def build_fixture_dataset(out_dir: str | Path, n_train: int = 24, n_eval: int = 8) -> str:
    """Save a DatasetDict (train/validation/test) to `out_dir` and return its path."""
    from datasets import Dataset, DatasetDict

    dd = DatasetDict({
        "train": Dataset.from_list(fixture_rows(n_train, split="train")),
        "validation": Dataset.from_list(fixture_rows(n_eval, split="validation")),
        "test": Dataset.from_list(fixture_rows(n_eval, split="test")),
    })
    dd.save_to_disk(str(out_dir))
    return str(out_dir)
