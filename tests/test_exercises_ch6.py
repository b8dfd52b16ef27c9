"""Chapter 6's checkers accept right answers in every form and reject a family of wrong ones."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslbook import applications, evaluate, exercises
from sslbook.exercises import ExerciseError


def p_at_k(qf, qy, gf, gy, k):
    return evaluate.precision_at_k(qf, qy, gf, gy, k=k)


def euclid_p_at_k(qf, qy, gf, gy, k):
    return (gy[torch.cdist(qf, gf).topk(k, dim=1, largest=False).indices] == qy[:, None]).float().mean()


def hits_p_at_k(qf, qy, gf, gy, k):
    near = (F.normalize(qf, dim=1) @ F.normalize(gf, dim=1).T).topk(k, dim=1).indices
    return (gy[near] == qy[:, None]).float().sum(1).mean()


def test_precision_at_k_checker(capsys):
    exercises.check_precision_at_k(p_at_k)
    exercises.check_precision_at_k(lambda *a: torch.tensor(p_at_k(*a)))  # a 0-D tensor is a number too
    assert "Exercise 6.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda *a: None, "not answered yet"),
    (euclid_p_at_k, "Euclidean ranking"),
    (hits_p_at_k, "divide the hits of each query by k"),
    (lambda qf, qy, gf, gy, k: p_at_k(qf, qy, gf, gy, 1), "(not only the first|Rank the gallery)"),
    (lambda *a: "high", "must return one number"),
    (lambda *a: 1 / 0, "raised ZeroDivisionError"),
])
def test_precision_at_k_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match=match):
        exercises.check_precision_at_k(wrong)


def test_chance_precision_checker():
    exercises.check_chance_precision(lambda y: float(((torch.bincount(y) / len(y)) ** 2).sum()))
    exercises.check_chance_precision(lambda y: np.float64(((np.bincount(y.numpy()) / len(y)) ** 2).sum()))
    for wrong, match in [(lambda y: 1 / len(torch.unique(y)), "balanced"),
                         (lambda y: float((torch.bincount(y) / len(y)).max()), "largest class"),
                         (lambda y: None, "not answered")]:
        with pytest.raises(ExerciseError, match=match):
            exercises.check_chance_precision(wrong)


def pool(hidden, ids, pad_id):
    keep = (ids != pad_id).unsqueeze(-1).float()
    return (hidden * keep).sum(1) / keep.sum(1)


def test_mean_pool_checker():
    exercises.check_mean_pool(pool)
    exercises.check_mean_pool(lambda h, i, p: pool(h, i, p).numpy())
    for wrong, match in [(lambda h, i, p: h.mean(1), "every position"),
                         (lambda h, i, p: (h * (i != p).unsqueeze(-1)).sum(1), "that is a sum"),
                         (lambda h, i, p: (h * (i != p).unsqueeze(-1)).sum(1) / h.shape[1], "padded length"),
                         (lambda h, i, p: pool(h, i, 0), "every position"),  # ignores its pad_id: with pad_id 3 nothing is left out
                         (lambda h, i, p: h[:, 0], "differ"),
                         (lambda h, i, p: h, "must return N x D")]:
        with pytest.raises(ExerciseError, match=match):
            exercises.check_mean_pool(wrong)


def nearest(vectors, words, word, k):
    unit = F.normalize(vectors, dim=1)
    i = words.index(word)
    return [words[j] for j in (unit @ unit[i]).argsort(descending=True).tolist() if j != i][:k]


def test_nearest_words_checker():
    exercises.check_nearest_words(nearest)
    exercises.check_nearest_words(lambda *a: tuple(nearest(*a)))
    dot = lambda v, w, word, k: [w[j] for j in (v @ v[w.index(word)]).argsort(descending=True).tolist()  # noqa: E731
                                 if w[j] != word][:k]
    for wrong, match in [(dot, "dot product"),
                         (lambda v, w, word, k: [word] + nearest(v, w, word, k)[:-1], "its own nearest"),
                         (lambda v, w, word, k: sorted(nearest(v, w, word, k)), "(wrong order|nearest words to)"),
                         (lambda v, w, word, k: nearest(v, w, word, 3), "nearest words to")]:
        with pytest.raises(ExerciseError, match=match):
            exercises.check_nearest_words(wrong)


def corrupt(x, pool_, rate, generator):
    n, d = x.shape
    chosen = torch.rand(n, d, generator=generator).argsort(dim=1)[:, :round(rate * d)]
    mask = torch.zeros(n, d, dtype=torch.bool).scatter_(1, chosen, True)
    donors = torch.randint(len(pool_), (n, d), generator=generator)
    return torch.where(mask, pool_[donors, torch.arange(d)], x)


def one_donor(x, pool_, rate, generator):
    n, d = x.shape
    chosen = torch.rand(n, d, generator=generator).argsort(dim=1)[:, :round(rate * d)]
    mask = torch.zeros(n, d, dtype=torch.bool).scatter_(1, chosen, True)
    donor = torch.randint(len(pool_), (n,), generator=generator)
    return torch.where(mask, pool_[donor], x)


def test_corruption_checker():
    exercises.check_corruption(corrupt)
    from sslbook.augment import FeatureCorruption
    exercises.check_corruption(lambda x, p, r, g: FeatureCorruption(p, r)(x, g))
    fixed = torch.Generator().manual_seed(0)
    same_columns = lambda x, p, r, g: torch.where(  # noqa: E731
        torch.arange(x.shape[1]) < round(r * x.shape[1]), p[torch.randint(len(p), (len(x),), generator=g)], x)
    for wrong, match in [(lambda x, p, r, g: torch.where(torch.rand(x.shape, generator=g) < r, p[:len(x)], x),
                          "exactly"),
                         (same_columns, "same features replaced"),
                         (lambda x, p, r, g: corrupt(x, torch.randn_like(p), r, g), "not a value of feature"),
                         (lambda x, p, r, g: corrupt(x, p, r, torch.Generator().manual_seed(0)), "generator"),
                         (lambda x, p, r, g: corrupt(x, p, r, None), "same generator seed"),
                         (one_donor, "one pool row"),
                         (lambda x, p, r, g: corrupt(x, p, r, fixed)[:5], "shaped like x")]:
        with pytest.raises(ExerciseError, match=match):
            exercises.check_corruption(wrong)


def test_verdict_checker():
    exercises.check_verdict(applications.verdict)
    exercises.check_verdict(lambda a, b: applications.verdict(np.array(a), np.array(b)))

    def independent(a, b):  # treats shared draws as independent: misses a consistent gain
        se = np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / len(a))
        d = np.mean(a) - np.mean(b)
        return "a" if d > 2 * se else "b" if -d > 2 * se else "tie"

    for wrong, match in [(lambda a, b: "a" if np.mean(a) > np.mean(b) else "b" if np.mean(b) > np.mean(a)
                          else "tie", "within two standard errors"),
                         (independent, "compare draw by draw"),
                         (lambda a, b: "yes", "Answer 'a', 'b' or 'tie'"),
                         (lambda a, b: None, "not answered")]:
        with pytest.raises(ExerciseError, match=match):
            exercises.check_verdict(wrong)
