"""Exercises of chapter 4: the margin loss's gradient, a predicted loss, cross-entropy in bits."""

from __future__ import annotations

import math

import torch

from ..losses import margin_contrastive
from ._common import call as _call
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def check_margin_gradient(fn) -> None:
    """Exercise 4.1: ``fn(d, m, n)`` is d(loss)/d(d) for one dissimilar pair of a batch of ``n`` pairs.

    The loss is L = 1/(2n) * sum_i [y_i d_i^2 + (1 - y_i) max(m - d_i, 0)^2].
    """
    for d, m, n in [(0.5, 1.0, 4), (0.2, 1.0, 1), (1.5, 1.0, 3), (0.1, 0.5, 8), (2.0, 2.5, 2)]:
        value = _number("4.1", _call("4.1", fn, "grad_dissimilar", d, m, n), "grad_dissimilar")
        dist = torch.tensor(d, dtype=torch.float64, requires_grad=True)
        loss = torch.clamp(m - dist, min=0) ** 2 / (2 * n)
        loss.backward()
        right = float(dist.grad)
        if math.isclose(value, right, rel_tol=1e-6, abs_tol=1e-9):
            continue
        where = f"at d = {d}, m = {m}, n = {n} the gradient is {right:.4f}, got {value:.4f}"
        if d >= m:
            _fail("4.1", f"{where}: beyond the margin the pair costs nothing, so its gradient is 0.")
        if math.isclose(value, -right, rel_tol=1e-6):
            _fail("4.1", f"{where}: check the sign; increasing d lowers the loss of a dissimilar pair.")
        if math.isclose(value, right * 2 * n, rel_tol=1e-6):
            _fail("4.1", f"{where}: keep the factor 1/(2n) of the batch average.")
        if math.isclose(value, right * 2, rel_tol=1e-6) or math.isclose(value, right / 2, rel_tol=1e-6):
            _fail("4.1", f"{where}: the derivative of (m - d)^2 is -2(m - d); with 1/(2n) that gives -(m - d)/n.")
        _fail("4.1", f"{where}. Differentiate (1/(2n)) max(m - d, 0)^2 with respect to d.")
    _passed("4.1", "grad_dissimilar matches autograd inside and beyond the margin.")


def check_predicted_loss(answer) -> None:
    """Exercise 4.2: the margin loss of two pairs (cosine similarities 0.6 similar, 0.9 dissimilar; m = 0.5)."""
    if answer is None:
        _unanswered("4.2", "predicted_loss is None.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        _fail("4.2", f"predicted_loss must be a number, got {answer!r}")
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.6, 0.8], [0.9, math.sqrt(1 - 0.81)]], dtype=torch.float64)
    right = float(margin_contrastive(a, b, torch.tensor([1, 0]), margin=0.5, distance="cosine"))
    if math.isclose(value, right, abs_tol=1e-6):
        _passed("4.2", f"L = {right:.4f}.")
        return
    if math.isclose(value, 2 * right, abs_tol=1e-6):
        _fail("4.2", f"got {value:.4f}: that is the article's factor 1/2; the formula divides by 2N = 4.")
    if math.isclose(value, (0.6 ** 2) / 4, abs_tol=1e-6):
        _fail("4.2", f"got {value:.4f}: d is the cosine *distance* 1 - cos, not the cosine similarity.")
    _fail("4.2", f"got {value:.4f}: with d = 1 - cos, add y d^2 and (1 - y) max(m - d, 0)^2 over both pairs, then divide by 2N.")


def check_bits(answer) -> None:
    """Exercise 4.3: the article's cross-entropy example, -(log p(0.8) + log p(0.7)) / 2, in bits."""
    if answer is None:
        _unanswered("4.3", "ce_bits is None.")
    value = float(answer)
    right = -(math.log2(0.8) + math.log2(0.7)) / 2
    if math.isclose(value, right, abs_tol=1e-4):
        _passed("4.3", f"{right:.4f} bits = {right * math.log(2):.4f} nats.")
        return
    nats = -(math.log(0.8) + math.log(0.7)) / 2
    if math.isclose(value, nats, abs_tol=1e-4):
        _fail("4.3", f"got {value:.4f}, which is in nats (natural log); divide by ln 2 for bits.")
    if math.isclose(value, nats * math.log(2), abs_tol=1e-4):
        _fail("4.3", f"got {value:.4f}: to turn nats into bits divide by ln 2, do not multiply.")
    _fail("4.3", f"got {value:.4f}; use log base 2 of the probabilities of the true classes.")
