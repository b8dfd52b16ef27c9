"""Checkpoints: a model's weights with the record of how it was made (command, steps,
seconds, machine, loss curve), loaded with ``torch.load(weights_only=True)``, which
refuses to run code from a file; and :func:`train_or_load`, which trains only when
there is no checkpoint.
"""

from __future__ import annotations

import datetime
import platform
from pathlib import Path
from typing import Callable

import torch


def save_checkpoint(path, model: torch.nn.Module, **meta) -> None:
    """Save ``model``'s weights with ``meta`` (numbers, strings, lists: what
    ``torch.load(weights_only=True)`` accepts) to ``path``, creating its folder.

    A meta value of another type raises ``ValueError`` here, rather than making a
    file that :func:`load_checkpoint` would later refuse.
    """
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


def machine() -> str:
    """A line naming this machine for a checkpoint's record."""
    dev = "cuda: " + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, {dev}"


def record(history, images: int, batch_size: int, **extra) -> dict:
    """The record of a training run (a :class:`~sslbook.train.History`) for a checkpoint:
    steps, seconds, the loss curve, epochs over ``images`` samples, the machine and the date."""
    return {"steps": history.steps, "seconds": round(history.elapsed, 1),
            "loss": [round(v, 4) for v in history.loss], "machine": machine(),
            "torch": str(torch.__version__), "date": datetime.date.today().isoformat(),
            "batch_size": batch_size, "images": images,
            "epochs": round(history.steps * batch_size / images, 2), **extra}
