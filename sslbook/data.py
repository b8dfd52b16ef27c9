"""Datasets that need no download, and the few-label draws of every experiment.

``load_digits`` wraps scikit-learn's bundled handwritten digits (1,797 images of
8 x 8 pixels, ten classes): real data that works offline, small enough for a
CPU minute of self-supervised training. ``make_corpus`` and ``make_shapes``
generate data whose hidden factors are known. CIFAR-10 lives in :mod:`sslbook.cifar`.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import cbook
from sklearn.datasets import load_breast_cancer as _sklearn_breast_cancer
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.model_selection import train_test_split

from . import _validate, config


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


def stratified_split(labels, test_size: float = 0.3, seed: int | None = None):
    """Indices of a stratified train/test split: each class keeps its share in both.

    >>> tr, te = stratified_split(torch.tensor([0, 0, 1, 1, 0, 1]), test_size=0.5)
    >>> len(tr), len(te)
    (3, 3)
    """
    _validate.in_range("test_size", test_size, 0, 1, low_open=True, high_open=True)
    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=test_size, stratify=labels, random_state=config.or_seed(seed))
    return torch.as_tensor(np.sort(train)), torch.as_tensor(np.sort(test))


def load_digits(test_size: float = 0.3, seed: int | None = None) -> ImageDataset:
    """scikit-learn's handwritten digits as tensors, with a fixed stratified split.

    Returns an :class:`ImageDataset` with ``images`` of shape 1797 x 1 x 8 x 8
    in [0, 1] (the raw 0-16 grey levels divided by 16) and ``labels`` 0-9. The
    split is the same for the same ``test_size`` and ``seed`` (None: the book's seed,
    :func:`sslbook.seed`): 1,257 training and
    540 held-out images by default.

    >>> d = load_digits()
    >>> tuple(d.images.shape), len(d.train_idx), len(d.test_idx)
    ((1797, 1, 8, 8), 1257, 540)
    """
    bunch = _sklearn_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed)
    classes = tuple(str(c) for c in bunch.target_names)
    return ImageDataset(images, labels, train_idx, test_idx, classes)


def as_colour_images(images: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Grey images N x 1 x H x W as N x 3 x ``size`` x ``size`` (bilinear resize, the grey
    level in all three channels): digits in the shape of a CIFAR-10 image.

    >>> tuple(as_colour_images(torch.rand(2, 1, 8, 8)).shape)
    (2, 3, 32, 32)
    """
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("size", size)
    if images.shape[1] != 1:
        raise ValueError(f"images must have 1 channel, got {images.shape[1]}")
    resized = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return resized.clamp(0, 1).repeat(1, 3, 1, 1)


def few_labels(labels, per_class: int, seed: int | None = None) -> torch.Tensor:
    """Indices of ``per_class`` examples drawn at random from every class.

    This is the labelled set of a few-label experiment: everything else is
    treated as unlabelled.

    >>> few_labels(torch.tensor([0, 1, 0, 1, 0, 1]), per_class=2).shape
    torch.Size([4])
    """
    _validate.positive_int("per_class", per_class)
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(config.or_seed(seed))
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


# --- A generated corpus whose words belong to hidden categories ---------------

CORPUS_CATEGORIES = {
    "animal": ["cat", "dog", "horse", "cow", "sheep", "goat", "rabbit", "mouse"],
    "food": ["bread", "rice", "apple", "cheese", "soup", "cake", "noodles", "pear"],
    "place": ["park", "school", "market", "river", "garden", "kitchen", "village", "station"],
    "colour": ["red", "green", "blue", "yellow", "black", "white", "purple", "orange"],
    "person": ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"],
    "vehicle": ["car", "bus", "train", "bike", "boat", "truck", "tram", "van"],
}

CORPUS_TEMPLATES = [
    "the {animal} eats the {food} in the {place}",
    "{person} rides the {colour} {vehicle} to the {place}",
    "{person} sees a {colour} {animal} near the {place}",
    "{person} likes {food} and {food}",
    "the {vehicle} near the {place} is {colour}",
    "{person} and {person} walk to the {place}",
    "a {colour} {animal} sleeps in the {vehicle}",
    "{person} cooks {food} for the {animal}",
]


@dataclass(frozen=True)
class Corpus:
    """Token ids of generated sentences and what the tokens mean.

    ``ids`` is N x L (padded with ``pad_id`` = 0); ``vocab[i]`` is the word of id
    i; ``category[i]`` is the hidden category of word i (``"function"`` for
    words such as "the"); ``categories`` lists the content categories.
    """

    ids: torch.Tensor
    vocab: tuple[str, ...]
    category: tuple[str, ...]
    categories: tuple[str, ...]
    pad_id: int = 0

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def content_ids(self) -> torch.Tensor:
        """Ids of the words that belong to a content category."""
        return torch.tensor([i for i, c in enumerate(self.category) if c in self.categories])

    def content_labels(self) -> torch.Tensor:
        """The category index of every content word, aligned with :meth:`content_ids`."""
        return torch.tensor([self.categories.index(self.category[i]) for i in self.content_ids().tolist()])

    def decode(self, ids) -> str:
        return " ".join(self.vocab[i] for i in torch.as_tensor(ids).tolist() if i != self.pad_id)


def make_corpus(n_sentences: int = 4000, seed: int | None = None) -> Corpus:
    """Sentences from fixed templates whose slots take words of hidden categories.

    Words of one category are used in the same contexts, so a model that predicts
    masked words from context can learn the categories without being told them.
    """
    _validate.positive_int("n_sentences", n_sentences)
    function_words = sorted({w for t in CORPUS_TEMPLATES for w in t.split() if not w.startswith("{")})
    vocab = ["[PAD]"] + function_words
    category = ["special"] + ["function"] * len(function_words)
    for name, words in CORPUS_CATEGORIES.items():
        vocab += words
        category += [name] * len(words)
    index = {w: i for i, w in enumerate(vocab)}
    rng = random.Random(config.or_seed(seed))
    sentences = []
    for _ in range(n_sentences):
        template = rng.choice(CORPUS_TEMPLATES)
        words = [rng.choice(CORPUS_CATEGORIES[w[1:-1]]) if w.startswith("{") else w for w in template.split()]
        sentences.append([index[w] for w in words])
    length = max(len(s) for s in sentences)
    ids = torch.zeros(n_sentences, length, dtype=torch.long)
    for i, s in enumerate(sentences):
        ids[i, : len(s)] = torch.tensor(s)
    return Corpus(ids, tuple(vocab), tuple(category), tuple(CORPUS_CATEGORIES))


# --- Generated shapes: shape, colour and position vary independently ---------

SHAPES = ("circle", "square", "triangle", "cross")
#: Four colours a quarter of the hue circle apart, at full saturation and value.
COLOURS = {"red": (1.0, 0.0, 0.0), "lime": (0.5, 1.0, 0.0), "cyan": (0.0, 1.0, 1.0), "violet": (0.5, 0.0, 1.0)}


@dataclass(frozen=True)
class Shapes:
    """Images of one coloured shape on black: N x 3 x S x S in [0, 1], with both factors as labels."""

    images: torch.Tensor
    shape: torch.Tensor
    colour: torch.Tensor
    shape_names: tuple[str, ...] = SHAPES
    colour_names: tuple[str, ...] = tuple(COLOURS)


def make_shapes(n: int = 2000, size: int = 16, seed: int | None = None) -> Shapes:
    """``n`` images of a circle, square, triangle or cross in one of four colours,
    with random size and position; shape, colour and position are independent.

    >>> s = make_shapes(8, size=16)
    >>> tuple(s.images.shape), s.shape.max().item() < 4, s.colour.max().item() < 4
    ((8, 3, 16, 16), True, True)
    """
    _validate.positive_int("n", n)
    _validate.positive_int("size", size, minimum=8)
    g = torch.Generator().manual_seed(config.or_seed(seed))
    shape = torch.randint(len(SHAPES), (n,), generator=g)
    colour = torch.randint(len(COLOURS), (n,), generator=g)
    radius = (0.22 + 0.12 * torch.rand(n, generator=g)) * size
    cx = radius + torch.rand(n, generator=g) * (size - 2 * radius)
    cy = radius + torch.rand(n, generator=g) * (size - 2 * radius)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    yy, xx = coords.view(1, size, 1), coords.view(1, 1, size)
    dx, dy = (xx - cx.view(n, 1, 1)) / radius.view(n, 1, 1), (yy - cy.view(n, 1, 1)) / radius.view(n, 1, 1)
    masks = torch.stack([
        dx ** 2 + dy ** 2 <= 1.0,                                                # circle
        (dx.abs() <= 0.8) & (dy.abs() <= 0.8),                                   # square
        (dy <= 0.8) & (dy >= -1.0 + 2 * dx.abs()),                               # triangle, apex up
        ((dx.abs() <= 0.3) & (dy.abs() <= 1.0)) | ((dy.abs() <= 0.3) & (dx.abs() <= 1.0)),  # cross
    ], dim=1)                                                                    # N x 4 x S x S
    mask = masks[torch.arange(n), shape].float()
    rgb = torch.tensor(list(COLOURS.values()))[colour]                          # N x 3
    images = mask.unsqueeze(1) * rgb.view(n, 3, 1, 1)
    return Shapes(images, shape, colour)


# --- Medicine: data that ships inside installed packages ----------------------

@dataclass(frozen=True)
class Tabular:
    """Rows of features with labels and a fixed split. ``x`` is standardised with the
    mean and standard deviation of the training rows only."""

    x: torch.Tensor
    labels: torch.Tensor
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]


def load_breast_cancer(test_size: float = 0.3, seed: int | None = None) -> Tabular:
    """The Wisconsin diagnostic breast cancer data shipped with scikit-learn (Street et
    al., 1993): 569 patients, 30 measurements of cell nuclei in a fine-needle aspirate,
    diagnosis malignant (0) or benign (1). Fixed stratified split: 398 / 171 by default.

    >>> d = load_breast_cancer(); tuple(d.x.shape), len(d.train_idx)
    ((569, 30), 398)
    """
    bunch = _sklearn_breast_cancer()
    x = torch.tensor(bunch.data, dtype=torch.float32)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed)
    mean, std = x[train_idx].mean(0), x[train_idx].std(0)
    return Tabular((x - mean) / std, labels, train_idx, test_idx, tuple(str(f) for f in bunch.feature_names),
                   tuple(str(c) for c in bunch.target_names))


def mri_slice() -> torch.Tensor:
    """A real MRI slice of a human head shipped with matplotlib (``s1045.ima.gz``,
    256 x 256, 16-bit), as a 1 x 256 x 256 float tensor scaled to [0, 1].

    >>> tuple(mri_slice().shape)
    (1, 256, 256)
    """
    with gzip.open(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as f:
        raw = np.frombuffer(f.read(), np.uint16)
    if raw.size != 256 * 256:
        raise ValueError(f"matplotlib's s1045.ima.gz should hold 256 x 256 pixels, got {raw.size} values")
    image = torch.tensor(raw.reshape(256, 256).astype(np.float32))
    return (image / image.max()).unsqueeze(0)
