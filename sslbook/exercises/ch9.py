"""Exercises of chapter 9: how noisy a test accuracy is, and how the temperature shares
InfoNCE's push among the negatives."""

from __future__ import annotations

import math

import torch

from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import tensor as _tensor


@_checker("9.1")
def check_standard_error(fn) -> None:
    """Exercise 9.1: ``fn(accuracy, n)`` is the standard error of an accuracy measured on
    ``n`` independent test images, ``sqrt(p (1 - p) / n)``."""
    cases = [(0.5, 100), (0.9, 50), (0.61, 1000), (0.25, 10_000), (1.0, 30), (0.5, 2500), (0.9, 100), (0.3, 7)]
    got = [_number("9.1", _call("9.1", fn, "standard_error", p, n), "standard_error") for p, n in cases]
    right = [math.sqrt(p * (1 - p) / n) for p, n in cases]

    def sweep():
        _sweep("9.1", "standard_error", [{"accuracy": p, "n": n} for p, n in cases], got, right,
               {"n": "divide by the number of test images n inside the square root.",
                "accuracy": "the variance of one right-or-wrong image is accuracy (1 - accuracy)."},
               what="standard error", rel=1e-5)

    for (p, n), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-5, abs_tol=1e-12):
            continue
        hints = [
            (p * (1 - p) / n, "that is the variance; take its square root."),
            (math.sqrt(p * (1 - p)), "divide by n inside the square root."),
            (math.sqrt(p * (1 - p)) / n, "divide p (1 - p) by n, then take the square root (not the other way round)."),
            (math.sqrt(p / n), "the variance of one right-or-wrong image is p (1 - p), not p."),
            (math.sqrt(p * (1 - p) / (n - 1)), "a proportion's standard error divides by n, not n - 1."),
        ]
        _diagnose("9.1", value, f"at accuracy {p} on {n} images the standard error is {want:.6f}, got {value:.6f}",
                  hints, "An accuracy is a mean of n independent 0/1 outcomes of variance p (1 - p).", rel_tol=1e-5,
                  abs_tol=1e-12, then=sweep)
    _passed("9.1", "standard_error matches; 2,500 images give one point at an accuracy of 0.5.")


@_checker("9.2")
def check_negative_weights(fn) -> None:
    """Exercise 9.2: ``fn(similarities, tau)`` is ``softmax(similarities / tau)``, each
    negative's share of InfoNCE's push."""
    g = torch.Generator().manual_seed(92)
    shared = torch.rand(8, generator=g, dtype=torch.float64) * 2 - 1
    cases = [(torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1, tau)
             for n, tau in [(5, 0.5), (20, 0.1), (100, 1.0), (8, 0.05), (1, 0.3)]]
    cases += [(shared, 0.1), (shared, 0.5), (shared, 2.0)]
    got = [_tensor("9.2", _call("9.2", fn, "negative_weights", s.clone(), tau), "negative_weights").flatten()
           for s, tau in cases]
    for (s, _), w in zip(cases, got):
        if w.shape != s.shape:
            _fail("9.2", f"negative_weights must return one weight per negative ({len(s)}), got shape {tuple(w.shape)}")
    right = [torch.softmax(s / tau, dim=0) for s, tau in cases]

    def sweep():
        _sweep("9.2", "negative_weights", [{"similarities": id(s), "tau": tau} for s, tau in cases], got, right,
               {"tau": "did you divide the similarities by tau?"}, what="shares", rel=1e-5, abs_=1e-7)

    for (s, tau), w, want in zip(cases, got, right):
        if torch.allclose(w, want, rtol=1e-5, atol=1e-7):
            continue
        where = f"with tau = {tau} the hardest negative's share is {want.max():.4f}, got {w[s.argmax()]:.4f}"
        for wrong, hint in [(torch.softmax(s, dim=0), "divide the similarities by tau before the softmax."),
                            (torch.softmax(s * tau, dim=0), "divide by tau, do not multiply."),
                            (torch.exp(s / tau), "normalise: the shares must sum to 1."),
                            (s / s.sum(), "exponentiate (softmax), do not just normalise the similarities."),
                            (torch.softmax(-s / tau, dim=0), ("the most similar negative gets the largest share: "
                                                              "softmax of +similarities / tau."))]:
            if torch.allclose(w, wrong, rtol=1e-5, atol=1e-7):
                _fail("9.2", f"{where}: {hint}")
        sweep()
        _fail("9.2", f"{where}. Take the softmax of similarities / tau over the negatives.")
    _passed("9.2", "negative_weights matches: halving tau gives the hardest negative a larger share.")
