"""One step function per method: what :func:`sslbook.train.fit` calls on each batch.

A step function turns a batch of indices into a loss (or a dict with ``"loss"`` and
other numbers to record): :func:`simclr_step` (and :func:`pair_step` for any loss of
two views), :func:`moco_step`, :func:`simsiam_step`, :func:`mlm_step`,
:func:`masked_image_step` and :func:`supervised_step`; :func:`forward` runs a network
in a precision. :mod:`sslbook.train` re-exports them all, so ``train.simclr_step``
and ``steps.simclr_step`` are the same function.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate, distributed, losses, masking, models, precision as _precision


def forward(model: nn.Module, x: torch.Tensor, precision: str = "float32", channels_last: bool = False):
    """``model(x)`` in ``precision`` (see :mod:`sslbook.precision`), ``x`` stored channels-last
    if asked; the output comes back in float32, so that the loss is computed in float32."""
    with _precision.autocast(precision, x.device):
        out = model(_precision.channels_last(x) if channels_last else x)
    return out.float()


def _pair_record(loss: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, monitor) -> torch.Tensor | dict:
    if monitor is None:
        return loss
    return {"loss": loss, **monitor(z1.detach(), z2.detach())}


def pair_step(model: nn.Module, images: torch.Tensor, views, loss_fn: Callable,
              generator: torch.Generator | None = None, monitor: Callable | None = None,
              precision: str = "float32", channels_last: bool = False) -> Callable:
    """A step function for :func:`fit` for any loss of two views, ``loss_fn(z1, z2)``.

    For a batch of indices into ``images`` it draws two random views of each image
    with ``views`` (a :class:`~sslbook.augment.RandomViews`), embeds both in one
    forward pass (N x C x H x W -> 2N x D) and returns the loss. ``monitor(z1, z2)``,
    if given, returns more numbers to record (e.g.
    :func:`~sslbook.evaluate.rank_signals`), from detached embeddings. ``precision`` and
    ``channels_last``: how the network runs (:func:`forward`); the loss stays in float32.
    """
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function of (z1, z2), got {type(loss_fn).__name__}")

    def step(idx: torch.Tensor):
        v1, v2 = views.pair(images[idx], generator)
        z1, z2 = forward(model, torch.cat([v1, v2]), precision, channels_last).chunk(2)
        return _pair_record(loss_fn(z1, z2), z1, z2, monitor)

    return step


def simclr_step(model: nn.Module, images: torch.Tensor, views, temperature: float | None = None,
                generator: torch.Generator | None = None, monitor: Callable | None = None,
                gather: bool = False, precision: str = "float32", channels_last: bool = False) -> Callable:
    """A step function for :func:`fit` that trains ``model`` with SimCLR: :func:`pair_step`
    with :func:`~sslbook.losses.info_nce` (temperature by default ``TEMPERATURES["simclr"]``;
    ``gather``: the negatives of every process, under ``torch.distributed``).
    """
    temperature = losses.temperature_of("simclr", temperature)
    return pair_step(model, images, views, lambda z1, z2: losses.info_nce(z1, z2, temperature, gather=gather),
                     generator, monitor, precision, channels_last)


def moco_step(model: nn.Module, key_model: nn.Module, queue: models.FeatureQueue, images: torch.Tensor,
              views, temperature: float | None = None, momentum: float = 0.99,
              generator: torch.Generator | None = None, monitor: Callable | None = None,
              precision: str = "float32", channels_last: bool = False, gather: bool = False,
              shuffle_bn: int = 1, symmetric: bool = False, own_key_negative: bool = True) -> Callable:
    """A step function for :func:`fit` that trains ``model`` with MoCo (He et al., 2020).

    For a batch of indices it draws two views of each image; the queries come
    from ``model`` and the keys from ``key_model``, a momentum copy of it that
    is moved towards ``model`` before the keys are computed
    (:func:`~sslbook.models.momentum_update`). The loss is
    :func:`~sslbook.losses.moco_loss` against the keys in ``queue`` (a
    :class:`~sslbook.models.FeatureQueue`), which then receives this batch's keys.
    ``monitor(q, k)`` records more numbers, as in :func:`pair_step`.

    The defaults are MoCo v1's loss as this book first built it; three keyword arguments
    move it towards the paper (all off by default, so older runs reproduce):

    - ``shuffle_bn`` (an int G >= 1): MoCo's shuffling BN (§3.3) in one process. The
      queries go through ``model`` in G consecutive sub-batches, and the keys through
      ``key_model`` in G sub-batches of a random permutation of the batch, then back in
      order, so that a query and its key are normalised with the statistics of different
      sub-batches and BatchNorm cannot leak which key belongs to which query. G = 1 (the
      default) is one batch for both encoders, as before.
    - ``symmetric``: both views serve as queries (view 1 against view 2's key and the
      reverse), the loss is the mean of the two, and both sets of keys enter the queue
      (as MoCo v3's symmetrised loss, here with the queue kept).
    - ``own_key_negative``: on the very first batch the queue is empty. With ``True``
      (the default) the batch's own keys fill it first, so each query meets its own key
      among the negatives on that step; with ``False`` that step scores each query against
      its own key and the batch's other keys only (InfoNCE over the keys).

    Under ``torch.distributed`` with ``gather``, the queue receives the keys of every
    process (without the cross-process shuffle: each process's BatchNorm sees only its own
    keys; ``shuffle_bn`` shuffles within a process).

    >>> # step = moco_step(model, key_model, FeatureQueue(256, 64), x, views, shuffle_bn=4)
    """
    temperature = losses.temperature_of("moco", temperature)
    _validate.in_range("momentum", momentum, 0, 1)
    _validate.positive_int("shuffle_bn", shuffle_bn)

    def encode_queries(v):
        if shuffle_bn == 1:
            return forward(model, v, precision, channels_last)
        return torch.cat([forward(model, part, precision, channels_last) for part in v.tensor_split(shuffle_bn)])

    @torch.no_grad()
    def encode_keys(v):
        if shuffle_bn == 1:
            return forward(key_model, v, precision, channels_last)
        order = torch.randperm(len(v), generator=generator).to(v.device)
        k = torch.cat([forward(key_model, part, precision, channels_last) for part in v[order].tensor_split(shuffle_bn)])
        return k[torch.argsort(order)]

    def loss_of(q, k):
        if len(queue) == 0 and not own_key_negative:
            logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / temperature
            return F.cross_entropy(logits, torch.arange(len(q), device=q.device))
        return losses.moco_loss(q, k, queue.features, temperature)

    def step(idx: torch.Tensor):
        if shuffle_bn > len(idx):
            raise ValueError(f"shuffle_bn must be at most the batch size {len(idx)}, got {shuffle_bn}")
        v1, v2 = views.pair(images[idx], generator)
        q = encode_queries(v1)
        with torch.no_grad():
            models.momentum_update(model, key_model, momentum)
            k = encode_keys(v2)
            every_k = distributed.gather_no_grad(k) if gather else k
        if symmetric:
            q2 = encode_queries(v2)
            with torch.no_grad():
                k2 = encode_keys(v1)
                every_k = torch.cat([every_k, distributed.gather_no_grad(k2) if gather else k2])
        if len(queue) == 0 and own_key_negative:
            queue.enqueue(every_k)
        loss = loss_of(q, k)
        if symmetric:
            loss = 0.5 * (loss + loss_of(q2, k2))
        queue.enqueue(every_k)
        return _pair_record(loss, q, k, monitor)

    return step


def simsiam_step(model: nn.Module, predictor: nn.Module, images: torch.Tensor, views,
                 stop_gradient: bool = True, generator: torch.Generator | None = None,
                 monitor: Callable | None = None) -> Callable:
    """A step function for :func:`fit` that trains ``model`` (encoder and projector) with
    SimSiam (Chen and He, 2021): each view's prediction ``predictor(z)`` is pulled towards
    the other view's ``z``, symmetrised, with :func:`~sslbook.losses.negative_cosine`
    (and its stop-gradient unless ``stop_gradient`` is false). No negatives.
    """

    def step(idx: torch.Tensor):
        v1, v2 = views.pair(images[idx], generator)
        z1, z2 = model(torch.cat([v1, v2])).chunk(2)
        loss = 0.5 * (losses.negative_cosine(predictor(z1), z2, stop_gradient)
                      + losses.negative_cosine(predictor(z2), z1, stop_gradient))
        return _pair_record(loss, z1, z2, monitor)

    return step


def mlm_step(model: nn.Module, ids: torch.Tensor, mask_id: int, vocab_size: int, mask_ratio: float = 0.15,
             special_ids=(), generator: torch.Generator | None = None) -> Callable:
    """A step function for :func:`fit` that trains a token model (N x L ids -> N x L x V
    logits) by masked language modelling: :func:`~sslbook.masking.mask_tokens` hides
    ``mask_ratio`` of the tokens the BERT way, and
    :func:`~sslbook.losses.masked_token_loss` scores the hidden positions only (for a
    model with ``hidden`` and ``head``, such as
    :class:`~sslbook.attention.TinyTransformer`, the head runs at those positions only).
    """
    masking.check_ratio(mask_ratio)

    def step(idx: torch.Tensor) -> torch.Tensor:
        inputs, labels = masking.mask_tokens(ids[idx], mask_ratio, mask_id, vocab_size,
                                             special_ids=special_ids, generator=generator)
        if hasattr(model, "hidden") and hasattr(model, "head"):
            # The output layer only where a prediction is asked: the same loss, far less work
            # when the vocabulary is large (15% of the positions instead of all).
            chosen = labels != masking.IGNORE_INDEX
            return F.cross_entropy(model.head(model.hidden(inputs)[chosen]), labels[chosen])
        return losses.masked_token_loss(model(inputs), labels)

    return step


def masked_image_step(model: nn.Module, images: torch.Tensor, mask_ratio: float = 0.5,
                      generator: torch.Generator | None = None) -> Callable:
    """A step function for :func:`fit` for masked image modelling: every image of the
    batch gets its own random patch mask (:func:`~sslbook.masking.random_patch_mask`)
    and ``model.loss(images, mask)`` (e.g. :class:`~sslbook.attention.PatchMaskedAutoencoder`)
    scores the reconstruction of the hidden patches.
    """
    masking.check_ratio(mask_ratio)

    def step(idx: torch.Tensor) -> torch.Tensor:
        x = images[idx]
        mask = masking.random_patch_mask(len(x), model.num_patches, mask_ratio, generator=generator)
        return model.loss(x, mask)

    return step


def supervised_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, views=None,
                    generator: torch.Generator | None = None, precision: str = "float32",
                    channels_last: bool = False) -> Callable[[torch.Tensor], dict]:
    """A step function for :func:`fit` that trains a classifier with cross-entropy.

    For a batch of indices it classifies ``views(images[idx])`` (or the images
    themselves when ``views`` is None) and returns the loss and the batch accuracy.
    """
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")

    def step(idx: torch.Tensor) -> dict:
        x = images[idx] if views is None else views(images[idx], generator)
        logits = forward(model, x, precision, channels_last)
        y = labels[idx].to(logits.device)
        loss = F.cross_entropy(logits, y)
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean()}

    return step
