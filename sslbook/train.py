"""One training loop, one step function per method, and checkpoints.

:func:`fit` runs a step function on batches until a budget of steps or seconds
is spent, shows a tqdm progress bar, and returns the history of the loss (and
of any other number the step reports). A step function turns a batch of
indices into a loss: :func:`simclr_step` (and :func:`pair_step` for any loss
of two views), :func:`moco_step`, :func:`simsiam_step`, :func:`mlm_step`,
:func:`masked_image_step` and :func:`supervised_step`. Checkpoints are in
:mod:`sslbook.checkpoints`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
import tqdm as _tqdm
from torch import nn
from tqdm.auto import tqdm

from . import _validate, config, distributed, losses, masking, models, precision as _precision


@dataclass
class History:
    """What :func:`fit` recorded: one entry per step."""

    step: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    @property
    def loss(self) -> list[float]:
        return self.values.get("loss", [])

    @property
    def steps(self) -> int:
        return len(self.step)

    @property
    def elapsed(self) -> float:
        return self.seconds[-1] if self.seconds else 0.0

    def smoothed(self, key: str = "loss", window: int = 20) -> list[float]:
        """A running mean of ``values[key]`` over the last ``window`` steps."""
        _validate.positive_int("window", window)
        vals = self.values.get(key, [])
        out, total = [], 0.0
        for i, v in enumerate(vals):
            total += v
            if i >= window:
                total -= vals[i - window]
            out.append(total / min(i + 1, window))
        return out


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator | None = None,
                     drop_last: bool = True) -> Iterator[torch.Tensor]:
    """Endless index batches over ``range(n)``, reshuffled every epoch.

    >>> it = shuffled_batches(10, 4, torch.Generator().manual_seed(0))
    >>> [len(next(it)) for _ in range(3)]
    [4, 4, 4]
    """
    _validate.positive_int("n", n)
    _validate.positive_int("batch_size", batch_size)
    if drop_last and batch_size > n:
        raise ValueError(f"batch_size must be at most n = {n} when drop_last is true, got {batch_size}")
    while True:
        order = torch.randperm(n, generator=generator)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield order[start:start + batch_size]


def fit(step_fn: Callable[[object], torch.Tensor | dict], batches: Iterable,
        optimizer: torch.optim.Optimizer, *, steps: int | None = None,
        seconds: float | None = None, scheduler=None, model: torch.nn.Module | None = None,
        progress: bool = True, desc: str = "training",
        callback: Callable[[int], None] | None = None) -> History:
    """Train until ``steps`` steps or ``seconds`` seconds are spent, whichever comes first.

    ``step_fn(batch)`` computes the loss of one batch and returns it, or a dict
    with the loss under ``"loss"`` and other numbers to record. ``fit`` then
    does ``zero_grad``, ``backward`` and ``optimizer.step()`` (and
    ``scheduler.step()`` if given). The progress bar shows unless ``progress``
    is false or the environment sets ``SSLBOOK_PROGRESS=0``. When ``model`` is given it is put in
    training mode first and in evaluation mode at the end. ``callback(done)``, if given,
    runs after every step with the number of steps done so far (to save snapshots).

    A non-finite loss stops training with a ``FloatingPointError`` naming the
    step, rather than silently training on NaN.

    >>> w = torch.zeros(1, requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> h = fit(lambda b: ((w - 1) ** 2).sum(), iter(int, 1), opt, steps=50, progress=False)
    >>> h.steps, round(w.item(), 3)
    (50, 1.0)
    """
    if steps is None and seconds is None:
        raise ValueError("fit needs a budget: give steps, seconds, or both")
    if steps is not None:
        _validate.positive_int("steps", steps)
    if seconds is not None:
        _validate.positive("seconds", seconds)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be a function of the number of steps done, got {callback!r}")
    if model is not None:
        model.train()
    # tqdm's monitor thread would redraw the bar (a widget in Jupyter) from a
    # second thread; keep all drawing on the training thread.
    _tqdm.tqdm.monitor_interval = 0
    history = History()
    bar = tqdm(total=steps, desc=desc, disable=not (progress and config.show_progress()), leave=False)
    start = time.perf_counter()
    try:
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            out = step_fn(batch)
            record = out if isinstance(out, dict) else {"loss": out}
            loss = record["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {i}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            elapsed = time.perf_counter() - start
            history.step.append(i)
            history.seconds.append(elapsed)
            for key, value in record.items():
                history.values.setdefault(key, []).append(float(value.detach() if torch.is_tensor(value) else value))
            bar.update(1)
            if i % 10 == 0:
                bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
            if callback is not None:
                callback(i + 1)
            if seconds is not None and elapsed >= seconds:
                break
    finally:
        bar.close()
        if model is not None:
            model.eval()
    return history


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
              precision: str = "float32", channels_last: bool = False, gather: bool = False) -> Callable:
    """A step function for :func:`fit` that trains ``model`` with MoCo (He et al., 2020).

    For a batch of indices it draws two views of each image; the queries come
    from ``model`` and the keys from ``key_model``, a momentum copy of it that
    is moved towards ``model`` before the keys are computed
    (:func:`~sslbook.models.momentum_update`). The loss is
    :func:`~sslbook.losses.moco_loss` against the keys in ``queue`` (a
    :class:`~sslbook.models.FeatureQueue`), which then receives this batch's keys.
    The very first batch has no earlier keys: its own keys fill the queue first.
    ``monitor(q, k)`` records more numbers, as in :func:`pair_step`. Under ``torch.distributed``
    with ``gather``, the queue receives the keys of every process (MoCo's shuffled keys across
    GPUs, without the shuffle: each process's BatchNorm sees only its own keys).
    """
    temperature = losses.temperature_of("moco", temperature)
    _validate.in_range("momentum", momentum, 0, 1)

    def step(idx: torch.Tensor):
        v1, v2 = views.pair(images[idx], generator)
        q = forward(model, v1, precision, channels_last)
        with torch.no_grad():
            models.momentum_update(model, key_model, momentum)
            k = forward(key_model, v2, precision, channels_last)
            every_k = distributed.gather_no_grad(k) if gather else k
        if len(queue) == 0:
            queue.enqueue(every_k)
        loss = losses.moco_loss(q, k, queue.features, temperature)
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


def margin_toy(margin: float, steps: int = 60, n_per_class: int = 8, classes: int = 3, lr: float = 3.0,
               seed: int = 0):
    """Train free 2-D points of ``classes`` groups with the margin contrastive loss.

    Every pair of points is used: same group = similar, different group =
    dissimilar. Returns ``(start, end, labels, losses)``; the points are the
    parameters, so the result shows what the loss alone does to an embedding.
    """
    _validate.positive("margin", margin, allow_zero=True)
    _validate.positive_int("steps", steps)
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    start = 0.3 * torch.randn(len(labels), 2, generator=g)
    points = start.clone().requires_grad_(True)
    i, j = torch.triu_indices(len(labels), len(labels), offset=1)
    same = (labels[i] == labels[j]).float()
    history = fit(lambda _: losses.margin_contrastive(points[i], points[j], same, margin=margin),
                  iter(int, 1), torch.optim.SGD([points], lr=lr), steps=steps, progress=False)
    return start, points.detach(), labels, history.loss


@dataclass
class Pretrained:
    """What a pre-training recipe returns: the model (``model.encoder`` is the
    representation, ``model.head`` the projection head), the history and the record
    for a checkpoint."""

    model: nn.Module
    history: History
    meta: dict
