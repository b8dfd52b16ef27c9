"""Making an encoder small for an edge device, and measuring what that costs.

Three measurements (file size, latency per image on one CPU thread, and whatever
quality measure the caller computes on the outputs) and two ways to shrink:
post-training int8 quantization with PyTorch's PT2E flow (``torch.export``, then
torchao's ``prepare_pt2e`` / ``convert_pt2e`` with the ``X86InductorQuantizer``), and
magnitude pruning. :func:`fold_batchnorm` gives the float32 baseline the same fused
convolutions as the int8 model, so that a timing compares int8 with float32 and not
fewer operators with more.

torchao is imported inside the functions that need it: importing this module does not
import any quantization code.
"""

from __future__ import annotations

import copy
import io
import platform
import statistics
import time
from importlib import metadata

import torch
from torch import nn
from torch.nn.utils import prune
from torch.nn.utils.fusion import fuse_conv_bn_eval

from . import _validate

#: Processors whose int8 kernels :func:`lower_x86` uses (oneDNN's x86 kernels).
X86_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")


def has_x86_kernels() -> bool:
    """Whether this processor is an x86 one, whose oneDNN int8 kernels :func:`lower_x86` uses.

    >>> isinstance(has_x86_kernels(), bool)
    True
    """
    return platform.machine().lower() in X86_MACHINES


#: CPU features with which oneDNN multiplies uint8 by int8 into 32-bit sums directly (VNNI, AMX).
FULL_RANGE_FEATURES = ("avx512_vnni", "amx_int8")


def int8_activation_levels() -> tuple[int, str]:
    """How many levels :func:`quantize_int8` gives activations on this processor, and why.

    oneDNN's int8 kernels on x86 processors without VNNI (``vpdpbusd``) or AMX multiply
    uint8 activations by int8 weights with ``vpmaddubsw``, which adds two products into a
    16-bit integer and saturates: with activations up to 255, large sums are clipped and
    the kernels no longer compute what the quantized model says. torchao's
    ``get_default_x86_inductor_quantization_config(reduce_range=True)`` keeps activations
    in 0..127 (7 bits), where the pair cannot overflow. Returns ``(256, reason)`` where the
    processor reports one of :data:`FULL_RANGE_FEATURES` (``torch.cpu.get_capabilities``),
    else ``(128, reason)``.

    >>> int8_activation_levels()[0] in (128, 256)
    True
    """
    capabilities = torch.cpu.get_capabilities()
    found = [name for name in FULL_RANGE_FEATURES if capabilities.get(name, False)]
    if found:
        return 256, f"this processor has {', '.join(found)}: uint8 activations use all 256 levels"
    return 128, ("this processor has neither " + " nor ".join(FULL_RANGE_FEATURES) + ": oneDNN's int8 kernels add "
                 "pairs of products in 16 bits, which can overflow, so activations keep 128 levels (reduce_range)")


def size_bytes(model: nn.Module) -> int:
    """Bytes of ``model``'s ``state_dict`` as :func:`torch.save` writes it.

    >>> size_bytes(nn.Linear(10, 10)) > 4 * 110
    True
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    buffer = io.BytesIO()
    try:
        torch.save(model.state_dict(), buffer)
    except RuntimeError as error:           # oneDNN's prepacked weights have no storage to write
        raise ValueError(f"model holds tensors that cannot be saved ({error}); measure the model before "
                         "lower_x86 packs its weights for the kernels") from error
    return buffer.getbuffer().nbytes


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in evaluation mode in which every ``BatchNorm2d`` that directly
    follows a ``Conv2d`` inside an ``nn.Sequential`` is folded into that convolution's
    weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and replaced by
    ``nn.Identity``. The outputs are the same up to float rounding; the copy runs one
    operator fewer per block, as the int8 model does. ``model`` stays unchanged.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    >>> folded = fold_batchnorm(net)
    >>> type(folded[1]).__name__, torch.allclose(folded(torch.ones(1, 3, 5, 5)), net(torch.ones(1, 3, 5, 5)), atol=1e-5)
    ('Identity', True)
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model).eval()
    for sequence in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(sequence._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = sequence._modules[first], sequence._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                sequence._modules[first] = fuse_conv_bn_eval(conv, norm)
                sequence._modules[second] = nn.Identity()
    return model


def _strip_unused(graph_module: torch.fx.GraphModule) -> None:
    """Drop the parameters and buffers the graph no longer reads (the float32 weights
    that ``convert_pt2e`` replaced by their int8 copies), so that the state_dict holds
    what the model computes with."""
    used = {node.target for node in graph_module.graph.nodes if node.op == "get_attr"}
    for name in [n for n, _ in graph_module.named_parameters()] + [n for n, _ in graph_module.named_buffers()]:
        if name not in used:
            owner, _, attr = name.rpartition(".")
            module = graph_module.get_submodule(owner) if owner else graph_module
            delattr(module, attr)


#: The first torchao release with ``torchao.quantization.pt2e`` (PT2E quantization, the x86
#: quantizer and its lowering); 0.10 has none of it (checked against the released wheels).
TORCHAO_MINIMUM = (0, 11)


def _require_torchao() -> None:
    """Refuse, with the fix, a torchao too old (or absent) for the PT2E path."""
    try:
        found = metadata.version("torchao")
    except metadata.PackageNotFoundError:
        raise ImportError("int8 quantization needs torchao >= 0.11, which is not installed: "
                          "pip install 'torchao>=0.11'") from None
    parts = tuple(int(p) for p in found.split("+")[0].split(".")[:2] if p.isdigit())
    if parts < TORCHAO_MINIMUM:
        raise ImportError(f"int8 quantization needs torchao >= 0.11 (torchao.quantization.pt2e), found "
                          f"{found}: pip install -U 'torchao>=0.11' (and a torch release it supports)")


@torch.no_grad()
def quantize_int8(model: nn.Module, calibration: torch.Tensor,
                  activation_levels: int | None = None) -> torch.fx.GraphModule:
    """An int8 copy of ``model`` by post-training static quantization (PT2E): the model is
    captured by ``torch.export`` (batch size free), the ``X86InductorQuantizer`` marks
    convolutions (batch norm folded) and linear layers, activation ranges are observed
    on the ``calibration`` batch (N x C x H x W, N >= 2, a few hundred real inputs), and
    ``convert_pt2e`` stores the weights in int8 (per output channel) with the activation
    scales. Pooling stays in float32 between the quantized layers.

    ``activation_levels`` is 256 (uint8 activations, 0..255) or 128 (0..127, torchao's
    ``reduce_range``); ``None`` takes :func:`int8_activation_levels`, the setting at which
    this processor's int8 kernels compute what the model computes.

    The result runs on any CPU and computes what the int8 kernels compute (quantize,
    dequantize, then the float operator: the reference form); :func:`lower_x86` turns it
    into oneDNN's int8 kernels. ``model`` must be exportable (no Python control flow on
    tensor values) and stays unchanged.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> q = quantize_int8(net, torch.rand(8, 3, 6, 6))
    >>> q(torch.rand(5, 3, 6, 6)).shape
    torch.Size([5, 4])
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _validate.tensor("calibration", calibration, floating=True)
    if len(calibration) < 2:
        raise ValueError(f"calibration must hold at least 2 inputs (the batch size stays free), got {len(calibration)}")
    if activation_levels is None:
        activation_levels = int8_activation_levels()[0]
    if activation_levels not in (128, 256) or isinstance(activation_levels, bool):
        raise ValueError(f"activation_levels must be 128 or 256 (or None for this processor's), got {activation_levels!r}")
    _require_torchao()
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    model = copy.deepcopy(model).cpu().eval()
    calibration = calibration.cpu()
    try:
        exported = torch.export.export(model, (calibration[:2],),
                                       dynamic_shapes=({0: torch.export.Dim("batch")},)).module()
    except Exception as error:
        raise ValueError(f"model cannot be exported for quantization ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}); pass the exportable part, "
                         "e.g. an nn.Sequential") from error
    config = x86.get_default_x86_inductor_quantization_config(reduce_range=activation_levels == 128)
    quantizer = x86.X86InductorQuantizer().set_global(config)
    for pooling in (nn.MaxPool2d, nn.AdaptiveAvgPool2d):   # float32 pooling: no dequantize-quantize pair around it
        quantizer.set_module_type_qconfig(pooling, None)
    prepared = prepare_pt2e(exported, quantizer)
    for start in range(0, len(calibration), 256):
        prepared(calibration[start:start + 256])
    quantized = convert_pt2e(prepared)
    _strip_unused(quantized)
    allow_exported_model_train_eval(quantized)    # .eval() and .train() work, as on any module
    return quantized


@torch.no_grad()
def lower_x86(quantized: torch.fx.GraphModule, example: torch.Tensor) -> torch.fx.GraphModule:
    """``quantized`` (from :func:`quantize_int8`) with its int8 convolutions and linear
    layers replaced by oneDNN's int8 kernels for x86 processors
    (``torchao.quantization.pt2e.lowering.lower_pt2e_quantized_to_x86``), weights packed
    for them. The lowered model accepts inputs of ``example``'s shape only (pass one image,
    1 x C x H x W, to time one request at a time); its packed weights cannot be saved, so
    measure :func:`size_bytes` on ``quantized``. Runs eagerly, without compilation.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    >>> q = quantize_int8(net, torch.rand(8, 3, 6, 6))
    >>> lower_x86(q, torch.rand(1, 3, 6, 6))(torch.rand(1, 3, 6, 6)).shape
    torch.Size([1, 4])
    """
    if not isinstance(quantized, torch.fx.GraphModule):
        raise ValueError(f"quantized must be the GraphModule quantize_int8 returns, got {type(quantized).__name__}")
    _validate.tensor("example", example, floating=True)
    if not has_x86_kernels():
        raise RuntimeError(f"lower_x86 needs an x86 processor (oneDNN's x86 int8 kernels); this one is "
                           f"{platform.machine()!r}: time the model quantize_int8 returned, or torch.compile it")
    _require_torchao()
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.lowering import lower_pt2e_quantized_to_x86

    lowered = lower_pt2e_quantized_to_x86(quantized, (example.cpu(),))
    allow_exported_model_train_eval(lowered)
    return lowered


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
