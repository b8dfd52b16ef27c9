"""One training loop, one step function per method, and checkpoints.

:func:`fit` runs a step function on batches until a budget of steps or seconds
is spent, shows a tqdm progress bar, and returns the history of the loss (and
of any other number the step reports). The step functions, one per method
(:func:`simclr_step`, :func:`moco_step`, ...), live in :mod:`sslbook.steps` and are
re-exported here. Checkpoints are in :mod:`sslbook.checkpoints`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import tqdm as _tqdm
from torch import nn
from tqdm.auto import tqdm

from . import _validate, config, losses
from .steps import (forward, masked_image_step, mlm_step, moco_step, pair_step,  # noqa: F401 (re-exported)
                    simclr_step, simsiam_step, supervised_step)


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


def adamw_one_cycle(params, lr: float, steps: int | None, weight_decay: float = 1e-4):
    """The book's optimiser: AdamW at peak ``lr`` with a one-cycle schedule over ``steps`` steps
    (Smith and Topin 2019: warm up, then anneal to nearly 0), or no schedule when ``steps`` is None
    (a run limited by time alone). Returns ``(optimizer, scheduler)``; hand both to :func:`fit`.
    A schedule is sized by steps, never by a guess of the time.

    >>> opt, sched = adamw_one_cycle(torch.nn.Linear(2, 2).parameters(), 1e-3, steps=10)
    >>> type(sched).__name__
    'OneCycleLR'
    """
    _validate.positive("lr", lr)
    if steps is not None:
        _validate.positive_int("steps", steps)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = None if steps is None else torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    return optimizer, scheduler


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
