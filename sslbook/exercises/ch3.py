"""Exercises of chapter 3: triplet loss, collapse detector, BERT's masking, which concept forms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..evaluate import embedding_std
from ..masking import IGNORE_INDEX
from ._common import call as _call
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def check_triplet(fn) -> None:
    """Exercise 3.1: ``fn(anchor, positive, negative, margin)`` is the triplet loss."""
    g = torch.Generator().manual_seed(4)
    for n, d, margin in [(6, 3, 1.0), (16, 8, 0.5), (5, 2, 2.0)]:
        a, p, q = (torch.randn(n, d, generator=g) for _ in range(3))
        value = _number("3.1", _call("3.1", fn, "triplet_loss", a.clone(), p.clone(), q.clone(), margin), "triplet_loss")
        right = float(F.triplet_margin_loss(a, p, q, margin=margin))
        if math.isclose(value, right, rel_tol=1e-4, abs_tol=1e-5):
            continue
        dp, dn = (a - p).norm(dim=1), (a - q).norm(dim=1)
        hints = [
            ((dp - dn + margin).mean(), "a triplet that already satisfies the margin must cost nothing: clamp at 0."),
            ((dp ** 2 - dn ** 2 + margin).clamp(min=0).mean(), "use distances, not squared distances."),
            ((dp - dn + margin).clamp(min=0).sum(), "take the mean over the triplets, not the sum."),
            ((dn - dp + margin).clamp(min=0).mean(), "the positive's distance comes first: d(a, p) - d(a, n) + margin."),
        ]
        _diagnose("3.1", value, f"for {n} triplets with margin {margin} the loss is {right:.4f}, got {value:.4f}",
                  hints, "Compare with torch.nn.functional.triplet_margin_loss.", rel_tol=1e-4, abs_tol=1e-5)
    _passed("3.1", "triplet_loss agrees with torch.nn.functional.triplet_margin_loss.")


def check_collapse_std(fn) -> None:
    """Exercise 3.2: ``fn(z)`` is the mean per-dimension std of L2-normalised embeddings."""
    g = torch.Generator().manual_seed(5)
    healthy = torch.randn(512, 64, generator=g)
    collapsed = torch.randn(1, 64, generator=g).repeat(512, 1) + 1e-4 * torch.randn(512, 64, generator=g)
    scaled = healthy * torch.linspace(0.1, 10, 512).unsqueeze(1)
    for name, z in [("healthy", healthy), ("collapsed", collapsed), ("rescaled", scaled)]:
        value = _number("3.2", _call("3.2", fn, "collapse_std", z.clone()), "collapse_std")
        right = embedding_std(z)
        if math.isclose(value, right, rel_tol=1e-3, abs_tol=1e-6):
            continue
        if name == "rescaled" or math.isclose(value, float(z.std(dim=0).mean()), rel_tol=1e-3):
            _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}: "
                         "L2-normalise each embedding first, so that only directions count.")
        if math.isclose(value, float(F.normalize(z, dim=1).std(dim=1).mean()), rel_tol=1e-3):
            _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}: "
                         "take the std over the samples (dim 0) for each dimension, then average the dimensions.")
        _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}")
    _passed("3.2", f"collapse_std gives about 1/sqrt(64) = {1 / 8:.3f} for healthy embeddings and about 0 for collapsed ones.")


def check_bert_masking(fn) -> None:
    """Exercise 3.3: ``fn(ids, mask_ratio, mask_id, vocab_size, generator)`` returns BERT's ``(inputs, labels)``."""
    vocab, mask_id = 50, 50
    g = torch.Generator().manual_seed(6)
    ids = torch.randint(vocab, (400, 250), generator=g)
    out = _call("3.3", fn, "bert_mask", ids.clone(), 0.15, mask_id, vocab, torch.Generator().manual_seed(0))
    if out is None:
        _unanswered("3.3", "bert_mask returned None.")
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail("3.3", "bert_mask must return a pair (inputs, labels)")
    inputs, labels = out
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        _fail("3.3", f"inputs and labels must have the shape of ids, {tuple(ids.shape)}")
    chosen = labels != IGNORE_INDEX
    frac = chosen.float().mean().item()
    if abs(frac - 0.15) > 0.005:
        _fail("3.3", f"{frac:.1%} of the tokens carry a label; 15% should be chosen, and labels must be -100 elsewhere.")
    if not torch.equal(labels[chosen], ids[chosen]):
        _fail("3.3", "at a chosen position the label must be the original token.")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        _fail("3.3", "tokens that are not chosen must be left unchanged in inputs.")
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    replaced = 1 - masked - kept
    if abs(masked - 0.8) > 0.015:
        _fail("3.3", f"{masked:.1%} of the chosen tokens became [MASK]; BERT replaces 80%.")
    if abs(kept - 0.1) > 0.015 + 0.002:  # a random replacement can draw the same token (1 in 50)
        _fail("3.3", f"{kept:.1%} of the chosen tokens were kept unchanged; BERT keeps 10%.")
    if abs(replaced - 0.1) > 0.015:
        _fail("3.3", f"{replaced:.1%} of the chosen tokens became another word; BERT replaces 10% by a random token.")
    if inputs.max() > mask_id or inputs.min() < 0:
        _fail("3.3", "random replacements must be real tokens of the vocabulary, in [0, vocab_size).")
    _passed("3.3", f"15% chosen ({frac:.1%}); of those {masked:.1%} [MASK], {replaced:.1%} random, {kept:.1%} kept.")


def check_which_factor(answer, measured) -> None:
    """Exercise 3.4: ``answer`` maps each augmentation setting to the factor its embedding clusters by.

    ``measured`` maps the same settings to ``{factor: NMI}`` as measured in the chapter.
    """
    if answer is None:
        _unanswered("3.4", "answer is None.")
    if not isinstance(answer, dict) or set(answer) != set(measured):
        _fail("3.4", f"answer must be a dict with exactly the keys {sorted(measured)}")
    for setting, nmi in measured.items():
        right = max(nmi, key=nmi.get)
        if answer[setting] not in nmi:
            _fail("3.4", f"{setting}: {answer[setting]!r} is not one of the factors {sorted(nmi)}")
        if answer[setting] != right:
            _fail("3.4", f"{setting}: the measured NMI is higher for {right} "
                         f"({nmi[right]:.2f}) than for {answer[setting]} ({nmi[answer[setting]]:.2f}).")
    _passed("3.4", "you read which concept each augmentation lets form.")
