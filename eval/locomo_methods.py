"""The ways eval.locomo turns one LOCOMO conversation into answer prompts: the memmgr pipeline (`Mem0Method`, any
manager; graph memory too when `memory.graph.mode` says so), every turn stored verbatim (`TurnsMethod`), the whole
conversation in context (`FullContextMethod`) and RAG over fixed-size chunks (`RagMethod`). Each has `ingest()`,
`retrieve(question) -> (answer messages, retrieved items, search seconds)` and a `costs` dict.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.locomo_data import Sample
from memmgr import prompts
from memmgr.answer import answer_messages
from memmgr.conversations import as_speaker
from memmgr.qa_metrics import approx_tokens
from memmgr.types import ManagerCall, human_date

if TYPE_CHECKING:
    from eval.locomo import EvalConfig


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().split("\n") if ln.strip()]
    return lines[0] if lines else ""


def _turn_line(msg: Any, date: str) -> str:
    return f"[{date}] {prompts.format_turn(msg)}" if date else prompts.format_turn(msg)


class Mem0Method:
    """The memmgr pipeline: ingest the conversation once per speaker, then answer from top-k memories each."""

    def __init__(self, cfg: EvalConfig, sample: Sample, manager: Any, embedder: Any):
        from memmgr.memory import Memory

        self.cfg, self.sample = cfg, sample
        mcfg = cfg.memory_config()
        if mcfg.store.path:  # one store per conversation so that runs never mix
            mcfg.store.path = str(Path(mcfg.store.path) / sample.sample_id)
        self.costs = {"manager_calls": 0, "manager_prompt_tokens": 0, "manager_completion_tokens": 0,
                      "rejected_ops": 0, "memories": 0, "ingest_s": 0.0, "rejections": {},
                      "prompt_styles": {}}  # calls per prompt style: a student must get the one it was trained on
        if cfg.save_calls:  # popped by run_locomo into samples_<task>_calls.jsonl
            self.costs["calls"] = []
        self.memory = Memory(mcfg, manager=manager, embedder=embedder, trace_hooks=[self._on_call])
        self.memory.reset()

    def _on_call(self, call: ManagerCall) -> None:
        if call.prompt_style == "verbatim":  # add(..., infer=False): recorded as a call, but no model ran
            return
        c = self.costs
        c["manager_calls"] += 1
        if "calls" in c:
            c["calls"].append(call.model_dump(mode="json"))
        c["manager_prompt_tokens"] += call.prompt_tokens
        c["manager_completion_tokens"] += call.completion_tokens
        c["rejected_ops"] += len(call.rejected)
        c["prompt_styles"][call.prompt_style] = c["prompt_styles"].get(call.prompt_style, 0) + 1
        for r in call.rejected:
            c["rejections"][r.reason] = c["rejections"].get(r.reason, 0) + 1

    def scope(self, speaker: str) -> str:
        return f"{self.sample.sample_id}:{speaker}"

    def ingest(self, progress: bool = True) -> None:
        from tqdm import tqdm

        conv = self.sample.conversation
        pairs = conv.message_pairs()
        t0 = time.perf_counter()
        for pair, dt in tqdm(pairs, desc=f"ingest {conv.conversation_id}", unit="pair", disable=not progress):
            for speaker in conv.speakers:
                # this speaker is the user; the other speaker is the counterpart (Mem0's two-perspective ingestion)
                self.memory.add(as_speaker(pair, speaker), user_id=self.scope(speaker), timestamp=dt,
                                trace_context={"conversation_id": conv.conversation_id, "perspective": speaker})
        self._ingested(t0)

    def _ingested(self, t0: float) -> None:
        self.costs["ingest_s"] = time.perf_counter() - t0
        self.costs["memories"] = sum(len(mems) for mems, _ in self.memory_scopes())
        if self.memory.graph is not None:  # Mem0g: the speakers' valid relations (invalidated ones stay stored)
            from memmgr.types import Scope

            self.costs["relations"] = sum(len(self.memory.graph.get_all(Scope(user_id=self.scope(s))))
                                          for s in self.sample.conversation.speakers)

    def memory_scopes(self) -> list[tuple[list[dict[str, Any]], list[str]]]:
        """Each speaker's stored memories ({"text", "source_ids"}), for eval.transfer."""
        return [([{"text": m["memory"], "source_ids": m.get("source_ids") or []}
                  for m in self.memory.get_all(user_id=self.scope(s))["results"]], [s])
                for s in self.sample.conversation.speakers]

    def retrieve(self, question: str) -> tuple[list[dict[str, str]], list[dict[str, Any]], float]:
        a, b = self.sample.conversation.speakers
        t0 = time.perf_counter()
        mem_a, mem_b = (self._context(self.memory.search(question, user_id=self.scope(s), limit=self.cfg.top_k))
                        for s in (a, b))
        search_s = time.perf_counter() - t0
        messages = answer_messages(question, a, mem_a, b, mem_b)
        retrieved = [{"speaker": s, "text": m["memory"], "score": m.get("score"), "source_ids": m.get("source_ids", []),
                      "date": m.get("session_date")} for s, ms in ((a, mem_a), (b, mem_b)) for m in ms]
        return messages, retrieved, search_s


    @staticmethod
    def _context(found: dict[str, Any]) -> list[dict[str, Any]]:
        """The memories, then (graph.mode graph/both) each relation as one more line: "Maya visited Rome (...)",
        dated by when it held (Mem0g answers from memories and relations together)."""
        from memmgr.graph.prompts import relation_line

        return [*found["results"], *({"memory": relation_line(r), "session_date": r.get("valid_from"),
                                      "source_ids": r.get("source_ids") or []} for r in found.get("relations") or [])]


class TurnsMethod(Mem0Method):
    """"Store every turn": each turn verbatim as a memory of its speaker (`add(..., infer=False)`: no manager),
    searched and answered exactly like mem0's memories. The manager-free reference for QA and evidence recall@k."""

    def ingest(self, progress: bool = True) -> None:
        t0 = time.perf_counter()
        for sess in self.sample.conversation.sessions:
            for m in sess.turns:
                if m.name in self.sample.conversation.speakers and m.content.strip():
                    self.memory.add([m.model_copy(update={"role": "user"})], user_id=self.scope(m.name),
                                    timestamp=sess.date_time, infer=False)
        self._ingested(t0)


class FullContextMethod:
    """The whole (ingested part of the) conversation in the prompt; nothing retrieved, nothing stored."""

    def __init__(self, cfg: EvalConfig, sample: Sample):
        lines: list[str] = []
        for sess in sample.conversation.sessions:
            date = human_date(sess.date_time)
            lines.extend(_turn_line(m, date) for m in sess.turns)
        budget = cfg.full_context.max_tokens
        if budget:  # keep the most recent turns that fit the budget
            kept, used = [], 0
            for line in reversed(lines):
                used += approx_tokens(line) + 1
                if used > budget:
                    break
                kept.append(line)
            lines = kept[::-1]
        self.context = "\n".join(lines)
        self.costs: dict[str, Any] = {}

    def ingest(self, progress: bool = True) -> None:
        return None

    def retrieve(self, question: str) -> tuple[list[dict[str, str]], list[dict[str, Any]], float | None]:
        user = prompts.FULL_CONTEXT_ANSWER_USER_TEMPLATE.format(conversation=self.context, question=question)
        return [{"role": "system", "content": prompts.ANSWER_SYSTEM}, {"role": "user", "content": user}], [], None


class RagMethod:
    """Raw-turn chunks (whole turns packed up to rag.chunk_tokens), embedded once, top rag.k by cosine."""

    def __init__(self, cfg: EvalConfig, sample: Sample, embedder: Any):
        self.cfg, self.embedder = cfg, embedder
        self.chunks: list[dict[str, Any]] = []
        cur: list[str] = []
        ids: list[str] = []
        used = 0
        for sess in sample.conversation.sessions:
            date = human_date(sess.date_time)
            for m in sess.turns:
                line = _turn_line(m, date)
                n = approx_tokens(line)
                if cur and used + n > cfg.rag.chunk_tokens:
                    self.chunks.append({"text": "\n".join(cur), "source_ids": ids})
                    cur, ids, used = [], [], 0
                cur.append(line)
                ids = [*ids, m.id] if m.id else ids
                used += n
        if cur:
            self.chunks.append({"text": "\n".join(cur), "source_ids": ids})
        self.costs: dict[str, Any] = {}
        self.vectors: list[list[float]] = []

    def ingest(self, progress: bool = True) -> None:
        self.vectors = self.embedder.embed([c["text"] for c in self.chunks]) if self.chunks else []

    def retrieve(self, question: str) -> tuple[list[dict[str, str]], list[dict[str, Any]], float]:
        t0 = time.perf_counter()
        q = self.embedder.embed([question])[0]
        scored = sorted(((sum(a * b for a, b in zip(q, v)), i) for i, v in enumerate(self.vectors)), reverse=True)
        top = [(s, self.chunks[i]) for s, i in scored[: self.cfg.rag.k]]
        search_s = time.perf_counter() - t0
        text = "\n\n".join(c["text"] for _, c in top) or "(none)"
        user = prompts.RAG_ANSWER_USER_TEMPLATE.format(chunks=text, question=question)
        retrieved = [{"text": c["text"], "score": s, "source_ids": c["source_ids"]} for s, c in top]
        return [{"role": "system", "content": prompts.ANSWER_SYSTEM}, {"role": "user", "content": user}], \
            retrieved, search_s


# -------------------------------------------------------------------------------------------------- runner
