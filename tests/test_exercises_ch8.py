"""Chapter 8's checkers accept right answers in every form and reject families of wrong ones (a parameter
ignored, a fixed answer, off by a constant, wrong shape or type, a function that raises) with a hint."""
import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

from sslbook import exercises, interpret, losses
from sslbook.exercises import ExerciseError


def halves(u, v, t):
    s = F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / t
    return F.cross_entropy(s, torch.arange(len(s))), F.cross_entropy(s.T, torch.arange(len(s)))


@pytest.mark.parametrize("right", [
    lambda u, v, t: losses.clip_loss(u, v, t), lambda u, v, t: sum(halves(u, v, t)) / 2,
    lambda u, v, t: (sum(halves(u, v, t)) / 2).item(), lambda u, v, t: np.float32(sum(halves(u, v, t)) / 2),
    lambda u, v, t: losses.clip_loss(u, v, t).reshape(1),
])
def test_clip_loss_checker(right, capsys):
    exercises.check_clip_loss(right)
    assert "Exercise 8.1 passed" in capsys.readouterr().out


def test_clip_reference_is_the_package_loss():
    from sslbook.exercises import ch8
    u, v = torch.randn(7, 5), torch.randn(7, 5)
    assert abs(ch8._clip(u, v, 0.3) - losses.clip_loss(u, v, 0.3).item()) < 1e-5


@pytest.mark.parametrize("wrong,match", [
    (lambda u, v, t: halves(u, v, t)[0], "image-to-text half"),
    (lambda u, v, t: halves(u, v, t)[1], "text-to-image half"),
    (lambda u, v, t: sum(halves(u, v, t)), "divide their sum by 2"),
    (lambda u, v, t: losses.clip_loss(u, v, 1.0), "temperature"),
    (lambda u, v, t: losses.clip_loss(u, v, 0.1), "same loss for temperature = 0.1 and temperature = 0.5: did you"),
    (lambda u, v, t: losses.clip_loss(u, v, 1 / t), "do not multiply"),
    (lambda u, v, t: (F.cross_entropy(u @ v.T / t, torch.arange(len(u))) + F.cross_entropy(v @ u.T / t, torch.arange(
        len(u)))) / 2, "normalise both embeddings"),
    (lambda u, v, t: losses.clip_loss(u, v, t) + 0.01, "averaged"),
    (lambda u, v, t: torch.stack(halves(u, v, t)), "must return one number"),
    (lambda u, v, t: "loss", "must return one number"),
    (lambda u, v, t: None, "not answered"),
    (lambda u, v, t: 1 / 0, "raised ZeroDivisionError"),
])
def test_clip_loss_checker_rejects(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 8.1: .*" + match):
        exercises.check_clip_loss(wrong)


DYNAMIC = Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)   # torch.compile settings untouched


def shrink(model, config=DYNAMIC):
    small = copy.deepcopy(model)
    quantize_(small, config)
    return small


def test_importing_the_checkers_imports_no_quantization_code():
    code = ("import sys, sslbook.exercises; "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'torchao'], 'torchao imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("right", [shrink, lambda m: shrink(m, Int8WeightOnlyConfig(set_inductor_config=False))])
def test_dynamic_quantization_checker(right, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)   # the answer and the checker use no deprecated path
        exercises.check_dynamic_quantization(right)
    assert "Exercise 8.2 passed" in capsys.readouterr().out


def in_place(model):
    quantize_(model, DYNAMIC)
    return model


def shrink_wrong_outputs(model):
    q = shrink(model)
    return torch.nn.Sequential(q, torch.nn.Linear(10, 10))


FIRST = None


def first_model_only(model):  # quantizes the first model it sees, then returns that one again
    global FIRST
    FIRST = FIRST or shrink(model)
    return FIRST


def shrink_a_fixed_network(model):
    return shrink(torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                      torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval())


class Broken(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("not implemented")


@pytest.mark.parametrize("wrong,match", [(lambda m: m, "returned the model it was given"),
                                         (lambda m: copy.deepcopy(m), "size"),
                                         (lambda m: None, "not answered"),
                                         (lambda m: quantize_(copy.deepcopy(m), DYNAMIC), "returns None"),
                                         (in_place, "changed the model"), (lambda m: 3, "Module"),
                                         (shrink_wrong_outputs, "outputs differ"),
                                         (shrink_a_fixed_network, "outputs differ"),
                                         (first_model_only, "raised RuntimeError"),
                                         (lambda m: Broken(), "raised RuntimeError"),
                                         (lambda m: 1 / 0, "raised ZeroDivisionError")])
def test_dynamic_quantization_checker_rejects(wrong, match):
    global FIRST
    FIRST = None
    with pytest.raises(ExerciseError, match="Exercise 8.2: .*(" + match + ")"):
        exercises.check_dynamic_quantization(wrong)


def my_occlusion(encoder, image, patch):
    _, h, w = image.shape
    base = encoder(image[None])
    out = torch.zeros(len(range(0, h, patch)), len(range(0, w, patch)))
    for i, r in enumerate(range(0, h, patch)):
        for j, c in enumerate(range(0, w, patch)):
            x = image.clone()
            x[:, r:r + patch, c:c + patch] = 0.5
            out[i, j] = 1 - F.cosine_similarity(base, encoder(x[None])).item()
    return out


@pytest.mark.parametrize("right", [lambda e, x, p: interpret.occlusion_map(e, x, p), my_occlusion,
                                   lambda e, x, p: my_occlusion(e, x, p).detach().numpy(),
                                   lambda e, x, p: my_occlusion(e, x, p).tolist()])
def test_occlusion_checker(right, capsys):
    exercises.check_occlusion(right)
    assert "Exercise 8.4 passed" in capsys.readouterr().out


def in_place_occlusion(encoder, image, patch):
    out = interpret.occlusion_map(encoder, image.clone(), patch)
    image[:, :patch, :patch] = 0
    return out


@pytest.mark.parametrize("wrong,match", [
    (lambda e, x, p: 1 - interpret.occlusion_map(e, x, p), "1 - similarity"),
    (lambda e, x, p: interpret.occlusion_map(e, x, 4), "with a 8 x 8 image and patch = 2 the map is"),
    (lambda e, x, p: interpret.occlusion_map(e, x, p).T, "transposed"),
    (lambda e, x, p: interpret.occlusion_map(e, x, p, fill=0.0), "filled each square with black"),
    (lambda e, x, p: interpret.occlusion_map(e, x, p, fill=1.0), "grey, 0.5"),
    (lambda e, x, p: interpret.occlusion_map(e, x, p) + 0.01, "grey, 0.5"),
    (in_place_occlusion, "changed the image"),
    (lambda e, x, p: None, "not answered"),
    (lambda e, x, p: "map", "expected a tensor or array"),
    (lambda e, x, p: e(x), "the map is"),
    (lambda e, x, p: e(x[None], p), "raised TypeError"),
])
def test_occlusion_checker_rejects(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 8.4: .*" + match):
        exercises.check_occlusion(wrong)
