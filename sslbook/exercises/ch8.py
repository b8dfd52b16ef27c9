"""Exercises of chapter 8: CLIP's symmetric loss, shrinking a network for a device, and an
occlusion map.

Nothing here imports torchao: ``sslbook.compress`` imports it only when it quantizes, and the
student's answer to 8.2 brings it."""

from __future__ import annotations

import copy
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import compress as _compress   # imports no torchao until it quantizes
from .. import interpret as _interpret
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import tensor as _tensor
from ._common import unanswered as _unanswered


def _clip(image_z, text_z, t):
    logits = F.normalize(image_z.double(), dim=1) @ F.normalize(text_z.double(), dim=1).T / t
    target = torch.arange(len(logits))
    return float((F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)


@_checker("8.1")
def check_clip_loss(fn) -> None:
    """Exercise 8.1: ``fn(image_z, text_z, temperature)`` is CLIP's symmetric loss."""
    g = torch.Generator().manual_seed(81)
    shared = (torch.randn(6, 4, generator=g) * 3, torch.randn(6, 4, generator=g))
    cases = [(shared, t) for t in (0.1, 0.5, 0.07, 1.0)]
    cases += [((torch.randn(n, d, generator=g) * 3, torch.randn(n, d, generator=g)), t)
              for n, d, t in [(10, 8, 0.5), (3, 16, 0.2)]]
    got = [_number("8.1", _call("8.1", fn, "clip_loss", u.clone(), v.clone(), t), "clip_loss") for (u, v), t in cases]
    right = [_clip(u, v, t) for (u, v), t in cases]

    def sweep():
        _sweep("8.1", "clip_loss", [{"data": id(data), "temperature": t} for data, t in cases], got, right,
               {"temperature": "did you divide the similarities by the temperature?"}, what="loss", rel=1e-4)

    for ((image_z, text_z), t), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-4, abs_tol=1e-6):
            continue
        n = len(image_z)
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
            ((F.cross_entropy(logits * t * t, target) + F.cross_entropy(logits.T * t * t, target)) / 2,
             "divide by the temperature, do not multiply."),
        ]
        _diagnose("8.1", value, f"on {n} random pairs at temperature {t} the loss is {want:.4f}, got {value:.4f}",
                  hints, "Normalise, take image_z @ text_z.T / temperature, then the cross-entropy towards the "
                         "diagonal along rows and along columns, averaged.", rel_tol=1e-4, then=sweep)
    _passed("8.1", "clip_loss matches CLIP's symmetric loss for every temperature and batch tried.")


def _mlp(seed: int, sizes) -> nn.Module:
    with torch.random.fork_rng():  # the student's global random state is left alone
        torch.manual_seed(seed)
        layers = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1]).eval()


def _shrunk(fn, model, x):
    """The student's copy of ``model``, checked: a module, ``model`` unchanged; its outputs on ``x``."""
    before = copy.deepcopy(model.state_dict())
    small = _call("8.2", fn, "shrink", model)
    if small is None:
        _unanswered("8.2", "shrink returned None (torchao's quantize_ changes the model it is given and returns "
                           "None: return the copy you quantized).")
    if not isinstance(small, nn.Module):
        _fail("8.2", f"shrink must return a torch.nn.Module, got {type(small).__name__}")
    after = model.state_dict()
    changed = set(after) != set(before) or any(
        type(after[k]) is not type(v) or after[k].dtype != v.dtype or not torch.equal(v, after[k])
        for k, v in before.items())   # an int8 weight (a torchao tensor) put in place of a float one counts
    if changed:
        _fail("8.2", "shrink changed the model it was given; quantize a copy: quantize_ works in place, so "
                     "quantize copy.deepcopy(model) and return that.")
    if small is model:
        _fail("8.2", "shrink returned the model it was given: return a quantized copy.")
    try:
        with torch.no_grad():
            out = small(x)
    except Exception as exc:  # noqa: BLE001 - the returned model is the student's
        _fail("8.2", f"the model shrink returned raised {type(exc).__name__} on a {tuple(x.shape)} input: {exc}")
    return small, out


@_checker("8.2")
def check_dynamic_quantization(fn) -> None:
    """Exercise 8.2: ``fn(model)`` returns an int8 copy of a linear network (dynamic
    quantization), at most 40% of the file size, with outputs close to the original's, and
    leaves ``model`` unchanged."""
    for seed, sizes in [(82, (64, 256, 256, 10)), (83, (48, 192, 192, 7))]:
        model = _mlp(seed, sizes)
        x = torch.randn(32, sizes[0], generator=torch.Generator().manual_seed(seed + 1))
        small, got = _shrunk(fn, model, x)
        ratio = _compress.size_bytes(small) / _compress.size_bytes(model)
        where = f"for a network of Linear layers {' -> '.join(map(str, sizes))}"
        if ratio > 0.4:
            _fail("8.2", f"{where} the returned model is {ratio:.0%} of the original's size; store the Linear layers' "
                         "weights in int8: quantize_(small, Int8DynamicActivationInt8WeightConfig()) from "
                         "torchao.quantization, on a copy small = copy.deepcopy(model).")
        with torch.no_grad():
            want = model(x)
        if not torch.is_tensor(got) or got.shape != want.shape:
            _fail("8.2", f"{where} the returned model should map {tuple(x.shape)} inputs to {tuple(want.shape)}, got "
                         f"{getattr(got, 'shape', type(got).__name__)}: quantize the model you are given.")
        error = float((got - want).abs().max() / want.abs().max())
        if error > 0.05:
            _fail("8.2", f"{where} outputs differ from the original's by up to {error:.1%} of their range; quantize "
                         "only the weights' storage of the model you are given, keep the same layers.")
    _passed("8.2", f"the int8 copies are at most 40% of the size (the last {ratio:.0%}) and their outputs within 5%.")


def _encoder(seed: int, pooled: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(pooled),
                             nn.Flatten()).eval()


@_checker("8.4")
def check_occlusion(fn) -> None:
    """Exercise 8.4: ``fn(encoder, image, patch)`` is the occlusion map: for each
    non-overlapping ``patch`` x ``patch`` square, 1 - cosine similarity between the
    features of the image and of the image with that square set to grey (0.5)."""
    square = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(85))
    wide = torch.rand(3, 8, 12, generator=torch.Generator().manual_seed(86))
    first, second = _encoder(84, 2), _encoder(87, 3)
    for encoder, image, patch in [(first, square, 4), (first, square, 2), (second, wide, 4), (second, square, 8)]:
        where = f"with a {image.shape[1]} x {image.shape[2]} image and patch = {patch}"
        given = image.clone()
        got = _call("8.4", fn, "occlusion", encoder, given, patch)
        if got is None:
            _unanswered("8.4", "occlusion returned None.")
        if not torch.equal(given, image):
            _fail("8.4", f"{where}: your occlusion changed the image it was given; fill a copy (image.clone()).")
        with torch.no_grad():
            right = _interpret.occlusion_map(encoder, image, patch=patch).double()
        got = _tensor("8.4", got, "occlusion")
        if got.shape != right.shape:
            rows_first = " (rows of squares first, then columns)" if got.shape == right.T.shape else ""
            _fail("8.4", f"{where} the map is {tuple(right.shape)}, one value per square{rows_first}, got "
                         f"{tuple(got.shape)}")
        if torch.allclose(got, right, atol=1e-5):
            continue
        if got.shape == right.T.shape and torch.allclose(got, right.T, atol=1e-5):
            _fail("8.4", f"{where}: the map is transposed; one row of the map per row of squares, then the columns.")
        if torch.allclose(got, 1 - right, atol=1e-5):
            _fail("8.4", f"{where}: that is the similarity; the map shows the change, 1 - similarity.")
        with torch.no_grad():
            black = _interpret.occlusion_map(encoder, image, patch=patch, fill=0.0).double()
        if torch.allclose(got, black, atol=1e-5):
            _fail("8.4", f"{where}: you filled each square with black (0); fill it with grey, 0.5, as Zeiler and "
                         "Fergus do (black changes few pixels on a dark border).")
        _fail("8.4", f"{where} expected {[round(v, 4) for v in right.flatten().tolist()]}, got "
                     f"{[round(v, 4) for v in got.flatten().tolist()]}: fill one square at a time with grey, 0.5 "
                     "(rows, then columns), embed, and compare with the features of the untouched image.")
    _passed("8.4", "the occlusion map matches for every patch size, image shape and encoder tried.")
