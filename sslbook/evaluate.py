"""Measuring the concepts a representation has formed.

Three views of one question, *do the features group images the way the
unseen labels do?*:

- :func:`cluster_nmi`: k-means with one cluster per class, scored by normalised
  mutual information against the labels. No label is used to form the clusters.
  :func:`cluster_ami` scores the same clusters corrected for chance.
- :func:`linear_probe` and :func:`few_label_probe`: a logistic regression on
  frozen features, with all labels or only a few per class.
- :func:`knn_accuracy`: the majority label of the k nearest training features.

The label-free signals of an embedding (positive ranks, collapse, alignment and
uniformity) are in :mod:`sslbook.geometry`, re-exported here.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from . import _validate, config
from .data import few_labels
from .geometry import (alignment, embedding_std, positive_ranks, rank_signals,  # noqa: F401 (re-exported)
                       rankme, singular_values, uniformity)


def _features_labels(x, y, prefix: str = ""):
    x = _validate.to_numpy(x)
    if x.ndim > 2:  # images: one feature per pixel
        x = x.reshape(len(x), -1)
    x = _validate.array(f"{prefix}x", x, 2)
    y = _validate.array(f"{prefix}y", y, 1)
    if len(x) != len(y):
        raise ValueError(f"{prefix}x and {prefix}y must have the same length, got {len(x)} and {len(y)}")
    return x, y


@torch.no_grad()
def embed(encoder: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Features of ``x`` from a frozen ``encoder`` (evaluation mode, no gradients).

    Input N x C x H x W, output N x D, on the CPU.
    """
    _validate.positive_int("batch_size", batch_size)
    was_training = encoder.training
    encoder.eval()
    param = next(encoder.parameters(), None)
    dev = param.device if param is not None else torch.device("cpu")
    out = torch.cat([encoder(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])
    encoder.train(was_training)
    return out


def flatten(x) -> np.ndarray:
    """Raw pixels as features: N x C x H x W -> N x (C*H*W)."""
    x = _validate.to_numpy(x)
    return x.reshape(len(x), -1)


def linear_probe(train_x, train_y, test_x, test_y, *, max_iter: int = 2000, C: float = 1.0,
                 solver: str = "sklearn", standardize: bool = True) -> float:
    """Accuracy on the test set of a logistic regression trained on frozen features.

    The features are standardised with statistics of the training set only (``standardize=False``
    fits them as they are, for sparse or pre-normalised features such as TF-IDF).
    Arrays or tensors: ``train_x`` N x D (or N x C x H x W, flattened), ``train_y`` N.

    ``solver="sklearn"`` fits scikit-learn's ``LogisticRegression`` (L-BFGS in
    float64); ``solver="torch"`` minimises the same objective, the mean
    cross-entropy plus ``||W||^2 / (2 C N)``, with torch's L-BFGS in float32,
    about ten times faster on wide inputs such as raw CIFAR-10 pixels (3072
    features) and within a point of accuracy of scikit-learn's answer.
    """
    train_x, train_y = _features_labels(train_x, train_y, "train_")
    test_x, test_y = _features_labels(test_x, test_y, "test_")
    _validate.positive("C", C)
    _validate.positive_int("max_iter", max_iter)
    _validate.one_of("solver", solver, {"sklearn", "torch"})
    if len(np.unique(train_y)) < 2:
        raise ValueError("train_y must contain at least two classes")
    if test_x.shape[1] != train_x.shape[1]:
        raise ValueError(f"test_x must have {train_x.shape[1]} features like train_x, got {test_x.shape[1]}")
    if solver == "torch":
        return _torch_probe(train_x, train_y, test_x, test_y, max_iter, C, standardize)
    scaler = [StandardScaler()] if standardize else []
    clf = make_pipeline(*scaler, LogisticRegression(max_iter=max_iter, C=C))
    with threadpool_limits(1):   # one BLAS thread: 2-12x faster at these sizes (benchmarks/probe_threads.py)
        clf.fit(train_x, train_y)
        return float(clf.score(test_x, test_y))


def _torch_probe(train_x, train_y, test_x, test_y, max_iter: int, C: float, standardize: bool = True) -> float:
    """Multinomial logistic regression by torch's L-BFGS (see :func:`linear_probe`)."""
    classes, y = np.unique(train_y, return_inverse=True)
    xtr = torch.as_tensor(train_x, dtype=torch.float32)
    xte = torch.as_tensor(test_x, dtype=torch.float32)
    if standardize:
        mean, std = xtr.mean(0), xtr.std(0, correction=0)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature stays 0, as in StandardScaler
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    y = torch.as_tensor(y, dtype=torch.long)
    w = torch.zeros(xtr.shape[1], len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    decay = 1.0 / (C * len(xtr))
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-5, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xtr @ w + b, y) + 0.5 * decay * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        predicted = classes[(xte @ w + b).argmax(1).numpy()]
    return float((predicted == test_y).mean())


def knn_accuracy(train_x, train_y, test_x, test_y, *, k: int = 5, metric: str = "cosine") -> float:
    """Accuracy of a k-nearest-neighbour vote over frozen training features."""
    train_x, train_y = _features_labels(train_x, train_y, "train_")
    test_x, test_y = _features_labels(test_x, test_y, "test_")
    _validate.positive_int("k", k)
    if k > len(train_x):
        raise ValueError(f"k must be at most the number of training samples ({len(train_x)}), got {k}")
    _validate.one_of("metric", metric, {"cosine", "euclidean"})
    clf = KNeighborsClassifier(n_neighbors=k, metric=metric)
    clf.fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def _clusters_and_labels(x, y, n_clusters, seed, n_init, normalize):
    x, y = _features_labels(x, y)
    k = len(np.unique(y)) if n_clusters is None else n_clusters
    _validate.positive_int("n_clusters", k, minimum=2)
    if k > len(x):
        raise ValueError(f"n_clusters must be at most the number of samples ({len(x)}), got {k}")
    return kmeans(x, k, seed=seed, n_init=n_init, normalize=normalize), y


def cluster_nmi(x, y, n_clusters: int | None = None, *, seed: int | None = None, n_init: int = 10,
                normalize: bool = True) -> float:
    """Normalised mutual information between k-means clusters of ``x`` and labels ``y``.

    k-means runs with ``n_clusters`` clusters (by default one per class) on the
    features, L2-normalised first when ``normalize`` is true, so that raw
    pixels and learned features are clustered the same way. 1.0 means the
    clusters are exactly the classes; 0.0 means they share no information.
    NMI is not corrected for chance: unrelated clusterings score above 0, the
    more so the fewer samples per cluster (Vinh et al. 2010); see :func:`cluster_ami`.
    """
    clusters, y = _clusters_and_labels(x, y, n_clusters, seed, n_init, normalize)
    return float(normalized_mutual_info_score(y, clusters))


def cluster_ami(x, y, n_clusters: int | None = None, *, seed: int | None = None, n_init: int = 10,
                normalize: bool = True) -> float:
    """Adjusted mutual information between k-means clusters of ``x`` and labels ``y``.

    The same clusters as :func:`cluster_nmi` with the same arguments (same
    ``seed``), scored by scikit-learn's ``adjusted_mutual_info_score``
    (Vinh et al. 2010; arithmetic-mean normalisation, as for the NMI):

        AMI = (I(Y; C) - E[I]) / (mean(H(Y), H(C)) - E[I]),

    where E[I] is the mutual information expected between two random
    groupings with the same cluster sizes (hypergeometric model). 1.0 means
    the clusters are the classes; about 0.0 (it can be slightly negative)
    means they agree no more than chance.

    >>> x = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    >>> round(cluster_ami(x, np.array([0, 0, 1, 1]), seed=0), 6)
    1.0
    """
    clusters, y = _clusters_and_labels(x, y, n_clusters, seed, n_init, normalize)
    return float(adjusted_mutual_info_score(y, clusters))


def kmeans(x, k: int, *, seed: int | None = None, n_init: int = 10, normalize: bool = True) -> np.ndarray:
    """k-means cluster labels (scikit-learn) of the rows of ``x`` (N x D, or images,
    flattened), L2-normalised first when ``normalize`` is true.

    >>> kmeans(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]), 2).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    x = flatten(x)
    x = _validate.array("x", x, 2)
    _validate.positive_int("k", k, minimum=2)
    if k > len(x):
        raise ValueError(f"k must be at most the number of samples ({len(x)}), got {k}")
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return KMeans(n_clusters=k, n_init=n_init, random_state=config.or_seed(seed)).fit_predict(x)


def few_label_scores(train_x, train_y, test_x, test_y, per_class: int = 5, *, repeats: int = 10,
                     seed: int | None = None, probe=None) -> np.ndarray:
    """Linear-probe accuracy of each of ``repeats`` random draws of ``per_class`` labelled
    training samples per class. Draw ``r`` uses seed ``seed + r``, so two representations
    of the same samples scored with the same seed see the same labelled samples: their
    scores are paired, draw by draw. The draws are nested: draw ``r``'s 5 per class are among
    its 10. ``probe(train_x, train_y, test_x, test_y) -> accuracy`` is :func:`linear_probe` by
    default (e.g. :func:`sslbook.applications.tuned_probe`)."""
    train_x, train_y = _features_labels(train_x, train_y, "train_")
    _validate.positive_int("repeats", repeats)
    probe = linear_probe if probe is None else probe
    scores = []
    for r in range(repeats):
        idx = few_labels(torch.as_tensor(train_y), per_class, seed=config.or_seed(seed) + r).numpy()
        scores.append(probe(train_x[idx], train_y[idx], test_x, test_y))
    return np.array(scores)


def few_label_probe(train_x, train_y, test_x, test_y, per_class: int = 5, *, repeats: int = 10,
                    seed: int | None = None) -> tuple[float, float]:
    """Linear-probe accuracy with only ``per_class`` labelled training samples per class.

    Averaged over ``repeats`` random draws of the labelled set, since one draw
    of 5 images per class is noisy. Returns ``(mean, standard deviation)``.
    """
    scores = few_label_scores(train_x, train_y, test_x, test_y, per_class, repeats=repeats, seed=seed)
    return float(np.mean(scores)), float(np.std(scores))


def labels_per_class_curve(train_x, train_y, test_x, test_y, counts=(1, 2, 5, 10, 20, 50), *,
                           repeats: int = 5, seed: int | None = None) -> dict[int, tuple[float, float]]:
    """Few-label probe accuracy for every number of labels per class in ``counts``.

    Returns ``{per_class: (mean, std)}``; a count at least the size of the
    smallest class uses every training label once.
    """
    train_x, train_y = _features_labels(train_x, train_y, "train_")
    if not counts or not all(isinstance(c, int) and c > 0 for c in counts):
        raise ValueError(f"counts must be a non-empty sequence of positive ints, got {counts!r}")
    smallest = int(np.bincount(train_y).min()) if np.issubdtype(train_y.dtype, np.integer) else None
    curve = {}
    for c in counts:
        if smallest is not None and c >= smallest:
            curve[c] = (linear_probe(train_x, train_y, test_x, test_y), 0.0)
        else:
            curve[c] = few_label_probe(train_x, train_y, test_x, test_y, c, repeats=repeats, seed=seed)
    return curve


def concept_report(representations: dict, train_y, test_y, *, per_class: int = 5,
                   repeats: int = 10, k: int = 5, seed: int | None = None) -> dict[str, dict[str, float]]:
    """NMI, few-label probe and kNN accuracy for several representations at once.

    ``representations`` maps a name to ``(train_features, test_features)``.
    NMI is measured on the held-out features. Returns
    ``{name: {"nmi": ..., "probe": ..., "probe_std": ..., "knn": ...}}``.
    """
    report = {}
    for name, (tr, te) in representations.items():
        tr, te = flatten(tr), flatten(te)
        mean, std = few_label_probe(tr, train_y, te, test_y, per_class, repeats=repeats, seed=seed)
        report[name] = {
            "nmi": cluster_nmi(te, test_y, seed=seed),
            "probe": mean,
            "probe_std": std,
            "knn": knn_accuracy(tr, train_y, te, test_y, k=k),
        }
    return report


def precision_at_k(query_x, query_y, gallery_x, gallery_y, *, k: int = 10) -> float:
    """Retrieval: the mean share of each query's ``k`` most cosine-similar gallery items
    that have the query's class (precision at k). Chance is the share of the class.

    >>> x = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]); y = np.array([0, 0, 1, 1])
    >>> precision_at_k(x, y, x, y, k=2)
    1.0
    """
    query_x, query_y = _features_labels(query_x, query_y, "query_")
    gallery_x, gallery_y = _features_labels(gallery_x, gallery_y, "gallery_")
    _validate.positive_int("k", k)
    if k > len(gallery_x):
        raise ValueError(f"k must be at most the gallery size ({len(gallery_x)}), got {k}")
    if query_x.shape[1] != gallery_x.shape[1]:
        raise ValueError(f"query_x must have {gallery_x.shape[1]} features like gallery_x, got {query_x.shape[1]}")
    q = torch.nn.functional.normalize(torch.as_tensor(query_x, dtype=torch.float32), dim=1)
    g = torch.nn.functional.normalize(torch.as_tensor(gallery_x, dtype=torch.float32), dim=1)
    nearest = (q @ g.T).topk(k, dim=1).indices.numpy()
    return float((gallery_y[nearest] == query_y[:, None]).mean())


@torch.no_grad()
def adapt_batchnorm(encoder: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.nn.Module:
    """AdaBN (Li et al., 2016): re-estimate every batch-norm layer's running mean and
    variance on ``x`` (the new data), weights unchanged, so that a frozen encoder
    normalises the new data by its own statistics rather than by those of the data it
    was trained on. Returns ``encoder`` in evaluation mode.
    """
    _validate.positive_int("batch_size", batch_size)
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch
    encoder.train()
    param = next(encoder.parameters(), None)
    dev = param.device if param is not None else torch.device("cpu")
    for i in range(0, len(x), batch_size):
        encoder(x[i:i + batch_size].to(dev))
    for m in norms:
        m.momentum = 0.1
    return encoder.eval()
