"""Exercises of chapter 9: how noisy a test accuracy is, and how the temperature shares
InfoNCE's push among the negatives."""

from __future__ import annotations

import math

import torch

from ._common import call as _call
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def check_standard_error(fn) -> None:
    """Exercise 9.1: ``fn(accuracy, n)`` is the standard error of an accuracy measured on
    ``n`` independent test images, ``sqrt(p (1 - p) / n)``."""
    for p, n in [(0.5, 100), (0.9, 50), (0.61, 1000), (0.25, 10_000), (1.0, 30)]:
        value = _number("9.1", _call("9.1", fn, "standard_error", p, n), "standard_error")
        right = math.sqrt(p * (1 - p) / n)
        if math.isclose(value, right, rel_tol=1e-6, abs_tol=1e-12):
            continue
        hints = [
            (p * (1 - p) / n, "that is the variance; take its square root."),
            (math.sqrt(p * (1 - p)), "divide by n inside the square root."),
            (math.sqrt(p * (1 - p)) / n, "divide p (1 - p) by n, then take the square root (not the other way round)."),
            (math.sqrt(p / n), "the variance of one right-or-wrong image is p (1 - p), not p."),
        ]
        _diagnose("9.1", value, f"at accuracy {p} on {n} images the standard error is {right:.6f}, got {value:.6f}",
                  hints, "An accuracy is a mean of n independent 0/1 outcomes of variance p (1 - p).")
    _passed("9.1", "standard_error matches; 2,500 images give one point at an accuracy of 0.5.")


def check_negative_weights(fn) -> None:
    """Exercise 9.2: ``fn(similarities, tau)`` is ``softmax(similarities / tau)``, each
    negative's share of InfoNCE's push."""
    g = torch.Generator().manual_seed(92)
    for n, tau in [(5, 0.5), (20, 0.1), (100, 1.0), (8, 0.05)]:
        s = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
        got = _call("9.2", fn, "negative_weights", s.clone(), tau)
        if got is None:
            _unanswered("9.2", "negative_weights returned None.")
        try:
            w = torch.as_tensor(got, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            _fail("9.2", f"negative_weights must return a 1-D tensor of {n} weights, got {got!r}")
        if w.shape != (n,):
            _fail("9.2", f"negative_weights must return one weight per negative ({n}), got shape {tuple(w.shape)}")
        right = torch.softmax(s / tau, dim=0)
        if torch.allclose(w, right, rtol=1e-5, atol=1e-7):
            continue
        where = f"with tau = {tau} the hardest negative's share is {right.max():.4f}, got {w[s.argmax()]:.4f}"
        for wrong, hint in [(torch.softmax(s, dim=0), "divide the similarities by tau before the softmax."),
                            (torch.softmax(s * tau, dim=0), "divide by tau, do not multiply."),
                            (torch.exp(s / tau), "normalise: the shares must sum to 1."),
                            (s / s.sum(), "exponentiate (softmax), do not just normalise the similarities.")]:
            if wrong.shape == w.shape and torch.allclose(w, wrong, rtol=1e-5, atol=1e-7):
                _fail("9.2", f"{where}: {hint}")
        _fail("9.2", f"{where}. Take the softmax of similarities / tau over the negatives.")
    _passed("9.2", "negative_weights matches: halving tau gives the hardest negative a larger share.")
