"""Chapter 9's checkers accept right answers in every form and reject families of wrong ones (a parameter
ignored, off by a constant, wrong shape or type, a function that raises)."""
import math

import numpy as np
import pytest
import torch

from sslbook import exercises
from sslbook.exercises import ExerciseError


@pytest.mark.parametrize("right", [
    lambda p, n: math.sqrt(p * (1 - p) / n),
    lambda p, n: np.sqrt(p * (1 - p) / n),                              # a NumPy float
    lambda p, n: torch.tensor(p * (1 - p) / n).sqrt(),                  # a 0-D float32 tensor
    lambda p, n: np.array([math.sqrt(p * (1 - p) / n)]),                # a 1-element array
    lambda p, n: np.std(np.r_[np.ones(round(p * n)), np.zeros(n - round(p * n))]) / math.sqrt(n)
    if (p * n).is_integer() else math.sqrt(p * (1 - p) / n),            # from simulated outcomes
])
def test_standard_error_checker(right, capsys):
    exercises.check_standard_error(right)
    assert "Exercise 9.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda p, n: None, "not answered yet"),
    (lambda p, n: p * (1 - p) / n, "that is the variance"),
    (lambda p, n: math.sqrt(p * (1 - p)), "divide by n"),
    (lambda p, n: math.sqrt(p * (1 - p)) / n, "then take the square root"),
    (lambda p, n: math.sqrt(p / n), r"p \(1 - p\), not p"),
    (lambda p, n: 0.01, "same standard error for (accuracy|n)"),
    (lambda p, n: math.sqrt(p * (1 - p) / 100), "same standard error for n = 50 and n = 100|n = 100 and n = 2500"),
    (lambda p, n: math.sqrt(0.25 / n), "same standard error for accuracy"),
    (lambda p, n: math.sqrt(p * (1 - p) / (n - 1)), "not n - 1"),
    (lambda p, n: math.sqrt(p * (1 - p) / n) + 0.001, "mean of n independent"),
    (lambda p, n: [math.sqrt(p * (1 - p) / n)] * 2, "must return one number"),
    (lambda p, n: "small", "must return one number"),
    (lambda p, n: 1 / 0, "raised ZeroDivisionError"),
])
def test_standard_error_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 9.1: .*(" + match + ")"):
        exercises.check_standard_error(wrong)


def test_negative_weights_checker(capsys):
    exercises.check_negative_weights(lambda s, tau: torch.softmax(s / tau, dim=0))
    exercises.check_negative_weights(lambda s, tau: (np.exp(s.numpy() / tau) / np.exp(s.numpy() / tau).sum()).tolist())
    exercises.check_negative_weights(lambda s, tau: torch.softmax(s.float() / tau, dim=0))  # float32 is close enough
    exercises.check_negative_weights(lambda s, tau: np.exp(s.numpy() / tau) / np.exp(s.numpy() / tau).sum())
    exercises.check_negative_weights(lambda s, tau: torch.softmax(s / tau, dim=0)[None])  # 1 x n: still one per negative
    assert "Exercise 9.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda s, tau: None, "not answered yet"),
    (lambda s, tau: torch.softmax(s, dim=0), "divide the similarities by tau"),
    (lambda s, tau: torch.softmax(s * tau, dim=0), "do not multiply"),
    (lambda s, tau: torch.exp(s / tau), "must sum to 1"),
    (lambda s, tau: s / s.sum(), "exponentiate"),
    (lambda s, tau: torch.softmax(-s / tau, dim=0), "most similar negative gets the largest share"),
    (lambda s, tau: torch.softmax(s / tau, dim=0)[:-1], "one weight per negative"),
    (lambda s, tau: "weights", "expected a tensor or array of numbers"),
    (lambda s, tau: torch.softmax(s / 0.1, dim=0), "same shares for tau = 0.5 and tau = 2.0|same shares for tau = 0.1"),
    (lambda s, tau: torch.softmax(s / tau, dim=0) + 0.01, "softmax of similarities / tau"),
    (None, "not answered yet"),
    (lambda s, tau: [None] * len(s), "NaN or infinite values"),
    (lambda s, tau: torch.softmax(s / tau, dim=0) / 0, "NaN or infinite values"),
    (lambda s, tau: 1 / 0, "raised ZeroDivisionError"),
])
def test_negative_weights_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 9.2: .*(" + match + ")"):
        exercises.check_negative_weights(wrong)
