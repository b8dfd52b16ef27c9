"""Encoders and heads.

SimCLR's recipe: an encoder ``f`` gives the representation ``h = f(x)`` that
later tasks use, and a small projection head ``g`` maps it to ``z = g(h)``
where the contrastive loss is applied. The head is thrown away after training.
"""

from __future__ import annotations

import torch
from torch import nn

from . import _validate


class SmallCNN(nn.Module):
    """A small convolutional encoder for small images (8 x 8 digits to 32 x 32 CIFAR).

    Blocks of 3 x 3 convolution, batch norm and ReLU; a 2 x 2 max-pool after every
    block but the last; then global average pooling and a linear layer to
    ``feature_dim`` features.

    Input N x ``in_channels`` x H x W, output N x ``feature_dim``.

    >>> SmallCNN(in_channels=1)(torch.rand(5, 1, 8, 8)).shape
    torch.Size([5, 128])
    """

    def __init__(self, in_channels: int = 1, widths=(32, 64, 128), feature_dim: int = 128):
        super().__init__()
        _validate.positive_int("in_channels", in_channels)
        _validate.positive_int("feature_dim", feature_dim)
        if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive ints, got {widths!r}")
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, feature_dim)]
        self.net = nn.Sequential(*layers)
        self.in_channels, self.feature_dim = in_channels, feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must be N x {self.in_channels} x H x W, got shape {tuple(x.shape)}"
            )
        return self.net(x)


class ProjectionHead(nn.Module):
    """SimCLR's projection head: Linear, batch norm, ReLU, Linear.

    Input N x ``in_dim``, output N x ``out_dim``.

    >>> ProjectionHead(128, 64)(torch.rand(3, 128)).shape
    torch.Size([3, 64])
    """

    def __init__(self, in_dim: int, out_dim: int = 64, hidden_dim: int | None = None):
        super().__init__()
        _validate.positive_int("in_dim", in_dim)
        _validate.positive_int("out_dim", out_dim)
        hidden_dim = in_dim if hidden_dim is None else hidden_dim
        _validate.positive_int("hidden_dim", hidden_dim)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class SimCLRModel(nn.Module):
    """An encoder and its projection head: ``forward`` returns ``z = g(f(x))``.

    >>> m = SimCLRModel(SmallCNN(1), ProjectionHead(128, 64))
    >>> m(torch.rand(4, 1, 8, 8)).shape, m.encode(torch.rand(4, 1, 8, 8)).shape
    (torch.Size([4, 64]), torch.Size([4, 128]))
    """

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation ``h = f(x)`` used after training."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
