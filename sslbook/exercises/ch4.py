"""Exercises of chapter 4: the margin loss's gradient, the lowest MoCo loss of one query, the
uniformity of a regular simplex (and, kept for copies handed out before, the earlier 4.2 and 4.3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..evaluate import uniformity
from ..losses import info_nce_floor, margin_contrastive, moco_loss
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered
from ._common import sweep as _sweep


@_checker("4.1")
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


def _moco_floor(k: int, t: float, cos_neg: float = -1.0, extra: int = 0) -> float:
    return math.log1p((k + extra) * math.exp((cos_neg - 1) / t))


@_checker("4.2")
def check_moco_floor(fn) -> None:
    """Exercise 4.2: ``fn(k, temperature)`` is the lowest :func:`~sslbook.losses.moco_loss` of one
    query with a queue of ``k`` keys: ``log(1 + k exp(-2 / t))``, its key equal to the query and
    every queued key opposite to it."""
    cases = [(4, 0.2), (4, 0.5), (1, 0.5), (64, 0.2), (64, 1.0), (4096, 0.2), (4096, 0.1), (255, 0.5)]
    got = [_number("4.2", _call("4.2", fn, "moco_floor", k, t), "moco_floor") for k, t in cases]
    right = []
    for k, t in cases:   # the checker's formula, confirmed on the configuration that reaches it
        q = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
        right.append(float(moco_loss(q, q.clone(), -q.repeat(k, 1), t)))
        assert math.isclose(right[-1], _moco_floor(k, t), rel_tol=1e-7)

    def sweep():
        _sweep("4.2", "moco_floor", [{"k": k, "temperature": t} for k, t in cases], got, right,
               {"temperature": "the similarities are divided by the temperature before the exponential.",
                "k": "every queued key adds one term to the softmax's denominator."}, what="floor", rel=1e-5)
    for (k, t), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-3, abs_tol=1e-12):   # 4 significant figures suffice
            continue
        where = f"with k = {k} queued keys at temperature {t} the lowest loss is {want:.6g}, got {value:.6g}"
        hints = [
            (_moco_floor(k, t, cos_neg=0.0), "orthogonal keys (cosine 0) are not the best the queue can do: "
                                             "a unit vector can sit at cosine -1 from the query."),
            (_moco_floor(k, t, cos_neg=-1 / k) if k > 1 else math.nan,
             "the simplex argument of section 4.4 holds when the negatives are also anchors of the same loss; "
             "the queued keys are not, and nothing stops all of them from sitting at the same point."),
            (_moco_floor(k, t, extra=1), "count the negatives: the queue holds k keys; the positive is the "
                                         "query's own key."),
            (info_nce_floor(k + 1, t),
             "that is NT-Xent's floor; here one query meets its key and k queued keys."),
            (math.log(k * math.exp(-2 / t)), "the softmax's denominator also holds the positive's own term."),
            (_moco_floor(k, 1.0), "the similarities are divided by the temperature before the exponential."),
            (math.log(k + 1), "log(k + 1) is the loss when every key equals the query: the highest point, not "
                              "the lowest."),
            (0.0, "with a finite temperature the negatives keep some probability, so the loss stays above 0."),
            (-want, "the loss is minus the log of a probability, so it is positive."),
            (want / math.log(2), "give the floor in nats (natural log), as moco_loss computes it."),
            (math.log10(1 + k * math.exp(-2 / t)), "use the natural log (math.log), not log10."),
        ]
        _diagnose("4.2", value, where, hints, "Put the key where it helps most (cosine 1 with the query) and "
                  "every queued key where it helps most (cosine -1), then write minus the log of the "
                  "positive's softmax probability.", rel_tol=1e-5, then=sweep)
    _passed("4.2", "the lowest loss of one query is log(1 + k exp(-2 / t)): the queue, unlike a batch, can sit "
                   "all at the antipode.")


# Rounding a student may use: exercise 4.3 asks for three decimals, so an answer within half a unit of
# the third decimal (plus float noise) is right; one rounded to two decimals is not.
THREE_DECIMALS = 5e-4 + 1e-9


def _rounded_too_far(value: float, want: float) -> bool:
    """``value`` is ``want`` rounded (or cut) to fewer than three decimals: right, but too coarse."""
    return any(math.isclose(value, cut(want * 10 ** d) / 10 ** d, abs_tol=1e-9)
               for d in (1, 2) for cut in (round, math.trunc))


def _simplex(n: int) -> torch.Tensor:
    return F.normalize(torch.eye(n, dtype=torch.float64) - 1 / n, dim=1)


@_checker("4.3")
def check_simplex_uniformity(fn) -> None:
    """Exercise 4.3: ``fn(n, t)`` is :func:`~sslbook.evaluate.uniformity` (with ``t``) of ``n``
    points at the vertices of a regular simplex: ``-2 t n / (n - 1)``, to three decimals (an answer
    within 0.0005 of it passes, so one rounded to three decimals does)."""
    cases = [(3, 0.5), (3, 2.0), (2, 2.0), (3, 1.0), (10, 2.0), (10, 0.5), (100, 2.0), (5, 3.0), (1000, 2.0)]
    got = [_number("4.3", _call("4.3", fn, "simplex_uniformity", n, t), "simplex_uniformity") for n, t in cases]
    right = []
    for n, t in cases:   # the checker's formula, confirmed with evaluate.uniformity on a simplex
        right.append(-2 * t * n / (n - 1))
        if n <= 100:
            assert math.isclose(uniformity(_simplex(n), t), right[-1], rel_tol=1e-9)

    def sweep():
        _sweep("4.3", "simplex_uniformity", [{"n": n, "t": t} for n, t in cases], got, right,
               {"t": "the squared distances are multiplied by t inside the exponential.",
                "n": "the cosine between two vertices, -1/(n - 1), depends on n."}, what="uniformity", rel=1e-6)
    for (n, t), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-6, abs_tol=THREE_DECIMALS):   # three decimals suffice
            continue
        where = f"for n = {n} points and t = {t} the uniformity is {want:.6g}, got {value:.6g}"

        def then(value=value, want=want, where=where):
            if _rounded_too_far(value, want):
                _fail("4.3", f"{where}: close, but give at least three decimals (within 0.0005).")
            sweep()
        sq = 2 * n / (n - 1)
        hints = [
            (-2 * t, "that is n orthogonal points (cosine 0, squared distance 2); the simplex's vertices have "
                     "cosine -1/(n - 1)."),
            (-4 * t, "only two points can be opposite (cosine -1); n > 2 vertices have cosine -1/(n - 1)."),
            (-2 * t * (1 + 1 / n), "the vertices' cosine is -1/(n - 1), not -1/n."),
            (-t * math.sqrt(sq), "uniformity uses the squared distance ||x - y||^2 = 2 - 2 cos."),
            (math.exp(-t * sq), "uniformity is the log of the mean of exp(-t ||x - y||^2)."),
            (-sq, "multiply the squared distance by t."),
            (-want, "the log of a mean of exp(-t ...) is at most 0."),
            (-2 * t * n / (n - 1) / math.log(2), "use the natural log, as evaluate.uniformity does."),
        ]
        _diagnose("4.3", value, where, hints, "Every two vertices have the same cosine -1/(n - 1); turn it into "
                  "a squared distance (2 - 2 cos for unit vectors) and take log exp(-t d^2).", rel_tol=1e-6,
                  then=then)
    _passed("4.3", "a regular simplex of n points has uniformity -2 t n / (n - 1), below -2 t for every n.")


# The chapter's earlier exercises 4.2 and 4.3, whose answers the chapter printed above them. Their
# checkers stay importable for student copies handed out before the change.

@_checker("4.2")
def check_predicted_loss(answer) -> None:
    """The earlier exercise 4.2 (kept for copies handed out before): the margin loss of two pairs (cosine similarities 0.6 similar, 0.9 dissimilar; m = 0.5)."""
    if answer is None:
        _unanswered("4.2", "predicted_loss is None.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        _fail("4.2", f"predicted_loss must be a number, got {answer!r}")
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.6, 0.8], [0.9, math.sqrt(1 - 0.81)]], dtype=torch.float64)
    right = float(margin_contrastive(a, b, torch.tensor([1, 0]), margin=0.5, distance="cosine"))
    if math.isclose(value, right, abs_tol=THREE_DECIMALS):   # 0.08 exactly; three decimals suffice
        _passed("4.2", f"L = {right:.4f}.")
        return
    if math.isclose(value, 2 * right, abs_tol=THREE_DECIMALS):
        _fail("4.2", f"got {value:.4f}: that is the article's factor 1/2; the formula divides by 2N = 4.")
    if math.isclose(value, (0.6 ** 2) / 4, abs_tol=THREE_DECIMALS):
        _fail("4.2", f"got {value:.4f}: d is the cosine *distance* 1 - cos, not the cosine similarity.")
    _fail("4.2", f"got {value:.4f}: with d = 1 - cos, add y d^2 and (1 - y) max(m - d, 0)^2 over both pairs, then divide by 2N.")


@_checker("4.3")
def check_bits(answer) -> None:
    """The earlier exercise 4.3 (kept for copies handed out before): the article's cross-entropy example,
    -(log p(0.8) + log p(0.7)) / 2, in bits: 0.41825..., to three decimals (0.418 passes; anything within
    0.0005 of the exact value does)."""
    if answer is None:
        _unanswered("4.3", "ce_bits is None.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        _fail("4.3", f"ce_bits must be a number, got {answer!r}")
    right = -(math.log2(0.8) + math.log2(0.7)) / 2
    if math.isclose(value, right, abs_tol=THREE_DECIMALS):
        _passed("4.3", f"{right:.4f} bits = {right * math.log(2):.4f} nats.")
        return
    nats = -(math.log(0.8) + math.log(0.7)) / 2
    if math.isclose(value, nats, abs_tol=THREE_DECIMALS):
        _fail("4.3", f"got {value:.4f}, which is in nats (natural log); divide by ln 2 for bits.")
    if math.isclose(value, nats * math.log(2), abs_tol=THREE_DECIMALS):
        _fail("4.3", f"got {value:.4f}: to turn nats into bits divide by ln 2, do not multiply.")
    if _rounded_too_far(value, right):
        _fail("4.3", f"got {value:.4f}: close, but give at least three decimals.")
    _fail("4.3", f"got {value:.4f}; use log base 2 of the probabilities of the true classes.")
