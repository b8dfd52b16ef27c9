"""sslbook.clinical against scikit-learn's ROC functions, a loop-based reference and cases by hand."""
import doctest

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from sslbook import clinical, stats


def test_doctests():
    assert doctest.testmod(clinical).failed == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.normal(size=80) + y, 1)          # rounded: many ties
    assert clinical.auroc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_auroc_pair_loop():
    s, y = np.array([0.2, 0.5, 0.5, 0.9, 0.1]), np.array([0, 1, 0, 1, 0])
    pos, neg = s[y == 1], s[y == 0]
    ref = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert clinical.auroc(s, y) == pytest.approx(ref)


@pytest.mark.parametrize("spec", [0.8, 0.9, 0.95, 0.99])
def test_sensitivity_matches_roc_curve(spec):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = rng.normal(size=300) + 1.5 * y                  # continuous: no ties
    fpr, tpr, _ = roc_curve(y, s)
    assert clinical.sensitivity_at(s, y, spec) == pytest.approx(tpr[fpr <= 1 - spec + 1e-12].max())


def test_sensitivity_edges():
    s, y = [0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]
    assert clinical.sensitivity_at(s, y, 1.0) == 1.0     # perfectly separated
    assert clinical.sensitivity_at([0.4, 0.3, 0.2, 0.1], y, 1.0) == 0.0
    assert clinical.sensitivity_at([0.4, 0.3, 0.2, 0.1], y, 0.0) == 1.0   # everyone flagged


def test_bad_inputs():
    with pytest.raises(ValueError, match="both positives"):
        clinical.auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels must be 0"):
        clinical.auroc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        clinical.auroc([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ValueError, match="specificity"):
        clinical.sensitivity_at([0.1, 0.2], [1, 0], 1.5)
    with pytest.raises(ValueError, match="groups"):
        clinical.bootstrap_metric(clinical.auroc, [1, 0, 1], [0.1, 0.2, 0.3], groups=[0, 1])
    with pytest.raises(ValueError, match="metric"):
        clinical.bootstrap_metric("auroc", [1, 0], [0.1, 0.2])


def test_bootstrap_estimate_covers_and_is_deterministic():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    e = clinical.bootstrap_metric(clinical.auroc, y, s, seed=1)
    assert isinstance(e, stats.Estimate) and e.n == 200
    assert e.low < clinical.auroc(s, y) < e.high and e.mean == pytest.approx(clinical.auroc(s, y))
    assert clinical.bootstrap_metric(clinical.auroc, y, s, seed=1) == e


def test_bootstrap_comparison_verdicts():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    good, bad = rng.normal(size=300) + 2 * y, rng.normal(size=300)
    c = clinical.bootstrap_metric(clinical.auroc, y, good, bad, seed=0)
    assert isinstance(c, stats.Comparison) and c.verdict == "a" and c.method == "bootstrap over cases"
    assert clinical.bootstrap_metric(clinical.auroc, y, bad, good, seed=0).verdict == "b"
    same = clinical.bootstrap_metric(clinical.auroc, y, good, good + 1e-9 * rng.normal(size=300), seed=0)
    assert same.verdict == "within noise"
    assert stats.holm({"x": c, "y": same})["x"].family == 2


def test_cluster_bootstrap_is_wider_for_copies():
    """Each patient imaged ten times: resampling images as if independent understates the spread;
    resampling patients gives the width of the 30-patient sample."""
    rng = np.random.default_rng(2)
    y30, s30 = np.tile([0, 1], 15), rng.normal(size=30) + np.tile([0, 1], 15)
    y, s, groups = np.repeat(y30, 10), np.repeat(s30, 10), np.repeat(np.arange(30), 10)
    by_image = clinical.bootstrap_metric(clinical.auroc, y, s, seed=0)
    by_patient = clinical.bootstrap_metric(clinical.auroc, y, s, groups=groups, seed=0)
    alone = clinical.bootstrap_metric(clinical.auroc, y30, s30, seed=0)
    assert by_patient.n == 30 and by_image.n == 300
    assert by_patient.half_width > 2 * by_image.half_width
    assert by_patient.half_width == pytest.approx(alone.half_width, rel=0.25)


def test_group_split_keeps_groups_whole():
    groups = np.repeat(np.arange(20), 3)
    tr, te = clinical.group_split(groups, test_size=0.25, seed=0)
    assert len(set(groups[tr]) & set(groups[te])) == 0
    assert len(tr) + len(te) == 60 and len(set(groups[te])) == 5
    with pytest.raises(ValueError, match="test_size"):
        clinical.group_split(groups, test_size=1.0)


def test_probe_scores_and_few_label_metric():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1], 50)
    x = rng.normal(size=(100, 3)) + 2 * y[:, None]
    p = clinical.probe_scores(x[::2], y[::2], x[1::2], positive=0)
    assert p.shape == (50,) and clinical.auroc(p, (y[1::2] == 0).astype(int)) > 0.9
    a = clinical.few_label_metric(clinical.auroc, x[::2], y[::2], x[1::2], y[1::2], 3, positive=0, repeats=4, seed=0)
    assert a.shape == (4,) and (a > 0.7).all()
    assert np.array_equal(a, clinical.few_label_metric(clinical.auroc, x[::2], y[::2], x[1::2], y[1::2], 3,
                                                       positive=0, repeats=4, seed=0))
    with pytest.raises(ValueError, match="positive"):
        clinical.probe_scores(x, y, x, positive=5)
