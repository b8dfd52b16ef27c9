"""The book's Transformers: a tiny one for masked language modelling and a patch
Transformer for masked image modelling.
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
    """Masked image modelling on small images (MAE / SimMIM style).

    Images are cut into ``patch`` x ``patch`` patches; masked patches are
    replaced by a learned mask token; a Transformer encoder reads all patch
    tokens with positions; a linear head predicts every patch's pixels. The
    loss (see :meth:`loss`) counts only the masked patches.
    """

    def __init__(self, image_size: int = 8, channels: int = 1, patch: int = 2, dim: int = 64,
                 depth: int = 2, heads: int = 4):
        super().__init__()
        _validate.positive_int("image_size", image_size)
        _validate.positive_int("patch", patch)
        if image_size % patch:
            raise ValueError(f"patch must divide image_size ({image_size}), got {patch}")
        self.image_size, self.channels, self.patch = image_size, channels, patch
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
        """Mean squared error over the pixels of the masked patches only."""
        target = patchify(images, self.patch)
        pred = self(images, mask)
        return ((pred - target) ** 2)[mask].mean()
