"""CIFAR-10 (Krizhevsky, 2009): an image-folder tree or an archive of one, torchvision's
checksummed download, a tensor cache, and a clearly labelled stand-in when none can be had.

The book must run without network and without the data: :func:`cifar10_or_stand_in`
falls back to :func:`coloured_digits` and says why.
"""

from __future__ import annotations

import hashlib
import socket
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torchvision.datasets import CIFAR10

from . import _validate, config
from .data import load_digits

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

#: The validation split (:func:`validation_split`): this many of CIFAR-10's 50,000 training images,
#: stratified (500 per class), drawn once with :data:`VALIDATION_SEED`. Every choice of a recipe is made
#: on them (settings, learning curves); they are never pre-trained on and never train a probe.
#: The seed is fixed, not shifted by ``SSLBOOK_SEED``: like the test split, the split is one draw.
VALIDATION_SIZE = 5000
VALIDATION_SEED = 0


def safe_extract(archive, destination) -> Path:
    """Extract a tar archive, refusing any member that would land outside ``destination``.

    Absolute paths, ``..`` components, links and device files are refused with a
    ``ValueError`` naming the member, before anything is written.
    """
    destination = Path(destination).resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            target = (destination / m.name).resolve()
            if not (m.isfile() or m.isdir()):
                raise ValueError(f"archive member {m.name!r} is a link or a special file; refusing to extract")
            if m.name.startswith("/") or (target != destination and destination not in target.parents):
                raise ValueError(f"archive member {m.name!r} would be written outside {destination}")
        destination.mkdir(parents=True, exist_ok=True)
        tar.extractall(destination, members=members)
    return destination


def _find_split_folder(root, split: str):
    root = Path(root)
    for candidate in (root / split, root / "cifar10" / split):
        if candidate.is_dir() and all((candidate / c).is_dir() for c in CIFAR10_CLASSES):
            return candidate
    return None


def _read_image_folder(folder):
    images, labels = [], []
    for label, name in enumerate(CIFAR10_CLASSES):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        for path in files:
            with Image.open(path) as im:
                images.append(np.asarray(im.convert("RGB").resize((32, 32)), dtype=np.uint8))
            labels.append(label)
    if not images:
        raise FileNotFoundError(f"no images found under {folder}/<class>/")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.long)


def _download_cifar10(split: str, cache, download: bool, timeout: float):
    """torchvision's checksummed download, or a FileNotFoundError that says what to do."""
    reason = "download=False"
    if download:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)
        try:
            ds = CIFAR10(str(cache / "torchvision"), train=(split == "train"), download=True)
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            return images, torch.tensor(ds.targets, dtype=torch.long)
        except Exception as exc:  # no network, a proxy, a failed checksum
            reason = f"the torchvision download failed ({type(exc).__name__}: {exc})"
        finally:
            socket.setdefaulttimeout(previous)
    raise FileNotFoundError(
        f"CIFAR-10 {split!r} is not available: {reason}. Either connect to the internet and call "
        "cifar10(download=True), which downloads it through torchvision, or point SSLBOOK_CIFAR10 "
        "(or root=) at an image-folder tree <root>/<split>/<class>/*.jpg or a .tar.gz of one.")


def cifar10(split: str = "train", root=None, download: bool = True, timeout: float = 20.0):
    """CIFAR-10 (Krizhevsky, 2009) as ``(images, labels)``: uint8 N x 3 x 32 x 32 and long N.

    Classes in the standard order, :data:`CIFAR10_CLASSES`. The data comes from,
    in order:

    1. an image-folder tree ``<root>/<split>/<class>/*`` (or ``<root>/cifar10/<split>/...``)
       at ``root`` or at the path in ``$SSLBOOK_CIFAR10``; either may also name a
       ``.tar.gz`` of such a tree, which is extracted (path-checked) into the cache;
    2. torchvision's checksummed download into ``config.cache_dir()/torchvision`` when
       ``download`` is true, giving up after ``timeout`` seconds without network;
    3. otherwise a ``FileNotFoundError`` that says how to provide the data.

    Decoded tensors are cached in ``config.cache_dir()``, so a second load takes a fraction of a second.
    """
    _validate.one_of("split", split, {"train", "test"})
    root = root if root is not None else config.cifar10_root()
    cache = config.cache_dir()
    if root is not None:
        root = Path(root).expanduser()
        if root.is_file() and root.name.endswith((".tar.gz", ".tgz", ".tar")):
            tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
            extracted = cache / f"extracted-{tag}"
            if _find_split_folder(extracted, split) is None:
                safe_extract(root, extracted)
            root = extracted
        folder = _find_split_folder(root, split)
        if folder is None:
            raise FileNotFoundError(
                f"root {str(root)!r} has no CIFAR-10 tree: expected {root}/{split}/<class>/ with the ten "
                f"classes {', '.join(CIFAR10_CLASSES)}")
        tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
        cached = cache / f"cifar10-{split}-{tag}.pt"

        def load():
            return _read_image_folder(folder)
    else:
        cached = cache / f"cifar10-{split}-torchvision.pt"

        def load():
            return _download_cifar10(split, cache, download, timeout)
    if cached.exists():
        saved = torch.load(cached, weights_only=True)
        return saved["images"], saved["labels"]
    images, labels = load()
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"images": images, "labels": labels}, cached)
    return images, labels


def validation_split(labels, size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED):
    """Indices ``(fit, val)`` of the training split's labels: ``val`` is a stratified draw of
    ``size`` images (each class keeps its share), ``fit`` the rest, both sorted. Pre-training and
    probes use ``fit``; every choice is made on ``val``; the test split is scored once, at the end.

    >>> fit, val = validation_split(torch.arange(100) % 10, size=20)
    >>> len(fit), len(val), torch.bincount(torch.arange(100)[val] % 10).tolist()
    (80, 20, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    """
    labels = torch.as_tensor(labels)
    _validate.positive_int("size", size)
    classes = int(labels.unique().numel())
    if not classes <= size <= len(labels) - classes:
        raise ValueError(f"size must leave every one of the {classes} classes in both parts: between "
                         f"{classes} and {len(labels) - classes} for {len(labels)} labels, got {size}")
    idx = np.arange(len(labels))
    fit, val = train_test_split(idx, test_size=size, stratify=labels.numpy(), random_state=config.or_seed(seed))
    return torch.as_tensor(np.sort(fit)), torch.as_tensor(np.sort(val))


def cifar10_validation(root=None, size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED):
    """CIFAR-10's training split as ``(x_fit, y_fit), (x_val, y_val)`` (uint8 images, long labels):
    :func:`validation_split` of :func:`cifar10` ``("train")``. It never reads the test split, so a
    tuning loop built on it cannot see a test image."""
    x, y = cifar10("train", root)
    fit, val = validation_split(y, size, seed)
    return (x[fit], y[fit]), (x[val], y[val])


@dataclass(frozen=True)
class Splits:
    """A train and a test split of images, with what they are.

    ``x_*`` float N x C x H x W in [0, 1], ``y_*`` long N; ``stand_in`` is true when
    the data is not what was asked for, and ``reason`` says why.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    name: str
    stand_in: bool = False
    reason: str = ""


def coloured_digits(size: int = 32, seed: int | None = None) -> Splits:
    """A small stand-in for CIFAR-10 that needs no download: scikit-learn's digits,
    upsampled to ``size`` x ``size``, each drawn in a random colour on a random
    background colour (3 channels). Ten classes, 1,257 training and 540 test images.

    >>> d = coloured_digits(); tuple(d.x_train.shape[1:]), len(d.x_test)
    ((3, 32, 32), 540)
    """
    _validate.positive_int("size", size, minimum=8)
    digits = load_digits(seed=seed)
    g = torch.Generator().manual_seed(config.or_seed(seed))
    grey = torch.nn.functional.interpolate(digits.images, size=(size, size), mode="bilinear", align_corners=False)
    ink, paper = torch.rand(2, len(grey), 3, 1, 1, generator=g)
    images = (grey * ink + (1 - grey) * paper).clamp(0, 1)
    return Splits(images[digits.train_idx], digits.y_train, images[digits.test_idx], digits.y_test,
                  digits.classes, f"coloured digits at {size} x {size}")


def cifar10_or_stand_in(root=None, download: bool | None = None, timeout: float = 20.0) -> Splits:
    """CIFAR-10's train and test splits as floats in [0, 1] (see :func:`cifar10`), or,
    when CIFAR-10 cannot be had, :func:`coloured_digits` with ``stand_in=True``
    and the reason, so that a chapter can say so and still run.

    ``download`` defaults to true unless the environment sets ``SSLBOOK_OFFLINE=1``.
    """
    if download is None:
        download = not config.offline()
    try:
        x_train, y_train = cifar10("train", root, download, timeout)
        x_test, y_test = cifar10("test", root, download, timeout)
    except FileNotFoundError as err:
        d = coloured_digits()
        return Splits(d.x_train, d.y_train, d.x_test, d.y_test, d.classes,
                      f"STAND-IN, not CIFAR-10: {d.name}", stand_in=True, reason=str(err))
    return Splits(x_train.float() / 255, y_train, x_test.float() / 255, y_test, CIFAR10_CLASSES, "CIFAR-10")
