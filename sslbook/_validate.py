"""Argument checks shared by the package: every error names the parameter,
the value it got and what is allowed."""

from __future__ import annotations

import math

import numpy as np
import torch


def positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number > 0 (or >= 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def in_range(name: str, value, low, high, *, low_open=False, high_open=False) -> None:
    """Raise ``ValueError`` unless ``low <= value <= high`` (ends open on request)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low}, {high}{hi}, got {value!r}")


def positive_int(name: str, value, *, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def one_of(name: str, value, allowed) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


def tensor(name: str, value, *, ndim: int | None = None, floating: bool = False,
           integer: bool = False) -> torch.Tensor:
    """Raise ``ValueError`` unless ``value`` is a tensor of the given rank and kind."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if integer and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise ValueError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    if floating and not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def embedding_pair(z1, z2, *, why: str) -> None:
    """Raise ``ValueError`` unless ``z1`` and ``z2`` are finite N x D float tensors of one shape
    with N >= 2 and D >= 1; ``why`` says what needs the second sample (named in the message)."""
    tensor("z1", z1, ndim=2, floating=True)
    tensor("z2", z2, ndim=2, floating=True)
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"{why}, got N = {z1.shape[0]}")
    if z1.shape[1] < 1:
        raise ValueError("z1 and z2 must have at least one feature dimension")


def to_numpy(x) -> np.ndarray:
    """A tensor (detached, on the CPU) or anything array-like as a NumPy array."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def array(name: str, x, ndim: int) -> np.ndarray:
    """``x`` as a non-empty, finite NumPy array of rank ``ndim``, or a ``ValueError``."""
    x = to_numpy(x)
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x
