"""Checkers behind the end-of-chapter exercises.

Each ``check_*`` function takes the student's answer, tests it on fixed inputs
and either prints a one-line confirmation or raises :class:`ExerciseError`
(an ``AssertionError``) with a message a student can act on. An unanswered
exercise (the student copy's stub returns ``None``) fails with a message that
says so.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class ExerciseError(AssertionError):
    """A wrong or missing answer; the message says what is wrong."""


def _fail(number: str, message: str):
    raise ExerciseError(f"Exercise {number}: {message}")


def _unanswered(number: str, what: str):
    _fail(number, f"not answered yet: {what} Replace the stub under '# YOUR CODE HERE' and run the cell again.")


def _passed(number: str, message: str) -> None:
    print(f"Exercise {number} passed: {message}")


def _call(number: str, fn, name: str, *args):
    if not callable(fn):
        _fail(number, f"{name} must be a function, got {type(fn).__name__}")
    try:
        return fn(*args)
    except Exception as exc:  # report the student's own error in the exercise's words
        shapes = ", ".join(str(tuple(a.shape)) if torch.is_tensor(a) else repr(a) for a in args)
        _fail(number, f"{name}({shapes}) raised {type(exc).__name__}: {exc}")


def _number(number: str, got, name: str) -> float:
    """The student's function result as a float; ``None`` means not answered yet."""
    if got is None:
        _unanswered(number, f"{name} returned None.")
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):
        _fail(number, f"{name} must return one number (a float or a 0-D tensor), got {got!r}")


# --- Chapter 1 -----------------------------------------------------------------

SIGNAL_KINDS = ("supervised", "unsupervised", "self-supervised")

#: Scenarios of exercise 1.1: where does each training signal come from?
SCENARIOS = {
    "a": "A spam filter learns from e-mails that users marked as spam or not spam.",
    "b": "Customers are grouped by their purchases, with no target to predict.",
    "c": "A language model learns to predict words hidden in sentences from the rest of the sentence.",
    "d": "A network learns to predict how far an image was rotated, having rotated it itself.",
    "e": "A doctor outlines tumours on scans and a network learns to reproduce the outlines.",
    "f": "Sensor readings are compressed by PCA to two dimensions to look for structure.",
}

_SCENARIO_ANSWERS = {"a": "supervised", "b": "unsupervised", "c": "self-supervised",
                     "d": "self-supervised", "e": "supervised", "f": "unsupervised"}

_SCENARIO_HINTS = {
    "supervised": "its targets were written by people (a human label per example)",
    "unsupervised": "there is no target at all: the method only looks for structure",
    "self-supervised": "it predicts a target that was made automatically from the data itself",
}


def check_signal_kinds(answers) -> None:
    """Exercise 1.1: ``answers`` maps each key of :data:`SCENARIOS` to a kind of signal."""
    if answers is None:
        _unanswered("1.1", "answers is None.")
    if not isinstance(answers, dict):
        _fail("1.1", f"answers must be a dict such as {{'a': 'supervised', ...}}, got {type(answers).__name__}")
    missing = sorted(set(SCENARIOS) - set(answers))
    if missing:
        _fail("1.1", f"answers has no entry for scenario(s) {', '.join(missing)}")
    for key in sorted(SCENARIOS):
        given = str(answers[key]).strip().lower().replace("_", "-").replace(" ", "-")
        if given not in SIGNAL_KINDS:
            _fail("1.1", f"scenario {key}: {answers[key]!r} is not one of {list(SIGNAL_KINDS)}")
        right = _SCENARIO_ANSWERS[key]
        if given != right:
            _fail("1.1", f"scenario {key} is not {given}: ask where its training target comes from. "
                         f"Here {_SCENARIO_HINTS[right]}.")
    _passed("1.1", "all six scenarios sorted by where their training signal comes from.")


def check_labels_needed(answer, probe_accuracy, target: float = 0.9) -> None:
    """Exercise 1.2: ``answer`` is the fewest labels per class at which the probe reaches ``target``.

    ``probe_accuracy(per_class)`` is the function the chapter uses to measure the
    probe; the checker calls it itself around the student's answer.
    """
    if answer is None:
        _unanswered("1.2", "answer is None.")
    if not isinstance(answer, int) or isinstance(answer, bool) or answer < 1:
        _fail("1.2", f"answer must be a whole number of labels per class >= 1, got {answer!r}")
    reached = probe_accuracy(answer)
    if reached < target:
        _fail("1.2", f"with {answer} labels per class the probe reaches {reached:.3f}, below {target}: "
                     f"try more labels per class.")
    if answer > 1:
        below = probe_accuracy(answer - 1)
        if below >= target:
            _fail("1.2", f"{answer - 1} labels per class already reach {below:.3f} >= {target}: "
                         f"{answer} is not the smallest number.")
    _passed("1.2", f"{answer} labels per class are the fewest that reach {target} ({reached:.3f}).")


# --- Chapter 2 -----------------------------------------------------------------

def _ideal_loss(n: int, t: float, negatives: int | None = None, self_term: bool = False) -> float:
    negatives = 2 * n - 2 if negatives is None else negatives
    return math.log(1 + (1 if self_term else 0) + negatives * math.exp(-1 / t))


def check_ideal_loss(fn) -> None:
    """Exercise 2.1: ``fn(n, temperature)`` is NT-Xent's value on an ideal batch.

    The batch: N pairs whose two views are identical, every other pair of
    embeddings orthogonal. The checker confirms its own formula against
    :func:`sslbook.losses.info_nce` on such a batch (one-hot embeddings).
    """
    from .losses import info_nce

    for n, t in [(2, 0.5), (4, 0.5), (8, 0.1), (16, 1.0), (32, 0.2)]:
        value = _number("2.1", _call("2.1", fn, "ideal_loss", n, t), "ideal_loss")
        eye = torch.eye(n, dtype=torch.float64)
        right = float(info_nce(eye, eye.clone(), t))
        assert math.isclose(right, _ideal_loss(n, t), rel_tol=1e-9)  # the checker's own formula
        if math.isclose(value, right, rel_tol=1e-6, abs_tol=1e-9):
            continue
        where = f"for N = {n} pairs at temperature {t} the loss is {right:.6f}, got {value:.6f}"
        hints = [
            (0.0, "even a perfect batch has a loss above zero, because the negatives still get some probability."),
            (_ideal_loss(n, t, self_term=True), "the anchor's similarity with itself is left out of the denominator."),
            (_ideal_loss(n, t, negatives=2 * n - 1), "count the negatives again: of the 2N views, one is the anchor and one its positive."),
            (_ideal_loss(n, t, negatives=n - 1), "the negatives come from both views of the other samples: 2N - 2 of them, not N - 1."),
            (_ideal_loss(n, 1.0), "the similarities are divided by the temperature before the exponential."),
            (-_ideal_loss(n, t), "the loss is minus the log of a probability, so it is positive."),
        ]
        for wrong, hint in hints:
            if math.isclose(value, wrong, rel_tol=1e-6, abs_tol=1e-9):
                _fail("2.1", f"{where}: {hint}")
        _fail("2.1", f"{where}. The positive has similarity 1, each negative similarity 0: "
                     "write the softmax probability of the positive, then take minus its log.")
    _passed("2.1", "ideal_loss matches NT-Xent on ideal batches for every N and temperature tried.")


def _top1_reference(z1, z2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = (z @ z.T).fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return (sim.argmax(dim=1) == target).float().mean().item()


def check_positive_top1(fn) -> None:
    """Exercise 2.2: ``fn(z1, z2)`` is the fraction of the 2N views whose most similar other view is their positive."""
    g = torch.Generator().manual_seed(3)
    base = torch.randn(16, 8, generator=g)
    cases = [
        (base, base + 0.05 * torch.randn(16, 8, generator=g)),   # near-perfect pairs
        (base, torch.randn(16, 8, generator=g)),                 # unrelated pairs
        (base, base + 0.9 * torch.randn(16, 8, generator=g)),    # in between
    ]
    for z1, z2 in cases:
        value = _number("2.2", _call("2.2", fn, "positive_top1", z1.clone(), z2.clone()), "positive_top1")
        right = _top1_reference(z1, z2)
        if abs(value - right) < 1e-6:
            continue
        zn = F.normalize(torch.cat([z1, z2]), dim=1)
        with_self = ((zn @ zn.T).argmax(dim=1) == torch.cat([torch.arange(16, 32), torch.arange(16)])).float().mean().item()
        if abs(value - with_self) < 1e-6:
            _fail("2.2", f"expected {right:.4f}, got {value:.4f}: every view is most similar to itself; "
                         "exclude the diagonal before taking the argmax.")
        if not 0.0 <= value <= 1.0:
            _fail("2.2", f"a fraction lies in [0, 1], got {value:.4f}: did you divide by the number of views (2N)?")
        _fail("2.2", f"expected {right:.4f} on a batch of N = 16 pairs, got {value:.4f}: "
                     "for each of the 2N views, is the nearest other view (by cosine similarity) its positive?")
    _passed("2.2", "positive_top1 matches on near-perfect, unrelated and noisy pairs.")


# --- Chapter 3 -----------------------------------------------------------------

def check_triplet(fn) -> None:
    """Exercise 3.1: ``fn(anchor, positive, negative, margin)`` is the triplet loss."""
    g = torch.Generator().manual_seed(4)
    for n, d, margin in [(6, 3, 1.0), (16, 8, 0.5), (5, 2, 2.0)]:
        a, p, q = (torch.randn(n, d, generator=g) for _ in range(3))
        value = _number("3.1", _call("3.1", fn, "triplet_loss", a.clone(), p.clone(), q.clone(), margin), "triplet_loss")
        right = float(F.triplet_margin_loss(a, p, q, margin=margin))
        if math.isclose(value, right, rel_tol=1e-4, abs_tol=1e-5):
            continue
        dp, dn = (a - p).norm(dim=1), (a - q).norm(dim=1)
        hints = [
            ((dp - dn + margin).mean(), "a triplet that already satisfies the margin must cost nothing: clamp at 0."),
            ((dp ** 2 - dn ** 2 + margin).clamp(min=0).mean(), "use distances, not squared distances."),
            ((dp - dn + margin).clamp(min=0).sum(), "take the mean over the triplets, not the sum."),
            ((dn - dp + margin).clamp(min=0).mean(), "the positive's distance comes first: d(a, p) - d(a, n) + margin."),
        ]
        for wrong, hint in hints:
            if math.isclose(value, float(wrong), rel_tol=1e-4, abs_tol=1e-5):
                _fail("3.1", f"for {n} triplets with margin {margin} the loss is {right:.4f}, got {value:.4f}: {hint}")
        _fail("3.1", f"for {n} triplets with margin {margin} the loss is {right:.4f}, got {value:.4f}. "
                     "Compare with torch.nn.functional.triplet_margin_loss.")
    _passed("3.1", "triplet_loss agrees with torch.nn.functional.triplet_margin_loss.")


def check_collapse_std(fn) -> None:
    """Exercise 3.2: ``fn(z)`` is the mean per-dimension std of L2-normalised embeddings."""
    from .evaluate import embedding_std

    g = torch.Generator().manual_seed(5)
    healthy = torch.randn(512, 64, generator=g)
    collapsed = torch.randn(1, 64, generator=g).repeat(512, 1) + 1e-4 * torch.randn(512, 64, generator=g)
    scaled = healthy * torch.linspace(0.1, 10, 512).unsqueeze(1)
    for name, z in [("healthy", healthy), ("collapsed", collapsed), ("rescaled", scaled)]:
        value = _number("3.2", _call("3.2", fn, "collapse_std", z.clone()), "collapse_std")
        right = embedding_std(z)
        if math.isclose(value, right, rel_tol=1e-3, abs_tol=1e-6):
            continue
        if name == "rescaled" or math.isclose(value, float(z.std(dim=0).mean()), rel_tol=1e-3):
            _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}: "
                         "L2-normalise each embedding first, so that only directions count.")
        if math.isclose(value, float(F.normalize(z, dim=1).std(dim=1).mean()), rel_tol=1e-3):
            _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}: "
                         "take the std over the samples (dim 0) for each dimension, then average the dimensions.")
        _fail("3.2", f"on {name} embeddings the value is {right:.4f}, got {value:.4f}")
    _passed("3.2", f"collapse_std gives about 1/sqrt(64) = {1 / 8:.3f} for healthy embeddings and about 0 for collapsed ones.")


def check_bert_masking(fn) -> None:
    """Exercise 3.3: ``fn(ids, mask_ratio, mask_id, vocab_size, generator)`` returns BERT's ``(inputs, labels)``."""
    vocab, mask_id = 50, 50
    g = torch.Generator().manual_seed(6)
    ids = torch.randint(vocab, (400, 250), generator=g)
    out = _call("3.3", fn, "bert_mask", ids.clone(), 0.15, mask_id, vocab, torch.Generator().manual_seed(0))
    if out is None:
        _unanswered("3.3", "bert_mask returned None.")
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail("3.3", "bert_mask must return a pair (inputs, labels)")
    inputs, labels = out
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        _fail("3.3", f"inputs and labels must have the shape of ids, {tuple(ids.shape)}")
    chosen = labels != -100
    frac = chosen.float().mean().item()
    if abs(frac - 0.15) > 0.005:
        _fail("3.3", f"{frac:.1%} of the tokens carry a label; 15% should be chosen, and labels must be -100 elsewhere.")
    if not torch.equal(labels[chosen], ids[chosen]):
        _fail("3.3", "at a chosen position the label must be the original token.")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        _fail("3.3", "tokens that are not chosen must be left unchanged in inputs.")
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    replaced = 1 - masked - kept
    if abs(masked - 0.8) > 0.015:
        _fail("3.3", f"{masked:.1%} of the chosen tokens became [MASK]; BERT replaces 80%.")
    if abs(kept - 0.1) > 0.015 + 0.002:  # a random replacement can draw the same token (1 in 50)
        _fail("3.3", f"{kept:.1%} of the chosen tokens were kept unchanged; BERT keeps 10%.")
    if abs(replaced - 0.1) > 0.015:
        _fail("3.3", f"{replaced:.1%} of the chosen tokens became another word; BERT replaces 10% by a random token.")
    if inputs.max() > mask_id or inputs.min() < 0:
        _fail("3.3", "random replacements must be real tokens of the vocabulary, in [0, vocab_size).")
    _passed("3.3", f"15% chosen ({frac:.1%}); of those {masked:.1%} [MASK], {replaced:.1%} random, {kept:.1%} kept.")


def check_which_factor(answer, measured) -> None:
    """Exercise 3.4: ``answer`` maps each augmentation setting to the factor its embedding clusters by.

    ``measured`` maps the same settings to ``{factor: NMI}`` as measured in the chapter.
    """
    if answer is None:
        _unanswered("3.4", "answer is None.")
    if not isinstance(answer, dict) or set(answer) != set(measured):
        _fail("3.4", f"answer must be a dict with exactly the keys {sorted(measured)}")
    for setting, nmi in measured.items():
        right = max(nmi, key=nmi.get)
        if answer[setting] not in nmi:
            _fail("3.4", f"{setting}: {answer[setting]!r} is not one of the factors {sorted(nmi)}")
        if answer[setting] != right:
            _fail("3.4", f"{setting}: the measured NMI is higher for {right} "
                         f"({nmi[right]:.2f}) than for {answer[setting]} ({nmi[answer[setting]]:.2f}).")
    _passed("3.4", "you read which concept each augmentation lets form.")


# --- Chapter 4 -----------------------------------------------------------------

def check_margin_gradient(fn) -> None:
    """Exercise 4.1: ``fn(d, m, n)`` is d(loss)/d(d) for one dissimilar pair of a batch of ``n`` pairs.

    The loss is L = 1/(2n) * sum_i [y_i d_i^2 + (1 - y_i) max(m - d_i, 0)^2].
    """
    for d, m, n in [(0.5, 1.0, 4), (0.2, 1.0, 1), (1.5, 1.0, 3), (0.1, 0.5, 8), (2.0, 2.5, 2)]:
        value = _number("4.1", _call("4.1", fn, "grad_dissimilar", d, m, n), "grad_dissimilar")
        dist = torch.tensor(d, dtype=torch.float64, requires_grad=True)
        loss = torch.clamp(m - dist, min=0) ** 2 / (2 * n)
        loss.backward()
        right = float(dist.grad)
        if math.isclose(value, right, rel_tol=1e-6, abs_tol=1e-9):
            continue
        where = f"at d = {d}, m = {m}, n = {n} the gradient is {right:.4f}, got {value:.4f}"
        if d >= m:
            _fail("4.1", f"{where}: beyond the margin the pair costs nothing, so its gradient is 0.")
        if math.isclose(value, -right, rel_tol=1e-6):
            _fail("4.1", f"{where}: check the sign; increasing d lowers the loss of a dissimilar pair.")
        if math.isclose(value, right * 2 * n, rel_tol=1e-6):
            _fail("4.1", f"{where}: keep the factor 1/(2n) of the batch average.")
        if math.isclose(value, right * 2, rel_tol=1e-6) or math.isclose(value, right / 2, rel_tol=1e-6):
            _fail("4.1", f"{where}: the derivative of (m - d)^2 is -2(m - d); with 1/(2n) that gives -(m - d)/n.")
        _fail("4.1", f"{where}. Differentiate (1/(2n)) max(m - d, 0)^2 with respect to d.")
    _passed("4.1", "grad_dissimilar matches autograd inside and beyond the margin.")


def check_predicted_loss(answer) -> None:
    """Exercise 4.2: the margin loss of two pairs (cosine similarities 0.6 similar, 0.9 dissimilar; m = 0.5)."""
    from .losses import margin_contrastive

    if answer is None:
        _unanswered("4.2", "predicted_loss is None.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        _fail("4.2", f"predicted_loss must be a number, got {answer!r}")
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.6, 0.8], [0.9, math.sqrt(1 - 0.81)]], dtype=torch.float64)
    right = float(margin_contrastive(a, b, torch.tensor([1, 0]), margin=0.5, distance="cosine"))
    if math.isclose(value, right, abs_tol=1e-6):
        _passed("4.2", f"L = {right:.4f}.")
        return
    if math.isclose(value, 2 * right, abs_tol=1e-6):
        _fail("4.2", f"got {value:.4f}: that is the article's factor 1/2; the formula divides by 2N = 4.")
    if math.isclose(value, (0.6 ** 2) / 4, abs_tol=1e-6):
        _fail("4.2", f"got {value:.4f}: d is the cosine *distance* 1 - cos, not the cosine similarity.")
    _fail("4.2", f"got {value:.4f}: with d = 1 - cos, add y d^2 and (1 - y) max(m - d, 0)^2 over both pairs, then divide by 2N.")


def check_bits(answer) -> None:
    """Exercise 4.3: the article's cross-entropy example, -(log p(0.8) + log p(0.7)) / 2, in bits."""
    if answer is None:
        _unanswered("4.3", "ce_bits is None.")
    value = float(answer)
    right = -(math.log2(0.8) + math.log2(0.7)) / 2
    if math.isclose(value, right, abs_tol=1e-4):
        _passed("4.3", f"{right:.4f} bits = {right * math.log(2):.4f} nats.")
        return
    nats = -(math.log(0.8) + math.log(0.7)) / 2
    if math.isclose(value, nats, abs_tol=1e-4):
        _fail("4.3", f"got {value:.4f}, which is in nats (natural log); divide by ln 2 for bits.")
    if math.isclose(value, nats * math.log(2), abs_tol=1e-4):
        _fail("4.3", f"got {value:.4f}: to turn nats into bits divide by ln 2, do not multiply.")
    _fail("4.3", f"got {value:.4f}; use log base 2 of the probabilities of the true classes.")


# --- Chapter 5 -----------------------------------------------------------------

def check_article_params(fn) -> None:
    """Exercise 5.1: ``fn(size)`` is the number of parameters of the article's first
    linear layer (weights and biases) for ``size`` x ``size`` input images."""
    from .project import ArticleCNN

    for size in (32, 224, 64, 96, 2):
        got = _call("5.1", fn, "fc1_parameters", size)
        if got is None:
            _unanswered("5.1", "fc1_parameters returned None.")
        layer = ArticleCNN(size).head[0]
        right = sum(p.numel() for p in layer.parameters())
        if got == right:
            continue
        where = f"for {size} x {size} images the layer has {right:,} parameters, got {got!r}"
        if got == layer.weight.numel():
            _fail("5.1", f"{where}: add the layer's 128 biases.")
        if got == 16 * size * size * 128 + 128:
            _fail("5.1", f"{where}: the 2 x 2 max-pool halves the height and the width before the layer.")
        _fail("5.1", f"{where}. The layer maps 16 channels of (size/2) x (size/2) to 128 numbers.")
    _passed("5.1", "fc1_parameters matches the article's layer at every size: "
                   f"{sum(p.numel() for p in ArticleCNN(224).head[0].parameters()):,} at 224, "
                   f"{sum(p.numel() for p in ArticleCNN(32).head[0].parameters()):,} at 32.")


def _knn_reference(train_f, train_y, test_f, k):
    sim = F.normalize(test_f, dim=1) @ F.normalize(train_f, dim=1).T
    nearest = sim.topk(k, dim=1).indices
    votes = F.one_hot(train_y[nearest], int(train_y.max()) + 1).sum(1)
    return votes.argmax(1)  # ties: the smallest label, as scikit-learn does


def check_knn(fn) -> None:
    """Exercise 5.2: ``fn(train_f, train_y, test_f, k)`` predicts a label for every row
    of ``test_f`` by a majority vote of its ``k`` most cosine-similar training rows."""
    g = torch.Generator().manual_seed(5)
    for n, d, classes, k in [(200, 16, 4, 1), (300, 32, 10, 5), (500, 8, 3, 15)]:
        centres = torch.randn(classes, d, generator=g) * 0.5  # overlapping classes: votes are close
        train_y = torch.randint(0, classes, (n,), generator=g)
        test_y = torch.randint(0, classes, (100,), generator=g)
        # Rows of very different lengths: cosine similarity ignores the length, Euclidean distance does not.
        train_f = (centres[train_y] + torch.randn(n, d, generator=g)) * (0.1 + 3 * torch.rand(n, 1, generator=g))
        test_f = centres[test_y] + torch.randn(100, d, generator=g)
        got = _call("5.2", fn, "knn_predict", train_f, train_y, test_f, k)
        if got is None:
            _unanswered("5.2", "knn_predict returned None.")
        got = torch.as_tensor(got).flatten()
        if got.shape != (100,):
            _fail("5.2", f"knn_predict must return one label per test row (100), got shape {tuple(got.shape)}")
        right = _knn_reference(train_f, train_y, test_f, k)
        agree = (got.long() == right).float().mean().item()
        if agree >= 0.98:  # a vote may tie; break ties any way you like
            continue
        dist = torch.cdist(test_f, train_f).topk(k, dim=1, largest=False).indices
        euclid = F.one_hot(train_y[dist], classes).sum(1).argmax(1)
        where = f"with k = {k} your labels agree with the reference vote on {agree:.0%} of the test rows"
        if (got.long() == euclid).float().mean().item() >= 0.98 and not torch.equal(euclid, right):
            _fail("5.2", f"{where}: that is a Euclidean vote; normalise the rows first (cosine similarity).")
        if k == 1:
            _fail("5.2", f"{where}: with k = 1 the prediction is the label of the single most similar training row.")
        _fail("5.2", f"{where}: take the k training rows of largest cosine similarity and return their most "
                     "frequent label (torch.topk, then a count per class).")
    _passed("5.2", "knn_predict agrees with the reference vote.")


def check_queue(fn) -> None:
    """Exercise 5.3: ``fn(queue, ptr, keys)`` writes ``keys`` into the ring buffer ``queue``
    (size x dim) from row ``ptr`` on, wrapping around, and returns ``(queue, new_ptr)``."""
    from .models import FeatureQueue

    g = torch.Generator().manual_seed(3)
    size, dim = 8, 4
    reference = FeatureQueue(size, dim)
    queue, ptr = torch.zeros(size, dim), 0
    for step, b in enumerate((3, 3, 3, 5, 8)):
        keys = torch.randn(b, dim, generator=g)
        out = _call("5.3", fn, "enqueue", queue.clone(), ptr, keys)
        if out is None:
            _unanswered("5.3", "enqueue returned None.")
        if not (isinstance(out, tuple) and len(out) == 2):
            _fail("5.3", f"enqueue must return a pair (queue, new_ptr), got {type(out).__name__}")
        reference.enqueue(keys)
        queue, ptr = out
        right_ptr = reference._ptr
        if int(ptr) != right_ptr:
            _fail("5.3", f"after batch {step + 1} ({b} keys) the pointer should be {right_ptr}, got {int(ptr)}: "
                         f"advance it by the batch size, modulo the queue size {size}.")
        if not torch.allclose(torch.as_tensor(queue), reference._data):
            _fail("5.3", f"after batch {step + 1} ({b} keys) the queue's rows differ from the reference: "
                         f"row (ptr + i) % {size} receives key i, so the oldest keys are overwritten first.")
    _passed("5.3", "enqueue keeps the newest keys, overwriting the oldest, like MoCo's queue.")
