"""Exercises of chapter 3: triplet loss, collapse detector, BERT's masking, which concept forms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..masking import IGNORE_INDEX as _IGNORE
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import tensor as _tensor
from ._common import unanswered as _unanswered


def _triplet(a, p, q, margin):
    return float(((a - p).norm(dim=1) - (a - q).norm(dim=1) + margin).clamp(min=0).mean())


@_checker("3.1")
def check_triplet(fn) -> None:
    """Exercise 3.1: ``fn(anchor, positive, negative, margin)`` is the triplet loss."""
    g = torch.Generator().manual_seed(4)
    a, p, q, p2, q2 = (torch.randn(6, 3, generator=g) for _ in range(5))
    cases = [({"anchor": "a", "positive": "p", "negative": "q", "margin": m}, (a, p, q, m)) for m in (1.0, 0.5, 2.0, 0.2)]
    cases += [({"anchor": "a", "positive": "p", "negative": "q2", "margin": 1.0}, (a, p, q2, 1.0)),
              ({"anchor": "a", "positive": "p2", "negative": "q", "margin": 1.0}, (a, p2, q, 1.0))]
    for i, (n, d, margin) in enumerate([(16, 8, 0.5), (5, 2, 2.0), (40, 1, 0.3)]):
        cases.append(({"anchor": i, "positive": i, "negative": i, "margin": margin},
                      tuple(torch.randn(n, d, generator=g) for _ in range(3)) + (margin,)))
    got = [_number("3.1", _call("3.1", fn, "triplet_loss", *(x.clone() for x in args[:3]), args[3]), "triplet_loss")
           for _, args in cases]
    right = [_triplet(*args) for _, args in cases]

    def sweep():
        _sweep("3.1", "triplet_loss", [key for key, _ in cases], got, right,
               {"margin": "add the margin inside the max: max(d(a, p) - d(a, n) + margin, 0).",
                "negative": "the loss pushes the anchor away from the negative: use d(a, n).",
                "positive": "the loss pulls the anchor towards the positive: use d(a, p)."}, what="loss", rel=1e-4)

    for (_, (a_, p_, q_, margin)), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-4, abs_tol=1e-5):
            continue
        dp, dn = (a_ - p_).norm(dim=1), (a_ - q_).norm(dim=1)
        hints = [
            ((dp - dn + margin).mean(), "a triplet that already satisfies the margin must cost nothing: clamp at 0."),
            ((dp ** 2 - dn ** 2 + margin).clamp(min=0).mean(), "use distances, not squared distances."),
            ((dp - dn + margin).clamp(min=0).sum(), "take the mean over the triplets, not the sum."),
            ((dn - dp + margin).clamp(min=0).mean(), "the positive's distance comes first: d(a, p) - d(a, n) + margin."),
            ((dp - dn).clamp(min=0).mean(), "add the margin inside the max."),
        ]
        where = f"for {len(a_)} triplets of dimension {a_.shape[1]} with margin {margin} the loss is {want:.4f}, got {value:.4f}"
        _diagnose("3.1", value, where, hints, "Compare with torch.nn.functional.triplet_margin_loss.",
                  rel_tol=1e-4, abs_tol=1e-5, then=sweep)
    _passed("3.1", "triplet_loss agrees with torch.nn.functional.triplet_margin_loss for every margin tried.")


def _spread(z, ddof=1):
    return float(F.normalize(z.double(), dim=1).std(dim=0, correction=ddof).mean())


@_checker("3.2")
def check_collapse_std(fn) -> None:
    """Exercise 3.2: ``fn(z)`` is the mean per-dimension std of L2-normalised embeddings
    (the standard deviation with or without Bessel's correction)."""
    g = torch.Generator().manual_seed(5)
    healthy = torch.randn(512, 64, generator=g)
    collapsed = torch.randn(1, 64, generator=g).repeat(512, 1) + 1e-4 * torch.randn(512, 64, generator=g)
    scaled = healthy * torch.linspace(0.1, 10, 512).unsqueeze(1)
    small = torch.randn(20, 16, generator=g) * torch.linspace(0.5, 4, 20).unsqueeze(1)
    narrow = torch.randn(300, 3, generator=g) + torch.tensor([2.0, 0.0, 0.0])
    cases = [("healthy", healthy), ("collapsed", collapsed), ("rescaled", scaled), ("20 x 16", small),
             ("300 x 3", narrow)]
    got = [_number("3.2", _call("3.2", fn, "collapse_std", z.clone()), "collapse_std") for _, z in cases]
    if len({round(v, 9) for v in got}) == 1:
        _fail("3.2", f"your collapse_std gives {got[0]:.4f} for every z, healthy or collapsed: compute the spread "
                     "of the z you are given, not a fixed number.")
    for (name, z), value in zip(cases, got):
        right = _spread(z)
        if any(math.isclose(value, _spread(z, ddof), rel_tol=1e-4, abs_tol=1e-6) for ddof in (0, 1)):
            continue
        where = f"on {name} embeddings ({z.shape[0]} x {z.shape[1]}) the value is {right:.4f}, got {value:.4f}"
        if any(math.isclose(value, float(z.std(dim=0, correction=c).mean()), rel_tol=1e-3) for c in (0, 1)):
            _fail("3.2", f"{where}: L2-normalise each embedding first, so that only directions count.")
        if any(math.isclose(value, float(F.normalize(z, dim=1).std(dim=1, correction=c).mean()), rel_tol=1e-3)
               for c in (0, 1)):
            _fail("3.2", f"{where}: take the std over the samples (dim 0) for each dimension, then average the dimensions.")
        if any(math.isclose(value, float(F.normalize(z, dim=0).std(dim=0, correction=c).mean()), rel_tol=1e-3)
               for c in (0, 1)):
            _fail("3.2", f"{where}: normalise each row (an embedding, dim=1), not each column.")
        if math.isclose(value, 1 / math.sqrt(64), rel_tol=1e-2):
            _fail("3.2", f"{where}: 1/sqrt(D) is what healthy embeddings give; compute the spread of the z you are given.")
        _fail("3.2", f"{where}. Normalise the rows, take the std of each column, average the columns.")
    _passed("3.2", f"collapse_std gives about 1/sqrt(64) = {1 / 8:.3f} for healthy embeddings and about 0 for collapsed ones.")


def _pair(number, out, shape):
    if out is None:
        _unanswered(number, "bert_mask returned None.")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        _fail(number, f"bert_mask must return a pair (inputs, labels), got {type(out).__name__}"
                      + (f" of {len(out)}" if isinstance(out, (tuple, list)) else ""))
    return tuple(_tensor(number, x, f"bert_mask's {name}", shape, torch.long) for x, name in zip(out, ("inputs", "labels")))


@_checker("3.3")
def check_bert_masking(fn) -> None:
    """Exercise 3.3: ``fn(ids, mask_ratio, mask_id, vocab_size, generator)`` returns BERT's ``(inputs, labels)``."""
    g = torch.Generator().manual_seed(6)
    for vocab, mask_id, ratio, shape in [(50, 50, 0.15, (400, 250)), (1000, 1003, 0.3, (200, 300)),
                                         (30, 77, 0.5, (100, 400))]:
        ids = torch.randint(vocab, shape, generator=g)
        args = (ratio, mask_id, vocab)
        inputs, labels = _pair("3.3", _call("3.3", fn, "bert_mask", ids.clone(), *args, torch.Generator().manual_seed(0)),
                               shape)
        where = f"with mask_ratio = {ratio}, mask_id = {mask_id}, vocab_size = {vocab}"
        chosen = labels != _IGNORE
        frac = chosen.float().mean().item()
        if bool(chosen.any()) and not bool(chosen.all()) and bool((chosen == chosen[0]).all()):
            _fail("3.3", f"{where}: every sequence has the same positions chosen; draw them anew for every token.")
        if abs(frac - ratio) > 0.01:
            _fail("3.3", f"{where}, {frac:.1%} of the tokens carry a label, not mask_ratio = {ratio:.0%}: choose each "
                         "token with probability mask_ratio, and set the labels to -100 elsewhere.")
        if not torch.equal(labels[chosen], ids[chosen]):
            _fail("3.3", f"{where}: at a chosen position the label must be the original token.")
        if not torch.equal(inputs[~chosen], ids[~chosen]):
            _fail("3.3", f"{where}: tokens that are not chosen must be left unchanged in inputs.")
        masked = (inputs[chosen] == mask_id).float().mean().item()
        kept = (inputs[chosen] == ids[chosen]).float().mean().item()
        replaced = 1 - masked - kept
        _, counts = inputs[chosen].unique(return_counts=True)
        if masked < 0.05 and counts.max() > 0.5 * chosen.sum():
            _fail("3.3", f"{where}: no chosen token became mask_id = {mask_id}, yet most became one other value: "
                         "use the mask_id you are given.")
        if abs(masked - 0.8) > 0.02:
            _fail("3.3", f"{where}, {masked:.1%} of the chosen tokens became mask_id ([MASK]); BERT replaces 80%.")
        if abs(kept - 0.1) > 0.02 + 1 / vocab:  # a random replacement can draw the same token
            _fail("3.3", f"{where}, {kept:.1%} of the chosen tokens were kept unchanged; BERT keeps 10%.")
        if abs(replaced - 0.1) > 0.02:
            _fail("3.3", f"{where}, {replaced:.1%} of the chosen tokens became another word; BERT replaces 10% by "
                         "a random token.")
        swapped = inputs[chosen & (inputs != mask_id) & (inputs != ids)]
        if swapped.min() < 0 or swapped.max() >= vocab:
            _fail("3.3", f"{where}: random replacements must be real tokens of the vocabulary, in [0, vocab_size).")
        if len(swapped.unique()) < min(vocab, len(swapped)) // 2:
            _fail("3.3", f"{where}: the random replacements take only {len(swapped.unique())} different values; draw "
                         "each uniformly from [0, vocab_size).")
    _check_bert_randomness(fn)
    _passed("3.3", "for every mask_ratio, mask_id and vocab_size tried: mask_ratio chosen; of those 80% [MASK], "
                   "10% random, 10% kept, drawn from the generator.")


def _check_bert_randomness(fn):
    ids = torch.randint(40, (60, 50), generator=torch.Generator().manual_seed(7))
    outs = [_pair("3.3", _call("3.3", fn, "bert_mask", ids.clone(), 0.15, 40, 40, torch.Generator().manual_seed(s)),
                  ids.shape) for s in (1, 2, 1)]
    if torch.equal(outs[0][1], outs[1][1]) and torch.equal(outs[0][0], outs[1][0]):
        _fail("3.3", "two different generators gave the same masking: draw every random number from `generator`.")
    if not (torch.equal(outs[0][0], outs[2][0]) and torch.equal(outs[0][1], outs[2][1])):
        _fail("3.3", "the same generator seed gave a different masking: draw every random number from `generator`, "
                     "nothing from the global random state.")


@_checker("3.4")
def check_which_factor(answer, measured) -> None:
    """Exercise 3.4: ``answer`` maps each augmentation setting to the factor its embedding clusters by.

    ``measured`` maps the same settings to ``{factor: NMI}`` as measured in the chapter.
    """
    if answer is None:
        _unanswered("3.4", "answer is None.")
    if not isinstance(answer, dict) or set(answer) != set(measured):
        _fail("3.4", f"answer must be a dict with exactly the keys {sorted(measured)}, got "
                     f"{sorted(map(str, answer)) if isinstance(answer, dict) else type(answer).__name__}")
    for setting, nmi in measured.items():
        right = max(nmi, key=nmi.get)
        given = str(answer[setting]).strip().lower()
        if not isinstance(answer[setting], str) or given not in {str(f).lower() for f in nmi}:
            _fail("3.4", f"{setting}: {answer[setting]!r} is not one of the factors {sorted(nmi)}")
        given = next(f for f in nmi if str(f).lower() == given)
        if given != right:
            _fail("3.4", f"{setting}: the measured NMI is higher for {right} "
                         f"({nmi[right]:.2f}) than for {given} ({nmi[given]:.2f}).")
    _passed("3.4", "you read which concept each augmentation lets form.")
