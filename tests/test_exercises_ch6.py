"""Chapter 6's checkers accept right answers in every form and reject families of wrong ones: a parameter
ignored, no randomness, off by a constant, wrong shape or type, a function that raises."""
import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from sslbook import evaluate, exercises, stats
from sslbook.augment import FeatureCorruption
from sslbook.exercises import ExerciseError


def p_at_k(qf, qy, gf, gy, k):
    return evaluate.precision_at_k(qf, qy, gf, gy, k=k)


def euclid_p_at_k(qf, qy, gf, gy, k):
    return (gy[torch.cdist(qf, gf).topk(k, dim=1, largest=False).indices] == qy[:, None]).float().mean()


def hits_p_at_k(qf, qy, gf, gy, k):
    near = (F.normalize(qf, dim=1) @ F.normalize(gf, dim=1).T).topk(k, dim=1).indices
    return (gy[near] == qy[:, None]).float().sum(1).mean()


@pytest.mark.parametrize("right", [
    p_at_k, lambda *a: torch.tensor(p_at_k(*a)), lambda *a: np.float32(p_at_k(*a)), lambda *a: torch.tensor([p_at_k(*a)]),
    lambda qf, qy, gf, gy, k: (gy.numpy()[np.argsort(-(qf / qf.norm(dim=1, keepdim=True)).numpy()
                                                     @ (gf / gf.norm(dim=1, keepdim=True)).numpy().T, axis=1)[:, :k]]
                               == qy.numpy()[:, None]).mean(),
])
def test_precision_at_k_checker(right, capsys):
    exercises.check_precision_at_k(right)
    assert "Exercise 6.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda *a: None, "not answered yet"),
    (euclid_p_at_k, "Euclidean ranking"),
    (hits_p_at_k, "divide the hits of each query by k"),
    (lambda qf, qy, gf, gy, k: p_at_k(qf, qy, gf, gy, 1), "not only the first"),
    (lambda qf, qy, gf, gy, k: p_at_k(qf, qy, gf, gy, 5), "same precision for k = 1 and k = 5"),
    (lambda qf, qy, gf, gy, k: 1 - p_at_k(qf, qy, gf, gy, k), "not the others"),
    (lambda qf, qy, gf, gy, k: p_at_k(qf, qy, gf, gy, k) + 0.01, "Rank the gallery"),
    (lambda *a: 0.5, "same precision for k = 1 and k = 5"),
    (lambda *a: "high", "must return one number"),
    (lambda qf, qy, gf, gy, k: (gy[:k] == qy[:k]).float(), "must return one number"),
    (lambda *a: 1 / 0, "raised ZeroDivisionError"),
])
def test_precision_at_k_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.1: .*" + match):
        exercises.check_precision_at_k(wrong)


@pytest.mark.parametrize("right", [
    lambda y: float(((torch.bincount(y) / len(y)) ** 2).sum()),
    lambda y: np.float64(((np.bincount(y.numpy()) / len(y)) ** 2).sum()),
    lambda y: ((torch.unique(y, return_counts=True)[1] / len(y)) ** 2).sum(),   # a 0-D tensor
    lambda y: sum((y == c).float().mean() ** 2 for c in y.unique()),
    lambda y: round(float(((torch.bincount(y) / len(y)) ** 2).sum()), 8),
])
def test_chance_precision_checker(right):
    exercises.check_chance_precision(right)


@pytest.mark.parametrize("wrong,match", [
    (lambda y: 1 / len(torch.unique(y)), "balanced"),
    (lambda y: 1 / (int(y.max()) + 1), "balanced"),
    (lambda y: float((torch.bincount(y) / len(y)).max()), "largest class"),
    (lambda y: float(((torch.bincount(y) / len(y)) ** 2).sum().sqrt()), "square root"),
    (lambda y: 0.25, "gives 0.2500 for every gallery"),
    (lambda y: None, "not answered"),
    (lambda y: torch.bincount(y) / len(y), "must return one number"),
    (lambda y: [0.5], "must return one number"),
    (lambda y: y.bincount(minlength=-1), "raised RuntimeError"),
])
def test_chance_precision_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.2: .*" + match):
        exercises.check_chance_precision(wrong)


def pool(hidden, ids, pad_id):
    keep = (ids != pad_id).unsqueeze(-1).float()
    return (hidden * keep).sum(1) / keep.sum(1)


@pytest.mark.parametrize("right", [
    pool, lambda h, i, p: pool(h, i, p).numpy(), lambda h, i, p: pool(h, i, p).tolist(),
    lambda h, i, p: torch.stack([h[r][i[r] != p].mean(0) for r in range(len(h))]),
])
def test_mean_pool_checker(right):
    exercises.check_mean_pool(right)


@pytest.mark.parametrize("wrong,match", [
    (lambda h, i, p: h.mean(1), "every position"),
    (lambda h, i, p: (h * (i != p).unsqueeze(-1)).sum(1), "that is a sum"),
    (lambda h, i, p: (h * (i != p).unsqueeze(-1)).sum(1) / h.shape[1], "padded length"),
    (lambda h, i, p: pool(h, i, 0), "same vectors for pad_id = 0 and pad_id = 5"),
    (lambda h, i, p: h[:, 0], "same vectors for pad_id"),
    (lambda h, i, p: pool(h, i, p) + 0.01, "differ"),
    (lambda h, i, p: h, "expected a tensor shaped"),
    (lambda h, i, p: pool(h, i, p).T, "expected a tensor shaped"),
    (lambda h, i, p: "vectors", "expected a tensor or array of numbers"),
    (lambda h, i, p: None, "not answered"),
    (lambda h, i, p: h @ i, "raised RuntimeError"),
])
def test_mean_pool_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.3: .*" + match):
        exercises.check_mean_pool(wrong)


def nearest(vectors, words, word, k):
    unit = F.normalize(vectors, dim=1)
    i = words.index(word)
    return [words[j] for j in (unit @ unit[i]).argsort(descending=True).tolist() if j != i][:k]


@pytest.mark.parametrize("right", [nearest, lambda *a: tuple(nearest(*a)), lambda *a: np.array(nearest(*a)),
                                   lambda v, w, word, k: [w[j] for j in np.argsort(-F.cosine_similarity(
                                       v, v[w.index(word)][None]).numpy())[1:k + 1]]])
def test_nearest_words_checker(right):
    exercises.check_nearest_words(right)


def by_dot(v, w, word, k):
    return [w[j] for j in (v @ v[w.index(word)]).argsort(descending=True).tolist() if w[j] != word][:k]


@pytest.mark.parametrize("wrong,match", [
    (by_dot, "dot product"),
    (lambda v, w, word, k: [word] + nearest(v, w, word, k)[:-1], "its own nearest"),
    (lambda v, w, word, k: sorted(nearest(v, w, word, k)), "(wrong order|nearest words to)"),
    (lambda v, w, word, k: nearest(v, w, word, 4), "same words for k = 4 and k = 7"),
    (lambda v, w, word, k: nearest(v, w, w[3], k), "same words for word = 'w0' and word = 'w17'"),
    (lambda v, w, word, k: nearest(v, w, word, k + 1), "asked for the k = 1 nearest"),
    (lambda v, w, word, k: nearest(v, w, word, k)[0], "must return a list of k = 1 words"),
    (lambda v, w, word, k: 3, "must return a list"),
    (lambda v, w, word, k: None, "not answered"),
    (lambda v, w, word, k: w.index(word + "?"), "raised ValueError"),
])
def test_nearest_words_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.4: .*" + match):
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


@pytest.mark.parametrize("right", [
    corrupt, lambda x, p, r, g: corrupt(x, p, r, g).numpy(),
    lambda x, p, r, g: FeatureCorruption(p, r)(x, g),
])
def test_corruption_checker(right):
    exercises.check_corruption(right)


FIXED = torch.Generator().manual_seed(0)


def same_columns(x, p, r, g):
    return torch.where(torch.arange(x.shape[1]) < round(r * x.shape[1]), p[torch.randint(len(p), (len(x),), generator=g)], x)


@pytest.mark.parametrize("wrong,match", [
    (lambda x, p, r, g: torch.where(torch.rand(x.shape, generator=g) < r, p[:len(x)], x), "exactly"),
    (lambda x, p, r, g: corrupt(x, p, 0.3, g), "with rate 0.6 every row must have exactly"),
    (lambda x, p, r, g: corrupt(x, p, r * x.shape[1] / 10, g), "with rate 0.9 every row"),
    (same_columns, "same features replaced"),
    (lambda x, p, r, g: corrupt(x, torch.randn_like(p), r, g), "not a value of feature"),
    (lambda x, p, r, g: corrupt(x, p, r, torch.Generator().manual_seed(0)), "two different generators"),
    (lambda x, p, r, g: corrupt(x, p, r, None), "same generator seed"),
    (one_donor, "one pool row"),
    (lambda x, p, r, g: corrupt(x, p, r, FIXED)[:5], "expected a tensor shaped"),
    (lambda x, p, r, g: None, "not answered"),
    (lambda x, p, r, g: "x", "expected a tensor or array"),
    (lambda x, p, r, g: corrupt(x, p, r, 0), "raised"),
])
def test_corruption_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.5: .*" + match):
        exercises.check_corruption(wrong)


def independent(a, b):  # treats shared draws as independent: misses a consistent gain
    return stats.unpaired(a, b).verdict


def two_se(a, b):  # the old rule: two standard errors, whatever the number of draws
    d = np.asarray(a) - np.asarray(b)
    se = d.std(ddof=1) / np.sqrt(len(d))
    return "a" if d.mean() > 2 * se else "b" if -d.mean() > 2 * se else "within noise"


def t_with_r(a, b):  # r degrees of freedom instead of r - 1
    d = np.asarray(a) - np.asarray(b)
    half = scipy.stats.t.ppf(0.975, len(d)) * d.std(ddof=1) / np.sqrt(len(d))
    return "a" if d.mean() > half else "b" if d.mean() < -half else "within noise"


def t_rule(a, b):  # what exercise 6.6 asks for, by hand
    d = np.asarray(a) - np.asarray(b)
    half = scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return "a" if d.mean() - half > 0 else "b" if d.mean() + half < 0 else "within noise"


@pytest.mark.parametrize("right", [t_rule, lambda a, b: stats.paired(a, b).verdict,
                                   lambda a, b: stats.paired(np.array(a), np.array(b)).verdict.upper() + " ",
                                   lambda a, b: {"a": "A", "b": "b", "within noise": "Within  noise"}[t_rule(a, b)]])
def test_verdict_checker(right):
    exercises.check_verdict(right)


@pytest.mark.parametrize("wrong,match", [
    (lambda a, b: "a" if np.mean(a) > np.mean(b) else "b" if np.mean(b) > np.mean(a) else "within noise",
     "reaches across 0"),
    (two_se, "t_\\(r-1\\) standard errors wide"),
    (t_with_r, "r - 1 degrees of freedom"),
    (independent, "compare draw by draw"),
    (lambda a, b: t_rule(b, a), "wrong way round"),
    (lambda a, b: "a", "gives 'a' for \\(a, b\\) and for \\(b, a\\)"),
    (lambda a, b: "within noise", "compare draw by draw"),
    (lambda a, b: {"within noise": "tie"}.get(t_rule(a, b), t_rule(a, b)), "Answer 'a', 'b' or 'within noise'"),
    (lambda a, b: "yes", "Answer 'a', 'b' or 'within noise'"),
    (lambda a, b: 1, "must return 'a', 'b' or 'within noise' \\(a string\\)"),
    (lambda a, b: None, "not answered"),
    (lambda a, b: a - b, "raised TypeError"),
])
def test_verdict_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 6.6: .*" + match):
        exercises.check_verdict(wrong)
