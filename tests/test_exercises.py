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


def test_triplet_checker():
    exercises.check_triplet(lambda a, p, n, m: F.triplet_margin_loss(a, p, n, margin=m))
    cases = [
        (lambda a, p, n, m: None, "not answered yet"),
        (lambda a, p, n, m: ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).mean(), "clamp at 0"),
        (lambda a, p, n, m: ((a - p).norm(dim=1) ** 2 - (a - n).norm(dim=1) ** 2 + m).clamp(min=0).mean(), "not squared"),
        (lambda a, p, n, m: ((a - p).norm(dim=1) - (a - n).norm(dim=1) + m).clamp(min=0).sum(), "not the sum"),
        (lambda a, p, n, m: ((a - n).norm(dim=1) - (a - p).norm(dim=1) + m).clamp(min=0).mean(), "comes first"),
    ]
    for wrong, match in cases:
        with pytest.raises(ExerciseError, match="Exercise 3.1: .*" + match):
            exercises.check_triplet(wrong)


def test_collapse_std_checker():
    exercises.check_collapse_std(lambda z: F.normalize(z, dim=1).std(dim=0).mean())
    with pytest.raises(ExerciseError, match="not answered yet"):
        exercises.check_collapse_std(lambda z: None)
    with pytest.raises(ExerciseError, match="L2-normalise"):
        exercises.check_collapse_std(lambda z: z.std(dim=0).mean())
    with pytest.raises(ExerciseError, match="over the samples"):
        exercises.check_collapse_std(lambda z: F.normalize(z, dim=1).std(dim=1).mean())


def good_bert(ids, ratio, mask_id, vocab, g):
    chosen = torch.rand(ids.shape, generator=g) < ratio
    u = torch.rand(ids.shape, generator=g)
    inputs = ids.masked_fill(chosen & (u < 0.8), mask_id)
    swap = chosen & (u >= 0.8) & (u < 0.9)
    inputs[swap] = torch.randint(vocab, ids.shape, generator=g)[swap]
    return inputs, ids.masked_fill(~chosen, -100)


def test_bert_masking_checker():
    exercises.check_bert_masking(good_bert)
    cases = [
        (lambda *a: None, "not answered yet"),
        (lambda ids, r, m, v, g: (good_bert(ids, r, m, v, g)[0], ids.clone()), "labels must be -100 elsewhere"),
        (lambda ids, r, m, v, g: (ids.masked_fill(torch.rand(ids.shape, generator=g) < r, m),
                                  ids.masked_fill(torch.rand(ids.shape, generator=g) >= r, -100)), "must be the original|left unchanged"),
        (lambda ids, r, m, v, g: good_bert(ids, 0.3, m, v, g), "15% should be chosen"),
    ]
    for wrong, match in cases:
        with pytest.raises(ExerciseError, match="Exercise 3.3: .*(" + match + ")"):
            exercises.check_bert_masking(wrong)

    def all_mask(ids, r, m, v, g):
        chosen = torch.rand(ids.shape, generator=g) < r
        return ids.masked_fill(chosen, m), ids.masked_fill(~chosen, -100)

    with pytest.raises(ExerciseError, match="BERT replaces 80%"):
        exercises.check_bert_masking(all_mask)


def test_which_factor_checker():
    measured = {"geometric": {"shape": 0.4, "colour": 0.5}, "geometric+colour": {"shape": 0.9, "colour": 0.0}}
    exercises.check_which_factor({"geometric": "colour", "geometric+colour": "shape"}, measured)
    with pytest.raises(ExerciseError, match="not answered yet"):
        exercises.check_which_factor(None, measured)
    with pytest.raises(ExerciseError, match="measured NMI is higher for colour"):
        exercises.check_which_factor({"geometric": "shape", "geometric+colour": "shape"}, measured)
    with pytest.raises(ExerciseError, match="exactly the keys"):
        exercises.check_which_factor({"geometric": "shape"}, measured)


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

def test_article_params_checker(capsys):
    exercises.check_article_params(lambda s: 16 * (s // 2) ** 2 * 128 + 128)
    assert "25,690,240 at 224" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda s: None, "not answered yet"),
    (lambda s: 16 * (s // 2) ** 2 * 128, "add the layer's 128 biases"),
    (lambda s: 16 * s * s * 128 + 128, "max-pool halves"),
    (lambda s: 3 * s * s, "maps 16 channels"),
    (lambda s: 1 / 0, "raised ZeroDivisionError"),
])
def test_article_params_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_article_params(wrong)


def right_knn(train_f, train_y, test_f, k):
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    votes = F.one_hot(train_y[sim.topk(k, dim=1).indices], int(train_y.max()) + 1).sum(1)
    return votes.argmax(1)


def euclid_knn(train_f, train_y, test_f, k):
    nearest = torch.cdist(test_f, train_f).topk(k, dim=1, largest=False).indices
    return F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(1).argmax(1)


def test_knn_checker():
    exercises.check_knn(right_knn)
    from sklearn.neighbors import KNeighborsClassifier

    def sklearn_knn(train_f, train_y, test_f, k):
        return KNeighborsClassifier(k, metric="cosine").fit(train_f, train_y).predict(test_f)
    exercises.check_knn(sklearn_knn)


@pytest.mark.parametrize("wrong,match", [
    (lambda *a: None, "not answered yet"),
    (lambda tf, ty, sf, k: ty[:10], "one label per test row"),
    (euclid_knn, "Euclidean vote; normalise"),
    (lambda tf, ty, sf, k: right_knn(tf, ty, sf, 1), "agree with the reference vote"),
])
def test_knn_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_knn(wrong)


def right_enqueue(queue, ptr, keys):
    keys = keys[-len(queue):]
    queue[(ptr + torch.arange(len(keys))) % len(queue)] = keys
    return queue, (ptr + len(keys)) % len(queue)


def test_queue_checker():
    exercises.check_queue(right_enqueue)


def no_wrap(queue, ptr, keys):
    end = min(ptr + len(keys), len(queue))
    queue[ptr:end] = keys[: end - ptr]
    return queue, end % len(queue)


@pytest.mark.parametrize("wrong,match", [
    (lambda q, p, k: None, "not answered yet"),
    (lambda q, p, k: q, "must return a pair"),
    (lambda q, p, k: (right_enqueue(q, p, k)[0], p), "pointer should be 3"),
    (no_wrap, "after batch 3"),
])
def test_queue_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_queue(wrong)
