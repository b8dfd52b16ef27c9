import math

import numpy as np
import pytest
import torch

from sslbook import evaluate, models


def blobs(n_per_class=30, classes=4, dim=6, spread=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 5
    y = np.repeat(np.arange(classes), n_per_class)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


def test_probe_knn_and_nmi_are_perfect_on_separated_blobs():
    x, y = blobs()
    assert evaluate.linear_probe(x, y, x, y) == 1.0
    assert evaluate.knn_accuracy(x, y, x, y, k=3) == 1.0
    assert evaluate.cluster_nmi(x, y) == pytest.approx(1.0)


def test_nmi_is_near_zero_for_unrelated_labels():
    x, _ = blobs(n_per_class=100)
    rng = np.random.default_rng(1)
    assert evaluate.cluster_nmi(x, rng.integers(0, 4, len(x))) < 0.05


def test_probe_is_at_chance_on_noise():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 5)), rng.integers(0, 2, 400)
    assert 0.35 < evaluate.linear_probe(x[:200], y[:200], x[200:], y[200:]) < 0.65


def test_images_are_flattened_and_tensors_accepted(digits):
    acc = evaluate.linear_probe(digits.x_train, digits.y_train, digits.x_test, digits.y_test)
    assert 0.95 < acc <= 1.0
    assert evaluate.flatten(digits.x_test).shape == (540, 64)


def test_few_label_probe_and_curve(digits):
    mean, std = evaluate.few_label_probe(digits.x_train, digits.y_train, digits.x_test, digits.y_test, 5, repeats=3)
    assert 0.6 < mean < 0.95 and std >= 0
    curve = evaluate.labels_per_class_curve(digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                                            counts=(1, 10, 500), repeats=2)
    assert list(curve) == [1, 10, 500]
    assert curve[1][0] < curve[10][0] < curve[500][0]
    assert curve[500][1] == 0.0  # all labels: one deterministic fit


def test_concept_report_keys(digits):
    rep = evaluate.concept_report({"pixels": (digits.x_train, digits.x_test)}, digits.y_train, digits.y_test, repeats=2)
    assert set(rep["pixels"]) == {"nmi", "probe", "probe_std", "knn"}


def test_embed_uses_eval_mode_and_restores_it():
    enc = models.SmallCNN(1)
    enc.train()
    x = torch.rand(10, 1, 8, 8)
    a = evaluate.embed(enc, x, batch_size=3)
    assert enc.training and a.shape == (10, 128) and not a.requires_grad
    enc.eval()
    assert torch.allclose(a, enc(x), atol=1e-5)


@pytest.mark.parametrize("call,match", [
    (lambda x, y: evaluate.linear_probe(x, y[:-1], x, y), "same length"),
    (lambda x, y: evaluate.linear_probe(x, y, x, y, C=0), "C must be"),
    (lambda x, y: evaluate.linear_probe(x, np.zeros_like(y), x, y), "at least two classes"),
    (lambda x, y: evaluate.knn_accuracy(x, y, x, y, k=0), "k must be"),
    (lambda x, y: evaluate.knn_accuracy(x, y, x, y, k=10_000), "k must be at most"),
    (lambda x, y: evaluate.knn_accuracy(x, y, x, y, metric="manhattan"), "metric must be one of"),
    (lambda x, y: evaluate.cluster_nmi(x, y, n_clusters=1), "n_clusters"),
    (lambda x, y: evaluate.cluster_nmi(x[:0], y[:0]), "must not be empty"),
    (lambda x, y: evaluate.cluster_nmi(np.full_like(x, np.nan), y), "NaN"),
    (lambda x, y: evaluate.few_label_probe(x, y, x, y, repeats=0), "repeats"),
    (lambda x, y: evaluate.labels_per_class_curve(x, y, x, y, counts=()), "counts"),
    (lambda x, y: evaluate.embed(models.SmallCNN(1), torch.rand(2, 1, 8, 8), batch_size=0), "batch_size"),
])
def test_bad_inputs_are_refused(call, match):
    x, y = blobs()
    with pytest.raises(ValueError, match=match):
        call(x, y)


# --- the torch solver of the linear probe ---------------------------------------------

def test_torch_probe_agrees_with_scikit_learn_on_digits(digits):
    x_tr, x_te = evaluate.flatten(digits.x_train), evaluate.flatten(digits.x_test)
    for C in (1.0, 0.01):
        sk = evaluate.linear_probe(x_tr, digits.y_train, x_te, digits.y_test, C=C)
        th = evaluate.linear_probe(x_tr, digits.y_train, x_te, digits.y_test, C=C, solver="torch")
        assert abs(sk - th) <= 0.01, (C, sk, th)


def test_torch_probe_keeps_the_label_values_and_a_constant_feature():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([3, 7] * 50)
    x = torch.randn(100, 5, generator=g) + (y == 7).float().unsqueeze(1) * 8
    x[:, 0] = 1.0  # a constant column must not produce NaN
    assert evaluate.linear_probe(x, y, x, y, solver="torch") == 1.0


@pytest.mark.parametrize("kwargs,match", [
    ({"solver": "adam"}, "solver must be one of"),
    ({"max_iter": 0}, "max_iter"),
])
def test_linear_probe_rejects_bad_settings(kwargs, match):
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    with pytest.raises(ValueError, match=match):
        evaluate.linear_probe(x, y, x, y, **kwargs)


def test_linear_probe_rejects_mismatched_feature_counts():
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    with pytest.raises(ValueError, match="test_x must have 3 features like train_x, got 4"):
        evaluate.linear_probe(x, y, torch.randn(10, 4), y, solver="torch")


def test_kmeans_and_rank_signals():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = evaluate.kmeans(x, 2)
    assert labels[0] == labels[1] != labels[2] == labels[3]
    with pytest.raises(ValueError, match="k must be at most the number of samples"):
        evaluate.kmeans(x, 5)
    z = torch.eye(4)
    assert evaluate.rank_signals(z, z) == {"top1": 1.0, "mean_rank": 1.0}


def test_precision_at_k():
    g = torch.Generator().manual_seed(0)
    gallery, gy = torch.randn(100, 5, generator=g), torch.arange(100) % 4
    assert evaluate.precision_at_k(gallery[:10], gy[:10], gallery, gy, k=1) == 1.0  # each finds itself
    with pytest.raises(ValueError, match="k must be at most the gallery size"):
        evaluate.precision_at_k(gallery, gy, gallery, gy, k=101)
    with pytest.raises(ValueError, match="query_x must have 5 features"):
        evaluate.precision_at_k(gallery[:, :3], gy, gallery, gy)


def test_adapt_batchnorm_re_estimates_statistics_on_new_data():
    torch.manual_seed(0)
    enc = models.SmallCNN(1, widths=(4, 8), feature_dim=4)
    x = torch.rand(64, 1, 8, 8) * 5 + 3
    evaluate.adapt_batchnorm(enc, x, batch_size=16)
    bn = enc.net[1]
    first = enc.net[0](x)
    assert torch.allclose(bn.running_mean, first.mean(dim=(0, 2, 3)), atol=1e-4) and not enc.training
    assert bn.momentum == 0.1


def _ami_reference(y, c):
    """Loop-based AMI of Vinh et al. (2010), arithmetic-mean normalisation: the expected
    mutual information summed over the hypergeometric distribution of every cell."""
    y, c = np.asarray(y), np.asarray(c)
    n = len(y)
    rows, cols = np.unique(y), np.unique(c)
    table = np.array([[np.sum((y == r) & (c == k)) for k in cols] for r in rows], dtype=float)
    a, b = table.sum(1), table.sum(0)
    mi = sum(table[i, j] / n * math.log(n * table[i, j] / (a[i] * b[j]))
             for i in range(len(a)) for j in range(len(b)) if table[i, j] > 0)
    lf = lambda v: math.lgamma(v + 1)  # log factorial
    emi = 0.0
    for ai in a:
        for bj in b:
            for nij in range(max(1, int(ai + bj - n)), int(min(ai, bj)) + 1):
                log_p = (lf(ai) + lf(bj) + lf(n - ai) + lf(n - bj) - lf(n) - lf(nij) - lf(ai - nij)
                         - lf(bj - nij) - lf(n - ai - bj + nij))
                emi += nij / n * math.log(n * nij / (ai * bj)) * math.exp(log_p)
    h = lambda counts: -sum(p * math.log(p) for p in counts / n if p > 0)
    return (mi - emi) / ((h(a) + h(b)) / 2 - emi)


def test_ami_matches_a_loop_reference_and_scores_the_nmi_clusters():
    x, y = blobs(n_per_class=15, classes=3, spread=3.0, seed=2)   # overlapping blobs: imperfect clusters
    clusters = evaluate.kmeans(x, 3, seed=0)
    ami = evaluate.cluster_ami(x, y, seed=0)
    assert 0.05 < ami < 0.95
    assert ami == pytest.approx(_ami_reference(y, clusters), abs=1e-9)
    nmi = evaluate.cluster_nmi(x, y, seed=0)
    from sklearn.metrics import normalized_mutual_info_score
    assert nmi == pytest.approx(normalized_mutual_info_score(y, clusters))   # the same clusters
    assert ami < nmi   # chance correction lowers an imperfect score
    assert evaluate.cluster_ami(*blobs(), seed=0) == pytest.approx(1.0)


def test_ami_is_about_zero_where_nmi_is_not_for_unrelated_labels():
    # few samples per cluster: NMI of unrelated groupings sits well above 0, AMI near 0
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 5))
    y = rng.integers(0, 10, len(x))
    nmi = [evaluate.cluster_nmi(x, y, seed=s) for s in range(5)]
    ami = [evaluate.cluster_ami(x, y, seed=s) for s in range(5)]
    assert min(nmi) > 0.05
    assert abs(np.mean(ami)) < 0.03


@pytest.mark.parametrize("call,match", [
    (lambda x, y: evaluate.cluster_ami(x, y, n_clusters=1), "n_clusters"),
    (lambda x, y: evaluate.cluster_ami(x, y, n_clusters=10_000), "n_clusters must be at most"),
    (lambda x, y: evaluate.cluster_ami(x, y[:-1]), "same length"),
    (lambda x, y: evaluate.cluster_ami(np.full_like(x, np.nan), y), "NaN"),
])
def test_ami_refuses_bad_inputs(call, match):
    x, y = blobs()
    with pytest.raises(ValueError, match=match):
        call(x, y)


def test_probe_without_standardising_and_a_custom_probe_in_few_label_scores(digits):
    x_tr, x_te = evaluate.flatten(digits.x_train), evaluate.flatten(digits.x_test)
    raw = evaluate.linear_probe(x_tr, digits.y_train, x_te, digits.y_test, standardize=False)
    assert 0.9 < raw <= 1.0
    # the torch solver without standardising agrees with scikit-learn without it
    th = evaluate.linear_probe(x_tr, digits.y_train, x_te, digits.y_test, standardize=False, solver="torch")
    assert abs(raw - th) <= 0.01
    seen = []

    def probe(tr_x, tr_y, te_x, te_y):
        seen.append(len(tr_x))
        return 0.5

    scores = evaluate.few_label_scores(x_tr, digits.y_train, x_te, digits.y_test, 3, repeats=2, probe=probe)
    assert scores.tolist() == [0.5, 0.5] and seen == [30, 30]
    default = evaluate.few_label_scores(x_tr, digits.y_train, x_te, digits.y_test, 3, repeats=2)
    assert default.tolist() == evaluate.few_label_scores(x_tr, digits.y_train, x_te, digits.y_test, 3, repeats=2,
                                                         probe=evaluate.linear_probe).tolist()
