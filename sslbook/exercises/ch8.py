"""Exercises of chapter 8: CLIP's symmetric loss, shrinking a network for a device, and an
occlusion map."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..compress import size_bytes
from ..interpret import occlusion_map
from ..losses import clip_loss
from ._common import call as _call
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def check_clip_loss(fn) -> None:
    """Exercise 8.1: ``fn(image_z, text_z, temperature)`` is CLIP's symmetric loss."""
    g = torch.Generator().manual_seed(81)
    for n, d, t in [(6, 4, 0.1), (10, 8, 0.5)]:
        image_z, text_z = torch.randn(n, d, generator=g) * 3, torch.randn(n, d, generator=g)
        value = _number("8.1", _call("8.1", fn, "clip_loss", image_z, text_z, t), "clip_loss")
        right = clip_loss(image_z, text_z, t).item()
        if math.isclose(value, right, rel_tol=1e-4, abs_tol=1e-6):
            continue
        target = torch.arange(n)
        logits = F.normalize(image_z, dim=1) @ F.normalize(text_z, dim=1).T / t
        raw = image_z @ text_z.T / t
        hints = [
            (F.cross_entropy(logits, target), ("that is only the image-to-text half; average it with the "
                                               "text-to-image half (the transposed logits).")),
            (F.cross_entropy(logits.T, target), "that is only the text-to-image half; average both directions."),
            ((F.cross_entropy(raw, target) + F.cross_entropy(raw.T, target)) / 2,
             "normalise both embeddings to unit length before the dot products."),
            ((F.cross_entropy(logits * t, target) + F.cross_entropy(logits.T * t, target)) / 2,
             f"divide the cosine similarities by the temperature {t}."),
            (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target),
             "average the two directions (divide their sum by 2)."),
        ]
        _diagnose("8.1", value, f"on {n} random pairs at temperature {t} the loss is {right:.4f}, got {value:.4f}",
                  hints, "Normalise, take image_z @ text_z.T / temperature, then the cross-entropy towards the "
                         "diagonal along rows and along columns, averaged.", rel_tol=1e-4)
    _passed("8.1", "clip_loss matches CLIP's symmetric loss on two random batches.")


def _mlp() -> nn.Module:
    torch.manual_seed(82)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).eval()


def check_dynamic_quantization(fn) -> None:
    """Exercise 8.2: ``fn(model)`` returns an int8 copy of a linear network (dynamic
    quantization), at most 40% of the file size, with outputs close to the original's, and
    leaves ``model`` unchanged."""
    model = _mlp()
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(83))
    small = _call("8.2", fn, "shrink", model)
    if small is None:
        _unanswered("8.2", "shrink returned None.")
    if not isinstance(small, nn.Module):
        _fail("8.2", f"shrink must return a torch.nn.Module, got {type(small).__name__}")
    after = model.state_dict()
    if set(after) != set(before) or any(not torch.equal(v, after[k]) for k, v in before.items()):
        _fail("8.2", "shrink changed the model it was given; quantize a copy (quantize_dynamic has inplace=False).")
    ratio = size_bytes(small) / size_bytes(model)
    if ratio > 0.4:
        _fail("8.2", f"the returned model is {ratio:.0%} of the original's size; store the Linear layers' weights "
                     "in int8: torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8).")
    with torch.no_grad():
        want, got = model(x), small(x)
    if not torch.is_tensor(got) or got.shape != want.shape:
        _fail("8.2", f"the returned model should map 32 x 64 inputs to {tuple(want.shape)}, got "
                     f"{getattr(got, 'shape', type(got).__name__)}")
    error = float((got - want).abs().max() / want.abs().max())
    if error > 0.05:
        _fail("8.2", f"outputs differ from the original's by up to {error:.1%} of their range; quantize only the "
                     "weights' storage, keep the same layers.")
    _passed("8.2", f"the int8 copy is {ratio:.0%} of the size and its outputs are within {error:.1%}.")


def check_occlusion(fn) -> None:
    """Exercise 8.4: ``fn(encoder, image, patch)`` is the occlusion map: for each
    non-overlapping ``patch`` x ``patch`` square, 1 - cosine similarity between the
    features of the image and of the image with that square set to zero."""
    torch.manual_seed(84)
    encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()).eval()
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(85))
    got = _call("8.4", fn, "occlusion", encoder, image, 4)
    if got is None:
        _unanswered("8.4", "occlusion returned None.")
    got = torch.as_tensor(got, dtype=torch.float32)
    right = occlusion_map(encoder, image, patch=4)
    if got.shape != right.shape:
        _fail("8.4", f"with 8 x 8 images and 4 x 4 squares the map is {tuple(right.shape)}, got {tuple(got.shape)}")
    if torch.allclose(got, right, atol=1e-5):
        _passed("8.4", "the occlusion map matches on a random image.")
        return
    if torch.allclose(got, 1 - right, atol=1e-5):
        _fail("8.4", "that is the similarity; the map shows the change, 1 - similarity.")
    _fail("8.4", f"expected {right.flatten().tolist()}, got {got.flatten().tolist()}: zero one square at a time "
                 "(rows, then columns), embed, and compare with the features of the untouched image.")
