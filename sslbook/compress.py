"""Making an encoder small for an edge device, and measuring what that costs.

Three measurements (file size, latency per image on one CPU thread, and whatever
quality measure the caller computes on the outputs) and two ways to shrink:
post-training int8 quantization with PyTorch's FX graph mode, and magnitude pruning.
"""

from __future__ import annotations

import copy
import io
import statistics
import time
import warnings

import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torch.nn.utils import prune

from . import _validate

BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")


def size_bytes(model: nn.Module) -> int:
    """Bytes of ``model``'s ``state_dict`` as :func:`torch.save` writes it.

    >>> size_bytes(nn.Linear(10, 10)) > 4 * 110
    True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@torch.no_grad()
def quantize_int8(model: nn.Module, calibration: torch.Tensor, backend: str = "x86") -> nn.Module:
    """An int8 copy of ``model`` by post-training static quantization (FX graph mode):
    convolution, batch norm and ReLU are fused, activation ranges are observed on the
    ``calibration`` batch (N x C x H x W, a few hundred real inputs), then weights and
    activations are stored and computed in 8 bits. ``model`` must be symbolically
    traceable (no Python control flow on tensor values) and stays unchanged.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    >>> q = quantize_int8(net, torch.rand(8, 3, 6, 6))
    >>> q(torch.rand(2, 3, 6, 6)).shape
    torch.Size([2, 64])
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _validate.tensor("calibration", calibration, floating=True)
    _validate.one_of("backend", backend, set(BACKENDS) & set(torch.backends.quantized.supported_engines))
    if len(calibration) < 1:
        raise ValueError("calibration must hold at least one input")
    torch.backends.quantized.engine = backend
    model = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # torch.ao announces its move to torchao
        try:
            prepared = prepare_fx(model, get_default_qconfig_mapping(backend), example_inputs=(calibration[:1],))
        except Exception as error:
            raise ValueError(f"model cannot be traced for quantization ({type(error).__name__}: {error}); "
                             "pass the traceable part, e.g. an nn.Sequential") from error
        for start in range(0, len(calibration), 256):
            prepared(calibration[start:start + 256])
        return convert_fx(prepared)


def prune_weights(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` with the smallest ``amount`` (a fraction in [0, 1)) of its
    convolution and linear weights, ranked by absolute value over the whole network,
    set to zero (global magnitude pruning, made permanent). The tensors keep their
    dense shape: the zeros are stored and multiplied like any other number.

    >>> p = prune_weights(nn.Linear(10, 10), 0.5)
    >>> int((p.weight == 0).sum())
    50
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _validate.in_range("amount", amount, 0, 1, high_open=True)
    model = copy.deepcopy(model)
    targets = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not targets:
        raise ValueError("model has no Conv2d or Linear layer to prune")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    for module, name in targets:
        prune.remove(module, name)
    return model


def sparsity(model: nn.Module) -> float:
    """Fraction of zeros among the convolution and linear weights of ``model``."""
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not weights:
        raise ValueError("model has no Conv2d or Linear layer")
    return float(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))


@torch.no_grad()
def latency(model: nn.Module, images: torch.Tensor, repeats: int = 5, threads: int = 1) -> float:
    """Median seconds per image when ``model`` runs the ``images`` one at a time on
    ``threads`` CPU threads (an edge device answers one request at a time): the median over
    ``repeats`` passes of the pass time divided by the number of images. Timings vary with
    the machine and its load; compare models measured in the same run.

    >>> latency(nn.Linear(4, 2), torch.rand(10, 4), repeats=2) > 0
    True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _validate.tensor("images", images, floating=True)
    _validate.positive_int("repeats", repeats)
    _validate.positive_int("threads", threads)
    if len(images) < 1:
        raise ValueError("images must hold at least one input")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model.eval()
        model(images[:1])                          # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(len(images)):
                model(images[i:i + 1])
            times.append((time.perf_counter() - start) / len(images))
    finally:
        torch.set_num_threads(before)
    return statistics.median(times)
