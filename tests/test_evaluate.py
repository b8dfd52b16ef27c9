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


def test_positive_ranks_and_embedding_std():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 16, generator=g)
    top1, rank = evaluate.positive_ranks(z, z + 0.01 * torch.randn(32, 16, generator=g))
    assert top1 == 1.0 and rank == 1.0
    top1, rank = evaluate.positive_ranks(z, torch.randn(32, 16, generator=g))
    assert top1 < 0.2 and 15 < rank < 50
    assert 0.2 < evaluate.embedding_std(torch.randn(2000, 16, generator=g)) < 0.3  # about 1/4
    assert evaluate.embedding_std(torch.ones(10, 16)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        evaluate.positive_ranks(z, z[:3])
    with pytest.raises(ValueError, match="N >= 2"):
        evaluate.embedding_std(torch.ones(1, 4))


def test_alignment_and_uniformity():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 8, generator=g)
    assert evaluate.alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    assert evaluate.alignment(z, -z) == pytest.approx(4.0, rel=1e-5)  # antipodal unit vectors: distance 2
    assert evaluate.alignment(z, -z, alpha=1.0) == pytest.approx(2.0, rel=1e-5)
    spread = evaluate.uniformity(z)
    collapsed = evaluate.uniformity(torch.ones(50, 8))
    assert collapsed == pytest.approx(0.0, abs=1e-6) and spread < -1.0
    # a brute-force reference over all pairs
    u = torch.nn.functional.normalize(z[:20], dim=1)
    ref = math.log(sum(math.exp(-2 * float((u[i] - u[j]).pow(2).sum())) for i in range(20) for j in range(i + 1, 20)) / 190)
    assert evaluate.uniformity(z[:20]) == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        evaluate.alignment(z, z[:5])
    with pytest.raises(ValueError, match="N >= 2"):
        evaluate.uniformity(z[:1])
    with pytest.raises(ValueError, match="t must be"):
        evaluate.uniformity(z, t=0)
    with pytest.raises(ValueError, match="alpha"):
        evaluate.alignment(z, z, alpha=-1)


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
