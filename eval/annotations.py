"""How closely can any manager follow LOCOMO's observation annotations? Their consistency, and a reader's agreement.

    python -m eval.annotations --name dev [--data ../shared/data/locomo/locomo_dev.json] \
        [--labels docs/data/locomo_reader_labels.jsonl] [--sheet 100 --seed 13 --conversations '[conv-30]']

Evidence coverage (eval.transfer) asks a manager's memories to cite the turns that LOCOMO's annotators drew an
observation from, so a manager that stores memories from only some turns must pick the turns the annotators
picked. This reports how far the annotations themselves allow that, per conversation and pooled:
- annotated rate: share of turns with an observation of their speaker (dia_id in its `dia_ids`);
- twin disagreement: among pairs of one speaker's turns at embedding cosine >= `twin_threshold` (near restatements,
  e.g. "Thanks! I won't quit, no matter what..." twice in one conversation), the share where one is annotated and
  the other is not; labels drawn at random at the annotated rate p would disagree at 2p(1-p) (`twin_chance`);
- 1-NN agreement: share of turns whose most similar other turn of the same speaker has the same label;
- reader agreement (`labels`, JSONL of {"conversation_id", "dia_id", "label": 0/1}): a person labelled turns without
  seeing the annotations, 1 = "a memory manager should store a lasting fact about the speaker from this turn".
  Reported: the share of turns the reader picks, the recall of the annotated turns (the coverage a manager that
  stores exactly the reader's turns would reach; with its binomial standard error) and the precision.
- the matcher against a reader (`match_labels`, JSONL of {"memory", "observation", "speakers", "style", "label"}):
  a person judged, without seeing the matcher's decision, whether the memory states the observation's fact (or a
  main part of it); reported per `style` (e.g. "student memory", "verbatim turn") and overall: the matcher's
  recall and precision against those labels at `sim_threshold` / `overlap_threshold` (eval.transfer's match), so
  the figures the transfer metric prints can be read with its error in view.
With `sheet: N` it writes a blind labelling sheet instead: N turns drawn with `seed` from `conversations` (all when
unset), shuffled, each with the turn before it and without its annotation (`sheet.md`), and a labels file to fill
in (`labels.jsonl`, label null), so the study can be repeated on any LOCOMO-format file.
Output: a results JSON + Markdown under output_dir/name (one row per conversation, one pooled).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memmgr.config import EmbedderConfig
from memmgr.conversations import Conversation, load_conversations
from memmgr.scoring import OVERLAP_THRESHOLD, SIM_THRESHOLD, cosine_matrix, match_facts
from memmgr.settings import Strict

COLUMNS = (("turns", "turns", "{:.0f}"), ("annotated rate", "annotated_rate", "{:.3f}"),
           ("twin pairs", "twin_pairs", "{:.0f}"), ("twin disagreement", "twin_disagreement", "{:.3f}"),
           ("chance", "twin_chance", "{:.3f}"), ("1-NN agreement", "nn_agreement", "{:.3f}"),
           ("reader n", "reader_n", "{:.0f}"), ("reader picks", "reader_pick_rate", "{:.3f}"),
           ("reader recall", "reader_recall", "{:.3f}"), ("± se", "reader_recall_se", "{:.3f}"),
           ("reader precision", "reader_precision", "{:.3f}"), ("pairs", "pairs", "{:.0f}"),
           ("reader matches", "reader_matches", "{:.0f}"), ("matcher recall", "matcher_recall", "{:.3f}"),
           ("matcher precision", "matcher_precision", "{:.3f}"))


class AnnotationsConfig(Strict):
    name: str
    data: str = "../shared/data/locomo/locomo_dev.json"  # LOCOMO-format JSON (the full locomo10.json works)
    conversations: list[str] | None = None  # conversation ids to use; None = all with observations
    labels: str | None = None  # a reader's blind labels (JSONL); None = consistency figures only
    match_labels: str | None = None  # a reader's judgements of (memory, observation) pairs (JSONL)
    sim_threshold: float = SIM_THRESHOLD  # the match under test (eval.transfer's defaults)
    overlap_threshold: float = OVERLAP_THRESHOLD
    twin_threshold: float = 0.8
    embedder: EmbedderConfig | None = None  # None = all-MiniLM-L6-v2
    sheet: int | None = None  # write a blind labelling sheet of this many turns instead of scoring
    seed: int = 13
    output_dir: str = "outputs/annotations"


def turns_of(conv: Conversation) -> list[Any]:
    """The conversation's turns in order, sessions flattened."""
    return [t for s in conv.sessions for t in s.turns]


def annotated(conv: Conversation) -> list[tuple[Any, bool]]:
    """Every turn of the conversation with whether an observation of its speaker cites it."""
    ids = {(o.speaker, d) for o in conv.observations for d in o.dia_ids}
    return [(t, (t.name, t.id) in ids) for t in turns_of(conv)]


def consistency_rates(turns: int, annotated_n: int, twin_pairs: int, twins_differ: int, nn_turns: int,
                      nn_same: int) -> dict[str, Any]:
    """The consistency figures from their counts (one conversation's, or several summed)."""
    p = annotated_n / turns if turns else 0.0
    return {"turns": turns, "annotated_rate": p, "twin_pairs": twin_pairs,
            "twin_disagreement": twins_differ / twin_pairs if twin_pairs else None, "twin_chance": 2 * p * (1 - p),
            "nn_agreement": nn_same / nn_turns if nn_turns else None, "annotated": annotated_n,
            "twins_differ": twins_differ, "nn_turns": nn_turns, "nn_same": nn_same}


def consistency(turns: Sequence[tuple[Any, bool]], embedder: Any, threshold: float) -> dict[str, Any]:
    """Twin disagreement and 1-NN agreement of the annotation labels over one conversation's turns."""
    y = [lab for _, lab in turns]
    sims = cosine_matrix(*[embedder.embed([t.content for t, _ in turns])] * 2) if turns else []
    same = [[j for j in range(len(turns)) if j != i and turns[j][0].name == turns[i][0].name] for i in range(len(turns))]
    twins = [(i, j) for i in range(len(turns)) for j in same[i] if j > i and sims[i][j] >= threshold]
    nn = [(i, max(js, key=lambda j: sims[i][j])) for i, js in enumerate(same) if js]
    return consistency_rates(len(turns), sum(y), len(twins), sum(y[i] != y[j] for i, j in twins), len(nn),
                             sum(y[i] == y[j] for i, j in nn))


def reader_rates(n: int, tp: int, annotated_n: int, picked: int) -> dict[str, Any]:
    """A reader's figures from the counts: turns labelled, picked and annotated, and both (tp)."""
    rec = tp / annotated_n if annotated_n else None
    return {"reader_n": n, "reader_pick_rate": picked / n, "reader_recall": rec,
            "reader_recall_se": math.sqrt(rec * (1 - rec) / annotated_n) if rec is not None else None,
            "reader_precision": tp / picked if picked else None, "reader_tp": tp, "reader_annotated": annotated_n,
            "reader_picked": picked}


def reader_agreement(labels: dict[str, int], turns: Sequence[tuple[Any, bool]]) -> dict[str, Any]:
    """The reader's picks against the annotations, over the turns the reader labelled (keys: dia_id)."""
    rows = [(labels[t.id], lab) for t, lab in turns if labels.get(t.id) is not None]
    if not rows:
        return {}
    return reader_rates(len(rows), sum(1 for r, g in rows if r and g), sum(g for _, g in rows),
                        sum(r for r, _ in rows))


def read_rows(path: str, keys: Sequence[str], nullable: bool = False) -> list[dict[str, Any]]:
    """JSON lines with these keys and a 0/1 label (or null when `nullable`), or a one-line error naming the line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"labels file {path} not found")
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if any(k not in row for k in keys) or row.get("label", 2) not in ((0, 1, None) if nullable else (0, 1)):
                raise ValueError(f"needs {', '.join(keys)} and a label 0, 1{' or null' if nullable else ''}")
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise ValueError(f"{path} line {n}: not a label row ({e})") from None
        rows.append(row)
    return rows


def read_labels(path: str) -> dict[str, dict[str, int]]:
    """{conversation_id: {dia_id: 0/1}} from a turn labels JSONL (rows with a null label are skipped)."""
    out: dict[str, dict[str, int]] = {}
    for row in read_rows(path, ("conversation_id", "dia_id"), nullable=True):
        if row["label"] is not None:
            out.setdefault(str(row["conversation_id"]), {})[str(row["dia_id"])] = int(row["label"])
    return out


def matcher_agreement(rows: Sequence[dict[str, Any]], embedder: Any, sim_threshold: float,
                      overlap_threshold: float) -> dict[str, dict[str, Any]]:
    """The transfer matcher's decision on each labelled (memory, observation) pair against the reader's label, per
    style and overall: recall = pairs both call a match / the reader's matches, precision = ... / the matcher's."""
    decided = []
    for r in rows:
        m = match_facts([r["memory"]], [r["observation"]], embedder, sim_threshold=sim_threshold,
                        overlap_threshold=overlap_threshold, ignore_words=r.get("speakers") or ())
        decided.append((str(r.get("style") or "all"), bool(r["label"]), bool(m["matched_pred"])))
    out = {}
    for style in [*sorted({s for s, _, _ in decided}), None]:
        sel = [(y, m) for s, y, m in decided if style is None or s == style]
        tp, pos, hits = sum(y and m for y, m in sel), sum(y for y, _ in sel), sum(m for _, m in sel)
        out[f"matcher: {style or 'all pairs'}"] = {"pairs": len(sel), "reader_matches": pos,
                                                   "matcher_recall": tp / pos if pos else None,
                                                   "matcher_precision": tp / hits if hits else None}
    return out


def write_sheet(convs: Sequence[Conversation], n: int, seed: int, out: Path) -> dict[str, Any]:
    """A blind labelling sheet: n turns drawn with seed, shuffled, each after its preceding turn, no annotation."""
    pool = [(c.conversation_id, i, turns) for c in convs for turns in [turns_of(c)] for i in range(len(turns))]
    if not 0 < n <= len(pool):
        raise ValueError(f"sheet must be between 1 and {len(pool)} turns, got {n}")
    picked = random.Random(seed).sample(pool, n)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["Label each TURN 1 if a memory manager should store a lasting fact about its speaker from it (an event, "
             "plan, preference, feeling or opinion of theirs), else 0. Fill `label` in labels.jsonl.\n"]
    rows = []
    for k, (cid, i, turns) in enumerate(picked):
        t, prev = turns[i], (turns[i - 1].content if i else "")
        lines.append(f"#{k} ({cid} {t.id}) [{t.name}]\n    before: {prev[:200]}\n    TURN: {t.content}\n")
        rows.append({"k": k, "conversation_id": cid, "dia_id": t.id, "label": None})
    (out / "sheet.md").write_text("\n".join(lines))
    (out / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"sheet": str(out / "sheet.md"), "labels": str(out / "labels.jsonl"), "turns": n}


def pooled(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The conversations together: every figure again from the summed counts."""
    out = consistency_rates(*(sum(r[k] for r in rows) for k in ("turns", "annotated", "twin_pairs", "twins_differ",
                                                                "nn_turns", "nn_same")))
    read = [r for r in rows if r.get("reader_n")]
    if read:
        out.update(reader_rates(*(sum(r[k] for r in read) for k in ("reader_n", "reader_tp", "reader_annotated",
                                                                    "reader_picked"))))
    return out


def run(cfg: AnnotationsConfig) -> dict[str, Any]:
    from eval.report import write_report
    from memmgr.embed import make_embedder

    if not Path(cfg.data).is_file():
        raise FileNotFoundError(f"data file {cfg.data} not found")
    convs = [c for c in load_conversations(cfg.data) if c.observations]
    if cfg.conversations is not None:
        missing = set(cfg.conversations) - {c.conversation_id for c in convs}
        if missing:
            raise ValueError(f"no conversation with observations called {sorted(missing)} in {cfg.data}")
        convs = [c for c in convs if c.conversation_id in cfg.conversations]
    if not convs:
        raise ValueError(f"{cfg.data} holds no conversation with observation annotations")
    out_dir = Path(cfg.output_dir) / cfg.name
    if cfg.sheet is not None:
        return {"paths": write_sheet(convs, cfg.sheet, cfg.seed, out_dir)}
    labels = read_labels(cfg.labels) if cfg.labels else {}
    pairs = read_rows(cfg.match_labels, ("memory", "observation")) if cfg.match_labels else []
    embedder = make_embedder(cfg.embedder or EmbedderConfig())
    rows = {}
    for c in convs:
        turns = annotated(c)
        rows[c.conversation_id] = {**consistency(turns, embedder, cfg.twin_threshold),
                                   **reader_agreement(labels.get(c.conversation_id, {}), turns)}
    results = {**rows, "all": pooled(list(rows.values())),
               **matcher_agreement(pairs, embedder, cfg.sim_threshold, cfg.overlap_threshold)}
    meta = {"config": cfg.model_dump(mode="json")}
    return {"results": results, "paths": write_report(results, {}, meta, out_dir, plots=False, columns=COLUMNS)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from eval.report import print_paths, run_command

    out = run_command(AnnotationsConfig, argv, __doc__, run)
    if "markdown_text" in out["paths"]:
        print_paths(out["paths"])
    else:
        print(f"sheet: {out['paths']['sheet']}\nlabels to fill in: {out['paths']['labels']}")
    return out


if __name__ == "__main__":
    main()
