"""I-JEPA (Assran et al., 2023, arXiv 2301.08243): prediction in latent space, not pixels.

From one context block of an image, a narrow predictor predicts the
*representations* of M target blocks, as a target encoder (an exponential moving
average of the context encoder, never trained by gradients) computes them from the
whole image. Nothing is reconstructed in pixel space, and no augmented second view
is needed: the masks are the only task. Built from :mod:`sslbook.attention`'s
Vision Transformer pieces (:func:`~sslbook.attention.sincos_positions` and its
pre-norm blocks) and :func:`~sslbook.masking.patchify`.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate
from .attention import _blocks, sincos_positions
from .masking import patchify
from .models import momentum_update


class BlockMasks(NamedTuple):
    """Patch indices (row by row on the patch grid) of a batch of I-JEPA masks.

    ``context``: N x Nc, the context patches of each image (the context block less every
    target patch); ``targets``: N x M x Nt, the patches of each of the M target blocks
    (rectangles of one size per batch, which may overlap each other but never the context).
    """
    context: torch.Tensor
    targets: torch.Tensor


def _check_range(name, value, high) -> tuple[float, float]:
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or not 0 < value[0] <= value[1] <= high:
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low <= high <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


def _block_size(grid: int, scale, aspect, g) -> tuple[int, int]:
    """Height and width of a block covering about ``scale`` of the grid with height / width ``aspect``
    (scale drawn uniformly, aspect log-uniformly, once)."""
    s = scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=g).item()
    r = aspect[0] * (aspect[1] / aspect[0]) ** torch.rand(1, generator=g).item()
    area = s * grid * grid
    return (min(grid, max(1, round(math.sqrt(area * r)))), min(grid, max(1, round(math.sqrt(area / r)))))


def _block(grid: int, h: int, w: int, g) -> torch.Tensor:
    top, left = (int(torch.randint(0, grid - size + 1, (1,), generator=g)) for size in (h, w))
    mask = torch.zeros(grid, grid, dtype=torch.bool)
    mask[top:top + h, left:left + w] = True
    return mask.flatten()


def block_masks(grid: int, n: int, num_targets: int = 4, target_scale=(0.15, 0.2), target_aspect=(0.75, 1.5),
                context_scale=(0.85, 1.0), generator: torch.Generator | None = None, tries: int = 20) -> BlockMasks:
    """I-JEPA's multi-block masks (Assran et al., 2023, Section 3) on a ``grid`` x ``grid`` patch grid.

    Per batch one target size is drawn (a share ``target_scale`` of the grid, aspect ratio in
    ``target_aspect``) and one context size (share ``context_scale``, square); per image,
    ``num_targets`` target blocks and one context block are placed uniformly, and the target
    patches are removed from the context block, so that context and targets are disjoint. An
    image whose context would be empty is drawn again (up to ``tries`` times). Contexts are
    cut to the smallest count in the batch (a random subset, kept in patch order) so that they
    stack. The defaults are the paper's (M = 4, (0.15, 0.2), (0.75, 1.5), (0.85, 1.0)).

    >>> m = block_masks(4, 3, generator=torch.Generator().manual_seed(0))
    >>> m.context.shape[0], m.targets.shape[:2]
    (3, torch.Size([3, 4]))
    """
    _validate.positive_int("grid", grid, minimum=2)
    _validate.positive_int("n", n)
    _validate.positive_int("num_targets", num_targets)
    _validate.positive_int("tries", tries)
    target_scale = _check_range("target_scale", target_scale, 1)
    context_scale = _check_range("context_scale", context_scale, 1)
    target_aspect = _check_range("target_aspect", target_aspect, math.inf)
    th, tw = _block_size(grid, target_scale, target_aspect, generator)
    ch, cw = _block_size(grid, context_scale, (1.0, 1.0), generator)
    contexts, targets = [], []
    for _ in range(n):
        for _ in range(tries):
            blocks = [_block(grid, th, tw, generator) for _ in range(num_targets)]
            context = _block(grid, ch, cw, generator) & ~torch.stack(blocks).any(dim=0)
            if context.any():
                break
        else:
            raise ValueError(f"no context patch is left after removing {num_targets} target blocks of {th} x {tw} "
                             f"from a {ch} x {cw} context block on a {grid} x {grid} grid in {tries} tries: use "
                             "fewer targets (num_targets), smaller targets (target_scale) or a larger grid")
        contexts.append(context.nonzero().flatten())
        targets.append(torch.stack([b.nonzero().flatten() for b in blocks]))
    keep = min(len(c) for c in contexts)
    contexts = [c[torch.randperm(len(c), generator=generator)[:keep].sort().values] for c in contexts]
    return BlockMasks(torch.stack(contexts), torch.stack(targets))


def _gather(tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tokens`` N x P x D at ``index`` N x I: N x I x D."""
    return torch.gather(tokens, 1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class _Encoder(nn.Module):
    """A small ViT: linear patch embedding, fixed 2-D sine-cosine positions, pre-norm blocks, a final norm."""

    def __init__(self, patch_dim: int, dim: int, depth: int, heads: int, grid: int):
        super().__init__()
        self.embed = nn.Linear(patch_dim, dim)
        self.register_buffer("positions", sincos_positions(grid, dim), persistent=False)
        self.blocks = _blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, patches: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(patches) + self.positions                       # N x P x dim
        return self.norm(self.blocks(x if index is None else _gather(x, index)))


class _Predictor(nn.Module):
    """The narrow predictor: context tokens and one mask token per target position (each with its
    position), through ``depth`` blocks of width ``pdim``; the outputs at the targets, projected back."""

    def __init__(self, dim: int, pdim: int, depth: int, heads: int, grid: int):
        super().__init__()
        self.embed = nn.Linear(dim, pdim)
        self.mask_token = nn.Parameter(torch.randn(pdim) * 0.02)
        self.register_buffer("positions", sincos_positions(grid, pdim), persistent=False)
        self.blocks = _blocks(pdim, depth, heads)
        self.norm = nn.LayerNorm(pdim)
        self.head = nn.Linear(pdim, dim)

    def forward(self, context: torch.Tensor, masks: BlockMasks) -> torch.Tensor:
        n, m, nt = masks.targets.shape
        positions = self.positions.expand(n * m, -1, -1)               # (N M) x P x pdim
        x = (self.embed(context) + _gather(positions[:n], masks.context)).repeat_interleave(m, dim=0)
        queries = self.mask_token + _gather(positions, masks.targets.reshape(n * m, nt))
        out = self.blocks(torch.cat([x, queries], dim=1))[:, -nt:]     # one target block per row
        return self.head(self.norm(out)).reshape(n, m, nt, -1)


class IJEPA(nn.Module):
    """An I-JEPA-style model for small images (Assran et al., 2023, Section 3).

    - the **context encoder** (a ViT) reads only the context patches: N x Nc x ``dim``;
    - the **target encoder**, a copy of it updated only by :meth:`update_target` (an EMA,
      ``requires_grad=False``), reads the whole image; its outputs, layer-normalised as in the
      official code, at the target blocks are the targets: N x M x Nt x ``dim``, no gradient;
    - the **predictor**, narrower (``predictor_dim`` < ``dim``), predicts each target block from
      the context tokens and mask tokens placed at the block's positions: N x M x Nt x ``dim``;
    - the **loss** is the mean squared error between predictions and targets (the paper sums the
      squared L2 distances over each block's patches and averages over the M blocks: the same up
      to the constant Nt x ``dim``; the official code uses a smooth L1 loss).

    After pre-training, :meth:`features` (the target encoder on every patch, averaged, as the
    paper evaluates) gives N x ``dim``. Train with ``model.parameters()``: the target encoder's
    never receive a gradient, so an optimiser leaves them alone; call ``update_target`` after each
    step. Images are N x C x H x W with H = W = ``image_size``.

    >>> model = IJEPA(image_size=8, patch=2); x = torch.rand(4, 1, 8, 8)
    >>> masks = model.sample_masks(4, generator=torch.Generator().manual_seed(0))
    >>> model(x, masks).shape == masks.targets.shape + (64,), model.loss(x, masks).ndim
    (True, 0)
    """

    def __init__(self, image_size: int = 8, channels: int = 1, patch: int = 2, dim: int = 64, depth: int = 2,
                 heads: int = 4, predictor_dim: int = 32, predictor_depth: int = 1, predictor_heads: int = 4,
                 num_targets: int = 4, target_scale=(0.15, 0.2), target_aspect=(0.75, 1.5),
                 context_scale=(0.85, 1.0)):
        super().__init__()
        for name, value in (("image_size", image_size), ("channels", channels), ("patch", patch), ("dim", dim),
                            ("depth", depth), ("heads", heads), ("predictor_dim", predictor_dim),
                            ("predictor_depth", predictor_depth), ("predictor_heads", predictor_heads),
                            ("num_targets", num_targets)):
            _validate.positive_int(name, value)
        if image_size % patch or image_size // patch < 2:
            raise ValueError(f"patch must divide image_size ({image_size}) into a grid of at least 2 x 2, got {patch}")
        for width, h, wname, hname in ((dim, heads, "dim", "heads"), (predictor_dim, predictor_heads,
                                                                        "predictor_dim", "predictor_heads")):
            if width % 4 or width % h:
                raise ValueError(f"{wname} must be a multiple of 4 (2-D sine-cosine positions) and of {hname} "
                                 f"({h}), got {width}")
        self.image_size, self.channels, self.patch = image_size, channels, patch
        self.grid = image_size // patch
        self.mask_settings = {"num_targets": num_targets, "target_scale": target_scale,
                              "target_aspect": target_aspect, "context_scale": context_scale}
        block_masks(self.grid, 1, generator=torch.Generator().manual_seed(0), **self.mask_settings)  # validate now
        patch_dim = channels * patch * patch
        self.context_encoder = _Encoder(patch_dim, dim, depth, heads, self.grid)
        self.target_encoder = copy.deepcopy(self.context_encoder).requires_grad_(False)
        self.predictor = _Predictor(dim, predictor_dim, predictor_depth, predictor_heads, self.grid)

    @property
    def num_patches(self) -> int:
        return self.grid ** 2

    def sample_masks(self, n: int, generator: torch.Generator | None = None) -> BlockMasks:
        """:func:`block_masks` for ``n`` images with this model's grid and mask settings."""
        return block_masks(self.grid, n, generator=generator, **self.mask_settings)

    def _patches(self, images: torch.Tensor) -> torch.Tensor:
        _validate.tensor("images", images, ndim=4, floating=True)
        shape = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != shape:
            raise ValueError(f"images must be N x {shape[0]} x {shape[1]} x {shape[2]}, got {tuple(images.shape)}")
        return patchify(images, self.patch)

    def _check_masks(self, masks, n: int) -> BlockMasks:
        if not isinstance(masks, BlockMasks):
            raise ValueError(f"masks must be a BlockMasks (from sample_masks), got {type(masks).__name__}")
        for name, index, ndim in (("masks.context", masks.context, 2), ("masks.targets", masks.targets, 3)):
            _validate.tensor(name, index, ndim=ndim, integer=True)
            if index.shape[0] != n or 0 in index.shape:
                raise ValueError(f"{name} must have {n} rows (one per image) and no empty dimension, got "
                                 f"{tuple(index.shape)}")
            if index.min() < 0 or index.max() >= self.num_patches:
                raise ValueError(f"{name} must index patches in [0, {self.num_patches}), got values in "
                                 f"[{int(index.min())}, {int(index.max())}]")
        return masks

    def encode(self, images: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """The context encoder's tokens of the patches at ``index`` (N x I), or of all: N x (I or P) x dim."""
        return self.context_encoder(self._patches(images), index)

    @torch.no_grad()
    def targets(self, images: torch.Tensor, masks: BlockMasks) -> torch.Tensor:
        """The target encoder on the whole image, layer-normalised, at each target block: N x M x Nt x dim."""
        masks = self._check_masks(masks, len(images))
        h = self.target_encoder(self._patches(images))
        h = F.layer_norm(h, h.shape[-1:])
        n, m, nt = masks.targets.shape
        return _gather(h, masks.targets.reshape(n, m * nt)).reshape(n, m, nt, -1)

    def forward(self, images: torch.Tensor, masks: BlockMasks) -> torch.Tensor:
        """The predictor's representations of every target block: N x M x Nt x dim."""
        masks = self._check_masks(masks, len(images))
        return self.predictor(self.encode(images, masks.context), masks)

    def loss(self, images: torch.Tensor, masks: BlockMasks | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error between predicted and target representations (fresh masks when None)."""
        if masks is None:
            masks = self.sample_masks(len(images), generator)
        return F.mse_loss(self(images, masks), self.targets(images, masks))

    @torch.no_grad()
    def update_target(self, momentum: float = 0.996) -> None:
        """The EMA step ``target <- m target + (1 - m) context`` (I-JEPA raises m from 0.996 to 1)."""
        momentum_update(self.context_encoder, self.target_encoder, momentum)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The representation for evaluation: the target encoder on every patch, averaged. N x dim."""
        return self.target_encoder(self._patches(images)).mean(dim=1)
