"""Reading the trace datasets data_gen writes: load, mix stages, re-render prompts, answer the recorded prompts.

Schema (see data_gen/README.md): messages, prompt, completion, stage ("extract"|"update"), label, shown_memories (JSON
list of [id, text]), source_texts, gold_after (JSON list or ""), conversation_id, pair_id, teacher, prompt_version,
prompt_style, source. Splits: train / validation / test (split by conversation).

`answer_rows` is the generation half of manager evaluation; the scoring half is `memmgr.scoring.score_row` /
`aggregate`. `eval.manager` (the evaluator) and the SFT callback in train/ both put the two together.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.prompts import PROMPT_STYLES, render_messages_for_style

log = logging.getLogger(__name__)

STAGES = ("extract", "update")
GRAPH_STAGES = ("graph_entities", "graph_relations", "graph_resolve")  # graph-manager rows (data_gen/graph_traces.py)


def render_for_style(prompt: list[dict[str, str]], stage: str, style: str) -> list[dict[str, str]]:
    """A recorded prompt re-rendered under `style`, for vector- and graph-manager stages alike."""
    if stage in GRAPH_STAGES:
        from memmgr.graph.prompts import render_graph_for_style

        return render_graph_for_style(prompt, stage, style)
    return render_messages_for_style(prompt, stage, style)


def load_traces(path: str | Path) -> Any:
    """A `datasets.DatasetDict` from a save_to_disk folder, a folder of {split}.jsonl files, or one JSONL file
    (which becomes the train split)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    p = Path(path)
    if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        dd = load_from_disk(str(p))
        return dd if isinstance(dd, DatasetDict) else DatasetDict({"train": dd})
    if p.is_dir():
        files = {f.stem: f for f in sorted(p.glob("*.jsonl"))}
        if not files:
            raise FileNotFoundError(f"{p}: neither a saved DatasetDict nor a folder of <split>.jsonl files")
        return DatasetDict({s: Dataset.from_list(_read_jsonl(f)) for s, f in files.items()})
    if p.suffix == ".jsonl" and p.is_file():
        return DatasetDict({"train": Dataset.from_list(_read_jsonl(p))})
    raise FileNotFoundError(f"no trace dataset at {p}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def mix_stages(ds: Any, extract_fraction: float | None, seed: int = 0, max_samples: int | None = None,
               graph_fraction: float = 0.0) -> Any:
    """Subsample so that a fraction `extract_fraction` of the vector-manager rows are extraction calls (None keeps
    the natural mix), and a fraction `graph_fraction` of all rows are graph-manager rows (stages `graph_*`, in their
    natural mix; 0 drops them, 1 keeps only them).

    The limiting group is kept whole and the others are downsampled, so no row is seen twice per epoch.
    """
    rng = random.Random(seed)
    stages = list(ds["stage"])
    idx = {s: [i for i, st in enumerate(stages) if st == s] for s in STAGES}
    graph_idx = [i for i, st in enumerate(stages) if st in GRAPH_STAGES]
    if not 0.0 <= graph_fraction <= 1.0:
        raise ValueError(f"graph_fraction must be in [0, 1], got {graph_fraction}")
    n_e, n_u = len(idx["extract"]), len(idx["update"])
    if extract_fraction is not None:
        if not 0.0 <= extract_fraction <= 1.0:
            raise ValueError(f"extract_fraction must be in [0, 1], got {extract_fraction}")
        if extract_fraction == 0.0:
            n_e = 0
        elif extract_fraction == 1.0:
            n_u = 0
        else:
            # largest totals with the requested ratio that fit in what we have
            total = min(n_e / extract_fraction, n_u / (1 - extract_fraction))
            n_e, n_u = round(total * extract_fraction), round(total * (1 - extract_fraction))
    n_g = 0
    if graph_fraction == 1.0:
        n_e = n_u = 0
        n_g = len(graph_idx)
    elif graph_fraction > 0.0:
        if not graph_idx:
            raise ValueError("graph_fraction > 0 but the dataset has no graph-manager rows (data_gen graph.mode)")
        n_g = round((n_e + n_u) * graph_fraction / (1 - graph_fraction))
        if n_g > len(graph_idx):  # too few graph rows: shrink the vector rows instead
            scale = len(graph_idx) / n_g
            n_g, n_e, n_u = len(graph_idx), round(n_e * scale), round(n_u * scale)
    if max_samples is not None and n_e + n_u + n_g > max_samples:  # shrink all, keeping the ratios
        scale = max_samples / (n_e + n_u + n_g)
        n_e, n_g = round(n_e * scale), round(n_g * scale)
        n_u = max_samples - n_e - n_g
    keep = rng.sample(idx["extract"], n_e) + rng.sample(idx["update"], n_u) + rng.sample(graph_idx, n_g)
    rng.shuffle(keep)
    log.info("stage mix: %d extract + %d update + %d graph -> %d rows", n_e, n_u, n_g, len(keep))
    return ds.select(keep)


def eval_rows(path: str | Path, split: str, limit: int | None = None, seed: int = 0,
              source: str | None = None, graph: bool = False) -> list[dict[str, Any]]:
    """Rows of one split for evaluation: all of them, or `limit` rows balanced between the two stages; only those
    of one `source` of a mixed dataset (its `mix_source` column, data_gen.mix) when given. `graph`: the
    graph-manager rows instead (`limit` of them, balanced between the three graph stages)."""
    dd = load_traces(path)
    if split not in dd:
        raise ValueError(f"{path} has no split {split!r} (has {sorted(dd)})")
    ds = dd[split]
    if source is not None:
        if "mix_source" not in ds.column_names:
            raise ValueError(f"{path} is not a mixed dataset (no mix_source column): drop `source`")
        ds = ds.filter(lambda s: s == source, input_columns="mix_source")
        if not len(ds):
            raise ValueError(f"{path} split {split!r} has no rows of source {source!r}")
    if graph:
        return _graph_rows(ds, limit, seed)
    return list(mix_stages(ds, 0.5 if limit else None, seed=seed, max_samples=limit))


def _graph_rows(ds: Any, limit: int | None, seed: int) -> list[dict[str, Any]]:
    idx = {s: [i for i, st in enumerate(ds["stage"]) if st == s] for s in GRAPH_STAGES}
    if limit is not None:
        rng = random.Random(seed)
        share, extra = divmod(limit, len(GRAPH_STAGES))
        idx = {s: rng.sample(ids, min(len(ids), share + (k < extra))) for k, (s, ids) in enumerate(idx.items())}
    return [ds[i] for i in sorted(i for ids in idx.values() for i in ids)]


def with_prompt_style(ds: Any, style: str) -> Any:
    """Re-render every prompt's system message under `style` (teacher | student); same inputs, other instruction."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {style!r}")

    def fn(row: dict[str, Any]) -> dict[str, Any]:
        prompt = render_for_style(row["prompt"], row["stage"], style)
        out = {"prompt": prompt, "prompt_style": style}
        if "messages" in row:
            out["messages"] = prompt + list(row["completion"])
        return out

    return ds.map(fn, desc=f"{style} prompts")


def answer_rows(backend: Any, rows: Sequence[dict[str, Any]], *, prompt_style: str | None = None,
                max_tokens: int = 256, progress: bool = True) -> tuple[list[Any], list[float]]:
    """Answer every recorded prompt greedily, under `prompt_style` if given (else as recorded).

    Returns the Generations and a latency per row (a batched backend reports its batch's latency per item; else the
    measured share of the batch's wall time)."""
    from tqdm import tqdm

    from memmgr.backends.base import generate_batch

    prompts = [render_for_style(r["prompt"], r["stage"], prompt_style) if prompt_style else r["prompt"]
               for r in rows]
    bs = max(1, int(getattr(backend, "batch_size", 1)))
    gens: list[Any] = []
    latencies: list[float] = []
    for i in tqdm(range(0, len(prompts), bs), desc=f"manager {getattr(backend, 'name', 'model')}", unit="batch",
                  disable=not progress):
        t0 = time.perf_counter()
        chunk = generate_batch(backend, prompts[i:i + bs], max_tokens=max_tokens, temperature=0.0)
        wall = (time.perf_counter() - t0) / max(len(chunk), 1)
        gens.extend(chunk)
        latencies.extend(g.latency_s or wall for g in chunk)
    return gens, latencies
