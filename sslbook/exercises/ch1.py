"""Exercises of chapter 1: kinds of training signal, labels needed."""

from __future__ import annotations

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


def check_signal_kinds(answers) -> None:
    """Exercise 1.1: ``answers`` maps each key of :data:`SCENARIOS` to a kind of signal."""
    if answers is None:
        _unanswered("1.1", "answers is None.")
    if not isinstance(answers, dict):
        _fail("1.1", f"answers must be a dict such as {{'a': 'supervised', ...}}, got {type(answers).__name__}")
    missing = sorted(set(SCENARIOS) - set(answers))
    if missing:
        _fail("1.1", f"answers has no entry for scenario(s) {', '.join(missing)}")
    for key in sorted(SCENARIOS):
        given = str(answers[key]).strip().lower().replace("_", "-").replace(" ", "-")
        if given not in SIGNAL_KINDS:
            _fail("1.1", f"scenario {key}: {answers[key]!r} is not one of {list(SIGNAL_KINDS)}")
        right = _SCENARIO_ANSWERS[key]
        if given != right:
            _fail("1.1", f"scenario {key} is not {given}: ask where its training target comes from. "
                         f"Here {_SCENARIO_HINTS[right]}.")
    _passed("1.1", "all six scenarios sorted by where their training signal comes from.")


def check_labels_needed(answer, probe_accuracy, target: float = 0.9) -> None:
    """Exercise 1.2: ``answer`` is the fewest labels per class at which the probe reaches ``target``.

    ``probe_accuracy(per_class)`` is the function the chapter uses to measure the
    probe; the checker calls it itself around the student's answer.
    """
    if answer is None:
        _unanswered("1.2", "answer is None.")
    if not isinstance(answer, int) or isinstance(answer, bool) or answer < 1:
        _fail("1.2", f"answer must be a whole number of labels per class >= 1, got {answer!r}")
    reached = probe_accuracy(answer)
    if reached < target:
        _fail("1.2", f"with {answer} labels per class the probe reaches {reached:.3f}, below {target}: "
                     f"try more labels per class.")
    if answer > 1:
        below = probe_accuracy(answer - 1)
        if below >= target:
            _fail("1.2", f"{answer - 1} labels per class already reach {below:.3f} >= {target}: "
                         f"{answer} is not the smallest number.")
    _passed("1.2", f"{answer} labels per class are the fewest that reach {target} ({reached:.3f}).")
