"""Exercises of chapter 6: retrieval and its chance level, sentence features and word
neighbours, SCARF's corruption, and telling a gain from noise."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluate import precision_at_k
from ._common import call as _call
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import unanswered as _unanswered


def _blobs(g, n, d, classes, spread):
    centres = torch.randn(classes, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    scale = 0.2 + 3 * torch.rand(n, 1, generator=g)  # lengths vary: cosine and Euclidean disagree
    return (centres[y] + spread * torch.randn(n, d, generator=g)) * scale, y


def check_precision_at_k(fn) -> None:
    """Exercise 6.1: ``fn(query_f, query_y, gallery_f, gallery_y, k)`` is the mean share of
    each query's ``k`` most cosine-similar gallery rows that have the query's class."""
    g = torch.Generator().manual_seed(61)
    for n_q, n_g, d, classes, k in [(40, 200, 8, 4, 1), (60, 300, 16, 5, 10), (30, 150, 4, 3, 25)]:
        qf, qy = _blobs(g, n_q, d, classes, 1.2)
        gf, gy = _blobs(g, n_g, d, classes, 1.2)
        value = _number("6.1", _call("6.1", fn, "precision_at_k", qf, qy, gf, gy, k), "precision_at_k")
        right = precision_at_k(qf, qy, gf, gy, k=k)
        if math.isclose(value, right, abs_tol=1e-6):
            continue
        near_euclid = torch.cdist(qf, gf).topk(k, dim=1, largest=False).indices
        nearest = (F.normalize(qf, dim=1) @ F.normalize(gf, dim=1).T).topk(k, dim=1).indices
        hints = [
            ((gy[near_euclid] == qy[:, None]).float().mean(), "that is a Euclidean ranking; normalise the rows "
                                                              "(cosine similarity) first."),
            ((gy[nearest] == qy[:, None]).float().sum(1).mean(), "divide the hits of each query by k."),
            ((gy[nearest[:, :1]] == qy[:, None]).float().mean(), f"use the k = {k} nearest, not only the first."),
        ]
        _diagnose("6.1", value, f"with k = {k} the precision is {right:.4f}, got {value:.4f}", hints,
                  "Rank the gallery by cosine similarity to each query, take the top k, count the "
                  "same-class ones, divide by k and average over the queries.")
    _passed("6.1", "precision_at_k matches for k = 1, 10 and 25.")


def check_chance_precision(fn) -> None:
    """Exercise 6.2: ``fn(gallery_y)`` is the precision at k expected from a random ranking
    for queries drawn like the gallery: the chance that two random items share a class."""
    for counts in [(50, 50), (90, 10), (10, 20, 30, 40), (100,) * 10, (1, 1, 98)]:
        labels = torch.cat([torch.full((c,), i) for i, c in enumerate(counts)])
        got = _call("6.2", fn, "chance_precision", labels[torch.randperm(len(labels))])
        value = _number("6.2", got, "chance_precision")
        p = np.array(counts) / sum(counts)
        right = float((p ** 2).sum())
        if math.isclose(value, right, abs_tol=1e-6):
            continue
        where = f"for class counts {counts} chance is {right:.4f}, got {value:.4f}"
        hints = [(1 / len(counts), "1 / (number of classes) holds only when the classes are balanced: weight "
                                   "each class by how often a query comes from it."),
                 (p.max(), "that is the share of the largest class; a random ranking hits each class in "
                           "proportion to its share, for queries of every class."),
                 (float(p.sum() / len(counts)), "average over queries of P(a random item has the query's class).")]
        _diagnose("6.2", value, where, hints, "A query of class c finds its class with probability p_c; "
                                              "queries are of class c with probability p_c.")
    _passed("6.2", "chance_precision is the sum of the squared class shares, 1/C only when balanced.")


def check_mean_pool(fn) -> None:
    """Exercise 6.3: ``fn(hidden, ids, pad_id)`` is the mean of each sequence's token vectors
    (N x L x D -> N x D) over its non-padding positions."""
    g = torch.Generator().manual_seed(63)
    for n, length, d, pad_id in [(4, 6, 3, 0), (5, 9, 8, 3), (3, 4, 2, 0)]:
        ids = torch.randint(pad_id + 1, pad_id + 20, (n, length), generator=g)
        for i in range(n):  # every row a different amount of padding, one with none
            ids[i, length - i:] = pad_id
        hidden = torch.randn(n, length, d, generator=g)
        got = _call("6.3", fn, "mean_pool", hidden.clone(), ids.clone(), pad_id)
        if got is None:
            _unanswered("6.3", "mean_pool returned None.")
        got = torch.as_tensor(got, dtype=torch.float32)
        if got.shape != (n, d):
            _fail("6.3", f"mean_pool must return N x D = {(n, d)}, got shape {tuple(got.shape)}")
        keep = (ids != pad_id).unsqueeze(-1).float()
        right = (hidden * keep).sum(1) / keep.sum(1)
        if torch.allclose(got, right, atol=1e-5):
            continue
        if torch.allclose(got, hidden.mean(1), atol=1e-5):
            _fail("6.3", "that is the mean over every position: leave the padding out of the mean.")
        if torch.allclose(got, (hidden * keep).sum(1), atol=1e-5):
            _fail("6.3", "that is a sum: divide by the number of real tokens of each row.")
        if torch.allclose(got, (hidden * keep).sum(1) / length, atol=1e-5):
            _fail("6.3", "divide by each row's own number of real tokens, not by the padded length.")
        _fail("6.3", f"with pad_id = {pad_id} the pooled vectors differ from the masked mean.")
    _passed("6.3", "mean_pool leaves the padding out, whatever the pad id and the length of each row.")


def check_nearest_words(fn) -> None:
    """Exercise 6.4: ``fn(vectors, words, word, k)`` lists the ``k`` words whose vectors are
    most cosine-similar to ``word``'s, most similar first, the word itself left out."""
    g = torch.Generator().manual_seed(64)
    words = [f"w{i}" for i in range(30)]
    vectors = torch.randn(30, 6, generator=g) * (0.1 + 5 * torch.rand(30, 1, generator=g))
    unit = F.normalize(vectors, dim=1)
    for word, k in [("w3", 1), ("w17", 4), ("w0", 7)]:
        got = _call("6.4", fn, "nearest_words", vectors.clone(), list(words), word, k)
        if got is None:
            _unanswered("6.4", "nearest_words returned None.")
        got = list(got)
        i = words.index(word)
        order = [words[j] for j in (unit @ unit[i]).argsort(descending=True).tolist() if j != i]
        if got == order[:k]:
            continue
        if got and got[0] == word:
            _fail("6.4", f"{word!r} is its own nearest word: leave it out.")
        by_dot = [words[j] for j in (vectors @ vectors[i]).argsort(descending=True).tolist() if j != i]
        if got == by_dot[:k]:
            _fail("6.4", "that ranks by dot product, which favours long vectors: normalise first (cosine).")
        if sorted(got) == sorted(order[:k]):
            _fail("6.4", "the right words in the wrong order: most similar first.")
        _fail("6.4", f"the {k} nearest words to {word!r} are {order[:k]}, got {got}.")
    _passed("6.4", "nearest_words ranks by cosine similarity and leaves the word out.")


def check_corruption(fn) -> None:
    """Exercise 6.5: ``fn(x, pool, rate, generator)`` replaces ``round(rate * D)`` features of
    each row, chosen anew for each row, by the same feature of a random row of ``pool``."""
    pool = torch.randn(200, 10, generator=torch.Generator().manual_seed(65))
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(66)) + 10  # far from pool: changes show
    outs = []
    for rate, seed in [(0.3, 0), (0.6, 1), (0.6, 2)]:
        out = _call("6.5", fn, "corrupt", x.clone(), pool.clone(), rate, torch.Generator().manual_seed(seed))
        if out is None:
            _unanswered("6.5", "corrupt returned None.")
        out = torch.as_tensor(out, dtype=torch.float32)
        if out.shape != x.shape:
            _fail("6.5", f"corrupt must return a tensor shaped like x, {tuple(x.shape)}, got {tuple(out.shape)}")
        changed = out != x
        per_row = changed.sum(1)
        k = round(rate * 10)
        if not torch.all(per_row == k):
            _fail("6.5", f"with rate {rate} every row must have exactly {k} of its 10 features replaced, "
                         f"got between {int(per_row.min())} and {int(per_row.max())}.")
        for j in range(10):
            if not torch.isin(out[changed[:, j], j], pool[:, j]).all():
                _fail("6.5", f"a replaced value in feature {j} is not a value of feature {j} in pool: draw each "
                             "replacement from the same column of a random pool row (the feature's marginal).")
        if all(torch.equal(changed[0], row) for row in changed):
            _fail("6.5", "every row has the same features replaced: choose the features anew for each row.")
        outs.append(out)
    if torch.equal(outs[1], outs[2]):
        _fail("6.5", "two different generators gave the same corruption: use the generator for every draw.")
    again = _call("6.5", fn, "corrupt", x.clone(), pool.clone(), 0.6, torch.Generator().manual_seed(1))
    if not torch.equal(torch.as_tensor(again, dtype=torch.float32), outs[1]):
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


def _paired_verdict(a, b):
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    return "a" if diff.mean() > 2 * se else "b" if -diff.mean() > 2 * se else "tie"


def check_verdict(fn) -> None:
    """Exercise 6.6: ``fn(scores_a, scores_b)`` compares two representations scored on the
    same label draws: ``"a"`` or ``"b"`` when the mean paired difference is beyond two of its
    standard errors, ``sd(a - b, ddof=1) / sqrt(r)``, else ``"tie"``."""
    g = np.random.default_rng(66)
    draw = g.normal(0, 0.05, 10)                      # what each label draw does to both
    cases = [
        (0.80 + draw + 0.02, 0.80 + draw + g.normal(0, 0.005, 10)),   # small, consistent gain: paired sees it
        (0.80 + g.normal(0, 0.05, 10), 0.78 + g.normal(0, 0.05, 10)),  # noisy: a tie
        (0.70 + draw, 0.75 + draw + g.normal(0, 0.01, 10)),            # b wins
        (0.70 + draw[:3], 0.69 + draw[:3] + np.array([0.02, -0.02, 0.0])),  # three draws only: a tie
        (np.full(5, 0.9), np.full(5, 0.9)),                            # identical
    ]
    for a, b in cases:
        got = _call("6.6", fn, "verdict", [float(v) for v in a], [float(v) for v in b])
        if got is None:
            _unanswered("6.6", "verdict returned None.")
        right = _paired_verdict(a, b)
        if got == right:
            continue
        where = (f"mean difference {np.mean(a - b):+.4f} over {len(a)} paired draws: the answer is {right!r}, "
                 f"got {got!r}")
        if got not in ("a", "b", "tie"):
            _fail("6.6", f"{where}. Answer 'a', 'b' or 'tie'.")
        independent = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / len(a))
        if right != "tie" and abs(np.mean(a - b)) <= 2 * independent:
            _fail("6.6", f"{where}. The draws are shared, so compare draw by draw: the standard error of the "
                         "mean of the differences, sd(a - b) / sqrt(r), not of two independent means.")
        if got in ("a", "b") and right == "tie":
            _fail("6.6", f"{where}. The difference is within two standard errors: noise.")
        _fail("6.6", f"{where}. Take d = a - b per draw; compare mean(d) with 2 sd(d, ddof=1) / sqrt(r).")
    _passed("6.6", "verdict compares paired draws and calls a gain only beyond two standard errors.")
