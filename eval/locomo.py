"""LOCOMO evaluation of the Mem0 pipeline (any manager) and the full-context and RAG baselines, in one harness.

    python -m eval.locomo --config configs/eval/tiny.yaml --data PATH/locomo10.json --split test \
        [--limit.sessions 3 --limit.questions 20 --limit.conversations 1] [--methods mem0,rag] [--seeds 0,1]

Every option is a key of `EvalConfig` (`--key value`, dotted for nested keys, the grammar of memmgr.settings:
`--rag.k 10`, `--cache_dir null`, `--plots false`); lists also take comma-separated values.

Ingestion follows Mem0's own LOCOMO evaluation: each speaker is a user with their own memory scope, the other
speaker's turns are the counterpart; message pairs are fed in order with the session date-time as timestamp;
image captions are part of the turn text. Answering searches the top-k memories of each speaker and asks the
answerer with memmgr's Mem0-style answer prompt (memories shown with their dates). When the data carries LOCOMO's
`observation` annotations, the stored memories are also scored against them (eval/transfer.py: evidence coverage,
observation recall, memory match rate; `transfer.*` keys), beside two references computed the same way
(`transfer_store_every_turn`, `transfer_rag_chunks` rows). Results land in `<output_dir>/<name>/` (see
eval/report.py).
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from eval import transfer
from eval.aggregate import combine_seeds, summarize
from eval.locomo_data import Sample, limit_sample, load_samples, select_split
from eval.locomo_methods import FullContextMethod, Mem0Method, RagMethod, TurnsMethod, first_line
from eval.transfer import TransferConfig
from memmgr import prompts
from memmgr.config import BackendConfig, MemoryConfig
from memmgr.qa_metrics import adversarial_correct, approx_tokens, bleu1, evidence_recall, parse_judge, token_f1
from memmgr.settings import Strict, build, cli_config, load_yaml

log = logging.getLogger(__name__)
Method = Literal["mem0", "turns", "full_context", "rag"]


class RagConfig(Strict):
    chunk_tokens: int = 256  # whole turns are packed into chunks of about this many tokens (Mem0 paper: 128-8192)
    k: int = 2  # chunks retrieved per question (Mem0 paper: 1 or 2)


class FullContextConfig(Strict):
    max_tokens: int | None = None  # keep only the most recent turns that fit (small local models); None = all


class LimitConfig(Strict):
    conversations: int | None = None
    sessions: int | None = None  # first N sessions; questions whose evidence lies beyond them are dropped
    questions: int | None = None  # per conversation, after the category filter


class EvalConfig(Strict):
    name: str = "locomo"
    data: str | None = None  # locomo10.json (or any file in its format); also the `data` argument of run_locomo
    methods: list[Method] = Field(default_factory=lambda: ["mem0"])
    memory: dict[str, Any] = Field(default_factory=dict)  # a MemoryConfig (manager, embedder, store, pipeline)
    answerer: BackendConfig | None = None  # None = the memory manager's backend
    judge: BackendConfig | None = None  # None = J is skipped (reported as null), never faked
    top_k: int = 30  # memories retrieved per speaker (Mem0's LOCOMO eval uses 30)
    rag: RagConfig = Field(default_factory=RagConfig)
    full_context: FullContextConfig = Field(default_factory=FullContextConfig)
    split_scheme: str = "memory_r1"
    split: str = "test"
    sample_ids: list[str] | None = None
    categories: list[int] = Field(default_factory=lambda: [1, 2, 3, 4])  # add 5 to score adversarial questions
    limit: LimitConfig = Field(default_factory=LimitConfig)
    transfer: TransferConfig = Field(default_factory=TransferConfig)  # memories vs LOCOMO observations
    seeds: list[int] = Field(default_factory=lambda: [0])
    answer_max_tokens: int = 32
    judge_max_tokens: int = 16
    cache_dir: str | None = ".cache/memmgr-llm"  # None = no LLM cache
    save_calls: bool = False  # samples_<task>_calls.jsonl: every manager call (prompt, raw output, ops, rejections)
    output_dir: str = "outputs/eval"
    plots: bool = True

    @field_validator("methods", "sample_ids", "seeds", "categories", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        """`--methods mem0,rag` / `--seeds 0,1` on the command line: a comma-separated string is a list."""
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return [v] if isinstance(v, int) else v

    @classmethod
    def load(cls, source: EvalConfig | dict | str | Path) -> EvalConfig:
        if isinstance(source, EvalConfig):
            return source
        if isinstance(source, (str, Path)):
            return build(cls, load_yaml(source), str(source))
        return build(cls, source)

    def memory_config(self) -> MemoryConfig:
        return MemoryConfig.load(self.memory)


# ------------------------------------------------------------------------------------------------ backends
class Backends:
    """Builds each configured backend once (identical configs share one loaded model) and wraps it in the cache
    with the seed as salt."""

    def __init__(self, cfg: EvalConfig, overrides: dict[str, Any] | None = None):
        self.cfg = cfg
        self.overrides = overrides or {}
        self._raw: dict[str, Any] = {}
        self.cached: list[Any] = []

    def _build(self, bc: BackendConfig) -> Any:
        from memmgr.backends import make_backend

        key = bc.model_dump_json()
        if key not in self._raw:
            self._raw[key] = make_backend(bc)
        return self._raw[key]

    def _config(self, role: str) -> BackendConfig | None:
        mc = self.cfg.memory_config().manager
        return {"manager": mc, "answerer": self.cfg.answerer or mc, "judge": self.cfg.judge}[role]

    def get(self, role: str, seed: int) -> Any | None:
        bc = self._config(role)
        if role in self.overrides:
            raw = self.overrides[role]
        elif bc is None:
            return None
        else:
            raw = self._build(bc)
        if raw is None or not self.cfg.cache_dir:
            return raw
        from eval.cache import CachedBackend

        wrapped = CachedBackend(raw, self.cfg.cache_dir, salt=f"seed={seed}")
        self.cached.append(wrapped)
        return wrapped

    def names(self) -> dict[str, str | None]:
        out = {}
        for role in ("manager", "answerer", "judge"):
            bc = self._config(role)
            if role in self.overrides:
                out[role] = getattr(self.overrides[role], "name", None)
            else:
                out[role] = f"{bc.backend}:{bc.model}" if bc else None
        return out

    def cache_stats(self) -> dict[str, int]:
        return {"hits": sum(c.hits for c in self.cached), "misses": sum(c.misses for c in self.cached)}


def score_record(qa: Any, prediction: str, retrieved: list[dict[str, Any]], method: str) -> dict[str, Any]:
    if qa.category == 5:  # unanswerable: correct iff the answer declines (official LoCoMo rule)
        # adversarial_answer is the trap (what a model that confuses the speakers says), never the gold
        gold = "Not mentioned in the conversation"
        f1 = b1 = adversarial_correct(prediction)
    else:
        gold = qa.answer
        f1, b1 = token_f1(prediction, gold), bleu1(prediction, gold)
    rec = None
    if method != "full_context":  # full context "retrieves" every turn: recall would be 1 by construction
        rec = evidence_recall([i for r in retrieved for i in r.get("source_ids", [])], qa.evidence)
    return {"gold": gold, "f1": f1, "bleu1": b1, "evidence_recall": rec}


def run_method(cfg: EvalConfig, method: str, sample: Sample, *, seed: int, backends: Backends, embedder: Any,
               progress: bool = True, transfer_embedder: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ingest one conversation with one method and answer its questions; returns (records, costs). With a
    `transfer_embedder` and observations, mem0's and turns' costs carry `transfer` (eval.transfer counts, rates)."""
    from tqdm import tqdm

    answerer, judge = backends.get("answerer", seed), backends.get("judge", seed)
    if method == "mem0":
        runner: Any = Mem0Method(cfg, sample, backends.get("manager", seed), embedder)
    elif method == "turns":
        runner = TurnsMethod(cfg, sample, None, embedder)
    elif method == "full_context":
        runner = FullContextMethod(cfg, sample)
    else:
        runner = RagMethod(cfg, sample, embedder)
    runner.ingest(progress)
    if method in ("mem0", "turns") and transfer_embedder is not None and sample.observations:
        runner.costs["transfer"] = transfer.conversation_transfer(sample, runner.memory_scopes(),
                                                                  transfer_embedder, cfg.transfer)
    records = []
    for qa in tqdm(sample.qa, desc=f"{method} {sample.sample_id} answer", unit="q", disable=not progress):
        messages, retrieved, search_s = runner.retrieve(qa.question)
        gen = answerer.generate(messages, max_tokens=cfg.answer_max_tokens, temperature=None)
        prediction = first_line(gen.text)
        rec = {"method": method, "seed": seed, "conversation_id": sample.sample_id, "question": qa.question,
               "category": qa.category, "category_name": qa.category_name, "evidence": qa.evidence,
               "prediction": prediction, "retrieved": retrieved, **score_record(qa, prediction, retrieved, method),
               "search_latency_s": search_s, "answer_latency_s": gen.latency_s,
               "total_latency_s": (search_s or 0.0) + gen.latency_s,
               "context_tokens": gen.prompt_tokens or None,
               "memory_tokens": sum(approx_tokens(r["text"]) for r in retrieved) if retrieved else
               (approx_tokens(runner.context) if method == "full_context" else 0),
               "judge": None}
        if judge is not None:
            jg = judge.generate(prompts.render_judge(qa.question, rec["gold"], prediction),
                                max_tokens=cfg.judge_max_tokens, temperature=None)
            verdict = parse_judge(jg.text)
            # an unreadable verdict counts as WRONG (and is flagged), so J is never inflated by judge failures
            rec["judge"], rec["judge_raw"], rec["judge_unparsed"] = bool(verdict), jg.text[:200], verdict is None
        records.append(rec)
    return records, dict(runner.costs)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    if "torch" in sys.modules:  # only seed torch when a backend already imported it
        sys.modules["torch"].manual_seed(seed)


def prepare_samples(cfg: EvalConfig, data: str | Path) -> list[Sample]:
    samples = select_split(load_samples(data), cfg.split_scheme, cfg.split)
    if cfg.sample_ids:
        samples = [s for s in samples if s.sample_id in set(cfg.sample_ids)]
    samples = samples[: cfg.limit.conversations] if cfg.limit.conversations else samples
    if not samples:
        raise ValueError(f"no conversations left in {data} for split {cfg.split_scheme}/{cfg.split} "
                         f"(sample_ids={cfg.sample_ids})")
    return [limit_sample(s, sessions=cfg.limit.sessions, questions=cfg.limit.questions,
                         categories=set(cfg.categories)) for s in samples]


def transfer_references(cfg: EvalConfig, samples: Sequence[Sample], embedder: Any
                        ) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The reference rows: every ingested turn stored verbatim (a memory of its speaker), and RAG's chunks (shared
    by both speakers), scored against the observations like mem0's memories. No manager: 0 manager tokens.
    Returns (results, samples: their per-memory / per-observation items)."""
    rows: dict[str, list[dict[str, Any]]] = {"transfer_store_every_turn": [], "transfer_rag_chunks": []}
    items: dict[str, list[dict[str, Any]]] = {t: [] for t in rows}
    for s in samples:
        if not s.observations:
            continue
        chunks = [{"text": c["text"], "source_ids": c["source_ids"]} for c in RagMethod(cfg, s, embedder).chunks]
        for task, scopes in (("transfer_store_every_turn", transfer.store_every_turn_scopes(s)),
                             ("transfer_rag_chunks", [(chunks, list(s.conversation.speakers))])):
            res = transfer.conversation_transfer(s, scopes, embedder, cfg.transfer)
            items[task] += [{"conversation_id": s.sample_id, **it} for it in res.pop("items")]
            rows[task].append({"conversation_id": s.sample_id, **res})
    no_manager = {"manager_calls": 0, "manager_prompt_tokens": 0, "manager_completion_tokens": 0}
    return ({task: {**transfer.pool(per_conv), **no_manager, "per_conversation": per_conv}
             for task, per_conv in rows.items() if per_conv}, {t: v for t, v in items.items() if v})


def _transfer_embedder(cfg: EvalConfig, samples: Sequence[Sample], embedder: Any, data: Any) -> Any:
    """The embedder of the transfer match, or None when the metric is off or the data has no observations."""
    from memmgr.embed import make_embedder

    if not cfg.transfer.enabled:
        return None
    if not transfer.has_observations(samples):
        log.info("transfer metrics skipped: no LOCOMO `observation` annotations in %s (ingested sessions)", data)
        return None
    return make_embedder(cfg.transfer.embedder) if cfg.transfer.embedder else embedder


def run_locomo(cfg: EvalConfig | dict | str | Path, data: str | Path, *, backends: dict[str, Any] | None = None,
               embedder: Any = None, write: bool = True, progress: bool = True) -> dict[str, Any]:
    """Run every method x seed x conversation; returns the results dict (and writes it with eval.report)."""
    from memmgr.embed import make_embedder

    cfg = EvalConfig.load(cfg)
    samples = prepare_samples(cfg, data)
    bk = Backends(cfg, backends)
    embedder = embedder or make_embedder(cfg.memory_config().embedder)
    t_emb = _transfer_embedder(cfg, samples, embedder, data)
    results: dict[str, Any] = {}
    samples_out: dict[str, list[dict[str, Any]]] = {}
    t0 = time.perf_counter()
    for method in cfg.methods:
        task = f"locomo_{method}"
        per_seed, all_records, all_costs, transfer_items, call_items = [], [], [], [], []
        for seed in cfg.seeds:
            _seed_everything(seed)
            records, costs = [], []
            for sample in samples:
                recs, c = run_method(cfg, method, sample, seed=seed, backends=bk, embedder=embedder,
                                     progress=progress, transfer_embedder=t_emb)
                records.extend(recs)
                if c.get("transfer"):  # its per-memory / per-observation items are samples, not results
                    transfer_items += [{"seed": seed, "conversation_id": sample.sample_id, **it}
                                       for it in c["transfer"].pop("items")]
                call_items += [{"seed": seed, "conversation_id": sample.sample_id, **it} for it in c.pop("calls", [])]
                if c:
                    costs.append({"conversation_id": sample.sample_id, "seed": seed, **c})
            summary = summarize(records, costs)
            pooled = transfer.pool([c.get("transfer") for c in costs])
            if pooled:  # mem0 with observations: overall transfer rates (per conversation: costs[i]["transfer"])
                summary.update({k: pooled[k] for k in (*transfer.TRANSFER_METRICS, "stored_tokens")})
            per_seed.append(summary)
            all_records.extend(records)
            all_costs.extend(costs)
        results[task] = {**combine_seeds(per_seed), "per_seed": per_seed, "costs": all_costs}
        samples_out[task] = all_records
        if transfer_items:
            samples_out[f"{task}_transfer"] = transfer_items
        if call_items:
            samples_out[f"{task}_calls"] = call_items
        log.info("%s: F1 %.3f BLEU-1 %.3f J %s (n=%d)", task, results[task]["f1"] or 0, results[task]["bleu1"] or 0,
                 results[task]["j"], results[task]["n"])
    if t_emb is not None and cfg.transfer.references:
        ref_results, ref_items = transfer_references(cfg, samples, t_emb)
        results.update(ref_results)
        samples_out.update(ref_items)
    for task, r in results.items():
        if r.get("observation_recall") is not None or r.get("evidence_coverage") is not None:
            log.info("%s: %s", task, ", ".join(f"{k.replace('_', ' ')} {_f(r.get(k))}"
                                               for k in (*transfer.TRANSFER_METRICS, "memories")))
    meta = {"config": cfg.model_dump(mode="json"), "data": str(data), "backends": bk.names(),
            "cache": bk.cache_stats(), "wall_s": time.perf_counter() - t0,
            "conversations": [s.sample_id for s in samples], "n_questions": sum(len(s.qa) for s in samples),
            "embedder": getattr(embedder, "name", type(embedder).__name__),
            "transfer_embedder": getattr(t_emb, "name", type(t_emb).__name__) if t_emb is not None else None}
    if write:
        from eval.report import write_report

        meta["paths"] = write_report(results, samples_out, meta, Path(cfg.output_dir) / cfg.name, plots=cfg.plots)
    return {"results": results, "samples": samples_out, **meta}


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    cfg = cli_config(EvalConfig, argv, __doc__)
    if not cfg.data:
        raise SystemExit("error: --data PATH/locomo10.json is required (or `data:` in the config)")
    if not Path(cfg.data).is_file():
        raise SystemExit(f"error: LOCOMO file not found: {cfg.data}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = run_locomo(cfg, cfg.data)
    from eval.report import print_paths

    print_paths(out["paths"])
    return out


if __name__ == "__main__":
    main()
