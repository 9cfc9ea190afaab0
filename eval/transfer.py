"""Transfer to real dialogue without an LLM judge: stored memories against LOCOMO's `observation` annotations.

LOCOMO ships, per session and speaker, short third-person facts with the dia_id(s) of the turn(s) they come from:
a teacher's extraction labels on real dialogue. For a set of memories (each `{"text", "source_ids"}`) grouped in
scopes (a scope's memories answer for one or more speakers' observations):

- evidence coverage: share of the observations' distinct (speaker, dia_id) pairs found among the `source_ids` of
  that speaker's memories;
- matched coverage: the same share counting only a memory that also matches (below) an observation of that turn.
  Coverage alone credits any memory that cites the turn: an UPDATE chain carries the union of its source ids, so one
  memory rewritten over twenty turns "covers" all of them while saying one thing; matched coverage does not;
- observation recall: share of observations matched by some memory of that speaker (`match_facts`);
- memory match rate: share of memories that match some observation of their scope's speaker(s).

A memory and an observation match when BOTH hold (`match_facts`):
- cosine similarity of their embeddings (the configured embedder) >= `sim_threshold`, and
- content-word overlap >= `overlap_threshold`: |A & B| / min(|A|, |B|) over the sets of `memmgr.sanitize`'s
  content words (lower-cased, light stemming, stopwords, generic fact verbs, dates and digits dropped), with the
  speakers' names removed (every fact about Caroline says "Caroline"). The min makes the overlap tolerant of
  granularity (an atomic memory inside a two-fact observation, or the reverse); the cosine rejects a long text
  that merely contains the words.
Matching is many-to-many ("some memory"): one memory may match several observations and vice versa.

Beside them, without the annotations: memory redundancy, the share of memories with another memory of the same
scope at embedding cosine >= `redundancy_threshold` (0.85: on conv-30 pairs at or above it restate one fact, e.g.
"Jon's dance studio is a way to express himself..." / "...a great way to express yourself..."; below it they start
to hold different facts about one topic). It is what the update step's NOOP / UPDATE should keep low.

`eval.locomo` reports these for the mem0 method and for two references computed the same way: every ingested
turn stored verbatim as a memory of its speaker (`transfer_store_every_turn`) and RAG's chunks, shared by both
speakers (`transfer_rag_chunks`).

A run's transfer samples (`samples_<task>_transfer_*.jsonl`: every memory and observation) hold all the metric
needs, so a finished run can be scored again, e.g. with other match thresholds or after a metric was added, without
ingesting anything (one row per file; the embedder is sentence-transformers' MiniLM unless `embedder` says):

    python -m eval.transfer --name rescored --samples '[outputs/ablations/X/samples_..._transfer_....jsonl]'
        [--sim_threshold 0.6] [--overlap_threshold 0.5] [--output_dir outputs/transfer]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from memmgr.config import EmbedderConfig
from memmgr.conversations import Observation
from memmgr.qa_metrics import approx_tokens
from memmgr.scoring import (  # noqa: F401
    OVERLAP_THRESHOLD,
    SIM_THRESHOLD,
    cosine_matrix,
    match_facts,
    word_overlap,
    word_set,
)
from memmgr.settings import Strict

TRANSFER_METRICS = ("evidence_coverage", "matched_coverage", "observation_recall", "memory_match_rate",
                    "memory_redundancy")


class TransferConfig(Strict):
    enabled: bool = True  # on whenever the data has observations (skipped with a logged note when it has none)
    sim_threshold: float = SIM_THRESHOLD  # cosine of the embeddings, >=
    overlap_threshold: float = OVERLAP_THRESHOLD  # content-word overlap coefficient, >=
    references: bool = True  # also report the store-every-turn and RAG-chunk reference rows
    redundancy_threshold: float = 0.85  # cosine at/above which two memories of a scope restate each other
    embedder: EmbedderConfig | None = None  # embedder of the match; None = the run's (memory.embedder)


# ------------------------------------------------------------------------------------------ one conversation
Scope = tuple[Sequence[dict[str, Any]], Sequence[str]]  # (memories {"text", "source_ids"}, speakers it serves)


def store_every_turn_scopes(sample: Any) -> list[Scope]:
    """Reference: each ingested turn verbatim as a memory of its speaker, its dia_id as source id."""
    conv = sample.conversation
    by_speaker: dict[str, list[dict[str, Any]]] = {s: [] for s in conv.speakers}
    for sess in conv.sessions:
        for m in sess.turns:
            if m.name in by_speaker and m.content.strip():
                by_speaker[m.name].append({"text": m.content, "source_ids": [m.id] if m.id else []})
    return [(mems, [s]) for s, mems in by_speaker.items()]


def conversation_transfer(sample: Any, scopes: Sequence[Scope], embedder: Any, cfg: TransferConfig
                          ) -> dict[str, Any]:
    """Counts (poolable over conversations) and rates of one conversation's memories against its observations,
    and `items`: one record per memory and per observation with its `matched` flag (observations also `covered`),
    which eval.locomo writes as the samples of the transfer rows: what was missed, what matched nothing."""
    obs = list(sample.observations)
    names = list(sample.conversation.speakers)
    covered: set[tuple[str, str]] = set()
    match_covered: set[tuple[str, str]] = set()  # cited by a memory that matches an observation of that turn
    obs_hit = [False] * len(obs)
    n_mem = matched_mem = redundant_mem = stored = 0
    items: list[dict[str, Any]] = []
    for mems, speakers in scopes:
        idx = [j for j, o in enumerate(obs) if o.speaker in speakers]
        ids = {str(i) for m in mems for i in m.get("source_ids") or []}
        covered |= {(obs[j].speaker, d) for j in idx for d in obs[j].dia_ids if d in ids}
        res = match_facts([m["text"] for m in mems], [obs[j].text for j in idx], embedder,
                          sim_threshold=cfg.sim_threshold, overlap_threshold=cfg.overlap_threshold,
                          ignore_words=names)
        for j, hit in zip(idx, res["gold_matched"]):
            obs_hit[j] = obs_hit[j] or hit
        for pr in res["pairs"]:
            o, cited = obs[idx[pr["gold"]]], {str(i) for i in mems[pr["pred"]].get("source_ids") or []}
            match_covered |= {(o.speaker, d) for d in o.dia_ids if d in cited}
        dup = redundant([m["text"] for m in mems], embedder, cfg.redundancy_threshold)
        n_mem += len(mems)
        matched_mem += res["matched_pred"]
        redundant_mem += sum(dup)
        stored += sum(approx_tokens(m["text"]) for m in mems)
        items += [{"kind": "memory", "speakers": list(speakers), "text": m["text"],
                   "source_ids": [str(i) for i in m.get("source_ids") or []], "matched": hit, "redundant": d}
                  for m, hit, d in zip(mems, res["pred_matched"], dup)]
    evidence = {(o.speaker, d) for o in obs for d in o.dia_ids}
    out = {"observations": len(obs), "observation_ids": len(evidence), "covered_ids": len(covered & evidence),
           "match_covered_ids": len(match_covered & evidence),
           "matched_observations": sum(obs_hit), "memories": n_mem, "matched_memories": matched_mem,
           "redundant_memories": redundant_mem, "stored_tokens": stored}
    items += [{"kind": "observation", "speakers": [o.speaker], "text": o.text, "source_ids": list(o.dia_ids),
               "matched": hit, "covered": any((o.speaker, d) in covered for d in o.dia_ids)}
              for o, hit in zip(obs, obs_hit)]
    return {**out, **rates(out), "items": items}


def redundant(texts: Sequence[str], embedder: Any, threshold: float) -> list[bool]:
    """Per text: does another text of the list lie at cosine >= threshold (a restatement in the same scope)?"""
    if len(texts) < 2:
        return [False] * len(texts)
    sims = cosine_matrix(*(2 * [embedder.embed(list(texts))]))
    return [any(sims[i][j] >= threshold for j in range(len(texts)) if j != i) for i in range(len(texts))]


def rates(c: dict[str, Any]) -> dict[str, float | None]:
    """The transfer rates from (pooled) counts; None when undefined (no observations / no memories)."""
    def div(a: str, b: str) -> float | None:
        return c[a] / c[b] if c.get(b) else None

    return {"evidence_coverage": div("covered_ids", "observation_ids"),
            "matched_coverage": div("match_covered_ids", "observation_ids"),
            "observation_recall": div("matched_observations", "observations"),
            "memory_match_rate": div("matched_memories", "memories"),
            "memory_redundancy": div("redundant_memories", "memories")}


def pool(per_conversation: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Overall figures: rates over the pooled counts (micro average); memories and stored tokens per conversation
    (mean). Empty dict when no conversation has transfer counts."""
    rows = [r for r in per_conversation if r]
    if not rows:
        return {}
    keys = ("observations", "observation_ids", "covered_ids", "match_covered_ids", "matched_observations", "memories",
            "matched_memories", "redundant_memories", "stored_tokens")
    tot = {k: sum(r[k] for r in rows) for k in keys}
    return {**rates(tot), "stored_tokens": tot["stored_tokens"] / len(rows), "memories": tot["memories"] / len(rows),
            "n_observations": tot["observations"], "n_conversations": len(rows)}


def has_observations(samples: Sequence[Any]) -> bool:
    return any(getattr(s, "observations", None) for s in samples)


# ------------------------------------------------------------------------------------- rescoring saved samples
class RescoreConfig(Strict):
    name: str
    samples: list[str]  # transfer samples files of finished runs (`samples_<task>_transfer_*.jsonl`)
    sim_threshold: float = SIM_THRESHOLD
    overlap_threshold: float = OVERLAP_THRESHOLD
    redundancy_threshold: float = 0.85
    embedder: EmbedderConfig | None = None  # None = all-MiniLM-L6-v2 (the transfer runs' embedder)
    output_dir: str = "outputs/transfer"

    def transfer(self) -> TransferConfig:
        return TransferConfig(sim_threshold=self.sim_threshold, overlap_threshold=self.overlap_threshold,
                              redundancy_threshold=self.redundancy_threshold)


def rescore_items(items: Sequence[dict[str, Any]], embedder: Any, cfg: TransferConfig) -> dict[str, Any]:
    """The metrics again from a run's transfer samples: per (seed, conversation), its memories grouped in scopes by
    the speakers they serve, against its observation items; pooled like a run (one seed's conversations at a time
    would be the same figures: a file normally holds one seed)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for it in items:
        if it.get("kind") not in ("memory", "observation") or not isinstance(it.get("speakers"), list):
            raise ValueError(f"not a transfer sample: {str(it)[:120]}")
        groups.setdefault((str(it.get("seed")), str(it.get("conversation_id"))), []).append(it)
    per_conv = []
    for (_, conv_id), rows in groups.items():
        obs = [Observation(o["speakers"][0], o["text"], list(o["source_ids"]), 0)
               for o in rows if o["kind"] == "observation"]
        scopes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for m in rows:
            if m["kind"] == "memory":
                scopes.setdefault(tuple(m["speakers"]), []).append({"text": m["text"], "source_ids": m["source_ids"]})
        names = sorted({o.speaker for o in obs} | {s for sp in scopes for s in sp})
        sample = SimpleNamespace(observations=obs, conversation=SimpleNamespace(speakers=names))
        res = conversation_transfer(sample, [(mems, list(sp)) for sp, mems in scopes.items()], embedder, cfg)
        res.pop("items")
        per_conv.append({"conversation_id": conv_id, **res})
    return {**pool(per_conv), "per_conversation": per_conv}


def rescore(cfg: RescoreConfig) -> dict[str, Any]:
    from eval.report import write_report
    from memmgr.embed import make_embedder

    embedder = make_embedder(cfg.embedder or EmbedderConfig())
    results = {}
    for path in map(Path, cfg.samples):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found")
        try:
            items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not readable JSON lines ({e})") from None
        results[f"{cfg.name} / {path.stem}"] = rescore_items(items, embedder, cfg.transfer())
    meta = {"config": cfg.model_dump(mode="json")}
    return {"results": results,
            "paths": write_report(results, {}, meta, Path(cfg.output_dir) / cfg.name, plots=False)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from eval.report import print_paths, run_command

    out = run_command(RescoreConfig, argv, __doc__, rescore)
    print_paths(out["paths"])
    return out


if __name__ == "__main__":
    main()
