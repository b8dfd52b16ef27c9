"""BYOL (Grill et al., 2020): a step function for :func:`sslbook.train.fit`.

BYOL, like SimSiam, uses no negatives. An *online* network (encoder, projector
and a predictor) predicts the projection that a *target* network gives of the
other view. The target is not trained by gradients: it is an exponential moving
average (EMA) of the online encoder and projector, and no gradient flows into
it. The loss is the mean squared error of L2-normalised vectors,

    || p / |p| - z / |z| ||^2 = 2 - 2 cos(p, z),

which is 0 at its minimum, where a collapsed network (every input mapped to the
same vector) also sits. SimSiam's loss is ``-cos(p, z)`` instead, whose minimum
(and collapsed value) is -1; the two differ by an affine map, so
:func:`byol_loss` is written with :func:`~sslbook.losses.negative_cosine`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import _validate, losses, models


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised MSE, ``mean_i || p_i/|p_i| - z_i/|z_i| ||^2 = 2 - 2 mean_i cos(p_i, z_i)``.

    ``p`` (N x D) are the online network's predictions, ``z`` (N x D) the target
    network's projections of the other view; no gradient flows into ``z``. It lies
    in [0, 4] and is 0 when every prediction points the way of its target.

    >>> z = torch.randn(5, 3)
    >>> round(byol_loss(2 * z, z).item(), 6)
    0.0
    """
    return 2 + 2 * losses.negative_cosine(p, z, stop_gradient=True)


def byol_step(model: nn.Module, predictor: nn.Module, target: nn.Module, images: torch.Tensor, views,
              momentum: float = 0.99, generator: torch.Generator | None = None,
              monitor: Callable | None = None) -> Callable:
    """A step function for :func:`~sslbook.train.fit` that trains ``model`` (encoder and
    projector, N x C x H x W -> N x D) and ``predictor`` (N x D -> N x D) with BYOL.

    ``target`` is a copy of ``model`` made before training (``copy.deepcopy(model)``);
    at every step it first moves towards ``model`` by an EMA with ``momentum``
    (:func:`~sslbook.models.momentum_update`: t <- m t + (1 - m) o), then embeds both
    views without gradient. The loss is :func:`byol_loss` of each view's prediction
    against the target's projection of the other view, averaged over the two
    directions (the paper sums them, which only doubles the gradient).
    ``monitor(z1, z2)``, if given, records more numbers from the online projections.

    >>> import copy; m = models.SimCLRModel(models.SmallCNN(1), models.ProjectionHead(128, 8))
    >>> from sslbook import augment; x = torch.rand(16, 1, 8, 8)
    >>> step = byol_step(m, models.ProjectionHead(8, 8), copy.deepcopy(m), x, augment.digit_views())
    >>> 0 <= step(torch.arange(8)).item() <= 4
    True
    """
    _validate.in_range("momentum", momentum, 0, 1)
    if model is target:
        raise ValueError("target must be a separate copy of model (copy.deepcopy(model)), got model itself")
    target.requires_grad_(False)

    def step(idx: torch.Tensor):
        v1, v2 = views.pair(images[idx], generator)
        both = torch.cat([v1, v2])
        z1, z2 = model(both).chunk(2)
        with torch.no_grad():
            models.momentum_update(model, target, momentum)
            t1, t2 = target.train(model.training)(both).chunk(2)
        loss = 0.5 * (byol_loss(predictor(z1), t2) + byol_loss(predictor(z2), t1))
        if monitor is None:
            return loss
        return {"loss": loss, **monitor(z1.detach(), z2.detach())}

    return step
