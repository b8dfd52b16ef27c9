"""The book's convolutional and tabular networks: encoders, heads, queues, the
article's CNN and the encoder/classifier factories of each architecture. The
Transformers are in :mod:`sslbook.attention`.

SimCLR's recipe: an encoder ``f`` gives the representation ``h = f(x)`` that
later tasks use, and a small projection head ``g`` maps it to ``z = g(h)``
where the contrastive loss is applied. The head is thrown away after training.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18

from . import _validate

#: Encoder architectures by name: 8 x 8 grey digits, a small CNN for 32 x 32
#: colour images (chapter 5's quick budget) and SimCLR's CIFAR ResNet-18.
ARCHS = ("digits", "small", "resnet18")


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


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, momentum: float = 0.99) -> None:
    """Move ``target``'s parameters towards ``online``'s: t <- m t + (1 - m) o (MoCo, BYOL).

    Buffers (batch-norm statistics) are copied.
    """
    _validate.in_range("momentum", momentum, 0, 1)
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


class FeatureQueue:
    """MoCo's queue: the last ``size`` keys, first in, first out.

    >>> q = FeatureQueue(4, 2); q.enqueue(torch.ones(3, 2)); q.enqueue(torch.zeros(3, 2))
    >>> len(q), q.features.sum().item()
    (4, 2.0)
    """

    def __init__(self, size: int, dim: int):
        _validate.positive_int("size", size)
        _validate.positive_int("dim", dim)
        self.size, self.dim = size, dim
        self._data = torch.zeros(size, dim)
        self._ptr, self._count = 0, 0

    def __len__(self) -> int:
        return self._count

    @property
    def pointer(self) -> int:
        """The row the next key is written to."""
        return self._ptr

    @property
    def buffer(self) -> torch.Tensor:
        """All ``size`` rows of the ring buffer, empty rows included (a copy)."""
        return self._data.clone()

    @property
    def features(self) -> torch.Tensor:
        """The stored keys (at most ``size`` x ``dim``)."""
        return self._data[: self._count] if self._count < self.size else self._data

    def to(self, device: torch.device | str) -> "FeatureQueue":
        """Keep the keys on ``device`` (where the loss runs); returns the queue itself."""
        self._data = self._data.to(device)
        return self

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Add a batch of keys, overwriting the oldest when full."""
        if keys.ndim != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be B x {self.dim}, got {tuple(keys.shape)}")
        keys = keys.detach().to(self._data.device, self._data.dtype)[-self.size:]
        idx = (self._ptr + torch.arange(len(keys), device=self._data.device)) % self.size
        self._data[idx] = keys
        self._ptr = int((self._ptr + len(keys)) % self.size)
        self._count = min(self.size, self._count + len(keys))


def cifar_resnet18(feature_dim: int | None = None) -> nn.Module:
    """torchvision's ResNet-18 adapted to 32 x 32 images, as SimCLR does for CIFAR-10.

    The 7 x 7 stride-2 stem becomes a 3 x 3 stride-1 convolution and the max-pool
    is removed, so that a 32 x 32 image is not shrunk to 8 x 8 before the first
    block; the classifier is replaced by the identity (512 features), or by a
    linear layer to ``feature_dim`` features when given.

    >>> cifar_resnet18()(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 512])
    """
    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    if feature_dim is None:
        net.fc = nn.Identity()
    else:
        _validate.positive_int("feature_dim", feature_dim)
        net.fc = nn.Linear(512, feature_dim)
    net.feature_dim = feature_dim or 512
    return net


def encoder(arch: str = "small") -> nn.Module:
    """A fresh encoder of architecture ``arch`` (see :data:`ARCHS`):

    - ``"digits"``: a 3-block :class:`SmallCNN` for 1 x 8 x 8 digits, 128 features;
    - ``"small"``: a 4-block :class:`SmallCNN` for 3 x 32 x 32 images, 256 features,
      about 0.45 M parameters;
    - ``"resnet18"``: :func:`cifar_resnet18`, 512 features, about 11 M parameters.

    >>> encoder("small")(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 256])
    """
    _validate.one_of("arch", arch, set(ARCHS))
    if arch == "digits":
        return SmallCNN(1, feature_dim=128)
    if arch == "small":
        return SmallCNN(3, widths=(32, 64, 128, 256), feature_dim=256)
    return cifar_resnet18()


def classifier(arch: str = "small", num_classes: int = 10) -> nn.Sequential:
    """The encoder of ``arch`` with a linear classifier on top, for supervised
    training from scratch: ``classifier(arch)[0]`` is the encoder.

    >>> classifier("small")(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    _validate.positive_int("num_classes", num_classes, minimum=2)
    enc = encoder(arch)
    return nn.Sequential(enc, nn.Linear(enc.feature_dim, num_classes))


class ArticleCNN(nn.Module):
    """The article's ``SimpleCNN`` (one 3 x 3 convolution to 16 channels, a 2 x 2
    max-pool, a hidden layer of 128 and 10 outputs), for an input of ``size`` x
    ``size`` pixels. Its first linear layer has 16 (size/2)^2 x 128 weights, so
    the input size decides most of its parameters.

    >>> ArticleCNN(32)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, size: int = 32):
        super().__init__()
        _validate.positive_int("size", size, minimum=2)
        if size % 2:
            raise ValueError(f"size must be even (the max-pool halves it), got {size}")
        self.size = size
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(16 * (size // 2) ** 2, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, self.size, self.size):
            raise ValueError(f"x must be N x 3 x {self.size} x {self.size}, got shape {tuple(x.shape)}")
        return self.head(self.features(x))


class MLP(nn.Module):
    """An encoder for tabular rows: ``depth`` blocks of Linear, batch norm and ReLU, then a
    linear layer to ``feature_dim`` features. Input N x ``in_dim``, output N x ``feature_dim``.

    >>> MLP(30, feature_dim=16)(torch.rand(4, 30)).shape
    torch.Size([4, 16])
    """

    def __init__(self, in_dim: int, hidden_dim: int = 128, feature_dim: int = 64, depth: int = 2):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("feature_dim", feature_dim),
                            ("depth", depth)):
            _validate.positive_int(name, value)
        layers, d = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            d = hidden_dim
        self.net = nn.Sequential(*layers, nn.Linear(d, feature_dim))
        self.in_dim, self.feature_dim = in_dim, feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must be N x {self.in_dim}, got shape {tuple(x.shape)}")
        return self.net(x)
