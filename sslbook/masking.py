"""Masking for masked prediction: BERT's token masking and image patch masking."""

from __future__ import annotations

import torch

from . import _validate

IGNORE_INDEX = -100  # the label that torch's cross_entropy skips


def check_ratio(mask_ratio) -> None:
    """Raise ``ValueError`` unless 0 < ``mask_ratio`` <= 1."""
    _validate.in_range("mask_ratio", mask_ratio, 0, 1, low_open=True)


def mask_tokens(ids: torch.Tensor, mask_ratio: float, mask_id: int, vocab_size: int,
                special_ids=(), generator: torch.Generator | None = None):
    """BERT's masking (Devlin et al., 2019): returns ``(inputs, labels)``.

    Of the tokens of ``ids`` that are not special, ``round(mask_ratio * count)``
    (at least one) are *chosen* at random. Of the chosen, about 80% are replaced
    by ``mask_id``, 10% by a random non-special token of the vocabulary and 10%
    kept unchanged. ``labels`` holds the original token at the chosen positions
    and ``-100`` everywhere else, so that ``F.cross_entropy(..., ignore_index=-100)``
    takes the loss only where a prediction is asked.

    ``[MASK]`` is a reserved entry of the vocabulary: an id that no word of a
    text uses, like BERT's ``[MASK]`` beside ``[CLS]``, ``[SEP]`` and ``[PAD]``.
    The ordinary tokens here are the ids ``0`` to ``vocab_size - 1``, so
    ``mask_id`` must be a reserved id: either an id after them
    (``mask_id >= vocab_size``, the model's embedding table then needs
    ``mask_id + 1`` rows, e.g. ``vocab_size + 1``), or one of ``special_ids``.
    Special tokens (padding, separators, ``[MASK]``) are never chosen and never
    drawn as the random replacement.

    >>> ids = torch.arange(20).view(2, 10)
    >>> inputs, labels = mask_tokens(ids, 0.5, mask_id=20, vocab_size=20)
    >>> int((labels != -100).sum())
    10
    """
    _validate.tensor("ids", ids, integer=True)
    check_ratio(mask_ratio)
    _validate.positive_int("vocab_size", vocab_size)
    reserved = isinstance(mask_id, int) and not isinstance(mask_id, bool) and (
        mask_id >= vocab_size or (mask_id >= 0 and mask_id in set(special_ids)))
    if not reserved:
        raise ValueError(f"mask_id must be a reserved id that no ordinary token uses: an integer >= "
                         f"vocab_size ({vocab_size}) or one of special_ids {tuple(special_ids)}, got {mask_id!r}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, vocab_size = {vocab_size}), got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    special = torch.as_tensor(list(special_ids), dtype=ids.dtype, device=ids.device)
    eligible = ~torch.isin(ids, special) if special.numel() else torch.ones_like(ids, dtype=torch.bool)
    positions = torch.nonzero(eligible.flatten()).flatten()
    if positions.numel() == 0:
        raise ValueError("ids holds no token that may be masked (all are special)")
    count = max(1, round(mask_ratio * positions.numel()))
    pick = torch.randperm(positions.numel(), generator=generator)[:count].to(ids.device)
    chosen = torch.zeros(ids.numel(), dtype=torch.bool, device=ids.device)
    chosen[positions[pick]] = True
    chosen = chosen.view_as(ids)

    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    u = torch.rand(ids.shape, generator=generator).to(ids.device)
    inputs = ids.clone()
    inputs[chosen & (u < 0.8)] = mask_id
    random_slot = chosen & (u >= 0.8) & (u < 0.9)
    ordinary = torch.arange(vocab_size, device=ids.device)
    if special.numel():
        ordinary = ordinary[~torch.isin(ordinary, special)]
    draws = torch.randint(len(ordinary), ids.shape, generator=generator).to(ids.device)
    inputs[random_slot] = ordinary[draws[random_slot]]
    return inputs, labels


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut N x C x H x W images into N x P x (C * patch * patch) non-overlapping patches.

    >>> patchify(torch.rand(2, 1, 8, 8), 2).shape
    torch.Size([2, 16, 4])
    """
    _validate.tensor("images", images, ndim=4)
    _validate.positive_int("patch", patch)
    n, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"patch must divide the image size {h} x {w}, got {patch}")
    x = images.unfold(2, patch, patch).unfold(3, patch, patch)  # N, C, H/p, W/p, p, p
    return x.permute(0, 2, 3, 1, 4, 5).reshape(n, (h // patch) * (w // patch), c * patch * patch)


def unpatchify(patches: torch.Tensor, patch: int, channels: int, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`patchify`."""
    _validate.tensor("patches", patches, ndim=3)
    n = patches.shape[0]
    gh, gw = height // patch, width // patch
    if patches.shape[1] != gh * gw or patches.shape[2] != channels * patch * patch:
        raise ValueError(f"patches must be N x {gh * gw} x {channels * patch * patch} for this image size, "
                         f"got {tuple(patches.shape)}")
    x = patches.reshape(n, gh, gw, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, channels, height, width)


def random_patch_mask(n: int, num_patches: int, mask_ratio: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """An N x P boolean mask with exactly ``round(mask_ratio * P)`` (at least one) patches
    masked in every row, drawn independently per sample, as in MAE (He et al., 2022).

    >>> random_patch_mask(3, 16, 0.75).sum(dim=1).tolist()
    [12, 12, 12]
    """
    _validate.positive_int("n", n)
    _validate.positive_int("num_patches", num_patches)
    check_ratio(mask_ratio)
    k = max(1, round(mask_ratio * num_patches))
    order = torch.rand(n, num_patches, generator=generator).argsort(dim=1)
    mask = torch.zeros(n, num_patches, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask


def sliding_patches(image: torch.Tensor, size: int, stride: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """All ``size`` x ``size`` patches of a C x H x W image, ``stride`` pixels apart:
    returns the N x C x size x size patches (row by row) and the grid shape (rows, columns).

    >>> p, grid = sliding_patches(torch.rand(1, 8, 8), 4, 2); tuple(p.shape), grid
    ((9, 1, 4, 4), (3, 3))
    """
    _validate.tensor("image", image, ndim=3)
    _validate.positive_int("size", size)
    _validate.positive_int("stride", stride)
    c, h, w = image.shape
    if size > min(h, w):
        raise ValueError(f"size must be at most the image's smaller side ({min(h, w)}), got {size}")
    p = image.unfold(1, size, stride).unfold(2, size, stride)  # C, rows, cols, size, size
    rows, cols = p.shape[1], p.shape[2]
    return p.permute(1, 2, 0, 3, 4).reshape(rows * cols, c, size, size).contiguous(), (rows, cols)
