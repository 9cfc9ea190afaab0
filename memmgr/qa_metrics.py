"""Answer-level metrics for LOCOMO-style QA: token F1, BLEU-1, judge-label parsing, evidence recall, percentiles.

Pure python; nltk is imported lazily (BLEU only). Conventions follow the LoCoMo/SQuAD evaluation code (normalised
answers) and Mem0's evaluation (BLEU-1 with nltk's smoothing method1).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—"}
# "CORRECT"/"WRONG" (and common variants) as whole words; INCORRECT must be tested before CORRECT
_LABEL_RE = re.compile(r"\b(INCORRECT|NOT\s+CORRECT|CORRECT|WRONG|TRUE|FALSE)\b", re.I)
_POSITIVE = {"CORRECT", "TRUE"}


def normalize_answer(text: object) -> str:
    """Lowercase, drop punctuation, drop articles (a/an/the), collapse whitespace (SQuAD / LoCoMo)."""
    s = str(text if text is not None else "").lower()
    s = "".join(" " if ch in _PUNCT else ch for ch in s)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def answer_tokens(text: object) -> list[str]:
    return normalize_answer(text).split()


def token_f1(pred: object, gold: object) -> float:
    """Multiset token F1 of normalised answers. Both empty = 1.0, one empty = 0.0."""
    p, g = answer_tokens(pred), answer_tokens(gold)
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def bleu1(pred: object, gold: object) -> float:
    """Sentence BLEU-1 (unigram precision x brevity penalty) of normalised tokens, nltk smoothing method1.

    Normalised tokens rather than nltk.word_tokenize: the punkt tokenizer data cannot be downloaded here, and
    normalising first keeps BLEU-1 and F1 on the same tokens."""
    p, g = answer_tokens(pred), answer_tokens(gold)
    if not p or not g:
        return float(p == g)
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return float(sentence_bleu([g], p, weights=(1, 0, 0, 0), smoothing_function=SmoothingFunction().method1))


def adversarial_correct(pred: object) -> float:
    """LoCoMo category 5 (unanswerable): correct when the answer declines (official LoCoMo rule)."""
    s = normalize_answer(pred)
    return float("not mentioned" in s or "no information available" in s)


def parse_judge(text: object) -> bool | None:
    """CORRECT -> True, WRONG -> False, None when the judge's output says neither (or both, ambiguously).

    Accepts JSON ({"label": "CORRECT"}), broken JSON, bare words, "Label: wrong", markdown, reasoning followed by
    a verdict. Judge output is untrusted text: this never raises."""
    if not isinstance(text, str) or not text.strip():
        return None
    s = re.sub(r"<think>.*?(</think>|$)", " ", text, flags=re.S | re.I)
    # 1. a "label" field, from JSON or a key: value line (the judge prompt asks for {"label": ...})
    try:
        obj = json.loads(s.strip().strip("`").removeprefix("json").strip())
        if isinstance(obj, dict) and isinstance(obj.get("label"), str):
            return _label_value(obj["label"])
    except (ValueError, TypeError):
        pass
    m = re.search(r"label\W{0,4}\s*([A-Za-z ]{3,20})", s, re.I)
    if m:
        verdict = _label_value(m.group(1))
        if verdict is not None:
            return verdict
    # 2. otherwise the label words present: unambiguous if they all agree, else the last one (a verdict after
    # reasoning, as in "the answer is not wrong ... CORRECT") only when it is on the final line
    found = [_label_value(w) for w in _LABEL_RE.findall(s)]
    if not found:
        return None
    if all(v == found[0] for v in found):
        return found[0]
    last_line = s.strip().splitlines()[-1]
    tail = [_label_value(w) for w in _LABEL_RE.findall(last_line)]
    return tail[-1] if tail and all(v == tail[0] for v in tail) else None


def _label_value(word: str) -> bool | None:
    w = " ".join(word.upper().split())
    m = _LABEL_RE.search(w)
    if not m:
        return None
    key = " ".join(m.group(1).upper().split())
    return key in _POSITIVE


def split_evidence(ids: Iterable[object]) -> list[str]:
    """LOCOMO evidence lists sometimes hold 'D8:6; D9:17' or 'D1:3 D1:4' in one string: split them."""
    out: list[str] = []
    for raw in ids or []:
        out.extend(t for t in re.split(r"[;,\s]+", str(raw)) if t)
    return out


def evidence_recall(retrieved_source_ids: Iterable[object], evidence_ids: Iterable[object]) -> float | None:
    """Share of the gold evidence dia_ids found among the retrieved items' provenance ids (None: no evidence)."""
    gold = set(split_evidence(evidence_ids))
    if not gold:
        return None
    got = set(split_evidence(retrieved_source_ids))
    return len(gold & got) / len(gold)


def percentile(values: Sequence[float], q: float) -> float | None:
    """q-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def mean_sd(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0.0 for one value; None for none)."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    if len(xs) == 1:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def stderr(values: Iterable[float | None]) -> float | None:
    """Standard error of the mean (sample sd / sqrt(n), as lm-evaluation-harness's `_stderr`); None below two values."""
    xs = [float(v) for v in values if v is not None]
    if len(xs) < 2:
        return None
    return mean_sd(xs)[1] / math.sqrt(len(xs))


def approx_tokens(text: str) -> int:
    """Token estimate for cost columns (about 4 characters per BPE token for English)."""
    return math.ceil(len(text) / 4) if text else 0
