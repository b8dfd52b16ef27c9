"""Exercises of chapter 6: retrieval and its chance level, sentence features and word
neighbours, SCARF's corruption, and telling a gain from noise."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import t as _t

from ..stats import VERDICTS as _VERDICTS
from ..stats import paired as _paired
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import tensor as _tensor
from ._common import unanswered as _unanswered


def _blobs(g, n, d, classes, spread):
    centres = torch.randn(classes, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    scale = 0.2 + 3 * torch.rand(n, 1, generator=g)  # lengths vary: cosine and Euclidean disagree
    return (centres[y] + spread * torch.randn(n, d, generator=g)) * scale, y


def _nearest(qf, gf, k):
    return (F.normalize(qf, dim=1) @ F.normalize(gf, dim=1).T).topk(k, dim=1).indices


@_checker("6.1")
def check_precision_at_k(fn) -> None:
    """Exercise 6.1: ``fn(query_f, query_y, gallery_f, gallery_y, k)`` is the mean share of
    each query's ``k`` most cosine-similar gallery rows that have the query's class."""
    g = torch.Generator().manual_seed(61)
    shared = _blobs(g, 40, 8, 4, 1.2) + _blobs(g, 200, 8, 4, 1.2)
    cases = [(shared, 1), (shared, 5), (shared, 25)]
    for n_q, n_g, d, classes, k in [(60, 300, 16, 5, 10), (30, 150, 4, 3, 25), (50, 120, 6, 7, 3)]:
        cases.append((_blobs(g, n_q, d, classes, 1.2) + _blobs(g, n_g, d, classes, 1.2), k))
    got = [_number("6.1", _call("6.1", fn, "precision_at_k", *(x.clone() for x in data), k), "precision_at_k")
           for data, k in cases]
    right = [float((gy[_nearest(qf, gf, k)] == qy[:, None]).float().mean()) for (qf, qy, gf, gy), k in cases]

    def sweep():
        _sweep("6.1", "precision_at_k", [{"data": id(data), "k": k} for data, k in cases], got, right,
               {"k": "look at the k nearest gallery rows, with the k you are given."}, what="precision", rel=1e-5)

    for ((qf, qy, gf, gy), k), value, want in zip(cases, got, right):
        if math.isclose(value, want, abs_tol=1e-6):
            continue
        near_euclid = torch.cdist(qf, gf).topk(k, dim=1, largest=False).indices
        nearest = _nearest(qf, gf, k)
        hints = [
            ((gy[near_euclid] == qy[:, None]).float().mean(), ("that is a Euclidean ranking; normalise the rows "
                                                              "(cosine similarity) first.")),
            ((gy[nearest] == qy[:, None]).float().sum(1).mean(), "divide the hits of each query by k."),
            ((gy[nearest[:, :1]] == qy[:, None]).float().mean(), f"use the k = {k} nearest, not only the first."),
            ((gy[nearest] != qy[:, None]).float().mean(), "count the rows of the query's class, not the others."),
        ]
        _diagnose("6.1", value, f"with k = {k} ({len(qf)} queries, {len(gf)} gallery rows) the precision is "
                  f"{want:.4f}, got {value:.4f}", hints, "Rank the gallery by cosine similarity to each query, take "
                  "the top k, count the same-class ones, divide by k and average over the queries.", then=sweep)
    _passed("6.1", "precision_at_k matches for k = 1 to 25 on galleries of every size tried.")


@_checker("6.2")
def check_chance_precision(fn) -> None:
    """Exercise 6.2: ``fn(gallery_y)`` is the precision at k expected from a random ranking
    for queries drawn like the gallery: the chance that two random items share a class."""
    g = torch.Generator().manual_seed(62)
    cases = [(50, 50), (90, 10), (10, 20, 30, 40), (100,) * 10, (1, 1, 98), (7, 0, 0, 13, 0, 30)]
    got, right = [], []
    for counts in cases:
        labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
        got.append(_number("6.2", _call("6.2", fn, "chance_precision", labels[torch.randperm(len(labels), generator=g)]),
                           "chance_precision"))
        right.append(float(((np.array(counts) / sum(counts)) ** 2).sum()))
    if len({round(v, 9) for v in got}) == 1:
        _fail("6.2", f"your chance_precision gives {got[0]:.4f} for every gallery: compute it from the class "
                     "shares of the gallery_y you are given.")
    for counts, value, want in zip(cases, got, right):
        if math.isclose(value, want, abs_tol=1e-6):
            continue
        p = np.array([c for c in counts if c]) / sum(counts)
        where = f"for class counts {counts} chance is {want:.4f}, got {value:.4f}"
        hints = [(1 / len(p), ("1 / (number of classes) holds only when the classes are balanced: weight "
                              "each class by how often a query comes from it.")),
                 (1 / len(counts), "count only the classes present, and weight each by its share."),
                 (p.max(), ("that is the share of the largest class; a random ranking hits each class in "
                           "proportion to its share, for queries of every class.")),
                 (float(np.sqrt((p ** 2).sum())), "do not take the square root: sum the squared shares.")]
        _diagnose("6.2", value, where, hints, "A query of class c finds its class with probability p_c; "
                                              "queries are of class c with probability p_c.")
    _passed("6.2", "chance_precision is the sum of the squared class shares, 1/C only when balanced.")


def _pool(hidden, ids, pad_id):
    keep = (ids != pad_id).unsqueeze(-1).double()
    return (hidden.double() * keep).sum(1) / keep.sum(1)


@_checker("6.3")
def check_mean_pool(fn) -> None:
    """Exercise 6.3: ``fn(hidden, ids, pad_id)`` is the mean of each sequence's token vectors
    (N x L x D -> N x D) over its non-padding positions."""
    g = torch.Generator().manual_seed(63)
    mixed = torch.randint(1, 9, (4, 7), generator=g)
    mixed[:, -2:] = 0
    mixed[1:, -3] = 5  # ids 0 and 5 both occur: which is padding depends on pad_id
    hidden = torch.randn(4, 7, 3, generator=g)
    cases = [(hidden, mixed, 0), (hidden, mixed, 5)]
    for n, length, d, pad_id in [(4, 6, 3, 0), (5, 9, 8, 3), (3, 4, 2, 0), (6, 5, 4, 99)]:
        ids = torch.randint(pad_id + 1, pad_id + 20, (n, length), generator=g)
        for i in range(min(n, length)):  # every row a different amount of padding, one with none
            ids[i, length - i:] = pad_id
        cases.append((torch.randn(n, length, d, generator=g), ids, pad_id))
    got = [_tensor("6.3", _call("6.3", fn, "mean_pool", h.clone(), i.clone(), p), "mean_pool",
                   (h.shape[0], h.shape[2])) for h, i, p in cases]
    right = [_pool(*case) for case in cases]
    for (h, ids, pad_id), out, want in zip(cases, got, right):
        if torch.allclose(out, want, atol=1e-5):
            continue
        keep = (ids != pad_id).unsqueeze(-1).double()
        if torch.allclose(out, h.double().mean(1), atol=1e-5):
            _fail("6.3", "that is the mean over every position: leave the padding out of the mean.")
        if torch.allclose(out, (h * keep).sum(1), atol=1e-5):
            _fail("6.3", "that is a sum: divide by the number of real tokens of each row.")
        if torch.allclose(out, (h * keep).sum(1) / h.shape[1], atol=1e-5):
            _fail("6.3", "divide by each row's own number of real tokens, not by the padded length.")
        _sweep("6.3", "mean_pool", [{"data": id(h), "pad_id": p} for h, _, p in cases], got, right,
               {"pad_id": "leave out the positions whose id equals the pad_id you are given."}, what="vectors",
               rel=1e-4, abs_=1e-5)
        _fail("6.3", f"with pad_id = {pad_id} the pooled vectors differ from the mean over the non-padding positions.")
    _passed("6.3", "mean_pool leaves the padding out, whatever the pad id and the length of each row.")


def _words(number, got, k):
    if got is None:
        _unanswered(number, "nearest_words returned None.")
    if isinstance(got, str) or not hasattr(got, "__iter__"):
        _fail(number, f"nearest_words must return a list of k = {k} words, got {got!r}")
    return [str(w) for w in got]


@_checker("6.4")
def check_nearest_words(fn) -> None:
    """Exercise 6.4: ``fn(vectors, words, word, k)`` lists the ``k`` words whose vectors are
    most cosine-similar to ``word``'s, most similar first, the word itself left out."""
    g = torch.Generator().manual_seed(64)
    first = ([f"w{i}" for i in range(30)], torch.randn(30, 6, generator=g) * (0.1 + 5 * torch.rand(30, 1, generator=g)))
    animals = ["cat", "dog", "cow", "hen", "owl", "bee", "ant", "elk", "fox", "yak", "eel", "emu"]
    second = (animals, torch.randn(12, 4, generator=g) * (0.1 + 5 * torch.rand(12, 1, generator=g)))
    cases = [(first, "w3", 1), (first, "w17", 4), (first, "w0", 7), (first, "w17", 7), (second, "owl", 3),
             (second, "cat", 11)]
    got, right = [], []
    for (words, vectors), word, k in cases:
        got.append(_words("6.4", _call("6.4", fn, "nearest_words", vectors.clone(), list(words), word, k), k))
        unit = F.normalize(vectors, dim=1)
        i = words.index(word)
        right.append([words[j] for j in (unit @ unit[i]).argsort(descending=True).tolist() if j != i])
    _sweep("6.4", "nearest_words", [{"words": id(data), "word": w, "k": k} for data, w, k in cases], got,
           [r[:k] for r, (_, _, k) in zip(right, cases)],
           {"k": "return the k nearest words, with the k you are given.",
            "word": "rank the words by their similarity to the word you are given."}, what="words")
    for ((words, vectors), word, k), out, order in zip(cases, got, right):
        if out == order[:k]:
            continue
        i = words.index(word)
        if out and out[0] == word:
            _fail("6.4", f"{word!r} is its own nearest word: leave it out.")
        by_dot = [words[j] for j in (vectors @ vectors[i]).argsort(descending=True).tolist() if j != i]
        if out == by_dot[:k]:
            _fail("6.4", "that ranks by dot product, which favours long vectors: normalise first (cosine).")
        if len(out) != k:
            _fail("6.4", f"asked for the k = {k} nearest words to {word!r}, got {len(out)}: {out}")
        if sorted(out) == sorted(order[:k]):
            _fail("6.4", "the right words in the wrong order: most similar first.")
        _fail("6.4", f"the {k} nearest words to {word!r} are {order[:k]}, got {out}.")
    _passed("6.4", "nearest_words ranks by cosine similarity and leaves the word out, for every word and k tried.")


def _corrupted(number, fn, x, pool, rate, seed):
    out = _call(number, fn, "corrupt", x.clone(), pool.clone(), rate, torch.Generator().manual_seed(seed))
    return _tensor(number, out, "corrupt", tuple(x.shape), torch.float32)


@_checker("6.5")
def check_corruption(fn) -> None:
    """Exercise 6.5: ``fn(x, pool, rate, generator)`` replaces ``round(rate * D)`` features of
    each row, chosen anew for each row, by the same feature of a random row of ``pool``."""
    pool = torch.randn(200, 10, generator=torch.Generator().manual_seed(65))
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(66)) + 10  # far from pool: changes show
    small_pool = torch.randn(50, 8, generator=torch.Generator().manual_seed(67))
    small_x = torch.randn(32, 8, generator=torch.Generator().manual_seed(68)) - 10
    outs = []
    for xs, ps, rate, seed in [(x, pool, 0.3, 0), (x, pool, 0.6, 1), (x, pool, 0.6, 2), (small_x, small_pool, 0.25, 3),
                               (small_x, small_pool, 0.9, 4)]:
        out = _corrupted("6.5", fn, xs, ps, rate, seed)
        d = xs.shape[1]
        changed = out != xs
        per_row = changed.sum(1)
        k = round(rate * d)
        if not torch.all(per_row == k):
            _fail("6.5", f"with rate {rate} every row must have exactly round(rate * D) = {k} of its {d} features "
                         f"replaced, got between {int(per_row.min())} and {int(per_row.max())}.")
        for j in range(d):
            if not torch.isin(out[changed[:, j], j], ps[:, j]).all():
                _fail("6.5", f"a replaced value in feature {j} is not a value of feature {j} in pool: draw each "
                             "replacement from the same column of a random pool row (the feature's marginal).")
        if all(torch.equal(changed[0], row) for row in changed):
            _fail("6.5", "every row has the same features replaced: choose the features anew for each row.")
        outs.append(out)
    if torch.equal(outs[1], outs[2]):
        _fail("6.5", "two different generators gave the same corruption: use the generator for every draw.")
    if not torch.equal(_corrupted("6.5", fn, x, pool, 0.6, 1), outs[1]):
        _fail("6.5", "the same generator seed gave a different corruption: draw every random number from "
                     "`generator`, nothing from the global random state.")
    one_donor = 0
    for row, row_changed in zip(outs[1], outs[1] != x):
        sources = {int((pool[:, j] == row[j]).nonzero()[0, 0]) for j in row_changed.nonzero().flatten().tolist()}
        one_donor += len(sources) == 1
    if one_donor == len(x):
        _fail("6.5", "every row takes all its replacements from one pool row: draw a separate random pool row "
                     "for each replaced feature (each feature from its own marginal).")
    _passed("6.5", "corrupt replaces a random rate of each row's features by draws from their marginals.")


def _t975(df):
    return float(_t.ppf(0.975, df))


def _se(d):
    se = np.std(d, ddof=1) / math.sqrt(len(d))
    return se if se > 0 else float("inf")


def _rule(a, b, t_crit):
    """The verdict of a paired rule whose interval is ``mean(d) ± t_crit(r) sd(d) / sqrt(r)``."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    half = t_crit(len(d)) * d.std(ddof=1) / math.sqrt(len(d))
    return "a" if d.mean() - half > 0 else "b" if d.mean() + half < 0 else "within noise"


def _verdict_cases():
    g = np.random.default_rng(66)
    draw = g.normal(0, 0.05, 10)                      # what each label draw does to both
    many = g.normal(0, 0.05, 30)
    spread = np.array([-1.0, 0.0, 1.0])               # three draws: d = m + s * spread, m / se = m sqrt(3) / s
    cases = [
        (0.80 + draw + 0.02, 0.80 + draw + g.normal(0, 0.005, 10)),   # small, consistent gain: paired sees it
        (0.80 + g.normal(0, 0.05, 10), 0.79 + g.normal(0, 0.05, 10)),  # noisy: within noise
        (0.70 + draw, 0.75 + draw + g.normal(0, 0.01, 10)),            # b wins
        (0.70 + draw[:3], 0.70 + draw[:3] - 0.015 - 0.010 * spread),   # 3 draws, 2.6 se: 2 se claim, t_2 does not
        (0.70 + draw[3:6], 0.70 + draw[3:6] - 0.020 - 0.0095 * spread),  # 3 draws, 3.6 se: t_3 claims, t_2 not
        (0.70 + draw[6:9], 0.70 + draw[6:9] - 0.050 - 0.010 * spread),  # 3 draws, 8.7 se: a, even with t_2
        (np.full(5, 0.9), np.full(5, 0.9)),                            # identical
        (0.6 + many + 0.01, 0.6 + many + g.normal(0, 0.01, 30)),       # 30 draws: a gain of one point shows
    ]
    swapped = [0, 2, 3, 5]                                             # the order of the arguments matters
    return cases + [(b, a) for a, b in (cases[i] for i in swapped)], {
        i: len(cases) + k for k, i in enumerate(swapped)}


@_checker("6.6")
def check_verdict(fn) -> None:
    """Exercise 6.6: ``fn(scores_a, scores_b)`` compares two representations scored on the
    same ``r`` label draws with the paired t interval of ``d = a - b``,
    ``mean(d) ± t_{r-1} sd(d, ddof=1) / sqrt(r)`` (95%): ``"a"`` when the interval lies above 0,
    ``"b"`` when below, else ``"within noise"``, as :func:`sslbook.stats.paired` decides."""
    cases, partner = _verdict_cases()
    partner |= {j: i for i, j in partner.items()}
    answers = []
    for a, b in cases:
        got = _call("6.6", fn, "verdict", [float(v) for v in a], [float(v) for v in b])
        if got is None:
            _unanswered("6.6", "verdict returned None.")
        if not isinstance(got, str):
            _fail("6.6", f"verdict must return 'a', 'b' or 'within noise' (a string), got {got!r}"[:300])
        answers.append(" ".join(got.strip().lower().split()))
    if len(set(answers)) == 1 and answers[0] in ("a", "b"):
        _fail("6.6", f"Your verdict gives {answers[0]!r} for (a, b) and for (b, a), whatever the scores: 'a' means "
                     "the first argument scores higher, 'b' the second, and 'within noise' that the draws cannot tell.")
    for i, ((a, b), got) in enumerate(zip(cases, answers)):
        right = _paired(a, b).verdict
        if got == right:
            continue
        d = np.asarray(a) - np.asarray(b)
        where = (f"mean difference {d.mean():+.4f} over {len(d)} paired draws, {abs(d.mean()) / _se(d):.2f} "
                 f"standard errors from 0: the answer is {right!r}, got {got!r}")
        if got not in _VERDICTS:
            _fail("6.6", f"{where}. Answer 'a', 'b' or 'within noise' (a string).")
        if right != "within noise" and i in partner and got in ("a", "b") and got == answers[partner[i]]:
            _fail("6.6", f"{where}. Your verdict gives {got!r} for (a, b) and for (b, a): 'a' means the first "
                         "argument scores higher.")
        if right != "within noise" and got == {"a": "b", "b": "a"}[right]:
            _fail("6.6", f"{where}. The verdict is the wrong way round: 'a' when scores_a is higher, that is when "
                         "the interval of the mean of d = scores_a - scores_b lies above 0.")
        independent = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / len(a))
        if right != "within noise" and abs(d.mean()) <= 2 * independent:
            _fail("6.6", f"{where}. The draws are shared, so compare draw by draw: the standard error of the "
                         "mean of the differences, sd(a - b) / sqrt(r), not of two independent means.")
        if got in ("a", "b") and right == "within noise":
            if got == _rule(a, b, _t975) and _rule(a, b, _t975) != _rule(a, b, lambda r: _t975(r - 1)):
                _fail("6.6", f"{where}. The mean of r paired differences has r - 1 degrees of freedom: "
                             f"t.ppf(0.975, {len(d) - 1}) = {_t975(len(d) - 1):.2f}, not t.ppf(0.975, {len(d)}).")
            if got == _rule(a, b, lambda r: 2.0):
                _fail("6.6", f"{where}. Two standard errors is the normal rule for many draws; with r draws the "
                             f"95% interval is t_(r-1) standard errors wide, scipy.stats.t.ppf(0.975, r - 1) = "
                             f"{_t975(len(d) - 1):.2f} for r = {len(d)}, not 2.")
            _fail("6.6", f"{where}. The interval of the mean difference reaches across 0: within noise.")
        _fail("6.6", f"{where}. Take d = a - b per draw; the interval is mean(d) ± t.ppf(0.975, r - 1) "
                     "sd(d, ddof=1) / sqrt(r).")
    _passed("6.6", "verdict compares paired draws with the t interval of their mean difference, as "
                   "sslbook.stats.paired does.")

