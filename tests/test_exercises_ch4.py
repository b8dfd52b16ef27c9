"""Chapter 4's checkers accept right answers in every form, reject a family of wrong ones with a
message that names the mistake, and accept the chapter's own solutions (its student stubs are
reported as not answered)."""
import math

import jupytext
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslbook import evaluate, losses, student
from sslbook.exercises import ExerciseError
from sslbook.exercises import ch4 as exercises


def moco_floor(k, t):
    return math.log1p(k * math.exp(-2 / t))


def simplex_uniformity(n, t):
    return -2 * t * n / (n - 1)


# --- Exercise 4.1 -----------------------------------------------------------------------

def test_margin_gradient_checker(capsys):
    exercises.check_margin_gradient(lambda d, m, n: -max(m - d, 0.0) / n)
    exercises.check_margin_gradient(lambda d, m, n: torch.tensor(-max(m - d, 0.0) / n))
    exercises.check_margin_gradient(lambda d, m, n: np.float32(-max(m - d, 0.0) / n))
    assert "Exercise 4.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda d, m, n: None, "not answered yet"),
    (lambda d, m, n: -(m - d) / n, "beyond the margin"),
    (lambda d, m, n: max(m - d, 0.0) / n, "check the sign"),
    (lambda d, m, n: -2 * max(m - d, 0.0), r"factor 1/\(2n\)"),
    (lambda d, m, n: -2 * max(m - d, 0.0) / n, r"derivative of \(m - d\)\^2"),
    (lambda d, m, n: "steep", "must return one number"),
    (lambda d, m, n: 1 / 0, "raised ZeroDivisionError"),
])
def test_margin_gradient_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 4.1: .*" + match):
        exercises.check_margin_gradient(wrong)


# --- Exercise 4.2 -----------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    moco_floor,
    lambda k, t: np.log(1 + k * np.exp(-2 / t)),                                  # a NumPy float
    lambda k, t: torch.log1p(k * torch.exp(torch.tensor(-2 / t, dtype=torch.float64))),  # a 0-D tensor
    lambda k, t: torch.tensor([moco_floor(k, t)], dtype=torch.float32),             # one element, float32
    lambda k, t: float(f"{moco_floor(k, t):.4g}"),                                  # rounded to 4 figures
    lambda k, t: -math.log(math.exp(1 / t) / (math.exp(1 / t) + k * math.exp(-1 / t))),  # the softmax written out
])
def test_moco_floor_checker(answer, capsys):
    exercises.check_moco_floor(answer)
    assert "Exercise 4.2 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda k, t: None, "not answered yet"),
    (None, "not answered yet"),
    (0.17, "must be a function"),
    (lambda k, t: math.log1p(k * math.exp(-1 / t)), "orthogonal keys"),
    (lambda k, t: math.log1p(k * math.exp(-(1 + 1 / k) / t)), "simplex argument"),
    (lambda k, t: losses.info_nce_floor(k + 1, t), "NT-Xent's floor"),
    (lambda k, t: math.log1p((k + 1) * math.exp(-2 / t)), "count the negatives"),
    (lambda k, t: math.log(k * math.exp(-2 / t)), "positive's own term"),
    (lambda k, t: math.log1p(k * math.exp(-2)), "divided by the temperature"),
    (lambda k, t: math.log1p(k * math.exp(-2 / 0.5)), "same floor for temperature"),   # t hard-coded
    (lambda k, t: math.log1p(4096 * math.exp(-2 / t)), "same floor for k"),           # k hard-coded
    (lambda k, t: math.log(k + 1), "highest point"),
    (lambda k, t: 0, "stays above 0"),
    (lambda k, t: -moco_floor(k, t), "positive"),
    (lambda k, t: moco_floor(k, t) / math.log(2), "in nats"),
    (lambda k, t: math.log10(1 + k * math.exp(-2 / t)), "log10"),
    (lambda k, t: 1.01 * moco_floor(k, t), "Put the key where it helps most"),
    (lambda k, t: "low", "must return one number"),
    (lambda k, t: [moco_floor(k, t)], "must return one number"),
    (lambda k, t: torch.ones(2), "must return one number"),
    (lambda k, t: math.nan, "returned nan"),
    (lambda k, t: 1 / 0, "raised ZeroDivisionError"),
    (lambda k: 0.1, "raised TypeError"),
])
def test_moco_floor_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 4.2: .*" + match):
        exercises.check_moco_floor(wrong)


# --- Exercise 4.3 -----------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    simplex_uniformity,
    lambda n, t: np.float64(-t * (2 - 2 * (-1 / (n - 1)))),                   # from 2 - 2 cos
    lambda n, t: torch.tensor(-t * 2 * n / (n - 1)),                          # a 0-D float32 tensor
    lambda n, t: round(simplex_uniformity(n, t), 3),                          # rounded to three decimals
    lambda n, t: math.trunc(simplex_uniformity(n, t) * 1000) / 1000,          # cut to three decimals
    lambda n, t: simplex_uniformity(n, t) + 4.9e-4,                           # within the rounding asked for
    lambda n, t: evaluate.uniformity(F.normalize(torch.eye(n, dtype=torch.float64) - 1 / n, dim=1), t),  # measured
])
def test_simplex_uniformity_checker(answer, capsys):
    exercises.check_simplex_uniformity(answer)
    assert "Exercise 4.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda n, t: None, "not answered yet"),
    (lambda n, t: -2 * t, "orthogonal points"),
    (lambda n, t: -4 * t, "only two points can be opposite"),
    (lambda n, t: -2 * t * (1 + 1 / n), "not -1/n"),
    (lambda n, t: -t * math.sqrt(2 * n / (n - 1)), "squared distance"),
    (lambda n, t: math.exp(-2 * t * n / (n - 1)), "log of the mean"),
    (lambda n, t: -2 * n / (n - 1), "multiply the squared distance by t"),
    (lambda n, t: -4 * n / (n - 1), "same uniformity for t"),          # t hard-coded at 2
    (lambda n, t: -2 * t * 10 / 9, "same uniformity for n"),           # n hard-coded at 10
    (lambda n, t: 2 * t * n / (n - 1), "at most 0"),
    (lambda n, t: -2.1 * t * n / (n - 1), "Every two vertices"),
    (lambda n, t: round(simplex_uniformity(n, t), 2), "give at least three decimals"),     # too coarse
    (lambda n, t: math.trunc(simplex_uniformity(n, t) * 100) / 100, "give at least three decimals"),
    (lambda n, t: simplex_uniformity(n, t) + 1e-3, "Every two vertices"),    # off by more than the rounding
    (lambda n, t: "spread", "must return one number"),
    (lambda n, t: F.normalize(torch.eye(n) - 1 / n, dim=1), "must return one number"),  # the simplex itself
    (lambda n, t: -2 * t * n / (n - 2), "raised ZeroDivisionError"),
])
def test_simplex_uniformity_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 4.3: .*" + match):
        exercises.check_simplex_uniformity(wrong)


# --- The chapter's own solutions and its student stubs ----------------------------------

def chapter_solutions(root, strip=False):
    """Run chapter 4's solution cells (or their student stubs) and return what they define."""
    nb = jupytext.read(str(root / "chapters" / "04_mathematics.md"))
    space = {"math": math, "torch": torch, "F": F, "losses": losses, "evaluate": evaluate}
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            exec(student.strip_solutions(cell.source)[0] if strip else cell.source, space)
    return space


CHECKS = {"grad_dissimilar": exercises.check_margin_gradient, "moco_floor": exercises.check_moco_floor,
          "simplex_uniformity": exercises.check_simplex_uniformity}


def test_the_chapters_solutions_pass(root, capsys):
    space = chapter_solutions(root)
    for name, check in CHECKS.items():
        check(space[name])
    assert capsys.readouterr().out.count("passed") >= 3


@pytest.mark.parametrize("name", CHECKS)
def test_the_student_stubs_are_not_answered(root, name):
    space = chapter_solutions(root, strip=True)
    with pytest.raises(ExerciseError, match="not answered yet"):
        CHECKS[name](space[name])


BITS = -(math.log2(0.8) + math.log2(0.7)) / 2      # 0.41825...


@pytest.mark.parametrize("answer", [BITS, 0.418, 0.4183, 0.41825, np.float32(BITS), torch.tensor(BITS),
                                    BITS + 4.9e-4, BITS - 4.9e-4, "0.418"])
def test_bits_checker_accepts_three_decimals(answer, capsys):
    """The earlier exercise 4.3 asks for three decimals: 0.418 (the answer rounded) passes."""
    exercises.check_bits(answer)
    assert "Exercise 4.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (0.42, "give at least three decimals"),        # rounded to two decimals
    (0.41, "give at least three decimals"),        # cut to two decimals
    (0.4, "give at least three decimals"),
    (0.419, "use log base 2"),                     # the third decimal wrong
    (0.417, "use log base 2"),
    (BITS + 6e-4, "use log base 2"),
    (-(math.log(0.8) + math.log(0.7)) / 2, "in nats"),
    (0.290, "in nats"),                            # nats, rounded to three decimals
    (-(math.log(0.8) + math.log(0.7)) / 2 * math.log(2), "divide by ln 2, do not multiply"),
    (-BITS, "use log base 2"),
    ("0.418x", "must be a number"),
    ([0.4], "must be a number"),
    (None, "not answered yet"),
])
def test_bits_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 4.3: .*" + match):
        exercises.check_bits(wrong)


def test_the_earlier_checkers_still_work(capsys):
    """Student copies handed out before exercises 4.2 and 4.3 changed still call these."""
    exercises.check_predicted_loss(0.08)
    exercises.check_predicted_loss(np.float64(0.08))
    exercises.check_bits(-(math.log2(0.8) + math.log2(0.7)) / 2)
    for check, answer, match in [(exercises.check_predicted_loss, 0.16, "article's factor 1/2"),
                                 (exercises.check_predicted_loss, "0.08x", "must be a number"),
                                 (exercises.check_bits, -(math.log(0.8) + math.log(0.7)) / 2, "in nats"),
                                 (exercises.check_bits, [0.4], "must be a number"),
                                 (exercises.check_bits, None, "not answered yet")]:
        with pytest.raises(ExerciseError, match=match):
            check(answer)
