"""Scores for diagnoses, where accuracy misleads: AUROC, sensitivity at a fixed specificity, and
intervals that resample patients (or any other unit that holds several correlated items).

A diagnosis is usually imbalanced (far more healthy cases than sick ones), and what a clinic chooses
is a threshold, not a class: a test that calls everyone healthy can be accurate and useless. So a
diagnostic score is judged over all thresholds by the area under the ROC curve,

    AUROC = P(score of a random positive > score of a random negative)   (ties count one half),

the Mann-Whitney U statistic over ``n_pos n_neg`` (Hanley and McNeil 1982), and at the operating
point a clinic would pick, by the **sensitivity at a fixed specificity** (the share of sick cases
found when at most ``1 - specificity`` of the healthy ones are flagged).

Their intervals come from the test cases, and the unit resampled must be the unit that was drawn
independently: the **patient**. Several images, slides, visits or patches of one patient are
correlated, and resampling them as if independent makes the interval too narrow;
:func:`bootstrap_metric` resamples whole groups (a cluster bootstrap) when ``groups`` is given. The
same holds for the split: a patient whose images sit on both sides of a train/test split lets a
model recognise the patient instead of the disease (:func:`group_split` keeps each group whole).

Intervals and verdicts follow :mod:`sslbook.stats` (a :class:`~sslbook.stats.Comparison`, so
:func:`sslbook.stats.holm` can decide several together).

>>> round(auroc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]), 2)
0.75
>>> sensitivity_at([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], specificity=1.0)
0.5
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats as _st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import _validate, config, data, stats


def _binary(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(_validate.to_numpy(scores), dtype=float).reshape(-1)
    y = np.asarray(_validate.to_numpy(labels)).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same length, got {len(s)} and {len(y)}")
    if not np.isfinite(s).all():
        raise ValueError("scores contains NaN or infinite values")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError(f"labels must be 0 (negative) or 1 (positive), got values {sorted(set(y.tolist()))[:5]}")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise ValueError("labels must contain both positives (1) and negatives (0): "
                         f"got {int(y.sum())} positives of {len(y)}")
    return s, y


def auroc(scores, labels) -> float:
    """Area under the ROC curve: the chance that a random positive (``labels == 1``) scores higher
    than a random negative, ties counting one half (Mann-Whitney ``U / (n_pos n_neg)``).
    ``scores`` and ``labels`` are length-N sequences; 0.5 is chance whatever the class balance.

    >>> auroc([3, 2, 1], [1, 1, 0])
    1.0
    """
    s, y = _binary(scores, labels)
    ranks = _st.rankdata(s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sensitivity_at(scores, labels, specificity: float = 0.95) -> float:
    """The highest sensitivity (share of positives flagged) of any threshold that flags at most
    ``1 - specificity`` of the negatives: a point read off the ROC curve. A score equal to the
    threshold is not flagged. Reading the threshold off the test cases, as here, describes the
    curve; a clinic must fix its threshold on other patients (a validation set) before testing.

    >>> sensitivity_at([0.9, 0.7, 0.6, 0.2], [1, 0, 1, 0], specificity=0.5)
    1.0
    """
    _validate.in_range("specificity", specificity, 0, 1)
    s, y = _binary(scores, labels)
    negatives = np.sort(s[~y])[::-1]
    allowed = int(np.floor((1 - specificity) * len(negatives) + 1e-9))   # negatives that may be flagged
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf
    return float((s[y] > threshold).mean())


def bootstrap_metric(metric, labels, a, b=None, *, groups=None, level: float = stats.LEVEL,
                     margin: float = 0.0, resamples: int = 2000, seed: int | None = None):
    """A percentile bootstrap of ``metric(scores, labels)`` over the test cases: an
    :class:`~sslbook.stats.Estimate` of ``metric(a)`` or, given ``b`` (a second model's scores on
    the same cases), a :class:`~sslbook.stats.Comparison` of ``metric(a) - metric(b)`` with its
    verdict against ``margin``; both models see the same resampled cases (paired).

    ``groups`` (length N: a patient id per case, a region per patch) resamples whole groups with
    replacement, keeping each group's cases together (a cluster bootstrap); without it every case
    is its own group. ``n`` counts the groups. A resample without both classes is drawn again.

    >>> y = [1, 0] * 20; a = [0.9 if v else 0.1 for v in y]; b = [0.5] * 40
    >>> bootstrap_metric(auroc, y, a, b, seed=0).verdict
    'a'
    """
    if not callable(metric):
        raise ValueError(f"metric must be a function metric(scores, labels), got {type(metric).__name__}")
    _validate.in_range("level", level, 0, 1, low_open=True, high_open=True)
    _validate.positive("margin", margin, allow_zero=True)
    _validate.positive_int("resamples", resamples, minimum=100)
    sa, y = _binary(a, labels)
    sb = None if b is None else _binary(b, labels)[0]
    g = np.arange(len(y)) if groups is None else np.asarray(_validate.to_numpy(groups)).reshape(-1)
    if len(g) != len(y):
        raise ValueError(f"groups must give one group per case ({len(y)}), got {len(g)}")
    ids, g = np.unique(g, return_inverse=True)
    if len(ids) < 2:
        raise ValueError(f"groups must hold at least 2 distinct groups to resample, got {len(ids)}")
    members = [np.flatnonzero(g == k) for k in range(len(ids))]
    rng = np.random.default_rng(config.or_seed(seed))

    def value(idx):
        m = metric(sa[idx], y[idx])
        return m if sb is None else m - metric(sb[idx], y[idx])

    point, draws = value(np.arange(len(y))), []
    while len(draws) < resamples:
        idx = np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))])
        if y[idx].all() or not y[idx].any():
            continue
        draws.append(value(idx))
    draws = np.asarray(draws)
    low, high = (float(v) for v in np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]))
    if sb is None:
        return stats.Estimate(float(point), low, high, len(ids), level)
    side = draws - margin if point >= 0 else -(draws + margin)
    p = float(min(1.0, 2 * (side <= 0).mean()))
    verdict = "a" if low > margin else "b" if high < -margin else "within noise"
    method = "bootstrap over cases" if groups is None else "cluster bootstrap"
    return stats.Comparison(float(point), low, high, p, float("nan"), len(ids), method, verdict, level, margin)


def group_split(groups, test_size: float = 0.3, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` that keep every group (patient) on one side: a random
    ``test_size`` share of the groups goes to the test side, with all their cases.

    >>> tr, te = group_split([0, 0, 1, 1, 2, 2], test_size=1/3, seed=0); sorted(set(tr) & set(te))
    []
    """
    _validate.in_range("test_size", test_size, 0, 1, low_open=True, high_open=True)
    g = np.asarray(_validate.to_numpy(groups)).reshape(-1)
    ids = np.unique(g)
    if len(ids) < 2:
        raise ValueError(f"groups must hold at least 2 distinct groups, got {len(ids)}")
    rng = np.random.default_rng(config.or_seed(seed))
    n_test = min(max(1, round(test_size * len(ids))), len(ids) - 1)
    test_ids = rng.permutation(ids)[:n_test]
    test = np.isin(g, test_ids)
    return np.flatnonzero(~test), np.flatnonzero(test)


def probe_scores(train_x, train_y, test_x, positive: int = 1, C: float = 1.0) -> np.ndarray:
    """The probability of class ``positive`` for each test row, from the logistic regression on
    standardised frozen features that :func:`sslbook.evaluate.linear_probe` fits (same ``C``)."""
    _validate.positive("C", C)
    xtr = np.asarray(_validate.to_numpy(train_x), dtype=float).reshape(len(train_x), -1)
    xte = np.asarray(_validate.to_numpy(test_x), dtype=float).reshape(len(test_x), -1)
    ytr = np.asarray(_validate.to_numpy(train_y)).reshape(-1)
    if positive not in set(ytr.tolist()):
        raise ValueError(f"positive must be one of the training labels {sorted(set(ytr.tolist()))}, got {positive}")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=C)).fit(xtr, ytr)
    return clf.predict_proba(xte)[:, list(clf.classes_).index(positive)]


def few_label_metric(metric, train_x, train_y, test_x, test_y, per_class: int, *, positive: int = 1,
                     repeats: int = 10, seed: int | None = None) -> np.ndarray:
    """``metric(probe scores, test_y == positive)`` for each of ``repeats`` draws of ``per_class``
    labelled training rows per class: the draws of :func:`sslbook.evaluate.few_label_scores`
    (draw ``r`` with seed ``seed + r``), so that its accuracies and these scores are paired."""
    _validate.positive_int("repeats", repeats)
    ytr = torch.as_tensor(_validate.to_numpy(train_y))
    positives = (np.asarray(_validate.to_numpy(test_y)) == positive).astype(int)
    out = []
    for r in range(repeats):
        idx = data.few_labels(ytr, per_class, seed=config.or_seed(seed) + r).numpy()
        out.append(metric(probe_scores(_validate.to_numpy(train_x)[idx], ytr.numpy()[idx], test_x, positive), positives))
    return np.array(out)


__all__ = ["auroc", "bootstrap_metric", "few_label_metric", "group_split", "probe_scores", "sensitivity_at"]
