"""Chapter 8's checkers accept right answers and reject the usual wrong ones with a hint."""
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.ao.quantization import quantize_dynamic

from sslbook import exercises, interpret, losses
from sslbook.exercises import ExerciseError


def halves(u, v, t):
    s = F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / t
    return F.cross_entropy(s, torch.arange(len(s))), F.cross_entropy(s.T, torch.arange(len(s)))


def test_clip_loss_checker(capsys):
    exercises.check_clip_loss(lambda u, v, t: losses.clip_loss(u, v, t))
    assert "Exercise 8.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda u, v, t: halves(u, v, t)[0], "image-to-text half"),
    (lambda u, v, t: sum(halves(u, v, t)), "divide their sum by 2"),
    (lambda u, v, t: losses.clip_loss(u, v, 1.0), "temperature"),
    (lambda u, v, t: None, "not answered"),
    (lambda u, v, t: 1 / 0, "ZeroDivisionError"),
])
def test_clip_loss_checker_rejects(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_clip_loss(wrong)


def shrink(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def test_dynamic_quantization_checker(capsys):
    exercises.check_dynamic_quantization(shrink)
    assert "Exercise 8.2 passed" in capsys.readouterr().out


def in_place(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def shrink_wrong_outputs(model):
    q = shrink(model)
    return torch.nn.Sequential(q, torch.nn.Linear(10, 10))


@pytest.mark.parametrize("wrong,match", [(lambda m: m, "size"), (lambda m: None, "not answered"),
                                         (in_place, "changed the model"), (lambda m: 3, "Module"),
                                         (shrink_wrong_outputs, "outputs differ")])
def test_dynamic_quantization_checker_rejects(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_dynamic_quantization(wrong)


def test_occlusion_checker(capsys):
    exercises.check_occlusion(lambda e, x, p: interpret.occlusion_map(e, x, p))
    assert "Exercise 8.4 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="1 - similarity"):
        exercises.check_occlusion(lambda e, x, p: 1 - interpret.occlusion_map(e, x, p))
    with pytest.raises(ExerciseError, match="map is"):
        exercises.check_occlusion(lambda e, x, p: interpret.occlusion_map(e, x, 2))
    with pytest.raises(ExerciseError, match="not answered"):
        exercises.check_occlusion(lambda e, x, p: None)
