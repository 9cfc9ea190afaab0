"""Feed adversarial manager outputs through Memory.add() and count what got through.

    python benchmarks/adversarial.py [--outputs 1200] [--threads 4]
    python benchmarks/adversarial.py --smollm2 --locomo ../shared/data/locomo/locomo_dev.json --sessions 2

Part 1 (scripted): a stream of >= 1,000 adversarial outputs (memmgr/adversarial.py) interleaved with valid ones.
Reports exceptions escaped, garbage stored, ungrounded facts stored, destructive ops beyond the cap, valid outputs
applied, rejections per reason. Part 2 (concurrency): threads add the same facts for one user; reports lost and
duplicated memories. Part 3 (--smollm2): SmolLM2-135M-Instruct as the manager on the first sessions of conv-26:
memories stored, how many grounded, rejections by reason. Target for parts 1-2: all failure counts zero.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memmgr import Memory, MemoryConfig  # noqa: E402
from memmgr.adversarial import adversarial_outputs  # noqa: E402
from memmgr.backends.base import Generation  # noqa: E402
from memmgr.sanitize import Rejected, check_memory_text, support  # noqa: E402

TS = datetime(2023, 5, 8, 13, 56)
PAIRS = [
    ("I live in Lisbon and I have a cat called Tom.", ["Maya lives in Lisbon", "Maya has a cat called Tom"]),
    ("I started a new job as a nurse in Porto.", ["Maya started a new job as a nurse in Porto"]),
    ("My sister Ana is visiting next week.", ["Maya's sister Ana is visiting the week after 8 May 2023"]),
    ("I gave up coffee, I only drink tea now.", ["Maya gave up coffee", "Maya only drinks tea now"]),
]


class StreamManager:
    """Answers each call from the adversarial stream, but every `valid_every`-th call correctly."""

    name = "adversarial-stream"

    def __init__(self, stream, valid_every: int, rng: random.Random):
        self.queues = {"extract": [r for s, r in stream if s == "extract"],
                       "update": [r for s, r in stream if s == "update"]}
        self.valid_every, self.n, self.rng = valid_every, 0, rng
        self.valid_sent = 0
        self.lock = threading.Lock()

    def generate(self, messages, **kw):
        from memmgr.prompts import parse_extraction_input, parse_update_input, stage_of

        with self.lock:
            self.n += 1
            stage = stage_of(messages)
            use_valid = self.n % self.valid_every == 0 or not self.queues[stage]
            if not use_valid:
                return Generation(text=self.queues[stage].pop(0))
            self.valid_sent += 1
        if stage == "extract":
            text = parse_extraction_input(messages)["new"][0]["text"]
            facts = next((f for t, f in PAIRS if t == text), [])
            return Generation(text=json.dumps({"facts": facts}))
        inp = parse_update_input(messages)
        shown = {t: i for i, t in inp["memories"]}
        ops = [{"id": shown[f], "text": f, "event": "NOOP"} if f in shown else {"id": "new", "text": f,
                                                                                "event": "ADD"}
               for f in inp["facts"]]
        return Generation(text=json.dumps({"memory": ops}))

    def remaining(self) -> int:
        return sum(len(q) for q in self.queues.values())


def scripted_part(n_outputs: int, seed: int, cap: int) -> dict:
    rng = random.Random(seed)
    grounded = [f for _, fs in PAIRS for f in fs]
    stream = adversarial_outputs(seed, n_outputs, grounded, n_shown=4)
    manager = StreamManager(stream, valid_every=5, rng=rng)
    cfg = MemoryConfig.load({"embedder": {"provider": "hash"}, "guards": {"max_destructive_per_call": cap}})
    mem = Memory(cfg, manager=manager)
    calls = []
    mem.trace_hooks.append(calls.append)
    escaped, reasons, adds, applied = 0, Counter(), 0, Counter()
    sources_by_user: dict[str, list[str]] = {}
    while manager.remaining() > 0:
        user = f"user{adds % 7}"
        text, _ = PAIRS[adds % len(PAIRS)]
        msgs = [{"role": "user", "content": text, "name": "Maya", "id": f"D{adds}:1"},
                {"role": "assistant", "content": "Oh nice!", "name": "Bot", "id": f"D{adds}:2"}]
        sources_by_user.setdefault(user, []).extend([f"Maya: {text}", "Bot: Oh nice!", "8 May 2023"])
        adds += 1
        try:
            res = mem.add(msgs, user_id=user, timestamp=TS)
            reasons.update(r["reason"] for r in res["rejected"])
            applied.update(r["event"] for r in res["results"])
        except Exception as e:  # anything escaping add() for bad model output is a failure
            escaped += 1
            print(f"ESCAPED: {type(e).__name__}: {e}", file=sys.stderr)
    garbage = ungrounded = 0
    stored = 0
    for user, sources in sources_by_user.items():
        for item in mem.get_all(user_id=user)["results"]:
            stored += 1
            try:
                if check_memory_text(item["memory"]) != item["memory"]:
                    garbage += 1
            except Rejected:
                garbage += 1
            if support(item["memory"], sources) < 0.5:
                ungrounded += 1
    over_cap = 0
    for c in calls:
        destructive = sum(1 for h in mem.history(call_id=c.call_id) if h["event"] in ("UPDATE", "DELETE"))
        over_cap += max(0, destructive - cap)
    return {"adversarial_outputs": n_outputs, "add_calls": adds, "manager_calls": len(calls),
            "valid_outputs_sent": manager.valid_sent, "ops_applied": dict(applied), "memories_stored": stored, "exceptions_escaped": escaped,
            "garbage_stored": garbage, "ungrounded_stored": ungrounded, "destructive_beyond_cap": over_cap,
            "rejections": dict(reasons.most_common())}


def concurrency_part(threads: int) -> dict:
    from memmgr.prompts import parse_extraction_input, parse_update_input, stage_of

    class Honest:
        name = "honest"

        def generate(self, messages, **kw):
            time.sleep(0.001)  # let threads interleave between retrieve and apply
            if stage_of(messages) == "extract":
                t = parse_extraction_input(messages)["new"][0]["text"]
                return Generation(text=json.dumps({"facts": [f"Maya {t.removeprefix('I ').rstrip('.')}"]}))
            inp = parse_update_input(messages)
            shown = {t: i for i, t in inp["memories"]}
            return Generation(text=json.dumps({"memory": [
                {"id": shown[f], "event": "NOOP", "text": f} if f in shown else {"id": "new", "event": "ADD",
                                                                                 "text": f}
                for f in inp["facts"]]}))

    mem = Memory(MemoryConfig.load({"embedder": {"provider": "hash"}}), manager=Honest())
    statements = [f"I collect stamps from country {i}." for i in range(25)]
    errors = []

    def work():
        try:
            for s in statements:
                mem.add([{"role": "user", "content": s, "name": "Maya"}], user_id="maya", timestamp=TS)
        except Exception as e:
            errors.append(repr(e))

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stored = [m["memory"] for m in mem.get_all(user_id="maya")["results"]]
    expected = {f"Maya collect stamps from country {i}" for i in range(25)}
    return {"threads": threads, "statements": len(statements), "lost": len(expected - set(stored)),
            "duplicated": len(stored) - len(set(stored)), "errors": errors,
            "index_consistent": mem.check_consistency(repair=False)}


def smollm2_part(locomo: str, sessions: int) -> dict:
    from memmgr.conversations import load_conversations

    conv = next(c for c in load_conversations(locomo) if c.conversation_id == "conv-26")
    cfg = MemoryConfig.load({"manager": {"backend": "transformers", "model": "smollm2", "max_tokens": 256}})
    mem = Memory(cfg)
    reasons, calls = Counter(), []
    mem.trace_hooks.append(calls.append)
    sources: dict[str, list[str]] = {}
    from tqdm import tqdm

    for msgs, ts in tqdm(conv.message_pairs(max_sessions=sessions), desc="smollm2 manager"):
        user = f"conv-26:{msgs[0].name}"
        sources.setdefault(user, []).extend([f"{m.name}: {m.content}" for m in msgs])
        res = mem.add(msgs, user_id=user, timestamp=ts)
        reasons.update(r["reason"] for r in res["rejected"])
    stored = [(u, m["memory"]) for u in sources for m in mem.get_all(user_id=u)["results"]]
    grounded = sum(1 for u, t in stored if support(t, sources[u]) >= 0.5)
    return {"pairs": len(conv.message_pairs(max_sessions=sessions)), "manager_calls": len(calls),
            "invalid_outputs": sum(1 for c in calls if not c.valid), "memories_stored": len(stored),
            "grounded": grounded, "rejections": dict(reasons.most_common()),
            "examples": [t for _, t in stored[:8]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outputs", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--smollm2", action="store_true", help="also run SmolLM2-135M as the manager on LOCOMO")
    ap.add_argument("--locomo", default="../shared/data/locomo/locomo_dev.json")
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--out", default="outputs/benchmarks/adversarial.json")
    args = ap.parse_args()
    report = {"scripted": scripted_part(args.outputs, args.seed, args.cap),
              "concurrency": concurrency_part(args.threads)}
    if args.smollm2:
        report["smollm2_conv26"] = smollm2_part(args.locomo, args.sessions)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
