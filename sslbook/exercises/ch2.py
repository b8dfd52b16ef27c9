"""Exercises of chapter 2: NT-Xent on an ideal batch, the positive's top-1."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses as _losses
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep


def _ideal_loss(n: int, t: float, negatives: int | None = None, self_term: bool = False) -> float:
    negatives = 2 * n - 2 if negatives is None else negatives
    return math.log(1 + (1 if self_term else 0) + negatives * math.exp(-1 / t))


@_checker("2.1")
def check_ideal_loss(fn) -> None:
    """Exercise 2.1: ``fn(n, temperature)`` is NT-Xent's value on an ideal batch.

    The batch: N pairs whose two views are identical, every other pair of
    embeddings orthogonal. The checker confirms its own formula against
    :func:`sslbook.losses.info_nce` on such a batch (one-hot embeddings).
    """
    cases = [(2, 0.5), (4, 0.5), (8, 0.1), (16, 1.0), (32, 0.2), (3, 2.0), (5, 0.07), (4, 0.1), (16, 0.5)]
    got = [_number("2.1", _call("2.1", fn, "ideal_loss", n, t), "ideal_loss") for n, t in cases]
    right = []
    for n, t in cases:
        eye = torch.eye(n, dtype=torch.float64)
        right.append(float(_losses.info_nce(eye, eye.clone(), t)))
        assert math.isclose(right[-1], _ideal_loss(n, t), rel_tol=1e-9)  # the checker's own formula

    def sweep():
        _sweep("2.1", "ideal_loss", [{"n": n, "temperature": t} for n, t in cases], got, right,
               {"temperature": "did you divide the similarities by the temperature?",
                "n": "the number of negatives, 2N - 2, grows with n."}, what="loss", rel=1e-5)
    for (n, t), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-5, abs_tol=1e-8):
            continue
        where = f"for N = {n} pairs at temperature {t} the loss is {want:.6f}, got {value:.6f}"
        hints = [
            (0.0, "even a perfect batch has a loss above zero, because the negatives still get some probability."),
            (_ideal_loss(n, t, self_term=True), "the anchor's similarity with itself is left out of the denominator."),
            (_ideal_loss(n, t, negatives=2 * n - 1), "count the negatives again: of the 2N views, one is the anchor and one its positive."),
            (_ideal_loss(n, t, negatives=n - 1), "the negatives come from both views of the other samples: 2N - 2 of them, not N - 1."),
            (_ideal_loss(n, 1.0), "the similarities are divided by the temperature before the exponential."),
            (-_ideal_loss(n, t), "the loss is minus the log of a probability, so it is positive."),
            (math.log10(1 + (2 * n - 2) * math.exp(-1 / t)), "use the natural log (math.log), not log10."),
        ]
        _diagnose("2.1", value, where, hints, "The positive has similarity 1, each negative similarity 0: "
                  "write the softmax probability of the positive, then take minus its log.", rel_tol=1e-5,
                  then=sweep)
    _passed("2.1", "ideal_loss matches NT-Xent on ideal batches for every N and temperature tried.")


def _top1_reference(z1, z2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    target = _losses.positive_index(n)
    return (sim.argmax(dim=1) == target).float().mean().item()


def _top1_cases():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(16, 8, generator=g)
    cases = [
        (base, base + 0.05 * torch.randn(16, 8, generator=g)),   # near-perfect pairs
        (base, torch.randn(16, 8, generator=g)),                 # unrelated pairs
        (base, base + 0.9 * torch.randn(16, 8, generator=g)),    # in between
    ]
    for n, d in [(5, 3), (40, 16)]:                              # other batch sizes: N comes from the input
        z1 = torch.randn(n, d, generator=g) * (0.1 + 5 * torch.rand(n, 1, generator=g))  # lengths vary
        cases.append((z1, z1 * (0.1 + 5 * torch.rand(n, 1, generator=g)) + 0.6 * torch.randn(n, d, generator=g)))
    return cases


@_checker("2.2")
def check_positive_top1(fn) -> None:
    """Exercise 2.2: ``fn(z1, z2)`` is the fraction of the 2N views whose most similar other view is their positive."""
    cases = _top1_cases()
    got = [_number("2.2", _call("2.2", fn, "positive_top1", z1.clone(), z2.clone()), "positive_top1")
           for z1, z2 in cases]
    ok = [abs(value - _top1_reference(z1, z2)) < 1e-6 for (z1, z2), value in zip(cases, got)]
    for (z1, z2), value, right_here in zip(cases, got, ok):
        n = len(z1)
        if right_here:
            continue
        right = _top1_reference(z1, z2)
        where = f"expected {right:.4f} on a batch of N = {n} pairs of dimension {z1.shape[1]}, got {value:.4f}"
        if all(ok[:3]):
            _fail("2.2", f"{where}. It is right for N = 16 pairs only: take N from the input (len(z1)), "
                         "not from the chapter's batch.")
        zn = F.normalize(torch.cat([z1, z2]), dim=1)
        with_self = ((zn @ zn.T).argmax(dim=1) == _losses.positive_index(n)).float().mean().item()
        if abs(value - with_self) < 1e-6:
            _fail("2.2", f"{where}: every view is most similar to itself; exclude the diagonal before taking the argmax.")
        if not 0.0 <= value <= 1.0:
            _fail("2.2", f"{where}: a fraction lies in [0, 1]; did you divide by the number of views (2N)?")
        raw = torch.cat([z1, z2])
        by_dot = ((raw @ raw.T).fill_diagonal_(float("-inf")).argmax(dim=1) == _losses.positive_index(n))
        if abs(value - by_dot.float().mean().item()) < 1e-6:
            _fail("2.2", f"{where}: that ranks by dot product, which favours long vectors; L2-normalise first "
                         "(cosine similarity).")
        _fail("2.2", f"{where}: for each of the 2N views (N = len(z1)), is the nearest other view (by cosine "
                     "similarity) its positive? Its positive is view i + N for i < N and i - N after.")
    _passed("2.2", "positive_top1 matches on near-perfect, unrelated and noisy pairs, for N = 5, 16 and 40.")
