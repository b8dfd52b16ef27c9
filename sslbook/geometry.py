"""The geometry of an embedding: signals read from the vectors themselves, no labels.

- :func:`positive_ranks` and :func:`rank_signals`: where each view's positive ranks among
  the other views (a readable contrastive training signal, a ``monitor`` for the step
  functions of :mod:`sslbook.steps`).
- :func:`embedding_std`: a collapse detector (Chen and He, 2021).
- :func:`alignment` and :func:`uniformity`: Wang and Isola (2020)'s two properties of a
  contrastive embedding on the hypersphere.
- :func:`singular_values` and :func:`rankme`: the spectrum of the embeddings and its effective
  rank (Garrido et al., 2023), which see dimensional collapse (Jing et al., 2022).

:mod:`sslbook.evaluate` re-exports them all.
"""

from __future__ import annotations

import math

import torch

from . import _validate
from .losses import positive_index


def positive_ranks(z1, z2) -> tuple[float, float]:
    """Readable contrastive training signals: ``(top-1 accuracy, mean rank)`` of the positive.

    Over the 2N views, each anchor ranks the other 2N - 1 views by cosine
    similarity; rank 1 means its positive (the other view of the same sample)
    is the most similar. Top-1 is the fraction of anchors with rank 1; chance
    is 1 / (2N - 1), and the mean rank of a random encoder is about N.
    """
    z1 = torch.as_tensor(z1, dtype=torch.float32)
    z2 = torch.as_tensor(z2, dtype=torch.float32)
    if z1.ndim != 2 or z1.shape != z2.shape or len(z1) < 2:
        raise ValueError(f"z1 and z2 must be N x D of the same shape with N >= 2, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    n = len(z1)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    pos_sim = sim[torch.arange(2 * n), positive_index(n)]
    rank = 1 + (sim > pos_sim.unsqueeze(1)).sum(dim=1).float()
    return float((rank == 1).float().mean()), float(rank.mean())


def rank_signals(z1, z2) -> dict[str, float]:
    """:func:`positive_ranks` as ``{"top1": ..., "mean_rank": ...}``: a ``monitor`` for
    the step functions of :mod:`sslbook.train`."""
    top1, mean_rank = positive_ranks(z1, z2)
    return {"top1": top1, "mean_rank": mean_rank}


def embedding_std(z) -> float:
    """Mean over dimensions of the standard deviation of L2-normalised embeddings.

    A collapse detector (Chen and He, 2021): for healthy D-dimensional embeddings
    spread over the sphere it is about ``1 / sqrt(D)``; when every input maps to
    the same vector it falls to 0.
    """
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"z must be N x D with N >= 2, got shape {tuple(z.shape)}")
    return float(torch.nn.functional.normalize(z, dim=1).std(dim=0).mean())


def _unit_rows(name: str, z) -> torch.Tensor:
    z = torch.as_tensor(z, dtype=torch.float32) if not torch.is_tensor(z) else z
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"{name} must be N x D with N >= 2, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return torch.nn.functional.normalize(z, dim=1)


def alignment(z1, z2, alpha: float = 2.0) -> float:
    """Alignment of positive pairs (Wang and Isola, 2020): ``E ||f(x) - f(y)||^alpha``.

    ``z1[i]`` and ``z2[i]`` embed two views of sample i; both are L2-normalised
    first. 0 means every pair coincides; lower is better.
    """
    _validate.positive("alpha", alpha)
    a, b = _unit_rows("z1", z1), _unit_rows("z2", z2)
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z, t: float = 2.0) -> float:
    """Uniformity on the hypersphere (Wang and Isola, 2020): ``log E exp(-t ||f(x) - f(y)||^2)``.

    Over all pairs of distinct rows of ``z`` (L2-normalised first). Lower is
    more uniform; a collapsed embedding scores 0, the highest possible value.
    """
    _validate.positive("t", t)
    u = _unit_rows("z", z)
    sq = torch.pdist(u).pow(2)
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(len(sq)))


def singular_values(z) -> torch.Tensor:
    """The singular values of the N x D embedding matrix ``z``, largest first (min(N, D) of them):
    the spectrum whose tail shows dimensional collapse (Jing et al., 2022), dimensions the
    embeddings barely use. The rows are not centred or normalised.

    >>> singular_values(torch.tensor([[3.0, 0.0], [0.0, 4.0]])).tolist()
    [4.0, 3.0]
    """
    z = torch.as_tensor(z, dtype=torch.float32) if not torch.is_tensor(z) else z
    if z.ndim != 2 or min(z.shape) < 1:
        raise ValueError(f"z must be N x D with N, D >= 1, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values")
    return torch.linalg.svdvals(z.double()).float()


def rankme(z, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al., 2023, Eq. 1), the effective rank of the N x D embeddings ``z``: with
    singular values ``s`` and ``p_k = s_k / sum(s) + eps``, ``exp(-sum_k p_k log p_k)``, between 1
    (one direction) and min(N, D) (every direction used alike). It needs no labels; the paper
    proposes it to choose among runs.

    >>> round(rankme(torch.eye(4)), 3)
    4.0
    """
    _validate.positive("eps", eps)
    s = singular_values(z).double()
    if s.sum() == 0:
        raise ValueError("z is all zeros: its effective rank is undefined")
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))
