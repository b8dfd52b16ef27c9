"""Self-supervised losses.

Each loss is one short function over embeddings, validated on entry, with its
paper and formula in the docstring.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _validate


def _check_pair(z1, z2) -> None:
    _validate.tensor("z1", z1, ndim=2, floating=True)
    _validate.tensor("z2", z2, ndim=2, floating=True)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"info_nce needs a batch of N >= 2 pairs (negatives come from the batch), got N = {z1.shape[0]}")
    if z1.shape[1] < 1:
        raise ValueError("z1 and z2 must have at least one feature dimension")


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the InfoNCE loss of SimCLR (Chen et al., 2020, Algorithm 1).

    ``z1[i]`` and ``z2[i]`` are embeddings of two views of sample ``i``; both
    are N x D. The 2N views are L2-normalised, and with cosine similarities
    ``s`` every view ``i`` is an anchor whose positive ``j`` is the other view
    of the same sample, and whose 2N - 2 negatives are all the other views:

        l(i, j) = -log( exp(s_ij / t) / sum_{k != i} exp(s_ik / t) )
        L = 1 / (2N) * sum over the 2N anchors of l(i, j)

    When all embeddings are equal every similarity is 1 and ``L = log(2N - 1)``.

    Raises ``ValueError`` when z1 and z2 are not 2-D floating tensors of the
    same shape with N >= 2, or when ``temperature`` is not > 0.

    >>> z = torch.ones(4, 3)
    >>> round(info_nce(z, z).item(), 4) == round(float(torch.log(torch.tensor(7.0))), 4)
    True
    """
    _check_pair(z1, z2)
    _validate.positive("temperature", temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)
