"""One training loop for every chapter.

:func:`fit` runs a step function on batches until a budget of steps or seconds
is spent, shows a tqdm progress bar, and returns the history of the loss (and
of any other number the step reports).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import tqdm as _tqdm
from tqdm.auto import tqdm

from . import _validate


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
        progress: bool = True, desc: str = "training") -> History:
    """Train until ``steps`` steps or ``seconds`` seconds are spent, whichever comes first.

    ``step_fn(batch)`` computes the loss of one batch and returns it, or a dict
    with the loss under ``"loss"`` and other numbers to record. ``fit`` then
    does ``zero_grad``, ``backward`` and ``optimizer.step()`` (and
    ``scheduler.step()`` if given). The progress bar shows unless ``progress``
    is false or the environment sets ``SSLBOOK_PROGRESS=0``. When ``model`` is given it is put in
    training mode first and in evaluation mode at the end.

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
    if model is not None:
        model.train()
    # tqdm's monitor thread would redraw the bar (a widget in Jupyter) from a
    # second thread; keep all drawing on the training thread.
    _tqdm.tqdm.monitor_interval = 0
    history = History()
    from . import show_progress

    bar = tqdm(total=steps, desc=desc, disable=not (progress and show_progress()), leave=False)
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
            if seconds is not None and elapsed >= seconds:
                break
    finally:
        bar.close()
        if model is not None:
            model.eval()
    return history


def simclr_step(model: torch.nn.Module, images: torch.Tensor, views, temperature: float = 0.5,
                generator: torch.Generator | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A step function for :func:`fit` that trains ``model`` with SimCLR.

    For a batch of indices into ``images`` it draws two random views of each
    image with ``views`` (a :class:`~sslbook.augment.RandomViews`), embeds both
    and returns :func:`~sslbook.losses.info_nce` of the pair.
    """
    from .losses import info_nce

    _validate.positive("temperature", temperature)

    def step(idx: torch.Tensor) -> torch.Tensor:
        x = images[idx]
        v1, v2 = views.pair(x, generator)
        z = model(torch.cat([v1, v2]))
        z1, z2 = z.chunk(2)
        return info_nce(z1, z2, temperature)

    return step


def pretrain_simclr(images: torch.Tensor, views, *, steps: int | None = None,
                    seconds: float | None = None, batch_size: int = 256, lr: float = 3e-3,
                    temperature: float = 0.5, feature_dim: int = 128, out_dim: int = 64,
                    seed: int = 0, progress: bool = True):
    """Chapter 2's SimCLR recipe in one call: returns ``(model, history)``.

    A :class:`~sslbook.models.SmallCNN` encoder and a projection head trained with
    :func:`simclr_step` by AdamW under a one-cycle learning rate (when ``steps``
    is given), on batches of ``batch_size`` images. ``model.encoder`` is the
    representation to evaluate.
    """
    from .models import ProjectionHead, SimCLRModel, SmallCNN

    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("batch_size", batch_size)
    _validate.positive("lr", lr)
    torch.manual_seed(seed)
    model = SimCLRModel(SmallCNN(images.shape[1], feature_dim=feature_dim),
                        ProjectionHead(feature_dim, out_dim=out_dim))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = None
    if steps is not None:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    history = fit(simclr_step(model, images, views, temperature, g),
                  shuffled_batches(len(images), batch_size, g), optimizer,
                  steps=steps, seconds=seconds, scheduler=scheduler, model=model,
                  progress=progress, desc="SimCLR")
    return model, history


def moco_step(model: torch.nn.Module, key_model: torch.nn.Module, queue, images: torch.Tensor, views,
              temperature: float = 0.2, momentum: float = 0.99,
              generator: torch.Generator | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A step function for :func:`fit` that trains ``model`` with MoCo (He et al., 2020).

    For a batch of indices it draws two views of each image; the queries come
    from ``model`` and the keys from ``key_model``, a momentum copy of it that
    is moved towards ``model`` before the keys are computed
    (:func:`~sslbook.models.momentum_update`). The loss is
    :func:`~sslbook.losses.moco_loss` against the keys in ``queue`` (a
    :class:`~sslbook.models.FeatureQueue`), which then receives this batch's keys.
    """
    from .losses import moco_loss
    from .models import momentum_update

    _validate.positive("temperature", temperature)
    _validate.in_range("momentum", momentum, 0, 1)

    def step(idx: torch.Tensor) -> torch.Tensor:
        v1, v2 = views.pair(images[idx], generator)
        q = model(v1)
        with torch.no_grad():
            momentum_update(model, key_model, momentum)
            k = key_model(v2)
        if len(queue) == 0:  # the very first batch has no earlier keys: use its own as negatives
            queue.enqueue(k)
        loss = moco_loss(q, k, queue.features, temperature)
        queue.enqueue(k)
        return loss

    return step


def supervised_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, views=None,
                    generator: torch.Generator | None = None) -> Callable[[torch.Tensor], dict]:
    """A step function for :func:`fit` that trains a classifier with cross-entropy.

    For a batch of indices it classifies ``views(images[idx])`` (or the images
    themselves when ``views`` is None) and returns the loss and the batch accuracy.
    """
    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and {len(labels)}")

    def step(idx: torch.Tensor) -> dict:
        x = images[idx] if views is None else views(images[idx], generator)
        logits = model(x)
        y = labels[idx].to(logits.device)
        loss = torch.nn.functional.cross_entropy(logits, y)
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean()}

    return step


def save_checkpoint(path, model: torch.nn.Module, **meta) -> None:
    """Save ``model``'s weights with ``meta`` (numbers, strings, lists: what
    ``torch.load(weights_only=True)`` accepts) to ``path``, creating its folder.

    A meta value of another type raises ``ValueError`` here, rather than making a
    file that :func:`load_checkpoint` would later refuse.
    """
    from pathlib import Path

    def plain(value) -> bool:
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return value is None or type(value) in (bool, int, float, str)

    for key, value in meta.items():
        if not plain(value):
            raise ValueError(f"meta[{key!r}] must be built of numbers, strings, lists and dicts "
                             f"(what weights_only loading accepts), got {type(value).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


def load_checkpoint(path, model: torch.nn.Module) -> dict:
    """Load weights saved by :func:`save_checkpoint` into ``model``; return the meta.

    Uses ``torch.load(..., weights_only=True)``, which refuses to run code from the
    file. Raises ``FileNotFoundError`` when there is no file and ``ValueError`` when
    the file is not a checkpoint of this architecture.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ValueError(f"{path} is not an sslbook checkpoint (no 'state_dict' entry)")
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"the checkpoint {path} does not fit this model: {err}") from None
    model.eval()
    return dict(blob.get("meta", {}))


def train_or_load(path, model: torch.nn.Module, train_fn: Callable[[torch.nn.Module], dict],
                  save: bool = True) -> dict:
    """Load ``model``'s weights from ``path`` if the file exists, else train it.

    ``train_fn(model)`` trains ``model`` in place and returns its meta (a dict
    such as ``{"steps": ..., "seconds": ...}``); the result is saved to ``path``
    when ``save`` is true. Returns the meta, with ``"source"`` set to
    ``"loaded"`` or ``"trained"``.
    """
    from pathlib import Path

    if path is not None and Path(path).is_file():
        meta = load_checkpoint(path, model)
        meta["source"] = "loaded"
        return meta
    meta = dict(train_fn(model))
    model.eval()
    if save and path is not None:
        save_checkpoint(path, model, **meta)
    meta["source"] = "trained"
    return meta
