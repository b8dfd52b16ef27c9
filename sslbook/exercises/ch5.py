"""Exercises of chapter 5: the article's fc1, cosine kNN, MoCo's ring buffer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import ArticleCNN, FeatureQueue
from ._common import call as _call
from ._common import fail as _fail
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def check_article_params(fn) -> None:
    """Exercise 5.1: ``fn(size)`` is the number of parameters of the article's first
    linear layer (weights and biases) for ``size`` x ``size`` input images."""
    for size in (32, 224, 64, 96, 2):
        got = _call("5.1", fn, "fc1_parameters", size)
        if got is None:
            _unanswered("5.1", "fc1_parameters returned None.")
        layer = ArticleCNN(size).head[0]
        right = sum(p.numel() for p in layer.parameters())
        if got == right:
            continue
        where = f"for {size} x {size} images the layer has {right:,} parameters, got {got!r}"
        if got == layer.weight.numel():
            _fail("5.1", f"{where}: add the layer's 128 biases.")
        if got == 16 * size * size * 128 + 128:
            _fail("5.1", f"{where}: the 2 x 2 max-pool halves the height and the width before the layer.")
        _fail("5.1", f"{where}. The layer maps 16 channels of (size/2) x (size/2) to 128 numbers.")
    _passed("5.1", "fc1_parameters matches the article's layer at every size: "
                   f"{sum(p.numel() for p in ArticleCNN(224).head[0].parameters()):,} at 224, "
                   f"{sum(p.numel() for p in ArticleCNN(32).head[0].parameters()):,} at 32.")


def _knn_reference(train_f, train_y, test_f, k):
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    nearest = sim.topk(k, dim=1).indices
    votes = F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(1)
    return votes.argmax(1)  # ties: the smallest label, as scikit-learn does


def check_knn(fn) -> None:
    """Exercise 5.2: ``fn(train_f, train_y, test_f, k)`` predicts a label for every row
    of ``test_f`` by a majority vote of its ``k`` most cosine-similar training rows."""
    g = torch.Generator().manual_seed(5)
    for n, d, classes, k in [(200, 16, 4, 1), (300, 32, 10, 5), (500, 8, 3, 15)]:
        centres = torch.randn(classes, d, generator=g) * 0.5  # overlapping classes: votes are close
        train_y = torch.randint(0, classes, (n,), generator=g)
        test_y = torch.randint(0, classes, (100,), generator=g)
        # Rows of very different lengths: cosine similarity ignores the length, Euclidean distance does not.
        train_f = (centres[train_y] + torch.randn(n, d, generator=g)) * (0.1 + 3 * torch.rand(n, 1, generator=g))
        test_f = centres[test_y] + torch.randn(100, d, generator=g)
        got = _call("5.2", fn, "knn_predict", train_f, train_y, test_f, k)
        if got is None:
            _unanswered("5.2", "knn_predict returned None.")
        got = torch.as_tensor(got).flatten()
        if got.shape != (100,):
            _fail("5.2", f"knn_predict must return one label per test row (100), got shape {tuple(got.shape)}")
        right = _knn_reference(train_f, train_y, test_f, k)
        agree = (got.long() == right).float().mean().item()
        if agree >= 0.98:  # a vote may tie; break ties any way you like
            continue
        dist = torch.cdist(test_f, train_f).topk(k, dim=1, largest=False).indices
        euclid = F.one_hot(train_y[dist], classes).sum(1).argmax(1)
        where = f"with k = {k} your labels agree with the reference vote on {agree:.0%} of the test rows"
        if (got.long() == euclid).float().mean().item() >= 0.98 and not torch.equal(euclid, right):
            _fail("5.2", f"{where}: that is a Euclidean vote; normalise the rows first (cosine similarity).")
        if k == 1:
            _fail("5.2", f"{where}: with k = 1 the prediction is the label of the single most similar training row.")
        _fail("5.2", f"{where}: take the k training rows of largest cosine similarity and return their most "
                     "frequent label (torch.topk, then a count per class).")
    _passed("5.2", "knn_predict agrees with the reference vote.")


def check_queue(fn) -> None:
    """Exercise 5.3: ``fn(queue, ptr, keys)`` writes ``keys`` into the ring buffer ``queue``
    (size x dim) from row ``ptr`` on, wrapping around, and returns ``(queue, new_ptr)``."""
    g = torch.Generator().manual_seed(3)
    size, dim = 8, 4
    reference = FeatureQueue(size, dim)
    queue, ptr = torch.zeros(size, dim), 0
    for step, b in enumerate((3, 3, 3, 5, 8)):
        keys = torch.randn(b, dim, generator=g)
        out = _call("5.3", fn, "enqueue", queue.clone(), ptr, keys)
        if out is None:
            _unanswered("5.3", "enqueue returned None.")
        if not (isinstance(out, tuple) and len(out) == 2):
            _fail("5.3", f"enqueue must return a pair (queue, new_ptr), got {type(out).__name__}")
        reference.enqueue(keys)
        queue, ptr = out
        right_ptr = reference.pointer
        if int(ptr) != right_ptr:
            _fail("5.3", f"after batch {step + 1} ({b} keys) the pointer should be {right_ptr}, got {int(ptr)}: "
                         f"advance it by the batch size, modulo the queue size {size}.")
        if not torch.allclose(torch.as_tensor(queue), reference.buffer):
            _fail("5.3", f"after batch {step + 1} ({b} keys) the queue's rows differ from the reference: "
                         f"row (ptr + i) % {size} receives key i, so the oldest keys are overwritten first.")
    _passed("5.3", "enqueue keeps the newest keys, overwriting the oldest, like MoCo's queue.")
