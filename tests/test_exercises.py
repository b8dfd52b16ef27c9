"""The exercise checkers against right, missing and deliberately wrong answers."""
import math

import pytest
import torch
import torch.nn.functional as F

from sslbook import exercises
from sslbook.exercises import ExerciseError

RIGHT_KINDS = {"a": "supervised", "b": "unsupervised", "c": "self-supervised",
               "d": "self-supervised", "e": "supervised", "f": "unsupervised"}


def test_signal_kinds(capsys):
    exercises.check_signal_kinds(RIGHT_KINDS)
    assert "Exercise 1.1 passed" in capsys.readouterr().out
    exercises.check_signal_kinds({k: v.upper().replace("-", " ") for k, v in RIGHT_KINDS.items()})


@pytest.mark.parametrize("answer,match", [
    (None, "Exercise 1.1: not answered yet"),
    ([], "must be a dict"),
    ({"a": "supervised"}, "no entry for scenario"),
    ({**RIGHT_KINDS, "c": "unsupervised"}, "scenario c is not unsupervised: .*made automatically from the data"),
    ({**RIGHT_KINDS, "e": "self-supervised"}, "scenario e is not self-supervised: .*written by people"),
    ({**RIGHT_KINDS, "b": "clustering"}, "'clustering' is not one of"),
])
def test_signal_kinds_wrong(answer, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_signal_kinds(answer)


def fake_probe(n):
    return min(1.0, 0.5 + 0.05 * n)  # reaches 0.9 at n = 8


def test_labels_needed():
    exercises.check_labels_needed(8, fake_probe)
    with pytest.raises(ExerciseError, match="not answered yet"):
        exercises.check_labels_needed(None, fake_probe)
    with pytest.raises(ExerciseError, match="with 5 labels per class the probe reaches 0.750, below 0.9"):
        exercises.check_labels_needed(5, fake_probe)
    with pytest.raises(ExerciseError, match="8 labels per class already reach 0.900 >= 0.9: 9 is not the smallest"):
        exercises.check_labels_needed(9, fake_probe)
    with pytest.raises(ExerciseError, match="whole number"):
        exercises.check_labels_needed(8.0, fake_probe)


def right_ideal(n, t):
    return math.log(1 + (2 * n - 2) * math.exp(-1 / t))


def test_ideal_loss_right(capsys):
    exercises.check_ideal_loss(right_ideal)
    exercises.check_ideal_loss(lambda n, t: torch.tensor(right_ideal(n, t)))
    assert "Exercise 2.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda n, t: None, "not answered yet: ideal_loss returned None"),
    (lambda n, t: 0.0, "even a perfect batch has a loss above zero"),
    (lambda n, t: math.log(2 + (2 * n - 2) * math.exp(-1 / t)), "similarity with itself"),
    (lambda n, t: math.log(1 + (2 * n - 1) * math.exp(-1 / t)), "count the negatives again"),
    (lambda n, t: math.log(1 + (n - 1) * math.exp(-1 / t)), "2N - 2 of them, not N - 1"),
    (lambda n, t: math.log(1 + (2 * n - 2) * math.exp(-1)), "divided by the temperature"),
    (lambda n, t: -right_ideal(n, t), "so it is positive"),
    (lambda n, t: 1.234, "write the softmax probability of the positive"),
    (lambda n, t: "x", "must return one number"),
    (lambda n, t: 1 / 0, r"ideal_loss\(2, 0.5\) raised ZeroDivisionError"),
    (42, "must be a function"),
])
def test_ideal_loss_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 2.1: .*" + match):
        exercises.check_ideal_loss(wrong)


def right_top1(z1, z2):
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    return (sim.argmax(1) == torch.cat([torch.arange(n, 2 * n), torch.arange(n)])).float().mean()


def test_positive_top1_right():
    exercises.check_positive_top1(right_top1)


def with_self(z1, z2):
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    return ((z @ z.T).argmax(1) == torch.cat([torch.arange(n, 2 * n), torch.arange(n)])).float().mean()


def one_direction(z1, z2):
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return ((z1 @ z2.T).argmax(1) == torch.arange(len(z1))).float().mean()


@pytest.mark.parametrize("wrong,match", [
    (lambda a, b: None, "not answered yet: positive_top1 returned None"),
    (with_self, "exclude the diagonal"),
    (lambda a, b: right_top1(a, b) * 2 * len(a), "divide by the number of views"),
    (one_direction, "is the nearest other view"),
])
def test_positive_top1_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_positive_top1(wrong)
