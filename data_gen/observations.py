"""The `observations` teacher: LOCOMO's own per-turn annotations as extraction and update labels on real dialogue.

LOCOMO ships, per session and speaker, `observation` facts ("Caroline attended an LGBTQ support group recently"),
each with the dia_id of the turn it comes from. They are a teacher's extraction labels on real dialogue, written in
the short third-person style memories should have. This backend answers the real pipeline's prompts from them, so
`Memory` runs unchanged and its trace hook records labelled rows (`teacher: observations` in a data_gen config with
a LOCOMO source).

Extraction: the label of a pair (m_{t-1}, m_t) in a speaker's scope is that speaker's observations whose dia_id
lies in the pair. The extraction prompt names the memory's owner ("Memory of:"), and data_gen feeds a LOCOMO
conversation once per speaker as Mem0's LOCOMO eval does (the speaker is the user, the other the counterpart), so
each perspective gets its own prompt and its own label. A prompt without an owner line (prompts v1) gets every
speaker's observations.

Update: a gold state is built the same way over time (the pipeline's own store, fed only these labels). A shown
memory M is "about the same thing" as a fact F when they match by `memmgr.scoring`'s fact matcher (the one the
transfer metric uses: embedding cosine >= `sim` and content-word overlap >= `overlap`, speakers' names removed).
With W(x) the stemmed content words of x (names removed):
- ADD    when no shown memory matches F;
- NOOP   when a matching M already holds F: W(F) is a subset of W(M) (or the texts are equal);
- UPDATE when a matching M is refined by F: W(M) is a proper subset of W(F) (mem0's rule, "likes cricket" ->
  "loves to play cricket with friends"); the new text is F;
- otherwise (F and M about the same thing, each with words the other lacks: a revision or a second fact?) the
  rule cannot decide: F is ADDed so the state keeps the information, the whole update call is marked undecided,
  and data_gen drops undecided calls from the dataset rather than guess (`keep`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from memmgr.backends.base import Generation
from memmgr.conversations import Conversation
from memmgr.prompts import extraction_output, parse_extraction_input, parse_update_input, stage_of, update_output
from memmgr.sanitize import norm_text
from memmgr.scoring import OVERLAP_THRESHOLD, SIM_THRESHOLD, match_facts, word_set

log = logging.getLogger(__name__)


def _key(messages: Sequence[dict[str, str]]) -> str:
    return hashlib.sha1(messages[-1]["content"].encode("utf-8")).hexdigest()


def decide(fact: str, shown: Sequence[tuple[str, str]], embedder: Any, names: Sequence[str] = (), *,
           sim: float = SIM_THRESHOLD, overlap: float = OVERLAP_THRESHOLD) -> dict[str, Any] | None:
    """The op for one fact against the shown (id, text) memories; None when the rule cannot decide."""
    if not shown:
        return {"id": "new", "text": fact, "event": "ADD"}
    m = match_facts([fact], [t for _, t in shown], embedder, sim_threshold=sim, overlap_threshold=overlap,
                    ignore_words=names)
    hits = sorted(m["pairs"], key=lambda p: -p["sim"])
    if not hits:
        return {"id": "new", "text": fact, "event": "ADD"}
    f_words = word_set(fact, names)
    for h in hits:  # the most similar memory that holds F
        sid, text = shown[h["gold"]]
        if norm_text(fact) == norm_text(text) or f_words <= word_set(text, names):
            return {"id": sid, "text": text, "event": "NOOP"}
    sid, text = shown[hits[0]["gold"]]
    if word_set(text, names) < f_words:
        return {"id": sid, "text": fact, "event": "UPDATE", "old_memory": text}
    return None


class ObservationsTeacher:
    """LLMBackend answering extraction and update prompts from one LOCOMO conversation's observations."""

    name = "observations"

    def __init__(self, conversation: Conversation, embedder: Any, *, sim: float = SIM_THRESHOLD,
                 overlap: float = OVERLAP_THRESHOLD) -> None:
        if not conversation.observations:
            raise ValueError(f"{conversation.conversation_id} has no LOCOMO observations to label with")
        self.by_dia: dict[str, list[tuple[str, str]]] = {}  # dia_id -> [(speaker, observation)]
        for o in conversation.observations:
            for d in o.dia_ids:
                self.by_dia.setdefault(d, []).append((o.speaker, o.text))
        self.embedder, self.sim, self.overlap = embedder, sim, overlap
        self.names = list(conversation.speakers)
        self.undecided: set[str] = set()  # update prompts whose label the rule could not decide
        self.decisions = {"ADD": 0, "UPDATE": 0, "NOOP": 0, "undecided": 0}

    def generate(self, messages, *, json_schema=None, max_tokens=None, temperature=None) -> Generation:
        text = self._extract(messages) if stage_of(messages) == "extract" else self._update(messages)
        return Generation(text=text, prompt_tokens=sum(len(m["content"].split()) for m in messages),
                          completion_tokens=len(text.split()))

    def keep(self, messages: Sequence[dict[str, str]]) -> bool:
        """False for a call whose label the rule could not decide (data_gen drops its rows)."""
        return _key(messages) not in self.undecided

    def _extract(self, messages) -> str:
        inp = parse_extraction_input(messages)
        owner = set(inp["owner"]) or set(self.names)
        facts: list[str] = []
        for turn in inp["new"]:
            for speaker, text in self.by_dia.get(turn["id"], []):
                if speaker in owner and text not in facts:
                    facts.append(text)
        return extraction_output(facts)

    def _update(self, messages) -> str:
        inp = parse_update_input(messages)
        shown = [(i, t) for i, t in inp["memories"]]
        ops = []
        for fact in inp["facts"]:
            op = decide(fact, shown, self.embedder, self.names, sim=self.sim, overlap=self.overlap)
            if op is None:
                self.undecided.add(_key(messages))
                self.decisions["undecided"] += 1
                op = {"id": "new", "text": fact, "event": "ADD"}
            else:
                self.decisions[op["event"]] += 1
            ops.append(op)
        return update_output(ops)
