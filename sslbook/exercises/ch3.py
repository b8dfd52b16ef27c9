"""Exercises of chapter 3: the triplet loss (3.1), MoCo's momentum update (3.2), BERT's masking (3.3),
the choice of augmentations for a task (3.4), the Barlow Twins loss (3.5) and one Sinkhorn-Knopp
iteration of SwAV (3.6)."""

from __future__ import annotations

import math

import torch

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


def _pair_of_nets(seed: int):
    torch.manual_seed(seed)
    query = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    key = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).requires_grad_(False)
    return key, query


@_checker("3.2")
def check_momentum_update(fn) -> None:
    """Exercise 3.2: ``fn(query_model, key_model, m)`` (the order of :func:`sslbook.models.momentum_update`)
    moves the key encoder towards the query encoder in place, ``k <- m k + (1 - m) q`` for every parameter,
    and leaves the query encoder alone."""
    if fn is None:
        _unanswered("3.2", "momentum_update is None.")
    for seed, m in ((0, 0.9), (1, 0.99), (2, 0.5), (3, 0.0)):
        key, query = _pair_of_nets(seed)
        k0 = [p.detach().clone() for p in key.parameters()]
        q0 = [p.detach().clone() for p in query.parameters()]
        out = _call("3.2", fn, "momentum_update", query, key, m)
        k1 = [p.detach() for p in key.parameters()]
        where = f"with m = {m}"
        if not all(torch.equal(a, p.detach()) for a, p in zip(q0, query.parameters())):
            _fail("3.2", f"{where} query_model's parameters changed: only the key encoder follows the query "
                         "encoder; the query encoder moves by its optimiser alone.")
        if all(torch.equal(a, b) for a, b in zip(k0, k1)):
            if out is None:
                _unanswered("3.2", "momentum_update left key_model unchanged and returned None.")
            _fail("3.2", f"{where} key_model's parameters did not change: update them in place "
                         "(p_k.mul_(m).add_(p_q, alpha=1 - m) under torch.no_grad()); the step uses the key "
                         "encoder it holds, not a value you return.")
        if any(p.requires_grad or p.grad_fn is not None for p in key.parameters()):
            _fail("3.2", f"{where} key_model's parameters now carry gradient history: do the update under "
                         "torch.no_grad(), since no gradient flows into the key encoder.")
        right = [m * a + (1 - m) * b for a, b in zip(k0, q0)]
        if all(torch.allclose(a, b, atol=1e-6) for a, b in zip(k1, right)):
            continue
        if all(torch.allclose(a, (1 - m) * b + m * c, atol=1e-6) for a, b, c in zip(k1, k0, q0)):
            _fail("3.2", f"{where} the key moved to (1 - m) k + m q: m and 1 - m are swapped. With m close to 1 "
                         "the key encoder keeps most of itself and takes only a little of the query encoder.")
        if all(torch.allclose(a, b, atol=1e-6) for a, b in zip(k1, q0)):
            _fail("3.2", f"{where} the key encoder became a copy of the query encoder: that is m = 0 whatever m "
                         "you are given. Use k <- m k + (1 - m) q.")
        updated = [torch.allclose(a, b, atol=1e-6) for a, b in zip(k1, right)]
        if any(updated):
            _fail("3.2", f"{where} only {sum(updated)} of the {len(updated)} parameter tensors were updated: loop "
                         "over zip(key_model.parameters(), query_model.parameters()).")
        _fail("3.2", f"{where} the key's parameters are not m k + (1 - m) q (the first weight should be "
                     f"{right[0].flatten()[0].item():.4f}, got {k1[0].flatten()[0].item():.4f}): did you use the m "
                     "you are given?")
    _passed("3.2", "momentum_update moves the key encoder by 1 - m towards the query encoder, in place, without "
                   "gradients, for every m tried.")


_SETTINGS = {"none": "none", "geometric": "geometric", "colour": "colour", "color": "colour",
             "geometric+colour": "geometric+colour", "colour+geometric": "geometric+colour",
             "geometric+color": "geometric+colour", "color+geometric": "geometric+colour"}

_WRONG = {
    ("colour", "geometric+colour"): "colour jitter makes the two views of an image differ in colour, so the loss "
        "pulls differently coloured versions of an image together and colour drops out of the clusters: "
        "in this chapter NMI(colour) fell once colour was augmented. Keep colour shared by the views "
        "and remove what the task does not need.",
    ("colour", "colour"): "colour jitter alone makes the views differ in colour, so colour drops out of the "
        "clusters, and colour is the one thing this task needs.",
    ("colour", "none"): "with no augmentation the two views are the same image: any cue at all (even one pixel) "
        "tells them from the other images, so nothing forces a concept. Augment away what the task does not "
        "need (position, size, rotation) and leave colour alone.",
    ("shape", "geometric"): "with geometric augmentation alone the views still share colour, a cue that matches "
        "them without any shape, so nothing stops the encoder from grouping the images by colour. Add colour "
        "jitter so that colour no longer identifies an image.",
    ("shape", "colour"): "colour jitter alone leaves position, size and orientation shared by the two views, and "
        "position is an easy shortcut. Choose the setting in which shape is the only cue the views share.",
    ("shape", "none"): "with no augmentation the two views are the same image: any cue tells them apart, so "
        "nothing forces the encoder towards shape.",
}


@_checker("3.4")
def check_augmentation_choice(for_shape, for_colour) -> None:
    """Exercise 3.4: the augmentation setting to pre-train with when the downstream task sorts the shapes
    by shape (``for_shape``) and by colour (``for_colour``): one of ``"none"``, ``"geometric"``,
    ``"colour"`` and ``"geometric+colour"``."""
    answers = {}
    for task, given in (("shape", for_shape), ("colour", for_colour)):
        name = f"for_{task}"
        if given is None:
            _unanswered("3.4", f"{name} is None.")
        key = given.strip().lower().replace(" ", "") if isinstance(given, str) else None
        if key not in _SETTINGS:
            _fail("3.4", f"{name} must be one of 'none', 'geometric', 'colour' or 'geometric+colour', got {given!r}")
        answers[task] = _SETTINGS[key]
    for task, right in (("colour", "geometric"), ("shape", "geometric+colour")):
        if answers[task] != right:
            _fail("3.4", f"for_{task} = {answers[task]!r}: {_WRONG[task, answers[task]]}")
    _passed("3.4", "augment away what the task does not need, and keep shared what it does: geometric only for "
                   "colour, geometric and colour for shape.")


def _standardised(z, unbiased=False, dim=0):
    return (z - z.mean(dim=dim, keepdim=True)) / z.std(dim=dim, unbiased=unbiased, keepdim=True)


def _barlow_parts(c):   # the on-diagonal sum and the off-diagonal sum of squares
    return ((1 - c.diagonal()) ** 2).sum(), (c ** 2).sum() - (c.diagonal() ** 2).sum()


def _barlow(z1, z2, lambd):   # Zbontar et al., 2021, Eqs. 1-2
    on, off = _barlow_parts(_standardised(z1.double()).T @ _standardised(z2.double()) / len(z1))
    return float(on + lambd * off)


@_checker("3.5")
def check_barlow_twins(fn) -> None:
    """Exercise 3.5: ``fn(z1, z2, lambd)`` is the Barlow Twins loss (Zbontar et al., 2021, Eq. 1) of two N x D
    batches: each feature standardised over the batch (mean 0, population standard deviation, divisor N),
    ``C = z1_norm.T @ z2_norm / N`` and ``sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2``."""
    g = torch.Generator().manual_seed(35)
    a, b, a2, b2 = (torch.randn(16, 4, generator=g) for _ in range(4))
    cases = [({"z1": "a", "z2": "b", "lambd": lambd}, (a, a + 0.7 * b, lambd)) for lambd in (0.005, 0.1, 1.0)]
    cases += [({"z1": "a2", "z2": "b", "lambd": 0.1}, (a2, a + 0.7 * b, 0.1)),
              ({"z1": "a", "z2": "b2", "lambd": 0.1}, (a, b2, 0.1))]
    for i, (n, d, lambd) in enumerate([(32, 8, 0.05), (5, 3, 0.5), (64, 2, 0.0051)]):
        z = torch.randn(n, d, generator=g) * 3 + 1
        cases.append(({"z1": i, "z2": i, "lambd": lambd}, (z, z + torch.randn(n, d, generator=g), lambd)))
    got = [_number("3.5", _call("3.5", fn, "barlow_twins_loss", z1.clone(), z2.clone(), lambd), "barlow_twins_loss")
           for _, (z1, z2, lambd) in cases]
    right = [_barlow(*args) for _, args in cases]

    def sweep():
        _sweep("3.5", "barlow_twins_loss", [key for key, _ in cases], got, right,
               {"lambd": "multiply the off-diagonal sum by lambd.", **dict.fromkeys(("z1", "z2"), "use both views: "
                "C = z1_norm.T @ z2_norm / N.")}, what="loss", rel=1e-4)

    for (_, (z1, z2, lambd)), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-3, abs_tol=1e-5):   # BatchNorm1d's eps of 1e-5 passes
            continue
        z1, z2, n = z1.double(), z2.double(), len(z1)
        c = _standardised(z1).T @ _standardised(z2) / n
        on, off = _barlow_parts(c)
        variants = [
            (_standardised(z1, True).T @ _standardised(z2, True) / n, "standardise with the population standard "
             "deviation (unbiased=False, divisor N): Algorithm 1's z.std(0) divides by N - 1 in PyTorch, which "
             "leaves C_ii of identical views at (N - 1) / N instead of 1 (Eq. 2)."),
            (z1.T @ z2 / n, "standardise each feature over the batch first: subtract its mean and divide by its "
             "standard deviation, along dim=0."),
            ((z1 - z1.mean(0)).T @ (z2 - z2.mean(0)) / n, "after subtracting the mean, divide each feature by "
             "its standard deviation."),
            (_standardised(z1, dim=1).T @ _standardised(z2, dim=1) / n, "standardise along the batch (dim=0), "
             "each feature on its own, not each sample (dim=1)."),
            (c * n, "divide the cross-correlation by the batch size N."),
        ]
        hints = [(sum(x * w for x, w in zip(_barlow_parts(cc), (1, lambd))), hint) for cc, hint in variants]
        hints += [(lambd * on + off, "lambd weighs the off-diagonal term, not the on-diagonal one."),
                  (on + lambd * (c ** 2).sum(), "the lambd term sums only the entries off the diagonal (j != i)."),
                  ((1 - c.diagonal()).sum() + lambd * off, "square the on-diagonal differences: (1 - C_ii)^2."),
                  ((on + lambd * off) / c.numel(), "sum the squared terms, do not average them.")]
        where = f"for N = {n}, D = {z1.shape[1]}, lambd = {lambd} the loss is {want:.4f}, got {value:.4f}"
        _diagnose("3.5", value, where, hints, "Standardise each feature over the batch, take C = z1_norm.T @ "
                  "z2_norm / N, then sum (1 - C_ii)^2 plus lambd times the squares off the diagonal.",
                  rel_tol=1e-4, abs_tol=1e-6, then=sweep)
    _passed("3.5", "barlow_twins_loss agrees with Eq. 1 of Zbontar et al. for every batch and lambd tried.")


def _scale(q, dim, total):
    return q / (q.sum(dim=dim, keepdim=True) / total)


def _sinkhorn_step(q):   # Caron et al., 2020, appendix A.1: rows (prototypes) to 1/K, then columns (samples) to 1/B
    return _scale(_scale(q, 1, 1 / q.shape[0]), 0, 1 / q.shape[1])


@_checker("3.6")
def check_sinkhorn_step(fn) -> None:
    """Exercise 3.6: ``fn(Q)`` is one Sinkhorn-Knopp iteration of SwAV (Caron et al., 2020, appendix A.1): ``Q``
    is K x B (K prototypes by B samples, as in the paper's pseudo-code), positive and summing to 1; every row is
    scaled to sum 1/K, then every column to sum 1/B; the new K x B matrix is returned."""
    g = torch.Generator().manual_seed(36)
    for k, b in [(3, 5), (4, 4), (6, 2), (2, 7)]:
        q = torch.exp(2 * torch.randn(k, b, generator=g, dtype=torch.float64))
        q /= q.sum()
        got = _tensor("3.6", _call("3.6", fn, "sinkhorn_step", q.clone()), "sinkhorn_step", (k, b))
        if torch.allclose(got, _sinkhorn_step(q), rtol=1e-5, atol=1e-10):
            continue
        where = f"for a {k} x {b} Q (K = {k} prototypes, B = {b} samples)"
        hints = [
            (q, "Q came back unchanged: scale its rows, then its columns, and return the result."),
            (_scale(_scale(q, 0, 1 / b), 1, 1 / k), "scale the rows (prototypes) first, then the columns "
             "(samples): the last scaling is the one whose sums come out exact."),
            (_scale(_scale(q, 1, 1), 0, 1), "rows must sum to 1/K and columns to 1/B, not to 1, so that Q stays a "
             "joint distribution that sums to 1."),
            (_scale(_scale(q, 1, 1 / b), 0, 1 / k), "the rows are the K prototypes (sum 1/K) and the columns the "
             "B samples (sum 1/B)."),
            (_scale(q, 1, 1 / k), "after scaling the rows, scale the columns to 1/B."),
            (_scale(q, 0, 1 / b), "scale the rows to 1/K before the columns."),
        ]
        for wrong, hint in hints:
            if torch.allclose(got, wrong, rtol=1e-5, atol=1e-10):
                _fail("3.6", f"{where}: {hint}")
        sums = [round(v, 4) for v in got.sum(dim=0).tolist()]
        _fail("3.6", f"{where}: every column should sum to 1/B = {1 / b:.4f}, got {sums}. Divide each row by its sum "
                     "times K, then each column by its sum times B.")
    _passed("3.6", "sinkhorn_step scales the rows (prototypes) to 1/K, then the columns (samples) to 1/B, every time.")


# Retired exercises, kept so that a notebook copied before the change says where the exercise went.
# They check nothing.
def check_collapse_std(*args, **kwargs) -> None:
    """Retired: exercise 3.2 is now MoCo's momentum update (:func:`check_momentum_update`)."""
    _fail("3.2", "exercise 3.2 is now the momentum encoder: write momentum_update(query_model, key_model, m) and "
                 "check it with sslbook.exercises.ch3.check_momentum_update(momentum_update). The collapse detector "
                 "is sslbook.evaluate.embedding_std.")


def check_which_factor(*args, **kwargs) -> None:
    """Retired: exercise 3.4 is now the choice of augmentations (:func:`check_augmentation_choice`)."""
    _fail("3.4", "exercise 3.4 now asks which augmentations to pre-train with for each task: check your answer "
                 "with sslbook.exercises.ch3.check_augmentation_choice(for_shape, for_colour).")
