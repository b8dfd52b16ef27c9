"""Datasets the chapters train on.

``load_digits`` wraps scikit-learn's bundled handwritten digits (1,797 images of
8 x 8 pixels, ten classes): real data that works offline, small enough for a
CPU minute of self-supervised training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import _validate


@dataclass(frozen=True)
class ImageDataset:
    """Images with labels and a fixed train/test split.

    Attributes
    ----------
    images : float tensor, N x C x H x W, values in [0, 1]
    labels : long tensor, N
    train_idx, test_idx : long tensors of indices into ``images``
    classes : the class names, ``classes[label]``
    """

    images: torch.Tensor
    labels: torch.Tensor
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    classes: tuple[str, ...]

    @property
    def x_train(self) -> torch.Tensor:
        return self.images[self.train_idx]

    @property
    def y_train(self) -> torch.Tensor:
        return self.labels[self.train_idx]

    @property
    def x_test(self) -> torch.Tensor:
        return self.images[self.test_idx]

    @property
    def y_test(self) -> torch.Tensor:
        return self.labels[self.test_idx]

    def __len__(self) -> int:
        return len(self.labels)


def stratified_split(labels, test_size: float = 0.3, seed: int = 0):
    """Indices of a stratified train/test split: each class keeps its share in both.

    >>> tr, te = stratified_split(torch.tensor([0, 0, 1, 1, 0, 1]), test_size=0.5)
    >>> len(tr), len(te)
    (3, 3)
    """
    _validate.in_range("test_size", test_size, 0, 1, low_open=True, high_open=True)
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    return torch.as_tensor(np.sort(train)), torch.as_tensor(np.sort(test))


def load_digits(test_size: float = 0.3, seed: int = 0) -> ImageDataset:
    """scikit-learn's handwritten digits as tensors, with a fixed stratified split.

    Returns an :class:`ImageDataset` with ``images`` of shape 1797 x 1 x 8 x 8
    in [0, 1] (the raw 0-16 grey levels divided by 16) and ``labels`` 0-9. The
    split is the same for the same ``test_size`` and ``seed``: 1,257 training and
    540 held-out images by default.

    >>> d = load_digits()
    >>> tuple(d.images.shape), len(d.train_idx), len(d.test_idx)
    ((1797, 1, 8, 8), 1257, 540)
    """
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed)
    classes = tuple(str(c) for c in bunch.target_names)
    return ImageDataset(images, labels, train_idx, test_idx, classes)


def few_labels(labels, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` examples drawn at random from every class.

    This is the labelled set of a few-label experiment: everything else is
    treated as unlabelled.

    >>> few_labels(torch.tensor([0, 1, 0, 1, 0, 1]), per_class=2).shape
    torch.Size([4])
    """
    _validate.positive_int("per_class", per_class)
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            raise ValueError(
                f"per_class must be at most the size of the smallest class "
                f"({len(members)} for class {c}), got {per_class}"
            )
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.sort(torch.cat(chosen)).values
