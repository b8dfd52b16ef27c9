"""What every exercise checker shares: the error a wrong answer raises, the
messages for passed / wrong / not answered, calling the student's function, reading
a numeric answer, and matching a wrong value against known mistakes (hints)."""

from __future__ import annotations

import math

import torch


class ExerciseError(AssertionError):
    """A wrong or missing answer; the message says what is wrong."""


def fail(number: str, message: str):
    raise ExerciseError(f"Exercise {number}: {message}")


def unanswered(number: str, what: str):
    fail(number, f"not answered yet: {what} Replace the stub under '# YOUR CODE HERE' and run the cell again.")


def passed(number: str, message: str) -> None:
    print(f"Exercise {number} passed: {message}")


def call(number: str, fn, name: str, *args):
    if not callable(fn):
        fail(number, f"{name} must be a function, got {type(fn).__name__}")
    try:
        return fn(*args)
    except Exception as exc:  # report the student's own error in the exercise's words
        shapes = ", ".join(str(tuple(a.shape)) if torch.is_tensor(a) else repr(a) for a in args)
        fail(number, f"{name}({shapes}) raised {type(exc).__name__}: {exc}")


def number(number: str, got, name: str) -> float:
    """The student's function result as a float; ``None`` means not answered yet."""
    if got is None:
        unanswered(number, f"{name} returned None.")
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):
        fail(number, f"{name} must return one number (a float or a 0-D tensor), got {got!r}")


def diagnose(number: str, value: float, where: str, hints, advice: str, *, rel_tol: float = 1e-6,
             abs_tol: float = 1e-9):
    """Fail with the hint of the first known mistake whose value ``value`` matches
    (``hints``: pairs of a wrong value and what it means), else with ``advice``."""
    for wrong, hint in hints:
        if math.isclose(value, float(wrong), rel_tol=rel_tol, abs_tol=abs_tol):
            fail(number, f"{where}: {hint}")
    fail(number, f"{where}. {advice}")
