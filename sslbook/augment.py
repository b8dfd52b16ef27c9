"""Random views of images, drawn per sample and computed on whole batches.

A contrastive method learns what its augmentations leave unchanged, so two views
of one image must differ by a *different* random transformation for every
sample. torchvision's v2 transforms applied to a batch tensor draw one set of
parameters for the whole batch; :class:`RandomViews` draws one per sample and
applies them all at once with ``affine_grid`` / ``grid_sample``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _validate


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


_LUMA = (0.299, 0.587, 0.114)


def _grey(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _hue_rotation(angle: torch.Tensor) -> torch.Tensor:
    """Per-sample 3 x 3 matrices rotating RGB colours about the grey axis (1, 1, 1)."""
    u = torch.full((3,), 1 / math.sqrt(3), dtype=angle.dtype, device=angle.device)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]],
                         dtype=angle.dtype, device=angle.device)
    cos, sin = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    eye = torch.eye(3, dtype=angle.dtype, device=angle.device)
    return cos * eye + (1 - cos) * torch.outer(u, u) + sin * cross


class RandomViews:
    """Per-sample random geometric and photometric augmentation of an image batch.

    Each call transforms a batch ``x`` of shape N x C x H x W (values in [0, 1])
    and returns a tensor of the same shape, every image with its own draw of:

    - an affine map: rotation in [-rotation, rotation] degrees, zoom by a factor
      in ``scale``, shift by up to ``translate`` of the image size in x and y,
      and a horizontal flip with probability 0.5 when ``flip`` is true;
    - brightness (an offset in [-brightness, brightness]) and contrast (a factor
      in [1 - contrast, 1 + contrast]); for colour images also saturation (a
      factor in [1 - saturation, 1 + saturation]) and hue (a rotation of the
      colours about the grey axis by up to ``hue`` of a full turn, 0.5 being any
      hue); all four together with probability ``jitter_p``;
    - for colour images, conversion to grey with probability ``grayscale``;
    - Gaussian pixel noise with standard deviation ``noise``;
    - with probability ``erase``, one rectangle (a side of 20-50% of the image)
      set to zero.

    Pixels that the affine map brings in from outside the image are zero (the
    background of digits). Output is clamped to [0, 1].

    >>> views = RandomViews(rotation=15, translate=0.1)
    >>> views(torch.rand(4, 1, 8, 8)).shape
    torch.Size([4, 1, 8, 8])
    """

    def __init__(self, rotation: float = 15.0, scale=(0.9, 1.1), translate: float = 0.1,
                 flip: bool = False, brightness: float = 0.0, contrast: float = 0.0,
                 noise: float = 0.0, erase: float = 0.0, saturation: float = 0.0,
                 hue: float = 0.0, jitter_p: float = 1.0, grayscale: float = 0.0,
                 crop_scale=None, crop_ratio=(3 / 4, 4 / 3)):
        _validate.in_range("rotation", rotation, 0, 180)
        if (not isinstance(scale, (tuple, list)) or len(scale) != 2
                or not all(isinstance(s, (int, float)) and s > 0 for s in scale)
                or scale[0] > scale[1]):
            raise ValueError(f"scale must be a pair (low, high) with 0 < low <= high, got {scale!r}")
        _validate.in_range("translate", translate, 0, 1)
        _validate.in_range("brightness", brightness, 0, 1)
        _validate.in_range("contrast", contrast, 0, 1)
        _validate.positive("noise", noise, allow_zero=True)
        _validate.in_range("erase", erase, 0, 1)
        _validate.in_range("saturation", saturation, 0, 1)
        _validate.in_range("hue", hue, 0, 0.5)
        _validate.in_range("jitter_p", jitter_p, 0, 1)
        _validate.in_range("grayscale", grayscale, 0, 1)
        if crop_scale is not None:
            if (not isinstance(crop_scale, (tuple, list)) or len(crop_scale) != 2
                    or not 0 < crop_scale[0] <= crop_scale[1] <= 1):
                raise ValueError(f"crop_scale must be a pair (low, high) with 0 < low <= high <= 1, got {crop_scale!r}")
            if (not isinstance(crop_ratio, (tuple, list)) or len(crop_ratio) != 2
                    or not 0 < crop_ratio[0] <= crop_ratio[1]):
                raise ValueError(f"crop_ratio must be a pair (low, high) with 0 < low <= high, got {crop_ratio!r}")
        self.rotation, self.scale, self.translate = float(rotation), tuple(scale), float(translate)
        self.flip, self.brightness, self.contrast = bool(flip), float(brightness), float(contrast)
        self.noise, self.erase = float(noise), float(erase)
        self.saturation, self.hue = float(saturation), float(hue)
        self.jitter_p, self.grayscale = float(jitter_p), float(grayscale)
        self.crop_scale = None if crop_scale is None else tuple(float(v) for v in crop_scale)
        self.crop_ratio = tuple(float(v) for v in crop_ratio)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"RandomViews({args})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _validate.tensor("x", x, ndim=4, floating=True)
        n, channels, h, w = x.shape
        if (self.hue > 0 or self.saturation > 0 or self.grayscale > 0) and channels != 3:
            raise ValueError(f"x must have 3 colour channels for hue, saturation or grayscale, got {channels}")
        dev = x.device
        out = self._affine(x, generator)
        jitter = (torch.rand(n, generator=generator, device=dev) < self.jitter_p).float().view(n, 1, 1, 1)
        if self.contrast > 0:
            c = _uniform(n, 1 - self.contrast, 1 + self.contrast, generator, dev).view(n, 1, 1, 1)
            c = 1 + jitter * (c - 1)
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = (out - mean) * c + mean
        if self.brightness > 0:
            out = out + jitter * _uniform(n, -self.brightness, self.brightness, generator, dev).view(n, 1, 1, 1)
        if self.saturation > 0:
            s = _uniform(n, 1 - self.saturation, 1 + self.saturation, generator, dev).view(n, 1, 1, 1)
            grey = _grey(out)
            out = grey + (1 + jitter * (s - 1)) * (out - grey)
        if self.hue > 0:
            angle = _uniform(n, -self.hue, self.hue, generator, dev) * 2 * math.pi * jitter.view(n)
            out = torch.einsum("nij,njhw->nihw", _hue_rotation(angle), out)
        if self.grayscale > 0:
            to_grey = (torch.rand(n, generator=generator, device=dev) < self.grayscale).view(n, 1, 1, 1)
            out = torch.where(to_grey, _grey(out).expand_as(out), out)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=generator, device=dev)
        if self.erase > 0:
            out = out * (1 - self._erase_mask(n, h, w, generator, dev))
        return out.clamp_(0.0, 1.0)

    def _affine(self, x, generator):
        n = x.shape[0]
        dev = x.device
        angle = _uniform(n, -self.rotation, self.rotation, generator, dev) * (math.pi / 180)
        if self.crop_scale is None:
            # theta maps output coordinates to input coordinates: zooming in by s
            # samples the input on a grid shrunk by 1/s.
            zoom = _uniform(n, *self.scale, generator, dev)
            sx = sy = 1 / zoom
            shift = _uniform(2 * n, -2 * self.translate, 2 * self.translate, generator, dev).view(n, 2)
        else:
            # random resized crop: a box of a random share of the area and aspect
            # ratio, at a random place inside the image, resized to the full size
            area = _uniform(n, *self.crop_scale, generator, dev)
            log_ratio = _uniform(n, math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]), generator, dev)
            sx = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
            sy = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
            shift = torch.stack([(1 - sx) * _uniform(n, -1, 1, generator, dev),
                                 (1 - sy) * _uniform(n, -1, 1, generator, dev)], dim=1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        flip = torch.ones(n, device=dev)
        if self.flip:
            flip = torch.where(torch.rand(n, generator=generator, device=dev) < 0.5, -1.0, 1.0)
        theta = torch.stack([
            torch.stack([cos * sx * flip, -sin * sy, shift[:, 0]], dim=1),
            torch.stack([sin * sx * flip, cos * sy, shift[:, 1]], dim=1),
        ], dim=1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _erase_mask(self, n, h, w, generator, dev):
        apply = (torch.rand(n, generator=generator, device=dev) < self.erase).float()
        eh = torch.round(_uniform(n, 0.2, 0.5, generator, dev) * h).clamp(min=1)
        ew = torch.round(_uniform(n, 0.2, 0.5, generator, dev) * w).clamp(min=1)
        top = torch.floor(torch.rand(n, generator=generator, device=dev) * (h - eh + 1))
        left = torch.floor(torch.rand(n, generator=generator, device=dev) * (w - ew + 1))
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
                  & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))
        return (inside.float() * apply.view(n, 1, 1)).unsqueeze(1)

    def pair(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Two independent views of every image: the positive pairs of SimCLR."""
        return self(x, generator), self(x, generator)


def digit_views() -> RandomViews:
    """The augmentation used for digits in chapter 2: small rotations, zooms and
    shifts, brightness and contrast changes, pixel noise and occasional erasing."""
    return RandomViews(rotation=15, scale=(0.8, 1.2), translate=0.15, brightness=0.1,
                       contrast=0.5, noise=0.1, erase=0.3)


def cifar_views(crop_scale: tuple = (0.08, 1.0)) -> RandomViews:
    """SimCLR's CIFAR-10 recipe, per sample: random resized crop (``crop_scale``: 8-100% of the area,
    aspect 3/4-4/3) back to full size, horizontal flip, colour jitter 0.4/0.4/0.4/0.1
    with probability 0.8, grey with probability 0.2 (Chen et al., 2020, appendix B.9).

    Brightness here is an offset of up to 0.4 rather than torchvision's factor.
    """
    return RandomViews(rotation=0, crop_scale=crop_scale, crop_ratio=(3 / 4, 4 / 3), flip=True,
                       brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, grayscale=0.2)


class FeatureCorruption:
    """SCARF's view of a table row (Bahri et al., 2022): a random ``rate`` of its
    features, chosen per row, replaced by the same feature of another row drawn at
    random from ``pool`` (the unlabelled training rows), that is, by a draw from that
    feature's empirical marginal distribution. ``pair`` returns the row itself and a
    corrupted copy, SCARF's anchor and positive.

    >>> views = FeatureCorruption(torch.randn(50, 4), rate=0.5)
    >>> x = torch.randn(8, 4); a, b = views.pair(x)
    >>> bool(torch.equal(a, x)), int((a != b).sum(dim=1).max()) <= 2
    (True, True)
    """

    def __init__(self, pool: torch.Tensor, rate: float = 0.6):
        _validate.tensor("pool", pool, ndim=2, floating=True)
        if len(pool) < 2:
            raise ValueError(f"pool must hold at least 2 rows, got {len(pool)}")
        _validate.in_range("rate", rate, 0, 1)
        self.pool, self.rate = pool, float(rate)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _validate.tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.pool.shape[1]:
            raise ValueError(f"x must have {self.pool.shape[1]} features like pool, got {x.shape[1]}")
        n, d = x.shape
        k = round(self.rate * d)
        order = torch.rand(n, d, generator=generator, device=x.device).argsort(dim=1)
        chosen = torch.zeros(n, d, dtype=torch.bool, device=x.device).scatter_(1, order[:, :k], True)
        donors = torch.randint(len(self.pool), (n, d), generator=generator, device=x.device)
        replacement = self.pool.to(x.device)[donors, torch.arange(d, device=x.device).expand(n, d)]
        return torch.where(chosen, replacement, x)

    def pair(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """The row and a corrupted copy: the positive pair of SCARF."""
        return x, self(x, generator)
