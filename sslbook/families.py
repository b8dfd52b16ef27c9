"""The families without negatives: redundancy reduction (Barlow Twins, VICReg),
self-distillation (DINO) and online clustering (SwAV's Sinkhorn-Knopp codes).

Each loss is one short function over the embeddings (or head outputs) of two
views, validated on entry, with its paper, its equation or algorithm and its
shapes in the docstring. :mod:`sslbook.losses` re-exports them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _validate


def _off_diagonal(c: torch.Tensor) -> torch.Tensor:
    """The D * (D - 1) entries of a square D x D matrix off its diagonal, flattened."""
    return c[~torch.eye(len(c), dtype=torch.bool, device=c.device)]


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Barlow Twins' cross-correlation matrix C (Zbontar et al., 2021, Eq. 2): D x D.

    Each feature of ``z1`` and ``z2`` (both N x D) is standardised over the batch (mean 0 and
    the population standard deviation, divisor N, as the official code's ``BatchNorm1d``), and
    ``C = z1_norm.T @ z2_norm / N``: ``C[i, j]`` is the correlation of feature i of view 1 with
    feature j of view 2, in [-1, 1]; identical views give ``C[i, i] = 1`` exactly. (Alg. 1
    writes ``z.std(0)``, which in PyTorch divides by N - 1 and gives ``C[i, i] = (N - 1) / N``.)
    ``eps`` > 0 is added to the variance (``BatchNorm1d`` uses 1e-5); with ``eps = 0`` a
    feature that is constant over the batch has no correlation and raises ``ValueError``.

    >>> z = torch.randn(8, 3)
    >>> torch.allclose(cross_correlation(z, z).diagonal(), torch.ones(3))
    True
    """
    _validate.embedding_pair(z1, z2, why="z1 and z2 must hold N >= 2 samples (a standard deviation is taken over the batch)")
    _validate.positive("eps", eps, allow_zero=True)
    parts = []
    for name, z in (("z1", z1), ("z2", z2)):
        var = z.var(dim=0, unbiased=False)
        if eps == 0 and bool((var == 0).any()):
            raise ValueError(f"{name} has {int((var == 0).sum())} feature(s) constant over the batch (standard "
                             "deviation 0), whose correlation is undefined: pass eps > 0 (BatchNorm1d uses 1e-5)")
        parts.append((z - z.mean(dim=0)) / (var + eps).sqrt())
    return parts[0].T @ parts[1] / len(z1)


def barlow_twins(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 0.005, eps: float = 0.0) -> torch.Tensor:
    """The Barlow Twins loss (Zbontar et al., 2021, Eq. 1 and Algorithm 1).

    ``z1[b]`` and ``z2[b]`` (both N x D) embed two views of sample b. With C the D x D
    :func:`cross_correlation` of the batch-standardised views,

        L = sum_i (1 - C_ii)^2 + lambd * sum_i sum_{j != i} C_ij^2.

    The first term makes each feature invariant to the augmentations; the second
    decorrelates the features, so that they cannot all carry the same (collapsed)
    information. ``lambd`` defaults to the paper's 5e-3 (the official code uses 0.0051).
    Identical views give ``C_ii = 1``: the loss is then lambd times the sum of the squared
    correlations between different features of one view, which is 0 only for decorrelated
    features. No negatives are needed; the batch gives the statistics.

    Raises ``ValueError`` unless z1 and z2 are finite N x D tensors of one shape with
    N >= 2, ``lambd`` >= 0 and ``eps`` >= 0 (and, with ``eps = 0``, no constant feature).

    >>> z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])   # uncorrelated features
    >>> round(barlow_twins(z, z).item(), 6)
    0.0
    """
    _validate.positive("lambd", lambd, allow_zero=True)
    c = cross_correlation(z1, z2, eps)
    return (1 - c.diagonal()).pow(2).sum() + lambd * _off_diagonal(c).pow(2).sum()


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0,
                 eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VICReg's three terms (Bardes et al., 2022, Algorithm 1), each a 0-D tensor:

    - invariance ``s = mean((z1 - z2)^2)`` over the N x D entries;
    - variance ``v = mean_j relu(gamma - sqrt(Var(z1[:, j]) + eps)) + (the same for z2)``,
      a hinge on each feature's standard deviation over the batch (unbiased variance);
    - covariance ``c = sum_{i != j} Cov(z1)_ij^2 / D + (the same for z2)``, Cov with
      divisor N - 1.

    The official code halves the variance term; Algorithm 1 (followed here) does not.
    """
    _validate.embedding_pair(z1, z2, why="z1 and z2 must hold N >= 2 samples (a variance is taken over the batch)")
    _validate.positive("gamma", gamma, allow_zero=True)
    _validate.positive("eps", eps)
    n, d = z1.shape
    invariance = F.mse_loss(z1, z2)
    variance = sum(F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean() for z in (z1, z2))
    covariance = 0
    for z in (z1, z2):
        z = z - z.mean(dim=0)
        covariance = covariance + _off_diagonal(z.T @ z / (n - 1)).pow(2).sum() / d
    return invariance, variance, covariance


def vicreg(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 25.0, mu: float = 25.0, nu: float = 1.0,
           gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """The VICReg loss (Bardes et al., 2022, Algorithm 1): ``lambd * s + mu * v + nu * c``.

    ``z1``, ``z2`` (both N x D, N >= 2) embed two views; s, v and c are the invariance,
    variance and covariance terms of :func:`vicreg_terms`. The defaults are the paper's
    (25, 25, 1; gamma 1, eps 1e-4). The variance hinge keeps every feature's spread at least
    ``gamma``, which forbids the collapsed solution; the covariance term decorrelates features.
    Raises ``ValueError`` for bad shapes, N < 2, negative weights or ``eps`` <= 0.

    >>> z = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # spread > 1, uncorrelated
    >>> round(vicreg(z, z).item(), 6)
    0.0
    """
    for name, value in (("lambd", lambd), ("mu", mu), ("nu", nu)):
        _validate.positive(name, value, allow_zero=True)
    s, v, c = vicreg_terms(z1, z2, gamma, eps)
    return lambd * s + mu * v + nu * c


def _views(name: str, x) -> torch.Tensor:
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{name} must hold at least one view, got an empty {type(x).__name__}")
        for i, v in enumerate(x):
            _validate.tensor(f"{name}[{i}]", v, ndim=2, floating=True)
        if len({tuple(v.shape) for v in x}) > 1:
            raise ValueError(f"{name}: every view must be N x K alike, got {[tuple(v.shape) for v in x]}")
        x = torch.stack(list(x))
    return _validate.tensor(name, x, ndim=3, floating=True)


def dino(student_out, teacher_out, center: torch.Tensor, student_temp: float = 0.1,
         teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's self-distillation loss (Caron et al., 2021, Algorithm 1; multi-crop as in its Section 3.1).

    ``student_out``: V_s x N x K head outputs (logits over K dimensions) of V_s views of N
    images; ``teacher_out``: V_t x N x K, the teacher's outputs of the first V_t of those views
    (the global crops; 1 <= V_t <= V_s, V_s >= 2). Either may also be a list of N x K tensors.
    With the centre ``c`` (K, or 1 x K) and no gradient through the teacher,

        P_t = softmax((t - c) / teacher_temp),  log P_s = log_softmax(s / student_temp),
        H(t, s) = -mean_n sum_k P_t[n, k] log P_s[n, k],

    and the loss averages H over every pair of a teacher view and a *different* student view.
    With two views that is Algorithm 1's ``H(t1, s2) / 2 + H(t2, s1) / 2``; more student views
    give multi-crop. Centring (subtracting the running mean :func:`dino_center`) keeps one
    dimension from dominating; the low ``teacher_temp`` (sharpening) keeps the teacher from
    the uniform output. Both defaults are the paper's (0.1; 0.04, which DINO warms up to 0.07).

    >>> s = torch.zeros(2, 3, 4); t = torch.zeros(2, 3, 4)   # uniform outputs: H = log K
    >>> round(dino(s, t, torch.zeros(4)).item(), 4)
    1.3863
    """
    student_out, teacher_out = _views("student_out", student_out), _views("teacher_out", teacher_out)
    (vs, n, k), vt = student_out.shape, teacher_out.shape[0]
    if teacher_out.shape[1:] != (n, k):
        raise ValueError(f"teacher_out must be V_t x {n} x {k} like student_out, got {tuple(teacher_out.shape)}")
    if vs < 2 or not 1 <= vt <= vs:
        raise ValueError(f"student_out must hold V_s >= 2 views and teacher_out 1 <= V_t <= V_s views (the "
                         f"teacher's views are the student's first), got V_s = {vs}, V_t = {vt}")
    _validate.tensor("center", center, floating=True)
    if center.numel() != k or center.ndim not in (1, 2):
        raise ValueError(f"center must have K = {k} entries (shape ({k},) or (1, {k})), got {tuple(center.shape)}")
    _validate.positive("student_temp", student_temp)
    _validate.positive("teacher_temp", teacher_temp)
    targets = F.softmax((teacher_out.detach() - center.detach().reshape(k)) / teacher_temp, dim=-1)
    log_p = F.log_softmax(student_out / student_temp, dim=-1)
    terms = [-(targets[i] * log_p[v]).sum(dim=-1).mean() for i in range(vt) for v in range(vs) if v != i]
    return sum(terms) / len(terms)


@torch.no_grad()
def dino_center(center: torch.Tensor, teacher_out, momentum: float = 0.9) -> torch.Tensor:
    """DINO's centre update (Caron et al., 2021, Algorithm 1): ``m * c + (1 - m) * mean(t)``.

    ``teacher_out``: the teacher's outputs of this batch, V_t x N x K (or a list of N x K, or
    one N x K); the mean is over every view and image. Returns the new centre, shaped like
    ``center`` (K or 1 x K), without gradient. ``momentum`` defaults to the paper's 0.9.
    (Under ``torch.distributed`` DINO averages the batch mean over processes first.)
    """
    _validate.tensor("center", center, floating=True)
    if isinstance(teacher_out, torch.Tensor) and teacher_out.ndim == 2:
        teacher_out = teacher_out[None]
    teacher_out = _views("teacher_out", teacher_out)
    k = teacher_out.shape[-1]
    if center.numel() != k or center.ndim not in (1, 2):
        raise ValueError(f"center must have K = {k} entries (shape ({k},) or (1, {k})), got {tuple(center.shape)}")
    _validate.in_range("momentum", momentum, 0, 1)
    batch = teacher_out.reshape(-1, k).mean(dim=0).to(center.dtype)
    return momentum * center + (1 - momentum) * batch.reshape(center.shape)


def _check_sinkhorn(eps, iterations) -> None:
    _validate.positive("eps", eps)
    _validate.positive_int("iterations", iterations)


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, eps: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """SwAV's codes by Sinkhorn-Knopp (Caron et al., 2020, Section 3.1 and the pseudo-code of Algorithm 1).

    ``scores``: N x K, the scores of N samples against K prototypes (cosines). With
    ``Q = exp(scores / eps).T`` (K x N) scaled to sum 1, each iteration scales every row
    (prototype) to sum 1/K and then every column (sample) to sum 1/N: the batch is shared
    equally among the prototypes (equipartition). The codes returned, N x K, are the columns
    scaled to sum 1: **every row (sample) sums to 1 exactly**, and every column (prototype) sums
    to N/K once the iterations have converged (after the paper's 3, approximately).
    The codes are targets: they carry no gradient. ``eps`` (0.05) and ``iterations`` (3) are
    the paper's. The scalings run on log Q (``logsumexp``): the same numbers, without the overflow
    of ``exp(scores / eps)`` or a prototype whose every entry underflows to 0.

    >>> q = sinkhorn(torch.zeros(6, 3))      # no preference: every sample spread evenly
    >>> [round(v, 4) for v in q[0].tolist()], [round(v, 4) for v in q.sum(dim=0).tolist()]
    ([0.3333, 0.3333, 0.3333], [2.0, 2.0, 2.0])
    """
    _validate.tensor("scores", scores, ndim=2, floating=True)
    if 0 in scores.shape:
        raise ValueError(f"scores must be N x K with N, K >= 1, got {tuple(scores.shape)}")
    _check_sinkhorn(eps, iterations)
    s = scores.detach().to(torch.promote_types(scores.dtype, torch.float32))
    log_q = (s / eps).T                                   # K x N: log of exp(scores / eps).T
    log_q = log_q - torch.logsumexp(log_q.flatten(), 0)   # Q / sum(Q)
    k, n = log_q.shape
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(k)   # each prototype: 1/K
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(n)   # each sample: 1/N
    return torch.softmax(log_q, dim=0).T.to(scores.dtype)  # the columns scaled to sum 1, N x K


def swav(scores1: torch.Tensor, scores2: torch.Tensor, temperature: float = 0.1, eps: float = 0.05,
         iterations: int = 3) -> torch.Tensor:
    """SwAV's swapped prediction (Caron et al., 2020, Section 3.1 and Algorithm 1).

    ``scores1``, ``scores2``: N x K scores of two views against the K prototypes,
    ``normalize(z) @ normalize(C)`` (C the D x K prototypes). The codes ``q = sinkhorn(scores)``
    are computed without gradient; each view predicts the *other* view's code from its own
    scores, ``p = softmax(scores / temperature)``:

        L = -1/2 * mean_n sum_k [ q1[n, k] log p2[n, k] + q2[n, k] log p1[n, k] ].

    (Algorithm 1 writes ``mean`` over the N x K entries, 1/K of this; the official code sums
    over k, as here.) ``temperature`` defaults to the paper's 0.1.

    >>> round(swav(torch.zeros(4, 3), torch.zeros(4, 3)).item(), 4)   # uniform codes and predictions: log K
    1.0986
    """
    for name, s in (("scores1", scores1), ("scores2", scores2)):
        _validate.tensor(name, s, ndim=2, floating=True)
    if scores1.shape != scores2.shape or 0 in scores1.shape:
        raise ValueError(f"scores1 and scores2 must be N x K alike with N, K >= 1, got {tuple(scores1.shape)} "
                         f"and {tuple(scores2.shape)}")
    _validate.positive("temperature", temperature)
    _check_sinkhorn(eps, iterations)
    q1, q2 = sinkhorn(scores1, eps, iterations), sinkhorn(scores2, eps, iterations)
    log_p1, log_p2 = F.log_softmax(scores1 / temperature, dim=1), F.log_softmax(scores2 / temperature, dim=1)
    return -((q1 * log_p2).sum(dim=1).mean() + (q2 * log_p1).sum(dim=1).mean()) / 2
