"""Objects without labels: does a ViT trained with DINO look at the objects of a scene?

Caron et al. (2021, Sec. 4 and Fig. 3, *Emerging properties in self-supervised vision
transformers*) report that the [CLS] token of a ViT trained with DINO attends, in its last
block, to the objects of an image, and score it with the Jaccard measure: per head, keep the
patches holding 60% of the [CLS] attention mass and compare that region with the object's mask.
This module holds the pieces to try it at CPU scale on :func:`sslbook.scenes.make_scenes`:

- :class:`SceneViT`, a small ViT with a [CLS] token whose last block's attention can be read per head;
- :func:`pretrain_dino` (no labels: student and EMA teacher, centring, sharpening, multi-crop),
  :func:`train_supervised_vit` (the same ViT trained with labels) and :func:`untrained_vit`
  (the same initial weights, untrained);
- :func:`attention_maps`, :func:`kept_patches` and :func:`attention_jaccard`, the measure.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate, augment, config, families, models
from .attention import _blocks
from .checkpoints import record
from .masking import patchify
from .train import History, adamw_one_cycle, fit, shuffled_batches, supervised_step
from .zoo import DINO_TEMPS


class SceneViT(nn.Module):
    """A small Vision Transformer with a [CLS] token (Dosovitskiy et al., 2021), for 32 x 32 scenes.

    Patches of ``patch`` x ``patch`` pixels (a G x G grid, G = ``image_size / patch``, P = G^2) are
    embedded linearly; a learned [CLS] token is put first; learned position embeddings are added
    (bicubically resized for another grid, as DINO does for its local crops); ``depth`` pre-norm
    blocks of :mod:`sslbook.attention`; a final LayerNorm. ``forward`` returns the [CLS] output,
    N x ``dim``. :meth:`attention` reads the last block's attention, N x heads x (1 + P) x (1 + P),
    each row summing to 1; :meth:`cls_attention` its [CLS] row over the patches, N x heads x P.

    >>> vit = SceneViT(); x = torch.rand(2, 3, 32, 32)
    >>> vit(x).shape, vit.cls_attention(x).shape
    (torch.Size([2, 64]), torch.Size([2, 4, 64]))
    """

    def __init__(self, image_size: int = 32, channels: int = 3, patch: int = 4, dim: int = 64, depth: int = 4,
                 heads: int = 4):
        super().__init__()
        for name, value in (("image_size", image_size), ("channels", channels), ("patch", patch), ("dim", dim),
                            ("depth", depth), ("heads", heads)):
            _validate.positive_int(name, value)
        if image_size % patch or image_size // patch < 2:
            raise ValueError(f"patch must divide image_size ({image_size}) into a grid of at least 2 x 2, got {patch}")
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads ({heads}), got {dim}")
        self.image_size, self.channels, self.patch, self.heads = image_size, channels, patch, heads
        self.grid, self.feature_dim = image_size // patch, dim
        self.embed = nn.Linear(channels * patch * patch, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.positions = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, dim) * 0.02)
        self.blocks = _blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)

    def _tokens(self, images: torch.Tensor) -> torch.Tensor:
        _validate.tensor("images", images, ndim=4, floating=True)
        n, c, h, w = images.shape
        if c != self.channels or h != w or h % self.patch:
            raise ValueError(f"images must be N x {self.channels} x S x S with S a multiple of {self.patch}, "
                             f"got {tuple(images.shape)}")
        pos = self.positions[:, 1:]
        if h // self.patch != self.grid:                                    # another grid: resize the positions
            grid = pos.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            pos = F.interpolate(grid, size=(h // self.patch,) * 2, mode="bicubic", align_corners=False)
            pos = pos.flatten(2).transpose(1, 2)
        x = self.embed(patchify(images, self.patch)) + pos
        return torch.cat([(self.cls_token + self.positions[:, :1]).expand(n, -1, -1), x], dim=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The [CLS] token's output: N x ``dim``."""
        return self.norm(self.blocks(self._tokens(images)))[:, 0]

    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """The last block's attention weights per head, N x heads x (1 + P) x (1 + P) (row: query,
        column: key; token 0 is [CLS]): ``softmax(q k^T / sqrt(dim / heads))``, each row summing to 1."""
        x = self._tokens(images)
        *first, last = self.blocks.layers
        for layer in first:
            x = layer(x)
        h = last.norm1(x)                                                   # pre-norm: what the attention reads
        return last.self_attn(h, h, h, need_weights=True, average_attn_weights=False)[1]

    def cls_attention(self, images: torch.Tensor) -> torch.Tensor:
        """What [CLS] attends to in the last block, per head, over the P patches (its own column
        dropped and the row renormalised to sum 1, as DINO's visualisation does): N x heads x P."""
        a = self.attention(images)[:, :, 0, 1:]
        return a / a.sum(dim=-1, keepdim=True)


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al., 2021, Sec. 3.1 and its Appendix): a 3-layer MLP (GELU,
    hidden ``hidden_dim``) to a ``bottleneck_dim`` bottleneck, L2-normalised, then a weight-normalised
    linear layer whose norm is fixed at 1 (the paper's last layer): ``out_dim`` cosines with learned
    prototypes. N x ``in_dim`` -> N x ``out_dim``, values in [-1, 1].

    >>> DINOHead(64, out_dim=32)(torch.rand(3, 64)).shape
    torch.Size([3, 32])
    """

    def __init__(self, in_dim: int, out_dim: int = 256, hidden_dim: int = 256, bottleneck_dim: int = 64):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("hidden_dim", hidden_dim),
                            ("bottleneck_dim", bottleneck_dim)):
            _validate.positive_int(name, value)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = nn.Parameter(torch.randn(out_dim, bottleneck_dim) / math.sqrt(bottleneck_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(h), dim=-1) @ F.normalize(self.prototypes, dim=-1).T


@dataclass
class ViTRun:
    """A trained :class:`SceneViT` and how it was trained: ``vit`` is the network to measure (DINO: the
    teacher's backbone, as the paper evaluates; supervised: the classifier's backbone); ``student`` the
    network the optimiser trained, ``nn.Sequential(backbone, head)``; ``teacher`` DINO's EMA teacher,
    built the same way (None otherwise)."""

    vit: SceneViT
    history: History
    meta: dict
    student: nn.Module | None = None
    teacher: nn.Module | None = None


def _new_vit(images: torch.Tensor, vit: dict | None, seed: int) -> SceneViT:
    _validate.tensor("images", images, ndim=4, floating=True)
    if len(images) < 2:
        raise ValueError(f"images must hold at least 2 images, got {len(images)}")
    if vit is not None and not isinstance(vit, dict):
        raise ValueError(f"vit must be a dict of SceneViT settings (patch, dim, depth, heads) or None, got {vit!r}")
    torch.manual_seed(seed)
    return SceneViT(image_size=images.shape[-1], channels=images.shape[1], **(vit or {}))


def untrained_vit(images: torch.Tensor, seed: int | None = None, vit: dict | None = None) -> SceneViT:
    """The :class:`SceneViT` for ``images`` (N x C x S x S) as :func:`pretrain_dino` and
    :func:`train_supervised_vit` start it with the same ``seed`` and ``vit`` settings, untrained, in
    evaluation mode: the baseline that separates what training did from what the architecture does.

    >>> untrained_vit(torch.rand(2, 3, 32, 32), seed=0).grid
    8
    """
    return _new_vit(images, vit, config.or_seed(seed)).eval()


def _teacher_momentum(base: float, done: int, steps: int) -> float:
    """DINO's cosine schedule of the teacher's momentum, from ``base`` at step 0 to 1 at the end."""
    return 1 - (1 - base) * (math.cos(math.pi * done / steps) + 1) / 2


def pretrain_dino(images: torch.Tensor, steps: int = 200, seed: int | None = None, *, batch_size: int = 64,
                  lr: float = 1e-3, weight_decay: float = 0.04, out_dim: int = 256, momentum: float = 0.99,
                  local_crops: int = 4, local_size: int = 16, views: augment.RandomViews | None = None,
                  local_views: augment.RandomViews | None = None, vit: dict | None = None,
                  progress: bool = False) -> ViTRun:
    """Train a fresh :class:`SceneViT` on unlabelled ``images`` (N x C x S x S in [0, 1]) with DINO
    (Caron et al., 2021, Algorithm 1 and Sec. 3.1).

    Per batch, two global crops (``views``; by default :func:`~sslbook.augment.cifar_views` with
    DINO's crop scale (0.4, 1)) and ``local_crops`` local ones (``local_views``, scale (0.05, 0.4),
    resized to ``local_size`` pixels; 0 turns multi-crop off). The student (ViT and :class:`DINOHead`,
    ``out_dim`` outputs) sees every crop; the teacher, its EMA copy (never trained by a gradient),
    only the global ones; :func:`~sslbook.families.dino` is the loss, with the teacher's outputs
    centred (:func:`~sslbook.families.dino_center`) and sharpened (:data:`sslbook.zoo.DINO_TEMPS`).
    The teacher's momentum follows DINO's cosine schedule from ``momentum`` to 1, applied after each
    optimiser step. AdamW (``weight_decay``, the paper's first value) with one one-cycle schedule
    peaking at ``lr`` over ``steps`` (no gradient clipping, no frozen last layer: simplifications).
    ``vit`` holds :class:`SceneViT` settings; ``seed`` (None: the book's) fixes the initial weights
    (those of :func:`untrained_vit`), the order and the crops. History records the loss, the teacher's
    mean entropy and ``teacher_mi``, how much its output depends on the image (0 when collapsed).

    >>> run = pretrain_dino(torch.rand(8, 3, 32, 32), steps=2, batch_size=4, seed=0)
    >>> run.history.steps, run.vit is run.teacher[0]
    (2, True)
    """
    for name, value, minimum in (("steps", steps, 1), ("batch_size", batch_size, 2), ("out_dim", out_dim, 1),
                                 ("local_crops", local_crops, 0), ("local_size", local_size, 1)):
        _validate.positive_int(name, value, minimum=minimum)
    _validate.positive("lr", lr)
    _validate.positive("weight_decay", weight_decay, allow_zero=True)
    _validate.in_range("momentum", momentum, 0, 1)
    seed = config.or_seed(seed)
    backbone = _new_vit(images, vit, seed)
    if local_crops and local_size % backbone.patch:
        raise ValueError(f"local_size must be a multiple of the patch ({backbone.patch}), got {local_size}")
    student = nn.Sequential(backbone, DINOHead(backbone.feature_dim, out_dim))
    teacher = copy.deepcopy(student).requires_grad_(False).eval()
    views = augment.cifar_views((0.4, 1.0)) if views is None else views
    local_views = augment.cifar_views((0.05, 0.4)) if local_views is None else local_views
    g_idx, g_aug = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    center = torch.zeros(out_dim)
    student_temp, teacher_temp = DINO_TEMPS

    def step(idx: torch.Tensor) -> dict:
        nonlocal center
        x = images[idx]
        crops = torch.cat([views(x, g_aug), views(x, g_aug)])
        out = list(student(crops).chunk(2))
        if local_crops:
            small = torch.cat([local_views(x, g_aug) for _ in range(local_crops)])
            small = F.interpolate(small, size=(local_size, local_size), mode="bilinear", antialias=True,
                                  align_corners=False)
            out += list(student(small).chunk(local_crops))
        with torch.no_grad():
            t = torch.stack(teacher(crops).chunk(2))                         # 2 x B x K
        loss = families.dino(torch.stack(out), t, center, student_temp, teacher_temp)
        with torch.no_grad():   # collapse signals (Caron et al., Fig. 7): entropy, and H(mean p) - mean H(p)
            p = F.softmax((t - center) / teacher_temp, dim=-1).reshape(-1, out_dim)
            entropy = -(p * p.clamp_min(1e-12).log()).sum(-1).mean()
            mean_p = p.mean(0)
            depends = -(mean_p * mean_p.clamp_min(1e-12).log()).sum() - entropy
        center = families.dino_center(center, t)
        return {"loss": loss, "teacher_entropy": float(entropy), "teacher_mi": float(depends)}

    def follow(done: int) -> None:
        models.momentum_update(student, teacher, _teacher_momentum(momentum, done, steps))

    optimizer, scheduler = adamw_one_cycle(student.parameters(), lr, steps, weight_decay)
    batch_size = min(batch_size, len(images))
    history = fit(step, shuffled_batches(len(images), batch_size, g_idx), optimizer, steps=steps,
                  scheduler=scheduler, model=student, progress=progress, desc="dino", callback=follow)
    meta = record(history, len(images), batch_size, method="dino", lr=lr, out_dim=out_dim, local_crops=local_crops,
                  momentum=momentum, seed=seed)
    return ViTRun(teacher[0], history, meta, student=student, teacher=teacher)


def train_supervised_vit(images: torch.Tensor, labels: torch.Tensor, steps: int = 200, seed: int | None = None, *,
                         batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.04,
                         views: augment.RandomViews | None = None, vit: dict | None = None,
                         progress: bool = False) -> ViTRun:
    """The baseline with labels: the same :class:`SceneViT` (same ``seed``, same initial weights as
    :func:`untrained_vit`) and a linear classifier on its [CLS] output, trained with cross-entropy on
    ``views`` of ``images`` (N x C x S x S; by default DINO's global crops, ``cifar_views((0.4, 1))``)
    against ``labels`` (N class ids, at least 2 classes), with the optimiser of :func:`pretrain_dino`.
    ``vit`` of the result is the trained backbone; ``student`` the classifier (N x classes logits).

    >>> run = train_supervised_vit(torch.rand(8, 3, 32, 32), torch.arange(8) % 2, steps=2, batch_size=4)
    >>> run.history.steps, run.student(torch.rand(3, 3, 32, 32)).shape
    (2, torch.Size([3, 2]))
    """
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.tensor("labels", labels, ndim=1, integer=True)
    if len(labels) != len(images) or labels.min() < 0 or len(labels.unique()) < 2:
        raise ValueError(f"labels must hold one class id >= 0 per image ({len(images)}) and at least 2 classes, "
                         f"got {len(labels)} labels with classes {sorted(labels.unique().tolist())[:10]}")
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size, minimum=2)
    _validate.positive("lr", lr)
    _validate.positive("weight_decay", weight_decay, allow_zero=True)
    seed = config.or_seed(seed)
    backbone = _new_vit(images, vit, seed)
    model = nn.Sequential(backbone, nn.Linear(backbone.feature_dim, int(labels.max()) + 1))
    views = augment.cifar_views((0.4, 1.0)) if views is None else views
    g_idx, g_aug = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), lr, steps, weight_decay)
    batch_size = min(batch_size, len(images))
    batches = shuffled_batches(len(images), batch_size, g_idx)
    history = fit(supervised_step(model, images, labels, views, g_aug), batches, optimizer, steps=steps,
                  scheduler=scheduler, model=model, progress=progress, desc="supervised")
    return ViTRun(backbone, history, record(history, len(images), batch_size, method="supervised", lr=lr, seed=seed),
                  student=model)


@torch.no_grad()
def attention_maps(vit: SceneViT, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """:meth:`SceneViT.cls_attention` of ``images`` (N x C x S x S) in batches, without gradient and
    in evaluation mode: N x heads x P, each row summing to 1.

    >>> attention_maps(SceneViT(), torch.rand(3, 3, 32, 32)).shape
    torch.Size([3, 4, 64])
    """
    _validate.positive_int("batch_size", batch_size)
    was = vit.training
    vit.eval()
    try:
        return torch.cat([vit.cls_attention(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    finally:
        vit.train(was)


def kept_patches(attn: torch.Tensor, mass: float = 0.6) -> torch.Tensor:
    """Per row of ``attn`` (N x H x P, non-negative; each row is renormalised to sum 1), the smallest
    set of patches holding at least ``mass`` of it: the largest values, in order, until their sum
    reaches ``mass`` (Caron et al., 2021, Fig. 3 and its Jaccard table keep 60%). Patches tied with
    the last one needed are all kept, so the set does not depend on a sort order (uniform attention
    keeps every patch; DINO's own code breaks such ties by position). N x H x P bool.

    >>> kept_patches(torch.tensor([[[0.5, 0.3, 0.2, 0.0]]])).tolist()
    [[[True, True, False, False]]]
    """
    _validate.tensor("attn", attn, ndim=3, floating=True)
    _validate.in_range("mass", mass, 0, 1, low_open=True)
    if attn.shape[-1] < 1 or (attn < 0).any() or (attn.sum(-1) <= 0).any():
        raise ValueError("attn must be N x H x P with P >= 1, non-negative, every row with a positive sum")
    a = attn / attn.sum(dim=-1, keepdim=True)
    values = a.sort(dim=-1, descending=True).values
    last = (values.cumsum(dim=-1) < mass - 1e-6).sum(dim=-1, keepdim=True).clamp(max=a.shape[-1] - 1)
    return a >= values.gather(-1, last)


def attention_jaccard(attn: torch.Tensor, masks: torch.Tensor, mass: float = 0.6) -> torch.Tensor:
    """The Jaccard measure of Caron et al. (2021): per image and head, the patches holding ``mass`` of
    the [CLS] attention (:func:`kept_patches`) against the object mask, ``|A & M| / |A | M|``.

    ``attn``: N x H x P with P = G^2 patches on a G x G grid (row by row, as :func:`attention_maps`);
    ``masks``: N x S x S bool object pixels, S a multiple of G. The kept patches are **upsampled to
    pixels** (each patch covers its S/G x S/G pixels, nearest neighbour, as DINO's visualisation does)
    and compared with the pixel mask, so a patch only partly on the object costs its background
    pixels. Returns N x H floats in [0, 1]: 1 when the kept patches are exactly the object; the
    object's share of the image ``|M| / S^2`` for uniform attention (every patch kept); 0 when no kept
    patch touches the object (or the mask is empty).

    >>> m = torch.zeros(1, 4, 4, dtype=torch.bool); m[0, :2, :2] = True       # the top-left patch of 2 x 2
    >>> attention_jaccard(torch.tensor([[[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]]), m).tolist()
    [[1.0, 0.25]]
    """
    keep = kept_patches(attn, mass)
    _validate.tensor("masks", masks, ndim=3)
    n, h, p = keep.shape
    grid = math.isqrt(p)
    if masks.dtype != torch.bool or len(masks) != n or masks.shape[1] != masks.shape[2] or grid * grid != p \
            or masks.shape[1] % grid:
        raise ValueError(f"masks must be a bool N x S x S tensor with N = {n} and S a multiple of the patch grid "
                         f"(sqrt of P = {p}), got {masks.dtype} {tuple(masks.shape)}")
    side = masks.shape[1] // grid
    pixels = keep.reshape(n, h, grid, grid).repeat_interleave(side, dim=2).repeat_interleave(side, dim=3)
    m = masks.unsqueeze(1)
    inter, union = (pixels & m).sum(dim=(2, 3)), (pixels | m).sum(dim=(2, 3))
    return inter.float() / union.clamp(min=1).float()
