"""The oracle teacher: answers the pipeline's real extraction and update prompts from a synthetic world's gold.

It implements the LLMBackend protocol, so `Memory` runs unchanged and its trace hook records correctly labelled
examples. The pair being processed is identified by the `[id]` of the new messages in the extraction prompt, and the
scope by the prompt's owner line: a speaker's memory gets that speaker's gold facts only (a pair fed to the friend's
scope yields the friend's facts). Update prompts are answered for the facts they show, with the gold target's *shown*
small id. One oracle serves one
conversation at a time (it remembers the current pair between the extraction call and its update calls).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from data_gen.synthetic import GoldOp, GoldPair, World
from memmgr.backends.base import Generation
from memmgr.prompts import extraction_output, parse_extraction_input, parse_update_input, stage_of, update_output
from memmgr.sanitize import norm_text

log = logging.getLogger(__name__)


class OracleBackend:
    name = "oracle"

    def __init__(self, worlds: Sequence[World]):
        self.pairs: dict[str, GoldPair] = {}
        self.world_of: dict[str, World] = {}
        for w in worlds:
            for p in w.pairs:
                self.world_of[p.pair_id] = w
                for m in p.messages:
                    self.pairs[m.id or ""] = p
        self.current: list[GoldOp] = []  # the gold ops of the pair being processed, in the prompt owner's scope
        self.missing_targets = 0  # gold target not among the shown memories (a retrieval miss)
        self.unknown_prompts = 0

    @classmethod
    def from_config(cls, cfg) -> OracleBackend:  # `backend: data_gen.oracle:OracleBackend` in a MemoryConfig
        from data_gen.synthetic import load_worlds

        return cls(load_worlds(cfg.extra["worlds_path"]))

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        stage = stage_of(messages)
        text = self._extract(messages) if stage == "extract" else self._update(messages)
        return Generation(text=text, prompt_tokens=sum(len(m["content"].split()) for m in messages),
                          completion_tokens=len(text.split()))

    def _extract(self, messages) -> str:
        inp = parse_extraction_input(messages)
        pair = next((self.pairs[t["id"]] for t in inp["new"] if t["id"] in self.pairs), None)
        if pair is None:
            self.unknown_prompts += 1
            self.current = []
            log.warning("oracle: no gold for messages %s", [t["id"] for t in inp["new"]])
            return extraction_output([])
        world = self.world_of[pair.pair_id]
        owners = inp.get("owner") or world.speakers[:1]  # a prompt without an owner line: the main speaker's
        self.current = [op for s in owners for op in world.ops_of(pair, s)]
        return extraction_output([op.fact for op in self.current])

    def _gold_op(self, fact: str) -> GoldOp | None:
        return next((op for op in self.current if norm_text(op.fact) == norm_text(fact)), None)

    def _update(self, messages) -> str:
        inp = parse_update_input(messages)
        shown = {norm_text(text): i for i, text in inp["memories"]}
        ops = []
        for fact in inp["facts"]:
            gold = self._gold_op(fact)
            if gold is None:
                self.unknown_prompts += 1
                ops.append({"id": None, "text": fact, "event": "NOOP"})
                continue
            if gold.event == "ADD":
                ops.append({"id": "new", "text": gold.text, "event": "ADD"})
                continue
            sid = shown.get(norm_text(gold.target or ""))
            if sid is None:
                self.missing_targets += 1
                log.warning("oracle: target %r of %s not shown", gold.target, gold.event)
                if gold.event == "UPDATE":  # keep the information even though the old memory was not retrieved
                    ops.append({"id": "new", "text": gold.text, "event": "ADD"})
                else:
                    ops.append({"id": None, "text": gold.fact, "event": "NOOP"})
                continue
            op = {"id": sid, "text": gold.text, "event": gold.event}
            if gold.event == "UPDATE":
                op["old_memory"] = gold.target
            ops.append(op)
        return update_output(ops)


def run_world(world: World, memory_config: dict | None = None) -> tuple[list[str], list, OracleBackend]:
    """Feed a world through the real pipeline with its oracle: (final memory texts, rejected ops, the oracle)."""
    from memmgr.config import MemoryConfig
    from memmgr.memory import Memory

    oracle = OracleBackend([world])
    mem = Memory(MemoryConfig.load(memory_config or {"embedder": {"provider": "hash"}}), manager=oracle)
    rejected = []
    for p in world.pairs:
        rejected += mem.add(p.messages, user_id=world.user_id, timestamp=p.messages[0].timestamp)["rejected"]
    final = [m["memory"] for m in mem.get_all(user_id=world.user_id)["results"]]
    mem.close()
    return final, rejected, oracle
