"""Exercises of chapter 1: kinds of training signal, labels needed."""

from __future__ import annotations

import functools
import numbers

import numpy as np
import torch

from .. import config, data, evaluate
from ._common import call as _call
from ._common import checker as _checker
from ._common import fail as _fail
from ._common import passed as _passed
from ._common import unanswered as _unanswered

SIGNAL_KINDS = ("supervised", "unsupervised", "self-supervised")

#: Scenarios of exercise 1.1: where does each training signal come from?
SCENARIOS = {
    "a": "A spam filter learns from e-mails that users marked as spam or not spam.",
    "b": "Customers are grouped by their purchases, with no target to predict.",
    "c": "A language model learns to predict words hidden in sentences from the rest of the sentence.",
    "d": "A network learns to predict how far an image was rotated, having rotated it itself.",
    "e": "A doctor outlines tumours on scans and a network learns to reproduce the outlines.",
    "f": "Sensor readings are compressed by PCA to two dimensions to look for structure.",
}

_SCENARIO_ANSWERS = {"a": "supervised", "b": "unsupervised", "c": "self-supervised",
                     "d": "self-supervised", "e": "supervised", "f": "unsupervised"}

_SCENARIO_HINTS = {
    "supervised": "its targets were written by people (a human label per example)",
    "unsupervised": "there is no target at all: the method only looks for structure",
    "self-supervised": "it predicts a target that was made automatically from the data itself",
}


def _kind(text) -> str:
    return str(text).strip().lower().replace("_", "-").replace(" ", "-")


@_checker("1.1")
def check_signal_kinds(answers) -> None:
    """Exercise 1.1: ``answers`` maps each key of :data:`SCENARIOS` to a kind of signal."""
    if answers is None:
        _unanswered("1.1", "answers is None.")
    if not isinstance(answers, dict):
        _fail("1.1", f"answers must be a dict such as {{'a': 'supervised', ...}}, got {type(answers).__name__}")
    given = {str(key).strip().lower(): value for key, value in answers.items()}
    missing = sorted(set(SCENARIOS) - set(given))
    if missing:
        _fail("1.1", f"answers has no entry for scenario(s) {', '.join(missing)}")
    extra = sorted(set(given) - set(SCENARIOS))
    if extra:
        _fail("1.1", f"answers has entries {extra} that are not scenarios; the keys are {sorted(SCENARIOS)}")
    for key in sorted(SCENARIOS):
        if not isinstance(given[key], str):
            _fail("1.1", f"scenario {key}: give the kind as a string, one of {list(SIGNAL_KINDS)}, "
                         f"got {given[key]!r}")
        kind = _kind(given[key])
        if kind not in SIGNAL_KINDS:
            _fail("1.1", f"scenario {key}: {given[key]!r} is not one of {list(SIGNAL_KINDS)}")
    kinds = {_kind(given[key]) for key in SCENARIOS}
    if len(kinds) == 1:
        _fail("1.1", f"every scenario is {kinds.pop()}: read each one and ask where its training target comes from.")
    for key in sorted(SCENARIOS):
        kind, right = _kind(given[key]), _SCENARIO_ANSWERS[key]
        if kind != right:
            _fail("1.1", f"scenario {key} is not {kind}: ask where its training target comes from. "
                         f"Here {_SCENARIO_HINTS[right]}.")
    _passed("1.1", "all six scenarios sorted by where their training signal comes from.")


def _whole(answer):
    """``answer`` as an int if it is a whole number in any form (int, NumPy, 0-D tensor, 8.0), else None."""
    if torch.is_tensor(answer) or isinstance(answer, np.ndarray):
        if (answer.numel() if torch.is_tensor(answer) else answer.size) != 1:
            return None
        answer = answer.reshape(()).tolist() if torch.is_tensor(answer) else answer.reshape(()).item()
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, numbers.Real):
        return None
    if isinstance(answer, numbers.Integral):
        return int(answer)
    return int(answer) if float(answer).is_integer() else None


@functools.lru_cache(maxsize=64)
def _pixel_probe(per_class: int, seed: int) -> float:
    digits = data.load_digits()
    mean, _ = evaluate.few_label_probe(digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                                       per_class=per_class, repeats=5, seed=seed)
    return float(mean)


def pixel_probe(per_class: int) -> float:
    """Exercise 1.2's measurement, made by the checker itself: the held-out accuracy of a linear probe
    on raw digit pixels with ``per_class`` labelled images per class, averaged over five draws
    (:func:`sslbook.evaluate.few_label_probe` on :func:`sslbook.data.load_digits`, the book's seed 0).

    >>> 0.1 < pixel_probe(1) < pixel_probe(20) <= 1
    True
    """
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 1:
        raise ValueError(f"per_class must be a whole number >= 1, got {per_class!r}")
    return _pixel_probe(int(per_class), config.seed(0))


@_checker("1.2")
def check_labels_needed(answer, probe_accuracy=None, target: float = 0.9) -> None:
    """Exercise 1.2: ``answer`` is the fewest labels per class at which the probe reaches ``target``.

    The checker measures around the student's answer itself, with :func:`pixel_probe` (the chapter's
    ``pixel_probe`` makes the same measurement): a student who redefines the chapter's function changes
    nothing here. ``probe_accuracy(per_class)`` replaces that measurement (for tests and other data).
    """
    probe_accuracy = pixel_probe if probe_accuracy is None else probe_accuracy
    if answer is None:
        _unanswered("1.2", "answer is None.")
    n = _whole(answer)
    if n is None or n < 1:
        _fail("1.2", f"answer must be a whole number of labels per class >= 1, got {answer!r}")
    reached = float(_call("1.2", probe_accuracy, "pixel_probe", n))
    if reached < target:
        _fail("1.2", f"with {n} labels per class the probe reaches {reached:.3f}, below {target}: "
                     f"try more labels per class.")
    if n > 1:
        below = float(_call("1.2", probe_accuracy, "pixel_probe", n - 1))
        if below >= target:
            _fail("1.2", f"{n - 1} labels per class already reach {below:.3f} >= {target}: "
                         f"{n} is not the smallest number.")
    _passed("1.2", f"{n} labels per class are the fewest that reach {target} ({reached:.3f}).")
