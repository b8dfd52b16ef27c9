"""Chapter 9's checkers accept right answers in every form and reject a family of wrong ones."""
import math

import numpy as np
import pytest
import torch

from sslbook import exercises
from sslbook.exercises import ExerciseError


def test_standard_error_checker(capsys):
    exercises.check_standard_error(lambda p, n: math.sqrt(p * (1 - p) / n))
    exercises.check_standard_error(lambda p, n: np.sqrt(p * (1 - p) / n))        # a NumPy float
    exercises.check_standard_error(lambda p, n: torch.tensor(p * (1 - p) / n).sqrt())  # a 0-D tensor
    assert "Exercise 9.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda p, n: None, "not answered yet"),
    (lambda p, n: p * (1 - p) / n, "that is the variance"),
    (lambda p, n: math.sqrt(p * (1 - p)), "divide by n"),
    (lambda p, n: math.sqrt(p * (1 - p)) / n, "then take the square root"),
    (lambda p, n: math.sqrt(p / n), r"p \(1 - p\), not p"),
    (lambda p, n: 0.01, "mean of n independent"),
    (lambda p, n: "small", "must return one number"),
    (lambda p, n: 1 / 0, "raised ZeroDivisionError"),
])
def test_standard_error_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_standard_error(wrong)


def test_negative_weights_checker(capsys):
    exercises.check_negative_weights(lambda s, tau: torch.softmax(s / tau, dim=0))
    exercises.check_negative_weights(lambda s, tau: (np.exp(s.numpy() / tau) / np.exp(s.numpy() / tau).sum()).tolist())
    exercises.check_negative_weights(lambda s, tau: torch.softmax(s.float() / tau, dim=0))  # float32 is close enough
    assert "Exercise 9.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda s, tau: None, "not answered yet"),
    (lambda s, tau: torch.softmax(s, dim=0), "divide the similarities by tau"),
    (lambda s, tau: torch.softmax(s * tau, dim=0), "do not multiply"),
    (lambda s, tau: torch.exp(s / tau), "must sum to 1"),
    (lambda s, tau: s / s.sum(), "exponentiate"),
    (lambda s, tau: torch.softmax(-s / tau, dim=0), "softmax of similarities / tau"),
    (lambda s, tau: torch.softmax(s / tau, dim=0)[:-1], "one weight per negative"),
    (lambda s, tau: "weights", "must return a 1-D tensor"),
    (lambda s, tau: 1 / 0, "raised ZeroDivisionError"),
])
def test_negative_weights_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_negative_weights(wrong)
