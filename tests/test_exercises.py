"""The exercise checkers against right answers in every reasonable form, missing answers and
families of deliberately wrong ones (a parameter ignored, no randomness, off by a constant,
wrong shape or type, a function that raises); and the chapters' own solutions (and their
student stubs) run through the checkers."""
import glob
import importlib
import inspect
import math
import os
import re
from pathlib import Path

import jupytext
import numpy as np
import scipy.stats  # noqa: F401 - the chapters import it; exercise 6.6 uses scipy.stats.t
import pytest
import torch
import torch.nn.functional as F

from sslbook import exercises, student
from sslbook.exercises import ExerciseError
from sslbook.exercises import ch1, ch3

RIGHT_KINDS = {"a": "supervised", "b": "unsupervised", "c": "self-supervised",
               "d": "self-supervised", "e": "supervised", "f": "unsupervised"}


@pytest.mark.parametrize("answer", [RIGHT_KINDS, {k: v.upper().replace("-", " ") for k, v in RIGHT_KINDS.items()},
                                    {k.upper(): f" {v}_" [:-1] for k, v in RIGHT_KINDS.items()}])
def test_signal_kinds(answer, capsys):
    exercises.check_signal_kinds(answer)
    assert "Exercise 1.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("answer,match", [
    (None, "Exercise 1.1: not answered yet"),
    ([], "must be a dict"),
    ("supervised", "must be a dict"),
    ({"a": "supervised"}, "no entry for scenario"),
    ({**RIGHT_KINDS, "g": "supervised"}, "not scenarios"),
    ({**RIGHT_KINDS, "c": "unsupervised"}, "scenario c is not unsupervised: .*made automatically from the data"),
    ({**RIGHT_KINDS, "e": "self-supervised"}, "scenario e is not self-supervised: .*written by people"),
    ({**RIGHT_KINDS, "b": "clustering"}, "'clustering' is not one of"),
    ({**RIGHT_KINDS, "b": None}, "give the kind as a string"),
    ({**RIGHT_KINDS, "b": 2}, "give the kind as a string"),
    ({k: "supervised" for k in RIGHT_KINDS}, "every scenario is supervised"),
])
def test_signal_kinds_wrong(answer, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_signal_kinds(answer)


def fake_probe(n):
    return min(1.0, 0.5 + 0.05 * n)  # reaches 0.9 at n = 8


@pytest.mark.parametrize("answer", [8, np.int64(8), torch.tensor(8), 8.0, np.array([8])])
def test_labels_needed(answer, capsys):
    exercises.check_labels_needed(answer, fake_probe)
    assert "8 labels per class are the fewest" in capsys.readouterr().out


@pytest.mark.parametrize("answer,match", [
    (None, "not answered yet"),
    (5, "with 5 labels per class the probe reaches 0.750, below 0.9"),
    (9, "8 labels per class already reach 0.900 >= 0.9: 9 is not the smallest"),
    (8.5, "whole number"), ("8", "whole number"), (0, "whole number"), (-3, "whole number"), (True, "whole number"),
    ([8, 9], "whole number"),
])
def test_labels_needed_wrong(answer, match):
    with pytest.raises(ExerciseError, match="Exercise 1.2: .*" + match):
        exercises.check_labels_needed(answer, fake_probe)


def test_labels_needed_is_measured_by_the_checkers_own_probe():
    """The chapter's check cell passes no function: a student's redefined pixel_probe cannot reach it."""
    n = next(n for n in range(1, 60) if ch1.pixel_probe(n) >= 0.9)
    exercises.check_labels_needed(n)
    with pytest.raises(ExerciseError, match="Exercise 1.2: "):   # not the smallest (or, by noise, below 0.9)
        exercises.check_labels_needed(n + 1)
    with pytest.raises(ValueError, match="per_class must be a whole number >= 1, got 0"):
        ch1.pixel_probe(0)


def test_labels_needed_reports_a_probe_that_raises():
    with pytest.raises(ExerciseError, match="raised ValueError"):
        exercises.check_labels_needed(8, lambda n: int("x"))


def right_ideal(n, t):
    return math.log(1 + (2 * n - 2) * math.exp(-1 / t))


@pytest.mark.parametrize("right", [
    right_ideal, lambda n, t: torch.tensor(right_ideal(n, t)), lambda n, t: np.float32(right_ideal(n, t)),
    lambda n, t: torch.tensor([right_ideal(n, t)]),
    lambda n, t: -torch.log_softmax(torch.tensor([1.0] + [0.0] * (2 * n - 2), dtype=torch.float64) / t, 0)[0],
])
def test_ideal_loss_right(right, capsys):
    exercises.check_ideal_loss(right)
    assert "Exercise 2.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda n, t: None, "not answered yet: ideal_loss returned None"),
    (None, "not answered yet"),
    (lambda n, t: 0.0, "even a perfect batch has a loss above zero"),
    (lambda n, t: math.log(2 + (2 * n - 2) * math.exp(-1 / t)), "similarity with itself"),
    (lambda n, t: math.log(1 + (2 * n - 1) * math.exp(-1 / t)), "count the negatives again"),
    (lambda n, t: math.log(1 + (n - 1) * math.exp(-1 / t)), "2N - 2 of them, not N - 1"),
    (lambda n, t: math.log(1 + (2 * n - 2) * math.exp(-1)), "divided by the temperature"),
    (lambda n, t: right_ideal(n, 0.5), "same loss for temperature = 0.5 and temperature = 0.1: did you divide"),
    (lambda n, t: right_ideal(8, t), "same loss for n = 2 and n = 4"),
    (lambda n, t: -right_ideal(n, t), "so it is positive"),
    (lambda n, t: math.log10(1 + (2 * n - 2) * math.exp(-1 / t)), "not log10"),
    (lambda n, t: right_ideal(n, t) + 0.01, "write the softmax probability of the positive"),
    (lambda n, t: 1.234, "same loss for n = 2 and n = 4"),
    (lambda n, t: "x", "must return one number"),
    (lambda n, t: [right_ideal(n, t)] * 2, "must return one number"),
    (lambda n, t: torch.ones(2), "must return one number"),
    (lambda n, t: float("nan"), "returned nan"),
    (lambda n, t: 1 / 0, r"raised ZeroDivisionError on ideal_loss\(2, 0.5\)"),
    (lambda n: 1.0, "raised TypeError"),
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


def numpy_top1(z1, z2):
    z = np.concatenate([z1.numpy(), z2.numpy()])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    n = len(z1)
    return np.mean(sim.argmax(1) == (np.arange(2 * n) + n) % (2 * n))


@pytest.mark.parametrize("right", [right_top1, lambda a, b: right_top1(a, b).item(), numpy_top1,
                                   lambda a, b: round(float(right_top1(a, b)), 8)])
def test_positive_top1_right(right):
    exercises.check_positive_top1(right)


def with_self(z1, z2):
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    return ((z @ z.T).argmax(1) == torch.cat([torch.arange(n, 2 * n), torch.arange(n)])).float().mean()


def one_direction(z1, z2):
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return ((z1 @ z2.T).argmax(1) == torch.arange(len(z1))).float().mean()


def by_dot(z1, z2):
    n, z = len(z1), torch.cat([z1, z2])
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    return (sim.argmax(1) == torch.cat([torch.arange(n, 2 * n), torch.arange(n)])).float().mean()


def n_is_16(z1, z2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    positive = torch.cat([torch.arange(16, 32), torch.arange(16)])
    return (sim.argmax(1)[:32][:len(positive)][:len(z)] == positive[:len(z)]).float().mean()


@pytest.mark.parametrize("wrong,match", [
    (lambda a, b: None, "not answered yet: positive_top1 returned None"),
    (with_self, "exclude the diagonal"),
    (lambda a, b: right_top1(a, b) * 2 * len(a), "divide by the number of views"),
    (one_direction, "is the nearest other view"),
    (by_dot, "dot product"),
    (n_is_16, "right for N = 16 pairs only"),
    (lambda a, b: 0.5, "is the nearest other view"),
    (lambda a, b: right_top1(a, b).repeat(2), "must return one number"),
    (lambda a, b: "high", "must return one number"),
    (lambda a, b: a[100], "raised IndexError"),
])
def test_positive_top1_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 2.2: .*" + match):
        exercises.check_positive_top1(wrong)


def triplet(a, p, n, m):
    return ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).clamp(min=0).mean()


@pytest.mark.parametrize("right", [
    triplet, lambda a, p, n, m: F.triplet_margin_loss(a, p, n, margin=m),
    lambda a, p, n, m: F.triplet_margin_loss(a, p, n, margin=m).item(),
    lambda a, p, n, m: np.maximum(np.linalg.norm(a - p, axis=1) - np.linalg.norm(a - n, axis=1) + m, 0).mean(),
])
def test_triplet_checker(right, capsys):
    exercises.check_triplet(right)
    assert "Exercise 3.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda a, p, n, m: None, "not answered yet"),
    (lambda a, p, n, m: ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).mean(), "clamp at 0"),
    (lambda a, p, n, m: ((a - p).norm(dim=1) ** 2 - (a - n).norm(dim=1) ** 2 + m).clamp(min=0).mean(), "not squared"),
    (lambda a, p, n, m: ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).clamp(min=0).sum(), "not the sum"),
    (lambda a, p, n, m: triplet(a, n, p, m), "comes first"),
    (lambda a, p, n, m: triplet(a, p, n, 0.0), "add the margin inside the max"),
    (lambda a, p, n, m: triplet(a, p, n, 1.0), "same loss for margin = 1.0 and margin = 0.5"),
    (lambda a, p, n, m: triplet(a, p, p, m), "same loss for negative"),
    (lambda a, p, n, m: triplet(a, a, n, m), "same loss for positive"),
    (lambda a, p, n, m: triplet(a, p, n, m) + 0.1, "triplet_margin_loss"),
    (lambda a, p, n, m: ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).clamp(min=0), "must return one number"),
    (lambda a, p, n, m: "loss", "must return one number"),
    (lambda a, p, n, m: a @ p, "raised RuntimeError"),
])
def test_triplet_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 3.1: .*" + match):
        exercises.check_triplet(wrong)


def test_retired_checkers_point_to_the_new_exercises():
    with pytest.raises(ExerciseError, match="Exercise 3.2: exercise 3.2 is now the momentum encoder"):
        exercises.check_collapse_std(lambda z: 0.125)
    with pytest.raises(ExerciseError, match="Exercise 3.4: exercise 3.4 now asks which augmentations"):
        exercises.check_which_factor({"geometric": "colour"}, {"geometric": {"colour": 1.0}})


def good_bert(ids, ratio, mask_id, vocab, g):
    chosen = torch.rand(ids.shape, generator=g) < ratio
    u = torch.rand(ids.shape, generator=g)
    inputs = ids.masked_fill(chosen & (u < 0.8), mask_id)
    swap = chosen & (u >= 0.8) & (u < 0.9)
    inputs[swap] = torch.randint(vocab, ids.shape, generator=g)[swap]
    return inputs, ids.masked_fill(~chosen, -100)


def exact_count_bert(ids, ratio, mask_id, vocab, g):  # exactly round(ratio * L) tokens per row: also right
    n, length = ids.shape
    order = torch.rand(n, length, generator=g).argsort(dim=1)
    chosen = torch.zeros_like(ids, dtype=torch.bool).scatter_(1, order[:, :round(ratio * length)], True)
    kind = torch.multinomial(torch.tensor([0.8, 0.1, 0.1]), ids.numel(), replacement=True, generator=g).view(n, -1)
    inputs = torch.where(chosen & (kind == 0), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (kind == 1), torch.randint(vocab, ids.shape, generator=g), inputs)
    return inputs, torch.where(chosen, ids, torch.full_like(ids, -100))


@pytest.mark.parametrize("right", [good_bert, exact_count_bert, lambda *a: [x.numpy() for x in good_bert(*a)]])
def test_bert_masking_checker(right):
    exercises.check_bert_masking(right)


def same_rows(ids, r, m, v, g):
    chosen = (torch.rand(ids.shape[1], generator=g) < r).expand_as(ids)
    return ids.masked_fill(chosen, m), ids.masked_fill(~chosen, -100)


def all_mask(ids, r, m, v, g):
    chosen = torch.rand(ids.shape, generator=g) < r
    return ids.masked_fill(chosen, m), ids.masked_fill(~chosen, -100)


@pytest.mark.parametrize("wrong,match", [
    (lambda *a: None, "not answered yet"),
    (lambda ids, r, m, v, g: (good_bert(ids, r, m, v, g)[0], ids.clone()), "labels to -100 elsewhere"),
    (lambda ids, r, m, v, g: (ids.masked_fill(torch.rand(ids.shape, generator=g) < r, m),
                              ids.masked_fill(torch.rand(ids.shape, generator=g) >= r, -100)),
     "must be the original|left unchanged"),
    (lambda ids, r, m, v, g: good_bert(ids, 0.15, m, v, g), "not mask_ratio = 30%"),
    (lambda ids, r, m, v, g: good_bert(ids, r, 50, v, g), "no chosen token became mask_id = 1003"),
    (lambda ids, r, m, v, g: good_bert(ids, r, m, 50, g), "only 50 different values"),
    (lambda ids, r, m, v, g: good_bert(ids, r, m, v + 10, g), r"in \[0, vocab_size\)"),
    (lambda ids, r, m, v, g: good_bert(ids, r, m, v, None), "same generator seed gave a different masking"),
    (lambda ids, r, m, v, g: good_bert(ids, r, m, v, torch.Generator().manual_seed(0)), "two different generators"),
    (same_rows, "every sequence has the same positions"),
    (all_mask, "BERT replaces 80%"),
    (lambda *a: good_bert(*a)[0], "must return a pair"),
    (lambda *a: good_bert(*a) + (None,), "must return a pair"),
    (lambda ids, *a: tuple(x[:-1] for x in good_bert(ids, *a)), "expected a tensor shaped"),
    (lambda *a: ("inputs", "labels"), "expected a tensor or array of numbers"),
    (lambda *a: 1 / 0, "raised ZeroDivisionError"),
])
def test_bert_masking_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 3.3: .*(" + match + ")"):
        exercises.check_bert_masking(wrong)


def test_margin_gradient_checker():
    exercises.check_margin_gradient(lambda d, m, n: -max(m - d, 0.0) / n)
    cases = [
        (lambda d, m, n: None, "not answered yet"),
        (lambda d, m, n: -(m - d) / n, "beyond the margin"),
        (lambda d, m, n: max(m - d, 0.0) / n, "check the sign"),
        (lambda d, m, n: -2 * max(m - d, 0.0), "factor 1/\\(2n\\)"),
        (lambda d, m, n: -2 * max(m - d, 0.0) / n, "derivative of \\(m - d\\)\\^2"),
    ]
    for wrong, match in cases:
        with pytest.raises(ExerciseError, match="Exercise 4.1: .*" + match):
            exercises.check_margin_gradient(wrong)


def test_predicted_loss_checker():
    exercises.check_predicted_loss(0.08)
    with pytest.raises(ExerciseError, match="not answered yet"):
        exercises.check_predicted_loss(None)
    with pytest.raises(ExerciseError, match="article's factor 1/2"):
        exercises.check_predicted_loss(0.16)
    with pytest.raises(ExerciseError, match="cosine \\*distance\\*"):
        exercises.check_predicted_loss(0.09)
    with pytest.raises(ExerciseError, match="must be a number"):
        exercises.check_predicted_loss("0.08x")


def test_bits_checker():
    exercises.check_bits(-(math.log2(0.8) + math.log2(0.7)) / 2)
    with pytest.raises(ExerciseError, match="in nats"):
        exercises.check_bits(-(math.log(0.8) + math.log(0.7)) / 2)
    with pytest.raises(ExerciseError, match="not answered yet"):
        exercises.check_bits(None)


# --- Chapter 5 ---------------------------------------------------------------------

def fc1(s):
    return 16 * (s // 2) ** 2 * 128 + 128


@pytest.mark.parametrize("right", [fc1, lambda s: np.int64(fc1(s)), lambda s: torch.tensor(fc1(s)),
                                   lambda s: 16 * (s / 2) ** 2 * 128 + 128])
def test_article_params_checker(right, capsys):
    exercises.check_article_params(right)
    assert "25,690,240 at 224" in capsys.readouterr().out


def test_article_params_formula_is_the_network():
    from sslbook.models import ArticleCNN
    for size in (2, 6, 32, 224):
        assert sum(p.numel() for p in ArticleCNN(size).head[0].parameters()) == fc1(size)


@pytest.mark.parametrize("wrong,match", [
    (lambda s: None, "not answered yet"),
    (lambda s: 16 * (s // 2) ** 2 * 128, "add the layer's 128 biases"),
    (lambda s: 16 * s * s * 128 + 128, "max-pool halves"),
    (lambda s: 3 * s * s, "maps 16 channels"),
    (lambda s: fc1(32), "same count for size = 32 and size = 224"),
    (lambda s: fc1(s) + 1, "maps 16 channels"),
    (lambda s: fc1(s) + 0.5, "whole number"),
    (lambda s: str(fc1(s)), "must return one number"),
    (lambda s: [fc1(s)], "must return one number"),
    (lambda s: 1 / 0, "raised ZeroDivisionError"),
])
def test_article_params_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 5.1: .*" + match):
        exercises.check_article_params(wrong)


def right_knn(train_f, train_y, test_f, k):
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    votes = F.one_hot(train_y[sim.topk(k, dim=1).indices], int(train_y.max()) + 1).sum(1)
    return votes.argmax(1)


def euclid_knn(train_f, train_y, test_f, k):
    nearest = torch.cdist(test_f, train_f).topk(k, dim=1, largest=False).indices
    return F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(1).argmax(1)


def sklearn_knn(train_f, train_y, test_f, k):
    from sklearn.neighbors import KNeighborsClassifier
    return KNeighborsClassifier(k, metric="cosine").fit(train_f, train_y).predict(test_f)


@pytest.mark.parametrize("right", [right_knn, sklearn_knn, lambda *a: right_knn(*a).tolist(),
                                   lambda *a: right_knn(*a).float().unsqueeze(1), lambda *a: right_knn(*a).numpy()])
def test_knn_checker(right):
    exercises.check_knn(right)


@pytest.mark.parametrize("wrong,match", [
    (lambda *a: None, "not answered yet"),
    (lambda tf, ty, sf, k: ty[:10], "one label per test row"),
    (euclid_knn, "Euclidean vote; normalise"),
    (lambda tf, ty, sf, k: right_knn(tf, ty, sf, 1), "same labels for k = 1 and k = 25"),
    (lambda tf, ty, sf, k: right_knn(tf, ty, sf, 5), "same labels for k = 1 and k = 25"),
    (lambda tf, ty, sf, k: (F.normalize(sf, dim=1) @ F.normalize(tf, dim=1).T).topk(k, dim=1).indices[:, 0],
     "not row indices"),
    (lambda tf, ty, sf, k: F.one_hot(ty[(F.normalize(sf, dim=1) @ F.normalize(tf, dim=1).T).topk(
        k, dim=1).indices], 10).sum(1).argmax(1), "raised RuntimeError"),  # hard-codes 10 classes
    (lambda tf, ty, sf, k: (right_knn(tf, ty, sf, k) + 1) % (int(ty.max()) + 1), "agree with the reference vote"),
    (lambda tf, ty, sf, k: "labels", "expected a tensor or array"),
])
def test_knn_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 5.2: .*" + match):
        exercises.check_knn(wrong)


def right_enqueue(queue, ptr, keys):
    keys = keys[-len(queue):]
    queue[(ptr + torch.arange(len(keys))) % len(queue)] = keys
    return queue, (ptr + len(keys)) % len(queue)


def numpy_enqueue(queue, ptr, keys):
    queue, keys = queue.numpy().copy(), keys.numpy()
    for key in keys[-len(queue):]:
        queue[ptr] = key
        ptr = (ptr + 1) % len(queue)
    return queue, np.int64(ptr)


def one_by_one(queue, ptr, keys):  # a batch larger than the queue: every key written in turn, also right
    for key in keys:
        queue[ptr] = key
        ptr = (ptr + 1) % len(queue)
    return queue, ptr


@pytest.mark.parametrize("right", [right_enqueue, numpy_enqueue, one_by_one,
                                   lambda q, p, k: [right_enqueue(q, p, k)[0], torch.tensor(right_enqueue(q, p, k)[1])]])
def test_queue_checker(right):
    exercises.check_queue(right)


def test_queue_reference_is_the_package_queue():
    from sslbook.exercises import ch5
    from sslbook.models import FeatureQueue
    g = torch.Generator().manual_seed(0)
    queue, mine, ptr = FeatureQueue(5, 3), torch.zeros(5, 3), 0
    for b in (2, 7, 5, 1, 3):
        keys = torch.randn(b, 3, generator=g)
        queue.enqueue(keys)
        mine, ptr = ch5._enqueue_reference(mine, ptr, keys)
        assert torch.equal(mine, queue.buffer) and ptr == queue.pointer


def no_wrap(queue, ptr, keys):
    end = min(ptr + len(keys), len(queue))
    queue[ptr:end] = keys[: end - ptr]
    return queue, end % len(queue)


@pytest.mark.parametrize("wrong,match", [
    (lambda q, p, k: None, "not answered yet"),
    (lambda q, p, k: q, "must return a pair"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], p), "the new pointer should be 3"),
    (lambda q, p, k: right_enqueue(q, 0, k), "same rows for ptr = 0 and ptr = 3"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], (p + len(k)) % 8), "modulo the queue size"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], p + len(k)), "the new pointer should be"),
    (no_wrap, "the new pointer should be 1"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0][:-1], right_enqueue(q, p, k)[1]), "expected a tensor shaped"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], 1.5), "whole row number"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], None), "not answered yet"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], "3"), "must return one number"),
    (lambda q, p, k: q[p + 100], "raised IndexError"),
])
def test_queue_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 5.3: .*" + match):
        exercises.check_queue(wrong)


# --- Every chapter: no public reference answer; the chapter's own solution passes, its stub does not ---------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINE = ["ch1", "ch2", "ch3", "ch5", "ch6", "ch7", "ch8", "ch9"]  # chapter 4's module has another owner


@pytest.mark.parametrize("name", MINE)
def test_no_reference_solution_is_public(name):
    module = importlib.import_module(f"sslbook.exercises.{name}")
    public = {n for n, obj in vars(module).items() if not n.startswith("_") and not inspect.ismodule(obj)
              and not n.startswith("check_") and n not in {"SCENARIOS", "SIGNAL_KINDS", "annotations",
                                                           "pixel_probe"}   # 1.2's measurement, printed in the chapter
              and not (inspect.isclass(obj) and not obj.__module__.startswith("sslbook"))}
    assert public == set(), f"sslbook.exercises.{name} hands out {sorted(public)}: make them private"


def test_the_package_exports_only_checkers():
    assert {n for n in exercises.__all__ if not n.startswith("check_")} == {"ExerciseError", "SCENARIOS",
                                                                            "SIGNAL_KINDS"}
    assert all(callable(getattr(exercises, n)) for n in exercises.__all__ if n.startswith("check_"))
    chapters = " ".join(Path(p).read_text(encoding="utf-8") for p in glob.glob(os.path.join(ROOT, "chapters", "*.md")))
    for used in set(re.findall(r"exercises\.(check_\w+)", chapters)):
        assert used in exercises.__all__, f"a chapter calls exercises.{used}, which is not exported"
    with pytest.raises(ImportError):
        from sslbook.exercises import reference_info_nce  # noqa: F401


PRELUDE = {"math": math, "np": np, "scipy": scipy, "torch": torch, "F": F, "nn": torch.nn, "exercises": exercises,
           "pixel_probe": ch1.pixel_probe}  # what chapter 1's pixel_probe measures, and its checker with it


def chapter_exercises():
    for md in sorted(glob.glob(os.path.join(ROOT, "chapters", "*.md"))):
        if "04_" in md or not Path(md).read_text(encoding="utf-8").startswith("---\njupytext:"):
            continue
        cells = jupytext.read(md).cells
        for i, cell in enumerate(cells):
            if "solution" in cell.metadata.get("tags", []):
                check = next(c for c in cells[i + 1:] if "check" in c.metadata.get("tags", []))
                yield pytest.param(cell.source, check.source, id=f"{os.path.basename(md)[:-3]}-{i}")


def namespace():
    from torch.utils.tensorboard import SummaryWriter
    return {**PRELUDE, "SummaryWriter": SummaryWriter}


@pytest.mark.parametrize("solution,check", list(chapter_exercises()))
def test_the_chapters_solution_passes_its_checker(solution, check, capsys):
    scope = namespace()
    exec(solution, scope)  # noqa: S102 - the chapter's own cells
    exec(check, scope)  # noqa: S102
    assert re.search(r"Exercise \d+\.\d+ passed", capsys.readouterr().out)


@pytest.mark.parametrize("solution,check", list(chapter_exercises()))
def test_the_student_stub_fails_as_not_answered(solution, check):
    scope = namespace()
    exec(student.strip_solutions(solution)[0], scope)  # noqa: S102 - the student copy's cell
    with pytest.raises(ExerciseError, match=r"^Exercise \d+\.\d+: not answered yet"):
        exec(check, scope)  # noqa: S102


FUNCTION_CHECKERS = ["check_ideal_loss", "check_positive_top1", "check_triplet", "check_momentum_update", "check_bert_masking",
                     "check_article_params", "check_knn", "check_queue", "check_precision_at_k",
                     "check_chance_precision", "check_mean_pool", "check_nearest_words", "check_corruption",
                     "check_verdict", "check_slowest_function", "check_step_speedup", "check_scalar_logger",
                     "check_clip_loss", "check_dynamic_quantization", "check_occlusion", "check_standard_error",
                     "check_negative_weights", "check_barlow_twins", "check_sinkhorn_step"]
GARBAGE = {"object": lambda *a: object(), "dict": lambda *a: {"a": 1}, "ragged": lambda *a: [[1, 2], [3]],
           "matrix": lambda *a: torch.ones(3, 3), "strings": lambda *a: np.array(["a", "b"]),
           "nan": lambda *a: float("nan"), "pair of None": lambda *a: (None, None), "minus one": lambda *a: -1,
           "bool": lambda *a: True, "empty": lambda *a: [], "raises": lambda *a: {}["key"], "not a function": 3,
           "no arguments": lambda: 1.0}


@pytest.mark.parametrize("answer", GARBAGE.values(), ids=GARBAGE.keys())
@pytest.mark.parametrize("name", FUNCTION_CHECKERS)
def test_any_wrong_form_ends_in_an_exercise_error(name, answer):
    check = getattr(exercises, name, None) or getattr(ch3, name)   # chapter 3's new checkers live in ch3
    with pytest.raises(ExerciseError, match=r"^Exercise \d+\.\d+: "):
        check(answer)


def _momentum_right(q, k, m):
    with torch.no_grad():
        for a, b in zip(k.parameters(), q.parameters()):
            a.mul_(m).add_(b, alpha=1 - m)


def _momentum_data(q, k, m):   # through .data: also right
    for a, b in zip(k.parameters(), q.parameters()):
        a.data = m * a.data + (1 - m) * b.data


@pytest.mark.parametrize("right", [_momentum_right, _momentum_data])
def test_momentum_update_checker(right):
    ch3.check_momentum_update(right)


def _swapped(q, k, m):
    _momentum_right(q, k, 1 - m)


def _copied(q, k, m):
    k.load_state_dict(q.state_dict())


def _moves_query(q, k, m):
    _momentum_right(k, q, m)


def _first_only(q, k, m):
    with torch.no_grad():
        a, b = next(k.parameters()), next(q.parameters())
        a.mul_(m).add_(b, alpha=1 - m)


def _fixed_m(q, k, m):
    _momentum_right(q, k, 0.99)


def _returns_new(q, k, m):
    return [m * a + (1 - m) * b for a, b in zip(k.parameters(), q.parameters())]


def _with_grad(q, k, m):
    for a, b in zip(k.parameters(), q.parameters()):
        a.mul_(m).add_(b, alpha=1 - m)


@pytest.mark.parametrize("wrong,match", [
    (lambda q, k, m: None, "not answered yet"),
    (None, "not answered yet"),
    (_swapped, "m and 1 - m are swapped"),
    (_copied, "a copy of the query encoder"),
    (_moves_query, "query_model's parameters changed"),
    (_first_only, "only 1 of the 4 parameter tensors"),
    (_fixed_m, "did you use the m"),
    (_returns_new, "did not change: update them in place"),
    (_with_grad, "torch.no_grad"),
    (lambda q, k, m: 1 / 0, "raised ZeroDivisionError"),
])
def test_momentum_update_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 3.2: .*" + match):
        ch3.check_momentum_update(wrong)


@pytest.mark.parametrize("for_shape,for_colour", [("geometric+colour", "geometric"),
                                                 (" Colour + Geometric", "GEOMETRIC"),
                                                 ("geometric+color", "geometric")])
def test_augmentation_choice_checker(for_shape, for_colour):
    ch3.check_augmentation_choice(for_shape, for_colour)


@pytest.mark.parametrize("for_shape,for_colour,match", [
    (None, "geometric", "not answered yet"),
    ("geometric+colour", None, "not answered yet"),
    ("geometric+colour", "geometric+colour", "colour drops out of the clusters: in this chapter"),
    ("geometric+colour", "colour", "the one thing this task needs"),
    ("geometric+colour", "none", "the same image"),
    ("geometric", "geometric", "still share colour, a cue that matches"),
    ("colour", "geometric", "position is an easy shortcut"),
    ("none", "geometric", "nothing forces the encoder towards shape"),
    ("shape", "geometric", "must be one of"),
    (["geometric"], "geometric", "must be one of"),
])
def test_augmentation_choice_checker_wrong(for_shape, for_colour, match):
    with pytest.raises(ExerciseError, match="Exercise 3.4: .*" + match):
        ch3.check_augmentation_choice(for_shape, for_colour)


# --- Exercises 3.5 (Barlow Twins) and 3.6 (one Sinkhorn-Knopp iteration), issue 25 ---------------------------

def _bt_standardised(z, unbiased=False, dim=0):
    return (z - z.mean(dim, keepdim=True)) / z.std(dim, unbiased=unbiased, keepdim=True)


def _bt_from(c, lambd, on_weight=1.0, off_weight=None, square=True, reduce=torch.sum):
    eye = torch.eye(len(c), dtype=torch.bool)
    on = (1 - c.diagonal()) ** (2 if square else 1)
    return reduce(torch.cat([on_weight * on, (lambd if off_weight is None else off_weight) * c[~eye] ** 2]))


def _bt_right(z1, z2, lambd):   # Eq. 1 with Eq. 2's normalisation
    return _bt_from(_bt_standardised(z1).T @ _bt_standardised(z2) / len(z1), lambd)


def _bt_batchnorm(z1, z2, lambd):   # the official code: BatchNorm1d without affine (eps 1e-5)
    bn = torch.nn.BatchNorm1d(z1.shape[1], affine=False).train()
    return _bt_from(bn(z1).T @ bn(z2) / len(z1), lambd)


def _bt_unbiased_both(z1, z2, lambd):   # unbiased std and a divisor N - 1: the same correlation
    return _bt_from(_bt_standardised(z1, True).T @ _bt_standardised(z2, True) / (len(z1) - 1), lambd)


def _bt_numpy(z1, z2, lambd):
    a, b = z1.numpy().astype(np.float64), z2.numpy().astype(np.float64)
    c = np.corrcoef(a, b, rowvar=False)[: a.shape[1], a.shape[1]:]
    return np.sum((1 - np.diag(c)) ** 2) + lambd * (np.sum(c ** 2) - np.sum(np.diag(c) ** 2))


def _bt_package(z1, z2, lambd):
    from sslbook import losses
    return losses.barlow_twins(z1, z2, lambd)


@pytest.mark.parametrize("right", [_bt_right, _bt_batchnorm, _bt_unbiased_both, _bt_numpy, _bt_package])
def test_barlow_twins_checker(right, capsys):
    ch3.check_barlow_twins(right)
    assert "Exercise 3.5 passed" in capsys.readouterr().out


def _bt_wrong(corr, **kwargs):
    return lambda z1, z2, lambd: _bt_from(corr(z1, z2), lambd, **kwargs)


@pytest.mark.parametrize("wrong,match", [
    (None, "not answered yet"),
    (lambda z1, z2, lambd: None, "not answered yet"),
    (_bt_wrong(lambda a, b: _bt_standardised(a, True).T @ _bt_standardised(b, True) / len(a)),
     r"population standard deviation .*\(N - 1\) / N"),
    (_bt_wrong(lambda a, b: a.T @ b / len(a)), "standardise each feature over the batch first"),
    (_bt_wrong(lambda a, b: (a - a.mean(0)).T @ (b - b.mean(0)) / len(a)), "divide each feature by its standard"),
    (_bt_wrong(lambda a, b: _bt_standardised(a, dim=1).T @ _bt_standardised(b, dim=1) / len(a)),
     r"along the batch \(dim=0\)"),
    (_bt_wrong(lambda a, b: _bt_standardised(a).T @ _bt_standardised(b)), "divide the cross-correlation by the batch"),
    (lambda z1, z2, lambd: _bt_right(z1, z2, 0.005), "same loss for lambd = 0.005 and lambd = 0.1: multiply"),
    (lambda z1, z2, lambd: _bt_right(z1, z1 + 0.7 * torch.randn(z1.shape, generator=torch.Generator().manual_seed(0)),
                                     lambd), "use both views"),
    (lambda z1, z2, lambd: _bt_from(_bt_standardised(z1).T @ _bt_standardised(z2) / len(z1), 1.0, on_weight=lambd),
     "lambd weighs the off-diagonal term"),
    (lambda z1, z2, lambd: _bt_right(z1, z2, lambd) / z1.shape[1] ** 2, "do not average them"),
    (lambda z1, z2, lambd: _bt_right(z1, z2, lambd) + lambd * (
        (_bt_standardised(z1).T @ _bt_standardised(z2) / len(z1)).diagonal() ** 2).sum(), "only the entries off"),
    (lambda z1, z2, lambd: _bt_from(_bt_standardised(z1).T @ _bt_standardised(z2) / len(z1), lambd, square=False),
     r"square the on-diagonal differences"),
    (lambda z1, z2, lambd: _bt_standardised(z1).T @ _bt_standardised(z2), "must return one number"),
    (lambda z1, z2, lambd: z1[5], "raised IndexError|must return one number"),
])
def test_barlow_twins_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 3.5: .*" + match):
        ch3.check_barlow_twins(wrong)


def _sk_right(q):
    k, b = q.shape
    q = q / q.sum(dim=1, keepdim=True) / k
    return q / q.sum(dim=0, keepdim=True) / b


def _sk_in_place(q):
    k, b = q.shape
    q /= q.sum(dim=1, keepdim=True) * k
    q /= q.sum(dim=0, keepdim=True) * b
    return q


def _sk_paper(q):   # the u, r, c form of the paper's pseudo-code
    k, b = q.shape
    r, c = torch.ones(k, dtype=q.dtype) / k, torch.ones(b, dtype=q.dtype) / b
    u = q.sum(dim=1)
    q = q * (r / u).unsqueeze(1)
    return q * (c / q.sum(dim=0)).unsqueeze(0)


def _sk_numpy(q):
    q = np.array(q.tolist(), dtype=np.float64)
    q = q / q.sum(axis=1, keepdims=True) / q.shape[0]
    return (q / q.sum(axis=0, keepdims=True) / q.shape[1]).tolist()


@pytest.mark.parametrize("right", [_sk_right, _sk_in_place, _sk_paper, _sk_numpy, lambda q: _sk_right(q.float())])
def test_sinkhorn_step_checker(right, capsys):
    ch3.check_sinkhorn_step(right)
    assert "Exercise 3.6 passed" in capsys.readouterr().out


def _norm(q, dim, total):
    return q / q.sum(dim=dim, keepdim=True) * total


@pytest.mark.parametrize("wrong,match", [
    (None, "not answered yet"),
    (lambda q: None, "not answered yet"),
    (lambda q: q, "Q came back unchanged"),
    (lambda q: _norm(_norm(q, 0, 1 / q.shape[1]), 1, 1 / q.shape[0]), "scale the rows .prototypes. first"),
    (lambda q: _norm(_norm(q, 1, 1), 0, 1), "not to 1"),
    (lambda q: _sk_right(q) * q.shape[1], "not to 1"),          # the final Q *= B of the full algorithm
    (lambda q: _norm(_norm(q, 1, 1 / q.shape[1]), 0, 1 / q.shape[0]), "the rows are the K prototypes"),
    (lambda q: _norm(q, 1, 1 / q.shape[0]), "after scaling the rows, scale the columns"),
    (lambda q: _norm(q, 0, 1 / q.shape[1]), "scale the rows to 1/K before the columns"),
    (lambda q: _sk_right(q).T, r"expected a tensor shaped \(3, 5\)"),
    (lambda q: _sk_right(q) + 0.01, "every column should sum to 1/B"),
    (lambda q: q[10], "raised IndexError"),
])
def test_sinkhorn_step_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 3.6: .*" + match):
        ch3.check_sinkhorn_step(wrong)
