"""Faster training steps where the hardware allows: bfloat16 autocast and channels-last memory.

Two settings speed up a convolutional network's training step on a CPU: images and weights
stored channels-last (``N x H x W x C`` in memory), which suits the oneDNN convolutions, and
the forward pass under ``torch.autocast(dtype=torch.bfloat16)`` where the processor computes
bfloat16 natively (AVX-512 BF16 or AMX). How much each buys depends on the processor:
``benchmarks/cifar10.py`` measures both, and checks that bfloat16 learns as well as float32.
Without native instructions bfloat16 is emulated and slower, so :func:`resolve` picks it only
where it is native. Only the forward pass runs in bfloat16: the embeddings are cast back to
float32 before the loss, and the weights, their gradients and the optimizer's state stay in
float32 (mixed precision, as on a GPU).

>>> resolve("float32", torch.device("cpu"))
'float32'
>>> with autocast("float32", torch.device("cpu")):
...     torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype
torch.float32
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX-512 BF16 or AMX tiles (checked through ``torch.cpu``'s feature tests)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    tests = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in tests)


def resolve(precision: str, device: torch.device | str = "cpu") -> str:
    """The precision to train in: ``"bfloat16"`` or ``"float32"``.

    ``"auto"`` is bfloat16 where :func:`native_bfloat16` says the device computes it natively,
    float32 elsewhere; ``"float32"`` and ``"bfloat16"`` are taken as asked.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def autocast(precision: str, device: torch.device | str = "cpu"):
    """A context in which the forward pass runs in ``precision`` (resolved, not ``"auto"``):
    ``torch.autocast`` to bfloat16, or nothing for float32."""
    if precision not in PRECISIONS[1:]:
        raise ValueError(f"precision must be 'float32' or 'bfloat16' (resolve 'auto' first), got {precision!r}")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` stored channels-last if it is a batch of images (4 dimensions), else unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
