"""What every exercise checker shares: the error a wrong answer raises, the
messages for passed / wrong / not answered, calling the student's function, reading
a numeric or tensor answer in any reasonable form, noticing an answer that ignores
one of its parameters or is not random where it must be, and matching a wrong value
against known mistakes (hints).

A checker is wrapped in :func:`checker`, so that an answer of a form nobody
foresaw still ends in an :class:`ExerciseError` that says what was expected, never
in a traceback from inside the checker."""

from __future__ import annotations

import functools
import itertools
import math
import numbers

import numpy as np
import torch


class ExerciseError(AssertionError):
    """A wrong or missing answer; the message says what is wrong."""


def fail(number: str, message: str):
    raise ExerciseError(f"Exercise {number}: {message}")


def unanswered(number: str, what: str):
    fail(number, f"not answered yet: {what} Replace the stub under '# YOUR CODE HERE' and run the cell again.")


def passed(number: str, message: str) -> None:
    print(f"Exercise {number} passed: {message}")


def checker(number: str):
    """Decorate a checker: anything but an :class:`ExerciseError` that escapes it (an
    answer of an unforeseen type or shape) becomes one that names the exercise."""
    def wrap(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                return check(*args, **kwargs)
            except ExerciseError:
                raise
            except Exception as exc:  # noqa: BLE001 - the message replaces the traceback
                raise ExerciseError(f"Exercise {number}: your answer could not be checked ({type(exc).__name__}: "
                                    f"{exc}). Compare its type and shape with what the exercise asks for.") from None
        return run
    return wrap


def describe(value) -> str:
    """A short description of an argument for a message: the value, or a tensor's shape."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        return f"a {' x '.join(map(str, value.shape)) or '0-D'} {type(value).__name__}"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict) and len(value) > 4:
        return f"a dict of {len(value)}"
    if isinstance(value, torch.Generator):
        return "a generator"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def call(number: str, fn, name: str, *args):
    """``fn(*args)``; an exception the student's function raises is reported in the exercise's words."""
    if fn is None:
        unanswered(number, f"{name} is None.")
    if not callable(fn):
        fail(number, f"{name} must be a function, got {type(fn).__name__}")
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the student's own error, in the exercise's words
        fail(number, f"your function raised {type(exc).__name__} on {name}({', '.join(map(describe, args))}): {exc}")


def number(number: str, got, name: str) -> float:
    """The student's result as a finite float: a Python or NumPy number, or a tensor or array
    with one element. ``None`` means not answered yet."""
    if got is None:
        unanswered(number, f"{name} returned None.")
    if isinstance(got, (str, bytes, bool, np.bool_)) or (torch.is_tensor(got) and got.dtype == torch.bool):
        fail(number, f"{name} must return one number (a float or a 0-D tensor), got {got!r}")
    try:
        if torch.is_tensor(got) or isinstance(got, np.ndarray):
            if (got.numel() if torch.is_tensor(got) else got.size) != 1:
                raise ValueError("not one element")
            got = got.reshape(()).tolist() if torch.is_tensor(got) else got.reshape(()).item()
        if not isinstance(got, numbers.Real):
            raise TypeError
        value = float(got)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        fail(number, f"{name} must return one number (a float or a 0-D tensor), got {describe(got)}: {got!r}"[:300])
    if not math.isfinite(value):
        fail(number, f"{name} returned {value}: look for a division by zero or a log of 0.")
    return value


def tensor(number: str, got, name: str, shape=None, dtype=torch.float64) -> torch.Tensor:
    """The student's result as a tensor (from a tensor, an array or a list), of ``shape`` if given."""
    if got is None:
        unanswered(number, f"{name} returned None.")
    try:
        if torch.is_tensor(got):
            out = got.detach().cpu().to(dtype)
        else:
            out = torch.as_tensor(np.asarray(got, dtype=np.float64 if dtype.is_floating_point else np.int64),
                                  dtype=dtype)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        want = f" shaped {tuple(shape)}" if shape is not None else ""
        fail(number, f"{name}: expected a tensor or array of numbers{want}, got {describe(got)}: {got!r}"[:300])
    if shape is not None and tuple(out.shape) != tuple(shape):
        fail(number, f"{name}: expected a tensor shaped {tuple(shape)}, got shape {tuple(out.shape)}")
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        fail(number, f"{name} holds NaN or infinite values (or None): look for a division by zero or a log of 0.")
    return out


def same(a, b, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """Whether two answers (numbers, tensors, sequences, strings) are the same up to rounding."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rel, atol=abs_, equal_nan=True))
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    return a == b


def uses(number: str, name: str, param: str, v1, v2, got1, got2, right1, right2, hint: str, *,
         what: str = "answer", rel: float = 1e-6, abs_: float = 1e-9):
    """Fail when the student's answers for two values of ``param`` agree while the right ones differ:
    the function ignores (or hard-codes) that parameter."""
    if same(got1, got2, rel, abs_) and not same(right1, right2, rel, abs_):
        fail(number, f"your {name} gives the same {what} for {param} = {describe(v1)} and {param} = "
                     f"{describe(v2)}: {hint}")


def sweep(number: str, name: str, keys, got, right, hints, *, what: str = "answer", rel: float = 1e-6,
          abs_: float = 1e-9):
    """Run :func:`uses` over every two calls that differ in one parameter only. ``keys``: per call, a
    dict of parameter -> the value passed (or a label for it); ``got`` and ``right``: the student's and
    the right answers per call; ``hints``: parameter -> what to do about ignoring it."""
    for i, j in itertools.combinations(range(len(keys)), 2):
        differ = [p for p in hints if keys[i][p] != keys[j][p]]
        if len(differ) == 1 and all(keys[i][p] == keys[j][p] for p in keys[i] if p not in hints):
            uses(number, name, differ[0], keys[i][differ[0]], keys[j][differ[0]], got[i], got[j], right[i],
                 right[j], hints[differ[0]], what=what, rel=rel, abs_=abs_)


def diagnose(number: str, value: float, where: str, hints, advice: str, *, rel_tol: float = 1e-6,
             abs_tol: float = 1e-9, then=None):
    """Fail with the hint of the first known mistake whose value ``value`` matches
    (``hints``: pairs of a wrong value and what it means), else run ``then()`` (a check that
    may fail with a more precise message, such as a :func:`sweep`), else fail with ``advice``."""
    for wrong, hint in hints:
        if math.isclose(value, float(wrong), rel_tol=rel_tol, abs_tol=abs_tol):
            fail(number, f"{where}: {hint}")
    if then is not None:
        then()
    fail(number, f"{where}. {advice}")
