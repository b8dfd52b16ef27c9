"""The book's Transformers: a tiny one for masked language modelling, and two for
masked image modelling: :class:`MaskedAutoencoder` (MAE as published, whose
encoder sees only the visible patches) and :class:`PatchMaskedAutoencoder`
(SimMIM style: mask tokens go through the encoder).
"""

from __future__ import annotations

import torch
from torch import nn

from . import _validate
from .masking import patchify


class TinyTransformer(nn.Module):
    """A small Transformer encoder for masked language modelling.

    Token and learned position embeddings, ``depth`` pre-norm encoder layers,
    and a linear head over the ``num_embeddings`` token ids (the vocabulary plus
    the ``[MASK]`` id). Input N x L ids, output N x L x ``num_embeddings`` logits.
    With ``pad_id`` set, padding tokens are hidden from attention.

    >>> TinyTransformer(num_embeddings=11, max_len=6)(torch.randint(0, 11, (2, 6))).shape
    torch.Size([2, 6, 11])
    """

    def __init__(self, num_embeddings: int, dim: int = 64, depth: int = 2, heads: int = 4,
                 max_len: int = 32, dropout: float = 0.0, pad_id: int | None = None):
        super().__init__()
        _validate.positive_int("num_embeddings", num_embeddings, minimum=2)
        _validate.positive_int("dim", dim)
        _validate.positive_int("depth", depth)
        _validate.positive_int("heads", heads)
        _validate.positive_int("max_len", max_len)
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads ({heads}), got {dim}")
        if pad_id is not None:
            _validate.in_range("pad_id", pad_id, 0, num_embeddings - 1)
        self.num_embeddings, self.max_len, self.pad_id = num_embeddings, max_len, pad_id
        self.tokens = nn.Embedding(num_embeddings, dim)
        self.positions = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_embeddings)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """Contextual token representations, N x L x dim (padding is not attended to
        when the model has a ``pad_id``)."""
        if ids.ndim != 2 or ids.shape[1] > self.max_len:
            raise ValueError(f"ids must be N x L with L <= {self.max_len}, got shape {tuple(ids.shape)}")
        padding = None if self.pad_id is None else ids == self.pad_id
        if padding is not None:  # a row of padding only would attend to nothing: let it see its first token
            padding = padding & ~padding.all(dim=1, keepdim=True)
        x = self.tokens(ids) + self.positions[: ids.shape[1]]
        return self.norm(self.encoder(x, src_key_padding_mask=padding))

    def sentence_features(self, ids: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: the mean of its token representations, padding left out. N x dim."""
        if self.pad_id is None:
            raise ValueError("sentence_features needs a model built with pad_id")
        keep = (ids != self.pad_id).unsqueeze(-1).float()
        return (self.hidden(ids) * keep).sum(1) / keep.sum(1).clamp(min=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(ids))


class PatchMaskedAutoencoder(nn.Module):
    """Masked image modelling in the SimMIM style (Xie et al., 2022, arXiv 2111.09886).

    Images are cut into ``patch`` x ``patch`` patches; masked patches are
    replaced by a learned mask token; a Transformer encoder reads *all* patch
    tokens, mask tokens included, with positions; a linear head predicts every
    patch's pixels. The loss (see :meth:`loss`) counts only the masked patches.
    This is not MAE: MAE's encoder never sees a mask token (see
    :class:`MaskedAutoencoder`). Input N x C x H x W and an N x P mask, output
    N x P x (C * patch * patch).

    ``criterion`` is the pixel loss: ``"mse"`` (the default, the mean squared error MAE uses)
    or ``"l1"`` (the mean absolute error, the loss SimMIM regresses raw pixels with).

    >>> m = PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2, criterion="l1")
    >>> m.loss(torch.rand(2, 1, 8, 8), torch.ones(2, 16, dtype=torch.bool)).ndim
    0
    """

    def __init__(self, image_size: int = 8, channels: int = 1, patch: int = 2, dim: int = 64,
                 depth: int = 2, heads: int = 4, criterion: str = "mse"):
        super().__init__()
        _validate.positive_int("image_size", image_size)
        _validate.positive_int("patch", patch)
        if image_size % patch:
            raise ValueError(f"patch must divide image_size ({image_size}), got {patch}")
        _validate.one_of("criterion", criterion, ("mse", "l1"))
        self.image_size, self.channels, self.patch = image_size, channels, patch
        self.criterion = criterion
        self.num_patches = (image_size // patch) ** 2
        patch_dim = channels * patch * patch
        self.embed = nn.Linear(patch_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        self.positions = nn.Parameter(torch.randn(self.num_patches, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, patch_dim)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted patches, N x P x (C * patch * patch), for images with ``mask`` (N x P) hidden."""
        tokens = self.embed(patchify(images, self.patch))
        tokens = torch.where(mask.unsqueeze(-1), self.mask_token.expand_as(tokens), tokens)
        return self.head(self.norm(self.encoder(tokens + self.positions)))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Mean-pooled encoder tokens of unmasked images: N x dim."""
        tokens = self.embed(patchify(images, self.patch)) + self.positions
        return self.norm(self.encoder(tokens)).mean(dim=1)

    def loss(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mean error over the pixels of the masked patches only: squared (``criterion="mse"``)
        or absolute (``criterion="l1"``, SimMIM's)."""
        target = patchify(images, self.patch)
        error = self(images, mask) - target
        return (error ** 2 if self.criterion == "mse" else error.abs())[mask].mean()


def sincos_positions(grid: int, dim: int) -> torch.Tensor:
    """MAE's fixed 2-D sine-cosine position embeddings for a ``grid`` x ``grid`` patch grid:
    (grid^2) x ``dim``, row by row; half the dimensions encode the row, half the column,
    each as sines and cosines of the coordinate at ``dim / 4`` frequencies (``dim`` a multiple of 4).

    >>> sincos_positions(4, 8).shape
    torch.Size([16, 8])
    """
    _validate.positive_int("grid", grid)
    if not isinstance(dim, int) or dim < 4 or dim % 4:
        raise ValueError(f"dim must be a positive multiple of 4, got {dim!r}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    coords = torch.arange(grid, dtype=torch.float32)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    parts = [f(c.flatten()[:, None] * omega) for c in (rows, cols) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=1)


def _blocks(dim: int, depth: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class MaskedAutoencoder(nn.Module):
    """A masked autoencoder (MAE) as published by He et al. (2022, arXiv 2111.06377), for small images.

    1. The image is cut into P = (``image_size`` / ``patch``)^2 patches and
       ``round(mask_ratio * P)`` of them are hidden, a different random set per image.
    2. The **encoder** (a small Vision Transformer: a linear patch embedding, position
       embeddings, ``depth`` pre-norm Transformer blocks) reads **only the
       visible patches**, each with its own position embedding. No mask token enters it.
    3. The lighter **decoder** receives the encoded visible tokens (projected to
       ``decoder_dim``) put back at their places and one shared learned mask token
       at every hidden place, adds its own position embeddings, runs
       ``decoder_depth`` blocks and predicts the pixels of every patch.
       Both position embeddings are fixed 2-D sines and cosines, as in the paper
       (:func:`sincos_positions`).
    4. The loss is the mean squared error over the pixels of the **hidden patches
       only**; with ``norm_pix_loss`` each target patch is first normalised by its
       own mean and standard deviation, as in the paper's best setting.

    After pre-training the decoder is thrown away; :meth:`features` runs the encoder
    on all patches (nothing hidden) and averages the tokens: N x ``dim``.

    Shapes: images N x C x H x W; mask N x P (bool, True = hidden, the same count in
    every row); :meth:`encode` N x V x ``dim`` with V = P - hidden; ``forward``
    N x P x (C * patch * patch).

    >>> mae = MaskedAutoencoder(image_size=8, patch=2); x = torch.rand(4, 1, 8, 8)
    >>> mae(x, mae.random_mask(4)).shape, mae.encode(x, mae.random_mask(4)).shape
    (torch.Size([4, 16, 4]), torch.Size([4, 4, 64]))
    """

    def __init__(self, image_size: int = 8, channels: int = 1, patch: int = 2, dim: int = 64,
                 depth: int = 2, heads: int = 4, decoder_dim: int = 32, decoder_depth: int = 1,
                 decoder_heads: int = 4, mask_ratio: float = 0.75, norm_pix_loss: bool = False):
        super().__init__()
        for name, value in (("image_size", image_size), ("channels", channels), ("patch", patch),
                            ("dim", dim), ("depth", depth), ("heads", heads), ("decoder_dim", decoder_dim),
                            ("decoder_depth", decoder_depth), ("decoder_heads", decoder_heads)):
            _validate.positive_int(name, value)
        if image_size % patch:
            raise ValueError(f"image_size must be divisible by patch ({patch}), got {image_size}")
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads ({heads}), got {dim}")
        if dim % 4 or decoder_dim % 4:
            raise ValueError(f"dim and decoder_dim must be multiples of 4 (2-D sine-cosine positions), "
                             f"got {dim} and {decoder_dim}")
        if decoder_dim % decoder_heads:
            raise ValueError(f"decoder_dim must be divisible by decoder_heads ({decoder_heads}), got {decoder_dim}")
        self.image_size, self.channels, self.patch = image_size, channels, patch
        self.num_patches = (image_size // patch) ** 2
        if self.num_patches < 2:
            raise ValueError(f"patch must be smaller than image_size ({image_size}) so that there are at "
                             f"least 2 patches to split into hidden and visible, got {patch}")
        self._check_ratio(mask_ratio)
        self.mask_ratio, self.norm_pix_loss = mask_ratio, bool(norm_pix_loss)
        patch_dim = channels * patch * patch
        self.embed = nn.Linear(patch_dim, dim)
        grid = image_size // patch
        self.register_buffer("positions", sincos_positions(grid, dim), persistent=False)
        self.encoder = _blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        self.to_decoder = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.randn(decoder_dim) * 0.02)
        self.register_buffer("decoder_positions", sincos_positions(grid, decoder_dim), persistent=False)
        self.decoder = _blocks(decoder_dim, decoder_depth, decoder_heads)
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.head = nn.Linear(decoder_dim, patch_dim)

    def _check_ratio(self, mask_ratio) -> None:
        _validate.in_range("mask_ratio", mask_ratio, 0, 1, low_open=True, high_open=True)
        hidden = round(mask_ratio * self.num_patches)
        if not 1 <= hidden < self.num_patches:
            raise ValueError(f"mask_ratio must hide at least 1 and at most {self.num_patches - 1} of the "
                             f"{self.num_patches} patches, got {mask_ratio!r} (hides {hidden})")

    def random_mask(self, n: int, mask_ratio: float | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """An N x P boolean mask hiding exactly ``round(mask_ratio * P)`` patches per image,
        drawn independently per image (``mask_ratio`` defaults to the model's)."""
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        self._check_ratio(ratio)
        _validate.positive_int("n", n)
        k = round(ratio * self.num_patches)
        order = torch.rand(n, self.num_patches, generator=generator).argsort(dim=1)
        return torch.zeros(n, self.num_patches, dtype=torch.bool).scatter_(1, order[:, :k], True)

    def _patches(self, images: torch.Tensor) -> torch.Tensor:
        _validate.tensor("images", images, ndim=4, floating=True)
        shape = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != shape:
            raise ValueError(f"images must be N x {shape[0]} x {shape[1]} x {shape[2]}, got {tuple(images.shape)}")
        return patchify(images, self.patch)

    def _visible_index(self, mask: torch.Tensor, n: int) -> torch.Tensor:
        """N x V indices of the visible patches, in patch order."""
        _validate.tensor("mask", mask, ndim=2)
        if mask.dtype != torch.bool or tuple(mask.shape) != (n, self.num_patches):
            raise ValueError(f"mask must be a bool tensor of shape ({n}, {self.num_patches}), "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        counts = mask.sum(dim=1)
        if (counts != counts[0]).any() or not 1 <= int(counts[0]) < self.num_patches:
            raise ValueError(f"mask must hide the same number of patches in every row, between 1 and "
                             f"{self.num_patches - 1}, got counts {sorted(set(counts.tolist()))}")
        visible = self.num_patches - int(counts[0])
        return torch.argsort(mask.to(torch.int8), dim=1, stable=True)[:, :visible].to(mask.device)

    def encode(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder's tokens of the visible patches only: N x V x ``dim``."""
        tokens = self.embed(self._patches(images)) + self.positions           # N x P x dim
        keep = self._visible_index(mask, len(images))                         # N x V
        visible = torch.gather(tokens, 1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return self.norm(self.encoder(visible))

    def decode(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pixels of every patch, N x P x (C * patch * patch), from the visible tokens ``latent``."""
        keep = self._visible_index(mask, len(latent))
        x = self.to_decoder(latent)                                           # N x V x decoder_dim
        full = self.mask_token.expand(len(x), self.num_patches, -1).clone()   # mask token everywhere
        full = full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x)  # visible tokens back in place
        return self.head(self.decoder_norm(self.decoder(full + self.decoder_positions)))

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted patches, N x P x (C * patch * patch), for images with ``mask`` (N x P) hidden."""
        return self.decode(self.encode(images, mask), mask)

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """The patches to reconstruct, N x P x (C * patch * patch): the pixels, or with
        ``norm_pix_loss`` each patch minus its mean, divided by sqrt(its variance + 1e-6)."""
        target = self._patches(images)
        if self.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, unbiased=False, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def loss(self, images: torch.Tensor, mask: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean squared error over the pixels of the hidden patches only (a fresh random mask
        at the model's ``mask_ratio`` when ``mask`` is None)."""
        if mask is None:
            mask = self.random_mask(len(images), generator=generator)
        return ((self(images, mask) - self.targets(images)) ** 2)[mask].mean()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The representation after pre-training: the encoder on all patches, tokens averaged. N x ``dim``."""
        tokens = self.embed(self._patches(images)) + self.positions
        return self.norm(self.encoder(tokens)).mean(dim=1)
