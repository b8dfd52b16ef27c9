"""Training recipes: the settings of each budget in one :class:`Recipe`, one
:func:`pretrain` for every self-supervised method, :func:`train_supervised` for
the baselines; the command line that makes the checkpoints the book ships
(``python -m sslbook.recipes``) is :mod:`sslbook.cli`.

One recipe per budget (:data:`RECIPES`): ``quick`` is a small CNN sized for a
2-core CPU, ``full`` is SimCLR's CIFAR ResNet-18 sized for a GPU; :data:`DIGITS`
is the recipe of the digits chapters. Chapters pass whole :class:`Recipe`
objects, never their fields one by one::

    python -m sslbook.recipes --out sslbook/weights     # the shipped, quick ones (checkpoints.shipped())
    SSLBOOK_BUDGET=full python -m sslbook.recipes --out ~/ckpt   # ResNet-18, on a GPU
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from . import _validate, augment, config, distributed, losses, models, precision
from .checkpoints import record
from .train import Pretrained, adamw_one_cycle, fit, moco_step, shuffled_batches, simclr_step, supervised_step

METHODS = ("simclr", "moco")
VIEWS = {"cifar": augment.cifar_views, "digits": augment.digit_views}


#: How a supervised baseline is optimised, and the settings a tuning may change per label count.
SUPERVISED_SCHEDULES = ("constant", "one-cycle")
SUPERVISED_KNOBS = {"supervised_lr", "supervised_schedule", "supervised_crop_scale"}


@dataclass(frozen=True)
class Recipe:
    """The settings of one training setup, gathered in one place.

    ``temperature`` overrides :data:`sslbook.losses.TEMPERATURES` per method
    (empty: the defaults there). ``views`` names the augmentation (:data:`VIEWS`).
    The supervised baselines start from the article's program (Adam at a constant ``supervised_lr``,
    crops of ``supervised_crop_scale`` and flips); ``supervised_schedule="one-cycle"`` gives them the
    pre-training's optimiser instead (AdamW, one-cycle, ``weight_decay``), and ``supervised_tuned`` holds
    the settings chosen per labels-per-class count on the validation split (:meth:`for_labels`).
    ``precision`` (:data:`sslbook.precision.PRECISIONS`; ``"auto"``: bfloat16 where the hardware
    computes it natively) and ``channels_last`` set how the network runs.
    """

    arch: str
    batch_size: int
    lr: float
    pretrain_steps: dict = field(default_factory=dict)    # method -> steps
    supervised_steps: dict = field(default_factory=dict)  # labels per class -> steps
    temperature: dict = field(default_factory=dict)       # method -> temperature, overriding the defaults
    views: str = "cifar"
    out_dim: int = 64
    weight_decay: float = 1e-4
    queue_size: int = 4096
    momentum: float = 0.99
    supervised_lr: float = 1e-3
    supervised_schedule: str = "constant"                 # "constant" (Adam) or "one-cycle" (AdamW)
    supervised_crop_scale: tuple = (0.08, 1.0)
    supervised_tuned: dict = field(default_factory=dict)  # labels per class -> changes, see for_labels
    crop_scale: tuple | None = None                       # None: the views' own (cifar_views: 0.08-1)
    precision: str = "float32"
    channels_last: bool = False

    def __post_init__(self):
        _validate.one_of("arch", self.arch, set(models.ARCHS))
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        _validate.one_of("views", self.views, set(VIEWS))
        _validate.positive_int("queue_size", self.queue_size)
        _validate.in_range("momentum", self.momentum, 0, 1)
        _validate.one_of("precision", self.precision, set(precision.PRECISIONS))
        _validate.positive("supervised_lr", self.supervised_lr)
        _validate.one_of("supervised_schedule", self.supervised_schedule, set(SUPERVISED_SCHEDULES))
        low = self.supervised_crop_scale[0] if len(self.supervised_crop_scale) == 2 else -1
        if not (0 < low <= self.supervised_crop_scale[1] <= 1):
            raise ValueError(f"supervised_crop_scale must be (low, high) with 0 < low <= high <= 1, "
                             f"got {self.supervised_crop_scale}")
        for count, changes in self.supervised_tuned.items():
            wrong = set(changes) - SUPERVISED_KNOBS
            if wrong:
                raise ValueError(f"supervised_tuned[{count}] may change only {sorted(SUPERVISED_KNOBS)}, "
                                 f"got {sorted(wrong)}")

    def temperature_for(self, method: str) -> float:
        """This recipe's temperature for ``method``: its override, else the default in ``losses``."""
        return losses.temperature_of(method, self.temperature.get(method))

    def for_labels(self, per_class: int) -> "Recipe":
        """This recipe with the supervised settings chosen for ``per_class`` labels per class
        (``supervised_tuned``; unchanged for a count that was not tuned)."""
        return self.replace(**self.supervised_tuned.get(per_class, {}))

    def replace(self, **changes) -> "Recipe":
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)


RECIPES = {
    # About 19 minutes each on a 2-core CPU, channels-last, bfloat16 where the CPU computes it natively.
    # SimCLR's crops and temperature, first picked on the *test* split in an earlier version, were
    # re-checked on the validation split by benchmarks/tune_cifar10.py (2 x 2 grid, seeds 0 and 1); the
    # supervised baselines had a comparable budget per label count (benchmarks/tune_supervised.py). Both
    # tables are recorded in the checkpoints (meta["chosen_by"]; --chosen-by, --supervised-chosen-by).
    "quick": Recipe(arch="small", batch_size=256, lr=3e-3,
                    pretrain_steps={"simclr": 3000, "moco": 4400},
                    supervised_steps={10: 300, 100: 600, 1000: 1500},
                    temperature={"simclr": 0.2}, crop_scale=(0.2, 1.0), precision="auto", channels_last=True,
                    supervised_tuned={c: {"supervised_schedule": "one-cycle", "supervised_lr": 3e-3,
                                          "supervised_crop_scale": (low, 1.0)} for c, low in ((10, 0.08), (100, 0.2), (1000, 0.2))}),
    # About 200 epochs (the field's usual CIFAR-10 budget) on a GPU.
    "full": Recipe(arch="resnet18", batch_size=512, lr=2e-3,
                   pretrain_steps={"simclr": 19500, "moco": 19500},
                   supervised_steps={10: 1000, 100: 3000, 1000: 10000, 5000: 20000},
                   precision="auto", channels_last=True),
}

#: The digits chapters' SimCLR: the 3-block CNN, batch 256, AdamW 3e-3, chapter 2's views
#: (each chapter chooses its number of steps).
DIGITS = Recipe(arch="digits", batch_size=256, lr=3e-3, views="digits")


def recipe(budget: str | None = None) -> Recipe:
    """The CIFAR-10 recipe of ``budget`` (by default :func:`sslbook.config.budget`)."""
    budget = config.budget() if budget is None else budget
    _validate.one_of("budget", budget, set(RECIPES))
    return RECIPES[budget]


#: The learning curve of a checkpoint made by :func:`main`: kNN measured this many times during
#: training (every ``steps // TRACK_POINTS`` steps), besides before the first step.
TRACK_POINTS = 8

_current = recipe  # pretrain's and train_supervised's parameter is also called recipe


def checkpoint_name(kind: str, arch: str) -> str:
    """File name of a checkpoint: ``cifar10-<arch>-<kind>.pt`` (kind ``simclr``,
    ``moco``, or ``supervised-<labels per class>``)."""
    _validate.one_of("arch", arch, set(models.ARCHS))
    return f"cifar10-{arch}-{kind}.pt"


def pretrain(encoder: nn.Module | str | Callable[[], nn.Module], images: torch.Tensor, method: str = "simclr",
             recipe: Recipe | None = None, *, views=None, steps: int | None = None,
             seconds: float | None = None, seed: int | None = None, progress: bool = True,
             track: Callable[[nn.Module], dict] | None = None, track_every: int | None = None) -> Pretrained:
    """Pre-train ``encoder`` in place on unlabelled ``images`` (N x C x H x W in [0, 1])
    with SimCLR or MoCo, following ``recipe`` (by default :func:`recipe`).

    ``encoder`` is a module, or an architecture name (:data:`sslbook.models.ARCHS`) or a
    function returning a module, built after seeding (so ``seed`` fixes its initial weights).
    ``seed`` (by default the book's seed ``sslbook.seed(0)``, which ``SSLBOOK_SEED`` shifts) also
    fixes the projection head, the order of the images and the views. A projection head
    (features -> ``recipe.out_dim``) sits on top during training. AdamW with a one-cycle
    learning rate over ``steps`` steps (by default the recipe's for ``method``); ``seconds``
    stops earlier, and ``seconds`` without ``steps`` trains for that long at a constant rate.
    ``views`` default to the recipe's. MoCo's key encoder is a momentum copy. The network runs
    in the recipe's precision (``meta["precision"]`` says which was used).

    Under ``torchrun`` (see :mod:`sslbook.distributed`) each process trains on its own device
    (``cuda:LOCAL_RANK`` on GPUs) with its share of every batch, wrapped in
    ``DistributedDataParallel`` so that the copies stay equal; the loss gathers every process's views.

    ``track(encoder)``, if given, measures the encoder (in evaluation mode, float32) before training,
    every ``track_every`` steps and at the end, returning a dict of numbers (e.g.
    :func:`knn_tracker`); ``meta["track"]`` keeps them with their steps, a learning curve.

    >>> run = pretrain("digits", torch.rand(64, 1, 8, 8), recipe=DIGITS.replace(batch_size=32),
    ...                steps=2, progress=False)
    >>> run.history.steps, run.meta["method"]
    (2, 'simclr')
    """
    recipe = _current() if recipe is None else recipe
    _validate.one_of("method", method, set(METHODS))
    _validate.tensor("images", images, ndim=4, floating=True)
    if steps is None and seconds is None:
        steps = recipe.pretrain_steps.get(method)
        if steps is None:
            raise ValueError(f"steps must be given: the recipe has steps only for {sorted(recipe.pretrain_steps)}")
    if steps is not None:
        _validate.positive_int("steps", steps)
    if track is not None and not callable(track):
        raise ValueError(f"track must be a function of the encoder, got {type(track).__name__}")
    if track_every is not None:
        _validate.positive_int("track_every", track_every)
    seed = config.or_seed(seed)
    temperature = recipe.temperature_for(method)
    dev = distributed.device()
    mode = precision.resolve(recipe.precision, dev)
    fast = {"precision": mode, "channels_last": recipe.channels_last}
    torch.manual_seed(seed)
    if isinstance(encoder, str):
        encoder = models.encoder(encoder)
    elif not isinstance(encoder, nn.Module):
        encoder = encoder()
    model = models.SimCLRModel(encoder, models.ProjectionHead(encoder.feature_dim, out_dim=recipe.out_dim)).to(dev)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = images.to(dev)
    # Under torch.distributed every process draws the same order (one seed) and takes its share
    # of each batch, draws its own views, and the loss sees every process's views.
    world, rank = distributed.world_size(), distributed.rank()
    g_idx = torch.Generator().manual_seed(seed)
    g_aug = torch.Generator(device=dev).manual_seed(seed + rank)
    if views is None:
        views = VIEWS[recipe.views](**({} if recipe.crop_scale is None else {"crop_scale": recipe.crop_scale}))
    trained = model
    model = distributed.wrap(model)                           # DDP under torchrun: gradients averaged
    optimizer, scheduler = adamw_one_cycle(model.parameters(), recipe.lr, steps, recipe.weight_decay)
    if method == "simclr":
        step = simclr_step(model, x, views, temperature, g_aug, gather=world > 1, **fast)
    else:
        key_model = copy.deepcopy(trained).requires_grad_(False)
        queue = models.FeatureQueue(recipe.queue_size, recipe.out_dim).to(dev)
        step = moco_step(model, key_model, queue, x, views, temperature, recipe.momentum, g_aug,
                         gather=world > 1, **fast)
    batch_size = min(recipe.batch_size, len(x))
    if batch_size % world:
        raise ValueError(f"the batch size ({batch_size}) must be divisible by the number of processes ({world})")
    share = batch_size // world
    batches = (i[rank * share:(rank + 1) * share].to(dev) for i in shuffled_batches(len(x), batch_size, g_idx))
    curve: dict = {}
    tracking = track is not None and rank == 0                # one process measures

    def measure(done: int, last: bool = False) -> None:
        if tracking and (last or done == 0 or (track_every and done % track_every == 0)):
            values = track(trained.encoder.eval())   # in float32: bfloat16 blurs an untrained encoder's features
            trained.train()
            for key, value in {"step": done, **values}.items():
                curve.setdefault(key, []).append(value)

    measure(0)
    history = fit(step, batches, optimizer, steps=steps, seconds=seconds, scheduler=scheduler, model=model,
                  progress=progress and rank == 0, desc=method, callback=measure if tracking else None)
    if tracking and curve["step"][-1] != history.steps:
        measure(history.steps, last=True)
    model = trained.cpu().eval().to(memory_format=torch.contiguous_format)
    meta = record(history, len(images), batch_size, method=method, lr=recipe.lr, temperature=temperature,
                  precision=mode, channels_last=recipe.channels_last,
                  **({"track": curve} if tracking else {}))
    return Pretrained(model, history, meta)


def knn_tracker(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor, query_y: torch.Tensor,
                k: int = 20, batch_size: int = 1024) -> Callable[[nn.Module], dict]:
    """A ``track`` for :func:`pretrain`: the kNN accuracy of an encoder's features, a majority
    vote of the ``k`` nearest ``train_x`` (cosine similarity) for each of ``query_x`` (the validation
    split while choosing, the test split once at the end); ties go to the smallest label. The same vote as
    :func:`sslbook.evaluate.knn_accuracy` (scikit-learn), in torch so that it runs during training.
    """
    _validate.positive_int("k", k)
    if k > len(train_x):
        raise ValueError(f"k must be at most the number of training images ({len(train_x)}), got {k}")

    @torch.no_grad()
    def track(encoder: nn.Module) -> dict:
        dev = next(encoder.parameters()).device
        h = [torch.cat([encoder(x[i:i + batch_size].to(dev)).float() for i in range(0, len(x), batch_size)])
             for x in (train_x, query_x)]
        return {f"knn{k}": knn_vote(h[0], train_y, h[1], query_y, k=k)}

    return track


@torch.no_grad()
def knn_vote(train_h: torch.Tensor, train_y: torch.Tensor, query_h: torch.Tensor, query_y: torch.Tensor,
             k: int = 20) -> float:
    """The vote of :func:`knn_tracker` on features already computed (N x D, rounded to 4 decimals):
    the majority label of the ``k`` most cosine-similar ``train_h``, ties to the smallest label."""
    _validate.positive_int("k", k)
    if k > len(train_h):
        raise ValueError(f"k must be at most the number of training features ({len(train_h)}), got {k}")
    dev = train_h.device
    h = [nn.functional.normalize(t.float(), dim=1) for t in (train_h, query_h.to(dev))]
    nearest = (h[1] @ h[0].T).topk(k, dim=1).indices
    votes = nn.functional.one_hot(train_y.to(dev)[nearest], int(train_y.max()) + 1).sum(dim=1)
    return round(float((votes.argmax(dim=1).cpu() == query_y.cpu()).float().mean()), 4)


def train_supervised(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     recipe: Recipe | None = None, *, steps: int, seconds: float | None = None,
                     seed: int | None = None, progress: bool = True) -> dict:
    """Train a classifier (see :func:`sslbook.models.classifier`) in place with
    cross-entropy, random resized crops of ``recipe.supervised_crop_scale`` and flips: Adam at a
    constant ``recipe.supervised_lr`` (the article's program), or AdamW one-cycle when
    ``recipe.supervised_schedule`` says so (pass ``recipe.for_labels(n)`` for the settings chosen per count) at the images' native size (N x C x H x W in [0, 1], labels N),
    batches of ``recipe.batch_size``. ``seed`` (by default the book's seed ``sslbook.seed(0)``,
    which ``SSLBOOK_SEED`` shifts) fixes the order of the images and the crops. Returns the record
    for a checkpoint. No ``DistributedDataParallel`` here: under ``torchrun`` each process trains its own copy
    on its own device (:func:`sslbook.distributed.device`), and :func:`main` saves rank 0's.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> train_supervised(net, torch.rand(16, 1, 8, 8), torch.arange(16) % 2, DIGITS.replace(batch_size=8),
    ...                  steps=2, progress=False)["steps"]
    2
    """
    recipe = _current() if recipe is None else recipe
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("steps", steps)
    seed = config.or_seed(seed)
    dev = distributed.device()
    torch.manual_seed(seed)
    model.to(dev)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    mode = precision.resolve(recipe.precision, dev)
    batch_size = min(recipe.batch_size, len(images))
    crop_flip = augment.RandomViews(rotation=0, crop_scale=tuple(recipe.supervised_crop_scale),
                                    crop_ratio=(3 / 4, 4 / 3), flip=True)
    g_idx = torch.Generator().manual_seed(seed)
    g_aug = torch.Generator(device=dev).manual_seed(seed)
    if recipe.supervised_schedule == "one-cycle":
        optimizer, scheduler = adamw_one_cycle(model.parameters(), recipe.supervised_lr, steps, recipe.weight_decay)
    else:
        optimizer, scheduler = torch.optim.Adam(model.parameters(), lr=recipe.supervised_lr), None
    step = supervised_step(model, images.to(dev), labels.to(dev), crop_flip, g_aug, mode, recipe.channels_last)
    history = fit(step, (i.to(dev) for i in shuffled_batches(len(images), batch_size, g_idx)), optimizer,
                  steps=steps, seconds=seconds, scheduler=scheduler, model=model, progress=progress,
                  desc="supervised")
    model.cpu().eval().to(memory_format=torch.contiguous_format)
    return record(history, len(images), batch_size, method="supervised", lr=recipe.supervised_lr,
                  schedule=recipe.supervised_schedule, crop_scale=list(recipe.supervised_crop_scale), precision=mode, channels_last=recipe.channels_last)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The classifier ``model``'s label for each of ``images`` (N x C x H x W floats in [0, 1]): N integers."""
    _validate.tensor("images", images, ndim=4, floating=True)
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch_size].to(dev)).argmax(1).cpu() for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    """The share of ``images`` (floats in [0, 1]) that the classifier ``model`` labels right, to 4 decimals."""
    if len(labels) != len(images):
        raise ValueError(f"labels must have one entry per image ({len(images)}), got {len(labels)}")
    return round(int((predict(model, images, batch_size) == labels).sum()) / len(images), 4)


if __name__ == "__main__":  # pragma: no cover  (python -m sslbook.recipes: the command line of sslbook.cli)
    from .cli import main
    raise SystemExit(main())
