"""Exercises of chapter 5: the article's fc1, cosine kNN, MoCo's ring buffer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import models as _models
from ._common import call as _call
from ._common import checker as _checker
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import tensor as _tensor
from ._common import unanswered as _unanswered


def _fc1(size: int) -> int:
    """Weights and biases of the article's first linear layer for size x size images."""
    if size <= 64:  # the checker's formula, confirmed on the network itself where that is cheap
        layer = _models.ArticleCNN(size).head[0]
        assert sum(p.numel() for p in layer.parameters()) == 16 * (size // 2) ** 2 * 128 + 128
    return 16 * (size // 2) ** 2 * 128 + 128


def _count(number, got, name):
    value = _number(number, got, name)
    if not value.is_integer():
        _fail(number, f"{name} must return a whole number of parameters, got {value}")
    return int(value)


@_checker("5.1")
def check_article_params(fn) -> None:
    """Exercise 5.1: ``fn(size)`` is the number of parameters of the article's first
    linear layer (weights and biases) for ``size`` x ``size`` input images."""
    sizes = (32, 224, 64, 96, 2, 10, 6)
    got = [_count("5.1", _call("5.1", fn, "fc1_parameters", size), "fc1_parameters") for size in sizes]
    right = [_fc1(size) for size in sizes]
    for size, value, want in zip(sizes, got, right):
        if value == want:
            continue
        where = f"for {size} x {size} images the layer has {want:,} parameters, got {value:,}"
        if value == want - 128:
            _fail("5.1", f"{where}: add the layer's 128 biases.")
        if value == 16 * size * size * 128 + 128:
            _fail("5.1", f"{where}: the 2 x 2 max-pool halves the height and the width before the layer.")
        _sweep("5.1", "fc1_parameters", [{"size": s} for s in sizes], got, right,
               {"size": "the count depends on the input size; compute it from size."}, what="count")
        _fail("5.1", f"{where}. The layer maps 16 channels of (size/2) x (size/2) to 128 numbers.")
    _passed("5.1", f"fc1_parameters matches the article's layer at every size: {_fc1(224):,} at 224, "
                   f"{_fc1(32):,} at 32.")


def _knn_reference(train_f, train_y, test_f, k):
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    nearest = sim.topk(k, dim=1).indices
    votes = F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(1)
    return votes.argmax(1)  # ties: the smallest label, as scikit-learn does


def _knn_data(g, n, d, classes):
    centres = torch.randn(classes, d, generator=g) * 0.5  # overlapping classes: votes are close
    train_y = torch.randint(0, classes, (n,), generator=g)
    test_y = torch.randint(0, classes, (100,), generator=g)
    # Rows of very different lengths: cosine similarity ignores the length, Euclidean distance does not.
    train_f = (centres[train_y] + torch.randn(n, d, generator=g)) * (0.1 + 3 * torch.rand(n, 1, generator=g))
    return train_f, train_y, centres[test_y] + torch.randn(100, d, generator=g)


@_checker("5.2")
def check_knn(fn) -> None:
    """Exercise 5.2: ``fn(train_f, train_y, test_f, k)`` predicts a label for every row
    of ``test_f`` by a majority vote of its ``k`` most cosine-similar training rows."""
    g = torch.Generator().manual_seed(5)
    shared = _knn_data(g, 300, 16, 6)
    cases = [(_knn_data(g, n, d, c), k) for n, d, c, k in [(200, 16, 4, 1), (300, 32, 10, 5), (500, 8, 3, 15),
                                                           (250, 12, 12, 4)]]
    cases += [(shared, 1), (shared, 25)]  # the same data, two values of k
    got, right = [], []
    for (train_f, train_y, test_f), k in cases:
        out = _call("5.2", fn, "knn_predict", train_f.clone(), train_y.clone(), test_f.clone(), k)
        got.append(_tensor("5.2", out, "knn_predict", dtype=torch.long).flatten())
        if got[-1].shape != (100,):
            _fail("5.2", f"knn_predict must return one label per test row (100), got shape {tuple(got[-1].shape)}")
        right.append(_knn_reference(train_f, train_y, test_f, k))
    for ((train_f, train_y, test_f), k), labels, want in zip(cases, got, right):
        agree = (labels == want).float().mean().item()
        if agree >= 0.98:  # a vote may tie; break ties any way you like
            continue
        classes = int(train_y.max()) + 1
        dist = torch.cdist(test_f, train_f).topk(k, dim=1, largest=False).indices
        euclid = F.one_hot(train_y[dist], classes).sum(1).argmax(1)
        where = f"with k = {k} and {classes} classes your labels agree with the reference vote on {agree:.0%} of the test rows"
        if (labels == euclid).float().mean().item() >= 0.98 and not torch.equal(euclid, want):
            _fail("5.2", f"{where}: that is a Euclidean vote; normalise the rows first (cosine similarity).")
        if labels.min() < 0 or labels.max() >= classes:
            _fail("5.2", f"{where}: return labels of train_y (here 0 to {classes - 1}), not row indices or scores.")
        _sweep("5.2", "knn_predict", [{"data": id(data), "k": k} for data, k in cases], got, right,
               {"k": "take the k most similar training rows, with the k you are given."}, what="labels")
        if k == 1:
            _fail("5.2", f"{where}: with k = 1 the prediction is the label of the single most similar training row.")
        _fail("5.2", f"{where}: take the k training rows of largest cosine similarity and return their most "
                     "frequent label (torch.topk, then a count per class).")
    _passed("5.2", "knn_predict agrees with the reference vote for k = 1 to 25 and 3 to 12 classes.")


def _enqueue_reference(queue, ptr, keys):
    size = len(queue)
    keys = keys[-size:]
    queue = queue.clone()
    queue[(ptr + torch.arange(len(keys))) % size] = keys
    return queue, (ptr + len(keys)) % size


def _enqueue_one_by_one(queue, ptr, keys):
    """Also right when a batch is larger than the queue: every key written in turn, wrapping around."""
    queue = queue.clone()
    for key in keys:
        queue[ptr] = key
        ptr = (ptr + 1) % len(queue)
    return queue, ptr


def _enqueue(fn, queue, ptr, keys):
    out = _call("5.3", fn, "enqueue", queue.clone(), ptr, keys.clone())
    if out is None:
        _unanswered("5.3", "enqueue returned None.")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        _fail("5.3", f"enqueue must return a pair (queue, new_ptr), got {type(out).__name__}")
    new_queue = _tensor("5.3", out[0], "enqueue's queue", tuple(queue.shape), torch.float32)
    new_ptr = _number("5.3", out[1], "enqueue's new_ptr")
    if not new_ptr.is_integer():
        _fail("5.3", f"the pointer must be a whole row number, got {new_ptr}")
    return new_queue, int(new_ptr)


@_checker("5.3")
def check_queue(fn) -> None:
    """Exercise 5.3: ``fn(queue, ptr, keys)`` writes ``keys`` into the ring buffer ``queue``
    (size x dim) from row ``ptr`` on, wrapping around, and returns ``(queue, new_ptr)``."""
    g = torch.Generator().manual_seed(3)
    start = torch.randn(6, 3, generator=g)
    keys = torch.randn(2, 3, generator=g)
    at0, at3 = (_enqueue(fn, start, p, keys)[0] for p in (0, 3))
    if torch.equal(at0, at3):
        _fail("5.3", "your enqueue writes the same rows for ptr = 0 and ptr = 3: write key i to row (ptr + i) % size.")
    for size, dim, ptr, batches in [(8, 4, 0, (3, 3, 3, 5, 8)), (5, 3, 2, (2, 7, 5, 1)), (6, 2, 5, (1, 4, 6))]:
        queue = torch.randn(size, dim, generator=g)
        for step, b in enumerate(batches):
            keys = torch.randn(b, dim, generator=g)
            got_queue, got_ptr = _enqueue(fn, queue, ptr, keys)
            right_queue, right_ptr = _enqueue_reference(queue, ptr, keys)
            where = (f"queue of {size} rows, ptr = {ptr}, a batch of {b} keys (step {step + 1})"
                     + (", more keys than rows" if b > size else ""))
            alt_queue, alt_ptr = _enqueue_one_by_one(queue, ptr, keys)
            queue, ptr = right_queue, right_ptr
            if b > size and got_ptr == alt_ptr and torch.allclose(got_queue, alt_queue):
                continue
            if got_ptr != right_ptr:
                _fail("5.3", f"{where}: the new pointer should be {right_ptr}, got {got_ptr}: advance it by the batch "
                             f"size, modulo the queue size (len(queue), here {size}).")
            if not torch.allclose(got_queue, right_queue):
                hint = ("keep only the newest size keys (keys[-size:])" if b > size else
                        f"row (ptr + i) % {size} receives key i, so the oldest keys are overwritten first")
                _fail("5.3", f"{where}: the queue's rows differ from the reference: {hint}.")
    _passed("5.3", "enqueue keeps the newest keys, overwriting the oldest, like MoCo's queue, for every size and ptr.")
