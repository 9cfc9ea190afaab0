"""memmgr.scoring helpers shared by eval and training."""

import random

import pytest

from memmgr.scoring import auc


def test_auc_matches_the_pairwise_definition():
    rng = random.Random(0)
    labels = [rng.random() < 0.4 for _ in range(60)]
    scores = [round(rng.random(), 1) for _ in range(60)]  # one decimal: many ties
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairwise = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auc(labels, scores) == pytest.approx(pairwise)
    assert auc([True, False], [0.9, 0.1]) == 1.0 and auc([True, False], [0.1, 0.9]) == 0.0
    assert auc([True, False], [0.5, 0.5]) == 0.5 and auc([True, True], [0.1, 0.2]) is None
    with pytest.raises(ValueError, match="2 labels for 1 scores"):
        auc([True, False], [0.3])
