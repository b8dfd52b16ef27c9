"""Generated scenes whose objects are known to the pixel: digits or shapes pasted on textured colour.

Each image is a background (a random colour with smooth, two-scale colour texture and fine pixel
noise) with one or a few objects pasted on it: scikit-learn's handwritten digits, upscaled, or the
shapes of :func:`sslbook.data.make_shapes`, each in a colour of its own. Because the generator
pastes the objects itself, it knows every object's pixels: the masks are exact, not annotations,
which is what a measure of *where a network looks* (chapter 3d's [CLS] attention, Caron et al.,
2021) needs. An object's pixels are replaced, not blended, so an image differs from its
background exactly where its mask is true.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import _validate, config, data

#: What can be pasted, and where the digits come from (scikit-learn's 1,797, or one side of
#: :func:`sslbook.data.load_digits`'s split, so that train and test scenes need not share a digit).
OBJECTS = ("digits", "shapes")
DIGIT_POOLS = ("all", "train", "test")


@dataclass(frozen=True)
class Scenes:
    """N generated scenes of S x S pixels with K objects each.

    Attributes
    ----------
    images : float tensor, N x 3 x S x S, values in [0, 1]
    masks : bool tensor, N x S x S: the pixels of any object
    labels : long tensor, N: the class of each image's first object
    object_masks : bool tensor, N x K x S x S: the visible pixels of each object (a later object
        covers an earlier one where they overlap; their union is ``masks``)
    object_labels : long tensor, N x K: the class of every object
    backgrounds : float tensor, N x 3 x S x S: each image before its objects were pasted
    boxes : long tensor, N x K x 3: each object's square box (top row, left column, side in pixels)
    sources : long tensor, N x K: the index of each pasted digit among scikit-learn's 1,797 (-1 for a shape)
    classes : the class names, ``classes[label]``
    """

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    object_masks: torch.Tensor
    object_labels: torch.Tensor
    backgrounds: torch.Tensor
    boxes: torch.Tensor
    sources: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def share(self) -> torch.Tensor:
        """The share of each image's pixels that belong to an object, N floats in [0, 1]."""
        return self.masks.float().mean(dim=(1, 2))


def _pair(name: str, value, low: float, high: float) -> tuple[float, float]:
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or not low < value[0] <= value[1] <= high:
        raise ValueError(f"{name} must be a pair (low, high) with {low} < low <= high <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


def _hsv_colours(n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` colours of random hue at full saturation, value in [0.75, 1]: n x 3."""
    hue = torch.rand(n, 1, generator=g)
    value = 0.75 + 0.25 * torch.rand(n, 1, generator=g)
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue * 6) % 6            # HSV -> RGB with saturation 1
    return value * (1 - (torch.minimum(k, 4 - k)).clamp(0, 1))


def _backgrounds(n: int, size: int, texture: float, noise: float, g: torch.Generator) -> torch.Tensor:
    """Random base colours in [0.3, 0.7] with texture at two scales (a 4 x 4 and an 8 x 8 grid of
    random colours, smoothly upsampled, amplitudes ``texture`` and ``texture / 2``) and uniform pixel
    noise of amplitude ``noise``; kept inside [0.02, 0.98]."""
    x = (0.3 + 0.4 * torch.rand(n, 3, 1, 1, generator=g)).expand(n, 3, size, size)
    for cells, amplitude in ((4, texture), (8, texture / 2)):
        coarse = torch.rand(n, 3, cells, cells, generator=g) * 2 - 1
        x = x + amplitude * F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    x = x + noise * (torch.rand(n, 3, size, size, generator=g) * 2 - 1)
    return x.clamp(0.02, 0.98)


def _object_masks(objects: str, sides: torch.Tensor, pool: str, g: torch.Generator):
    """Boolean masks (a list, one s x s mask per object of side ``sides[i]``), labels and sources."""
    masks, labels = [None] * len(sides), torch.empty(len(sides), dtype=torch.long)
    chosen = torch.full((len(sides),), -1, dtype=torch.long)
    if objects == "digits":
        digits = data.load_digits()
        idx = {"all": torch.arange(len(digits)), "train": digits.train_idx, "test": digits.test_idx}[pool]
        chosen = idx[torch.randint(len(idx), (len(sides),), generator=g)]
        labels[:] = digits.labels[chosen]
    for side in sides.unique().tolist():
        where = (sides == side).nonzero().flatten()
        if objects == "digits":
            up = F.interpolate(digits.images[chosen[where]], size=(side, side), mode="bilinear", align_corners=False)
            boxes = up[:, 0] > 0.3                                 # the stroke: above 30% of full ink
        else:
            shapes = data.make_shapes(len(where), size=side, seed=int(torch.randint(2 ** 31, (1,), generator=g)))
            boxes, labels[where] = shapes.images.amax(dim=1) > 0, shapes.shape
        for j, i in enumerate(where.tolist()):
            masks[i] = boxes[j]
    return masks, labels, chosen


def make_scenes(n: int = 1000, size: int = 32, objects: str = "digits", per_image: int = 1, scale=(0.45, 0.7),
                texture: float = 0.15, noise: float = 0.05, pool: str = "all", backgrounds: int | None = None,
                seed: int | None = None) -> Scenes:
    """``n`` scenes of ``size`` x ``size`` pixels, each with ``per_image`` objects on a textured background.

    Every object (``objects``: ``"digits"``, scikit-learn's handwritten digits from ``pool``, bilinearly
    upscaled and cut at 30% ink, or ``"shapes"``, :func:`sslbook.data.make_shapes`' circle, square,
    triangle and cross; ``pool`` is ignored) is drawn in a square box (a digit nearly fills it, a shape
    covers about half its side) whose side is a random share ``scale`` of ``size``, placed
    uniformly inside the image, and is painted in one flat colour of random hue (full saturation,
    value 0.75-1) over the background (base colour in [0.3, 0.7] per channel, colour texture of
    amplitude ``texture`` at two scales, pixel noise of amplitude ``noise``). Objects may overlap; a
    later one covers an earlier one. With ``backgrounds`` set, each scene's background is drawn from
    that many textures shared by all scenes (the background then tells scenes apart less than the
    object does); by default every scene has its own. The same ``seed`` (None: the book's seed) gives
    the same scenes.

    Shapes: ``images`` and ``backgrounds`` N x 3 x S x S floats in [0, 1]; ``masks`` N x S x S bool;
    ``labels`` N; ``object_masks`` N x K x S x S; ``object_labels`` and ``sources`` N x K (K = ``per_image``);
    ``boxes`` N x K x 3.
    Raises ``ValueError`` naming the parameter for a bad value, and for a ``scale`` whose smallest box
    would be under 8 pixels (a digit is 8 x 8; a shape needs 8 pixels too).

    >>> s = make_scenes(4, seed=0)
    >>> tuple(s.images.shape), tuple(s.masks.shape), s.masks.dtype, s.classes[s.labels[0]] == str(int(s.labels[0]))
    ((4, 3, 32, 32), (4, 32, 32), torch.bool, True)
    """
    _validate.positive_int("n", n)
    _validate.positive_int("size", size, minimum=16)
    _validate.one_of("objects", objects, set(OBJECTS))
    _validate.positive_int("per_image", per_image)
    if per_image > 8:
        raise ValueError(f"per_image must be an integer in [1, 8], got {per_image!r}")
    low, high = _pair("scale", scale, 0, 1)
    if round(low * size) < 8:
        raise ValueError(f"scale must give objects of at least 8 pixels on {size} x {size} images (low >= "
                         f"{8 / size:.3f}), got {scale!r}")
    _validate.in_range("texture", texture, 0, 0.3)
    _validate.in_range("noise", noise, 0, 0.2)
    _validate.one_of("pool", pool, set(DIGIT_POOLS))
    if backgrounds is not None:
        _validate.positive_int("backgrounds", backgrounds)
    g = torch.Generator().manual_seed(config.or_seed(seed))
    if backgrounds is None:
        backgrounds = _backgrounds(n, size, texture, noise, g)
    else:
        backgrounds = _backgrounds(backgrounds, size, texture, noise, g)[torch.randint(backgrounds, (n,), generator=g)]
    k = n * per_image
    sides = torch.randint(round(low * size), round(high * size) + 1, (k,), generator=g)
    tops = (torch.rand(k, generator=g) * (size - sides + 1)).long()
    lefts = (torch.rand(k, generator=g) * (size - sides + 1)).long()
    colours = _hsv_colours(k, g)
    boxes, labels, sources = _object_masks(objects, sides, pool, g)
    images = backgrounds.clone()
    object_masks = torch.zeros(n, per_image, size, size, dtype=torch.bool)
    for i in range(k):
        img, j = divmod(i, per_image)
        t, left, s = int(tops[i]), int(lefts[i]), int(sides[i])
        placed = torch.zeros(size, size, dtype=torch.bool)
        placed[t:t + s, left:left + s] = boxes[i]
        object_masks[img, :j] &= ~placed                               # covered by the later object
        object_masks[img, j] = placed
        images[img] = torch.where(placed, colours[i].view(3, 1, 1), images[img])
    classes = tuple(str(c) for c in range(10)) if objects == "digits" else data.SHAPES
    object_labels = labels.view(n, per_image)
    return Scenes(images, object_masks.any(dim=1), object_labels[:, 0].clone(), object_masks, object_labels,
                  backgrounds, torch.stack([tops, lefts, sides], dim=1).view(n, per_image, 3),
                  sources.view(n, per_image), classes)
