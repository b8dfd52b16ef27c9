"""Checkpoints: a model's weights with the record of how it was made (command, steps,
seconds, machine, loss curve), loaded with ``torch.load(weights_only=True)``, which
refuses to run code from a file; :func:`train_or_load`, which trains only when
there is no checkpoint; and :func:`shipped`, the files the book ships.

The shipped checkpoints (chapter 5's CIFAR-10 encoders, chapter 6b's language model) are
package data of ``sslbook`` (``sslbook/weights/``): an installed package, a wheel or a
notebook alone in an empty folder (Colab) finds the same files as the repository does.
From the repository's root, ``SSLBOOK_BUDGET=quick python -m sslbook.recipes --out sslbook/weights``
remakes them where the chapters read them (with an editable install, ``sslbook/weights`` is the
package's folder; :func:`remake_command` names the command for one file).
"""

from __future__ import annotations

import datetime
import importlib.resources
import platform
from pathlib import Path
from typing import Callable

import torch


#: The folder of the shipped checkpoints inside the package.
WEIGHTS = "weights"


def remake_command(name: str, folder=None) -> str:
    """The command line that makes the shipped checkpoint ``name`` in ``folder`` (by default
    the package's own, :func:`shipped`): ``--only mlm`` for the language model, ``--only KIND``
    for ``cifar10-ARCH-KIND.pt``.

        >>> remake_command("pydocs-mlm.pt", "w")
        'SSLBOOK_BUDGET=quick python -m sslbook.recipes --out w --only mlm'
    """
    stem = Path(name).stem
    if stem == "pydocs-mlm":
        kind = "mlm"
    elif stem.startswith("cifar10-") and stem.count("-") >= 2:
        kind = stem.split("-", 2)[2]
    else:
        raise ValueError(f"name must be pydocs-mlm.pt or cifar10-ARCH-KIND.pt, got {name!r}")
    folder = _package_folder() if folder is None else folder
    return f"SSLBOOK_BUDGET=quick python -m sslbook.recipes --out {folder} --only {kind}"


def _package_folder() -> Path:
    return Path(str(importlib.resources.files("sslbook") / WEIGHTS))


def shipped(name: str | None = None) -> Path:
    """The shipped checkpoints: their folder inside the installed package (``name=None``)
    or the file ``name`` in it, e.g. ``"cifar10-small-simclr.pt"`` or ``"pydocs-mlm.pt"``.

    A missing file raises ``FileNotFoundError`` with the command that remakes it (a chapter
    never trains a short stand-in run in its place).

        >>> path = shipped("pydocs-mlm.pt")
        >>> path.name, path.parent == shipped()
        ('pydocs-mlm.pt', True)
    """
    folder = _package_folder()
    if name is None:
        if not folder.is_dir():
            raise FileNotFoundError(f"sslbook has no folder of checkpoints at {folder}: reinstall sslbook "
                                    f"from the repository (its wheel carries them), or remake them with "
                                    f"`SSLBOOK_BUDGET=quick python -m sslbook.recipes --out {folder}`")
        return folder
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name must be a file name such as 'cifar10-small-simclr.pt', got {name!r}")
    path = folder / name
    if not path.is_file():
        try:
            how = f"remake it with `{remake_command(name, folder)}`"
        except ValueError:
            how = "the book ships pydocs-mlm.pt and cifar10-small-KIND.pt files"
        raise FileNotFoundError(f"no shipped checkpoint {path}: reinstall sslbook from the repository "
                                f"(its wheel carries sslbook/weights/), or {how}")
    return path


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
