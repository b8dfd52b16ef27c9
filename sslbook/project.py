"""The CIFAR-10 project of chapter 5: encoders, training recipes, and the
command line that makes the checkpoints the book ships.

One recipe per budget (:data:`RECIPES`): ``quick`` is a small CNN sized for a
2-core CPU, ``full`` is SimCLR's CIFAR ResNet-18 sized for a GPU. The chapter
calls :func:`pretrain` and :func:`train_supervised` through
:func:`sslbook.train.train_or_load`; this module's command line runs the same
functions and writes the checkpoints with what it took to make them::

    python -m sslbook.project --out chapters/checkpoints            # the shipped, quick ones
    SSLBOOK_BUDGET=full python -m sslbook.project --out ~/ckpt     # ResNet-18, on a GPU
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import _validate

ARCHS = ("small", "resnet18")
METHODS = ("simclr", "moco")


def encoder(arch: str = "small") -> nn.Module:
    """The encoder of a budget: ``"small"`` (a 4-block :class:`~sslbook.models.SmallCNN`,
    256 features, about 0.45 M parameters) or ``"resnet18"`` (SimCLR's CIFAR
    ResNet-18, 512 features, about 11 M parameters). Input N x 3 x 32 x 32.

    >>> encoder("small")(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 256])
    """
    from .models import SmallCNN, cifar_resnet18

    _validate.one_of("arch", arch, set(ARCHS))
    if arch == "small":
        return SmallCNN(3, widths=(32, 64, 128, 256), feature_dim=256)
    return cifar_resnet18()


def classifier(arch: str = "small", num_classes: int = 10) -> nn.Sequential:
    """The same encoder with a linear classifier on top, for supervised training
    from scratch: ``classifier(arch)[0]`` is the encoder.

    >>> classifier("small")(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    _validate.positive_int("num_classes", num_classes, minimum=2)
    enc = encoder(arch)
    return nn.Sequential(enc, nn.Linear(enc.feature_dim, num_classes))


@dataclass(frozen=True)
class Recipe:
    """The settings of one budget, gathered in one place."""

    arch: str
    batch_size: int
    lr: float
    pretrain_steps: dict = field(default_factory=dict)    # method -> steps
    supervised_steps: dict = field(default_factory=dict)  # labels per class -> steps
    temperature: dict = field(default_factory=lambda: {"simclr": 0.5, "moco": 0.2})
    queue_size: int = 4096
    momentum: float = 0.99


RECIPES = {
    # About 12 epochs of SimCLR and 8 of MoCo over the 50,000 training images; on
    # a 2-core CPU about 25 and 20 minutes.
    "quick": Recipe(arch="small", batch_size=256, lr=3e-3,
                    pretrain_steps={"simclr": 2400, "moco": 1600},
                    supervised_steps={10: 300, 100: 600, 1000: 1500}),
    # About 200 epochs (the field's usual CIFAR-10 budget) on a GPU.
    "full": Recipe(arch="resnet18", batch_size=512, lr=2e-3,
                   pretrain_steps={"simclr": 19500, "moco": 19500},
                   supervised_steps={10: 1000, 100: 3000, 1000: 10000, 5000: 20000}),
}


def recipe(budget: str | None = None) -> Recipe:
    """The recipe of ``budget`` (by default :func:`sslbook.budget`)."""
    from . import budget as current

    budget = current() if budget is None else budget
    _validate.one_of("budget", budget, set(RECIPES))
    return RECIPES[budget]


def checkpoint_name(kind: str, arch: str) -> str:
    """File name of a checkpoint: ``cifar10-<arch>-<kind>.pt`` (kind ``simclr``,
    ``moco``, or ``supervised-<labels per class>``)."""
    _validate.one_of("arch", arch, set(ARCHS))
    return f"cifar10-{arch}-{kind}.pt"


def _machine() -> str:
    dev = "cuda: " + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, {dev}"


def _meta(history, **extra) -> dict:
    return {"steps": history.steps, "seconds": round(history.elapsed, 1),
            "loss": [round(v, 4) for v in history.loss], "machine": _machine(),
            "torch": str(torch.__version__), "date": datetime.date.today().isoformat(), **extra}


def pretrain(model_encoder: nn.Module, images: torch.Tensor, method: str = "simclr", *, steps: int,
             batch_size: int = 256, lr: float = 3e-3, temperature: float | None = None,
             queue_size: int = 4096, momentum: float = 0.99, seconds: float | None = None,
             seed: int = 0, progress: bool = True) -> dict:
    """Pre-train ``model_encoder`` in place on unlabelled ``images`` (N x 3 x H x W in
    [0, 1]) with SimCLR or MoCo and SimCLR's CIFAR views; return the meta for a checkpoint.

    A projection head (256 -> 64) sits on top during training and is dropped
    afterwards. AdamW with a one-cycle learning rate over ``steps`` steps;
    ``seconds`` stops earlier if given. MoCo's key encoder is a momentum copy.
    """
    import copy

    from . import device
    from .augment import cifar_views
    from .models import FeatureQueue, ProjectionHead, SimCLRModel
    from .train import fit, moco_step, shuffled_batches, simclr_step

    _validate.one_of("method", method, set(METHODS))
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size)
    _validate.positive("lr", lr)
    temperature = {"simclr": 0.5, "moco": 0.2}[method] if temperature is None else temperature
    dev = device()
    torch.manual_seed(seed)
    model = SimCLRModel(model_encoder, ProjectionHead(model_encoder.feature_dim, out_dim=64)).to(dev)
    x = images.to(dev)
    g_idx = torch.Generator().manual_seed(seed)
    g_aug = torch.Generator(device=dev).manual_seed(seed)
    views = cifar_views()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    if method == "simclr":
        step = simclr_step(model, x, views, temperature, g_aug)
    else:
        key_model = copy.deepcopy(model).requires_grad_(False)
        queue = FeatureQueue(queue_size, 64)
        step = moco_step(model, key_model, queue, x, views, temperature, momentum, g_aug)
    history = fit(step, (i.to(dev) for i in shuffled_batches(len(x), batch_size, g_idx)), optimizer,
                  steps=steps, seconds=seconds, scheduler=scheduler, model=model,
                  progress=progress, desc=method)
    model_encoder.cpu().eval()
    return _meta(history, method=method, batch_size=batch_size, lr=lr, temperature=temperature,
                 images=len(images), epochs=round(history.steps * batch_size / len(images), 2))


def train_supervised(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int,
                     batch_size: int = 256, lr: float = 1e-3, seconds: float | None = None,
                     seed: int = 0, progress: bool = True) -> dict:
    """Train a classifier (see :func:`classifier`) in place with cross-entropy:
    the article's supervised program (Adam, learning rate 1e-3, random resized
    crop and flip) at CIFAR's native 32 x 32. Returns the meta for a checkpoint.
    """
    from . import device
    from .augment import RandomViews
    from .train import fit, shuffled_batches, supervised_step

    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size)
    _validate.positive("lr", lr)
    dev = device()
    torch.manual_seed(seed)
    model.to(dev)
    batch_size = min(batch_size, len(images))
    crop_flip = RandomViews(rotation=0, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip=True)
    g_idx = torch.Generator().manual_seed(seed)
    g_aug = torch.Generator(device=dev).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = supervised_step(model, images.to(dev), labels.to(dev), crop_flip, g_aug)
    history = fit(step, (i.to(dev) for i in shuffled_batches(len(images), batch_size, g_idx)), optimizer,
                  steps=steps, seconds=seconds, model=model, progress=progress, desc="supervised")
    model.cpu().eval()
    return _meta(history, method="supervised", batch_size=batch_size, lr=lr, images=len(images),
                 epochs=round(history.steps * batch_size / len(images), 2))


class ArticleCNN(nn.Module):
    """The article's ``SimpleCNN`` (one 3 x 3 convolution to 16 channels, a 2 x 2
    max-pool, a hidden layer of 128 and 10 outputs), for an input of ``size`` x
    ``size`` pixels. Its first linear layer has 16 (size/2)^2 x 128 weights, so
    the input size decides most of its parameters.

    >>> ArticleCNN(32)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, size: int = 32):
        super().__init__()
        _validate.positive_int("size", size, minimum=2)
        if size % 2:
            raise ValueError(f"size must be even (the max-pool halves it), got {size}")
        self.size = size
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16 * (size // 2) ** 2, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.size, self.size):
            raise ValueError(f"x must be N x 3 x {self.size} x {self.size}, got shape {tuple(x.shape)}")
        return self.head(self.features(x))


def main(argv=None) -> int:
    """Train the checkpoints of the current budget and write them to ``--out``."""
    from . import budget, seed_everything
    from .data import cifar10, few_labels
    from .train import save_checkpoint

    parser = argparse.ArgumentParser(prog="python -m sslbook.project", description=main.__doc__)
    parser.add_argument("--out", required=True, help="folder for the .pt files")
    parser.add_argument("--only", nargs="*", default=None,
                        help="kinds to train, e.g. simclr moco supervised-10 (default: all of the recipe)")
    parser.add_argument("--root", default=None, help="CIFAR-10 image-folder tree or .tar.gz (else $SSLBOOK_CIFAR10)")
    args = parser.parse_args(argv)
    rec = recipe()
    command = "SSLBOOK_BUDGET=%s python -m sslbook.project %s" % (budget(), " ".join(sys.argv[1:] if argv is None else argv))
    seed_everything(0)
    x, y = cifar10("train", root=args.root)
    x = x.float() / 255
    kinds = [*rec.pretrain_steps, *(f"supervised-{c}" for c in rec.supervised_steps)]
    unknown = set(args.only or []) - set(kinds)
    if unknown:
        parser.error(f"--only: unknown kind(s) {sorted(unknown)}; this budget has {kinds}")
    out = Path(args.out)
    for kind in kinds if args.only is None else [k for k in kinds if k in args.only]:
        if kind in rec.pretrain_steps:
            model = encoder(rec.arch)
            meta = pretrain(model, x, kind, steps=rec.pretrain_steps[kind], batch_size=rec.batch_size, lr=rec.lr,
                            temperature=rec.temperature[kind], queue_size=rec.queue_size, momentum=rec.momentum)
        else:
            per_class = int(kind.split("-")[1])
            idx = few_labels(y, per_class, seed=0)
            model = classifier(rec.arch)
            meta = train_supervised(model, x[idx], y[idx], steps=rec.supervised_steps[per_class],
                                    batch_size=rec.batch_size)
            meta["labels_per_class"] = per_class
        meta.update(command=command, arch=rec.arch, budget=budget())
        path = out / checkpoint_name(kind, rec.arch)
        save_checkpoint(path, model, **meta)
        print(f"{path}: {meta['steps']} steps, {meta['epochs']} epochs, {meta['seconds']:.0f} s, "
              f"final loss {meta['loss'][-1]:.3f}", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
