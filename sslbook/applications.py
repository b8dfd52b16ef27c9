"""Chapter 6's three domains as features with labels, so that every representation is
judged the same way: a few-label linear probe on frozen features, repeated over label
draws (:func:`scores`), so that two representations can be compared draw by draw with
:func:`sslbook.stats.paired`.

- :func:`vision_transfer`: scikit-learn's digits, which chapter 5's CIFAR-10 encoders
  never saw, against raw pixels and the same network untrained;
- :func:`language`: docstrings of Python's standard library, by module family: a
  masked language model's sentence features against TF-IDF, TF-IDF with LSA and the
  untrained model;
- :func:`tabular`: the Wisconsin breast cancer measurements: SCARF against the raw
  measurements and the untrained network.

Each returns a :class:`Features`; nothing here downloads anything. Beside the default probe,
:func:`tuned_probe` chooses its regularisation by cross-validation inside the labelled set,
:func:`fine_tune` trains every weight (the third protocol, after kNN and the linear probe), and
:func:`retrieval_split` draws a gallery and queries that no network trained on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from . import _validate, checkpoints, config, data, domains, evaluate, models, text

#: Labels per class of the few-label curves.
COUNTS = (1, 2, 5, 10, 20)


@dataclass
class Features:
    """Named representations of one task: ``reps[name] = (train features, test features)``."""

    task: str
    reps: dict
    y_train: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    extra: dict


def scores(features: Features, counts=COUNTS, *, repeats: int = 10, seed: int | None = None, probe=None) -> dict:
    """``{name: {labels per class: accuracies}}``: the few-label probe of every representation
    on the same ``repeats`` label draws (:func:`sslbook.evaluate.few_label_scores`, draw ``r``
    with seed ``seed + r``; by default ``seed`` is :func:`sslbook.config.seed` ``(0)``), so that
    two representations can be compared draw by draw (:func:`sslbook.stats.paired`). A count at
    least the size of the smallest class uses every training label once (one score, which has
    no interval). ``probe`` is :func:`sslbook.evaluate.linear_probe` (standardised features,
    C = 1) by default, or another ``probe(train_x, train_y, test_x, test_y)`` such as
    :func:`tuned_probe`, the same for every representation."""
    seed = config.or_seed(seed)
    probe = evaluate.linear_probe if probe is None else probe
    smallest = int(torch.as_tensor(features.y_train).bincount().min())
    out = {}
    for name, (tr, te) in features.reps.items():
        out[name] = {c: (evaluate.few_label_scores(tr, features.y_train, te, features.y_test, c,
                                                   repeats=repeats, seed=seed, probe=probe) if c < smallest else
                         np.array([probe(tr, features.y_train, te, features.y_test)]))
                     for c in counts}
    return out


#: The inverse regularisation strengths :func:`tuned_probe` chooses from.
CS = (0.1, 1.0, 10.0, 100.0)


def _rows(x, normalize: bool):
    x = evaluate.flatten(x).astype(np.float64)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return sparse.csr_matrix(x) if (x == 0).mean() > 0.9 else x   # wide TF-IDF rows: much faster sparse


def tuned_probe(train_x, train_y, test_x, test_y, *, Cs=CS, folds: int = 3, normalize: bool = True,
                max_iter: int = 2000) -> float:
    """A logistic-regression probe tuned inside the labelled set, never on the test set: each row
    L2-normalised when ``normalize`` (TF-IDF's own norm; no per-feature standardisation), then
    the C of ``Cs`` with the best mean accuracy over a stratified ``folds``-fold cross-validation
    of the training rows (``folds`` at most the size of the smallest class; on a tie the smaller C,
    the stronger regularisation), refitted on every training row. With one labelled sample in
    some class there is nothing to validate on, and C is 1. Rows with more than 90% zeros are
    fitted as a sparse matrix. Returns the test accuracy.

        >>> x = np.eye(4)[[0, 0, 0, 1, 1, 1]] + 0.1; y = np.array([0, 0, 0, 1, 1, 1])
        >>> tuned_probe(x, y, x, y)
        1.0
    """
    train_x, train_y = evaluate._features_labels(train_x, train_y, "train_")
    test_x, test_y = evaluate._features_labels(test_x, test_y, "test_")
    if test_x.shape[1] != train_x.shape[1]:
        raise ValueError(f"test_x must have {train_x.shape[1]} features like train_x, got {test_x.shape[1]}")
    if not Cs or not all(isinstance(c, (int, float)) and c > 0 for c in Cs):
        raise ValueError(f"Cs must be a non-empty sequence of positive numbers, got {Cs!r}")
    _validate.positive_int("folds", folds, minimum=2)
    xtr, xte = _rows(train_x, normalize), _rows(test_x, normalize)
    with threadpool_limits(1):   # one BLAS thread: about 10x faster at these sizes (benchmarks/probe_threads.py)
        return _tuned_fit(xtr, train_y, xte, test_y, Cs, folds, max_iter)


def _tuned_fit(xtr, train_y, xte, test_y, Cs, folds, max_iter) -> float:
    k = min(folds, int(np.bincount(np.unique(train_y, return_inverse=True)[1]).min()))
    best = 1.0
    if k >= 2:
        cs = sorted(Cs)
        scores = np.zeros((len(cs), k))
        for f, (a, b) in enumerate(StratifiedKFold(k).split(np.zeros(len(train_y)), train_y)):
            # a regularisation path: each C starts from the previous, smaller C's solution (the same optimum,
            # the loss being strictly convex; far fewer iterations for the weakly regularised fits)
            model = LogisticRegression(C=cs[0], max_iter=max_iter, warm_start=True)
            for j, c in enumerate(cs):
                scores[j, f] = model.set_params(C=c).fit(xtr[a], train_y[a]).score(xtr[b], train_y[b])
        best = cs[int(np.argmax(scores.mean(1)))]
    return float(LogisticRegression(C=best, max_iter=max_iter).fit(xtr, train_y).score(xte, test_y))


def fine_tune(encoder: torch.nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
              y_test: torch.Tensor, *, steps: int = 40, lr: float = 1e-3, batch_size: int = 128,
              seed: int | None = None) -> float:
    """Fine-tuning, the third protocol: a copy of ``encoder`` (N x C x H x W -> N x D) with a linear
    head, every weight trained by Adam at ``lr`` on cross-entropy for ``steps`` steps of at most
    ``batch_size`` labelled images (no augmentation; batch norm in training mode), then scored on
    ``x_test``. ``encoder`` itself is not changed. ``seed`` (by default :func:`sslbook.config.seed`
    ``(0)``) fixes the head's initialisation and the batches. From pre-trained weights and from
    the same network untrained it measures what the pre-training buys: transfer, or, below the
    untrained start, negative transfer. Returns the test accuracy.

        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        >>> 0 <= fine_tune(net, torch.rand(6, 1, 2, 2), torch.tensor([0, 1] * 3), torch.rand(4, 1, 2, 2),
        ...                torch.tensor([0, 1] * 2), steps=2) <= 1
        True
    """
    _validate.tensor("x_train", x_train, floating=True)
    _validate.positive_int("steps", steps)
    _validate.positive("lr", lr)
    _validate.positive_int("batch_size", batch_size)
    if len(x_train) != len(y_train):
        raise ValueError(f"x_train and y_train must have the same length, got {len(x_train)} and {len(y_train)}")
    seed = config.or_seed(seed)
    torch.manual_seed(seed)
    body = copy.deepcopy(encoder).eval()
    with torch.no_grad():
        width = body(x_train[:2]).shape[1]
    classes, y = torch.unique(torch.as_tensor(y_train), return_inverse=True)
    model = torch.nn.Sequential(body, torch.nn.Linear(width, len(classes))).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    size = min(batch_size, len(x_train))
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randperm(len(x_train), generator=g)[:size]
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    predicted = classes[evaluate.embed(model, x_test).argmax(1)]
    return float((predicted == torch.as_tensor(y_test)).float().mean())


def retrieval_split(labels, gallery_per_class: int, queries_per_class: int, seed: int | None = None):
    """``(gallery, queries)``: disjoint index tensors, ``gallery_per_class`` and ``queries_per_class``
    items of every class drawn at random (``seed``, by default :func:`sslbook.config.seed` ``(0)``).
    Draw both from a split that no compared network trained on (chapter 6a: CIFAR-10's test split).

        >>> g, q = retrieval_split(torch.tensor([0, 1] * 5), 3, 2)
        >>> len(g), len(q), set(g.tolist()) & set(q.tolist())
        (6, 4, set())
    """
    _validate.positive_int("gallery_per_class", gallery_per_class)
    _validate.positive_int("queries_per_class", queries_per_class)
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(config.or_seed(seed))
    gallery, queries = [], []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < gallery_per_class + queries_per_class:
            raise ValueError(f"gallery_per_class + queries_per_class must be at most the size of the smallest "
                             f"class ({len(members)} for class {c}), got {gallery_per_class + queries_per_class}")
        order = members[torch.randperm(len(members), generator=g)]
        gallery.append(order[:gallery_per_class])
        queries.append(order[gallery_per_class:gallery_per_class + queries_per_class])
    return torch.sort(torch.cat(gallery)).values, torch.sort(torch.cat(queries)).values


def curves(score_table: dict) -> dict:
    """``{name: {count: (mean, sample std)}}`` from :func:`scores`, for tables and figures."""
    return {name: {c: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for c, v in row.items()}
            for name, row in score_table.items()}


def _checkpoint(folder, kind: str, model: torch.nn.Module) -> dict:
    name = f"cifar10-small-{kind}.pt"
    if folder is None:
        return checkpoints.load_checkpoint(checkpoints.shipped(name), model)
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path}: leave the folder out to use the ones sslbook ships, or make "
                                f"it with `{checkpoints.remake_command(name, folder)}`")
    return checkpoints.load_checkpoint(path, model)


def cifar_encoders(folder=None, seed: int | None = None) -> dict:
    """Chapter 5's CIFAR-10 encoders (small CNN): ``{"SimCLR": ..., "MoCo": ...,
    "supervised (1000 labels/class)": ...}`` plus ``"untrained"`` (initialised with ``seed``, by
    default :func:`sslbook.config.seed` ``(0)``), all frozen. ``folder`` holds the
    ``cifar10-small-*.pt`` files; by default the ones the package ships
    (:func:`sslbook.checkpoints.shipped`). A missing file raises ``FileNotFoundError``.

        >>> encoders = cifar_encoders()
        >>> sorted(encoders)[:2]
        ['MoCo', 'SimCLR']
    """
    torch.manual_seed(config.or_seed(seed))
    encoders = {"untrained": models.encoder("small")}
    for name, kind in (("SimCLR", "simclr"), ("MoCo", "moco")):
        encoders[name] = models.encoder("small")
        _checkpoint(folder, kind, encoders[name])
    supervised = models.classifier("small")
    _checkpoint(folder, "supervised-1000", supervised)
    encoders["supervised (1000 labels/class)"] = supervised[0]
    return {name: enc.eval() for name, enc in encoders.items()}


def vision_transfer(folder=None, adapt: bool = True, seed: int | None = None, only=None) -> Features:
    """Digits (8 x 8 grey) seen by chapter 5's CIFAR-10 encoders as 32 x 32 colour images,
    against the raw 64 pixels. With ``adapt`` every encoder's batch-norm statistics are
    re-estimated on the digits' training images first (:func:`sslbook.evaluate.adapt_batchnorm`),
    the untrained one's included, so that no encoder normalises digits by CIFAR-10's statistics.
    ``folder`` and ``seed`` are :func:`cifar_encoders`' (by default the shipped checkpoints; the
    seed initialises the untrained encoder); ``only`` (names of :func:`cifar_encoders`) embeds
    those encoders alone (default: all). Features are (1257, 256) for training, (540, 256) for test.

        >>> f = vision_transfer(only=("SimCLR",))
        >>> sorted(f.reps)
        ['SimCLR', 'raw pixels']
    """
    digits = data.load_digits()
    x = data.as_colour_images(digits.images)
    reps = {"raw pixels": (digits.x_train.flatten(1), digits.x_test.flatten(1))}
    encoders = cifar_encoders(folder, seed)
    if only is not None:
        unknown = set(only) - set(encoders)
        if unknown:
            raise ValueError(f"only must name encoders among {sorted(encoders)}, got {sorted(unknown)}")
        encoders = {name: enc for name, enc in encoders.items() if name in only}
    for name, enc in encoders.items():
        if adapt:
            evaluate.adapt_batchnorm(enc, x[digits.train_idx])
        f = evaluate.embed(enc, x)
        reps[name] = (f[digits.train_idx], f[digits.test_idx])
    return Features("digits, with encoders trained on CIFAR-10", reps, digits.y_train, digits.y_test,
                    digits.classes, {"encoders": encoders, "digits": digits})


@torch.no_grad()
def sentence_features(model, ids: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """:meth:`~sslbook.attention.TinyTransformer.sentence_features` of N sequences, in batches."""
    _validate.positive_int("batch_size", batch_size)
    model.eval()
    return torch.cat([model.sentence_features(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)])


def language(checkpoint=None, seed: int | None = None) -> Features:
    """Docstrings by module family, tested on docstrings whose function or class has no
    docstring in the training split: two classical baselines fitted on the same unlabelled
    text as the language model (TF-IDF, and TF-IDF reduced to the model's width by LSA),
    the untrained Transformer and the one pre-trained by masked language modelling. ``seed``
    (by default :func:`sslbook.config.seed` ``(0)``) initialises the untrained Transformer and
    LSA's randomised SVD; the pre-trained model is the checkpoint's, fixed once: ``checkpoint``,
    by default the one the package ships (:func:`sslbook.checkpoints.shipped` ``("pydocs-mlm.pt")``).
    The test set and ``extra["unread_idx"]`` (training docstrings left out of pre-training) leave
    out every docstring the checkpoint records as read (its count: ``extra["dropped"]``, 0 on the
    Python that made it); ``extra["read_idx"]`` holds the training docstrings it read.

        >>> f = language()
        >>> sorted(f.reps)[0]
        'TF-IDF'
    """
    seed = config.or_seed(seed)
    checkpoint = checkpoints.shipped("pydocs-mlm.pt") if checkpoint is None else checkpoint
    docs = text.python_docs()
    model, vocab, meta = domains.load_language(checkpoint)
    if "read" not in meta:
        raise ValueError(f"{checkpoint} does not record which docstrings its model read, so no test set can be "
                         "trusted to be unread; make a new one with: "
                         + checkpoints.remake_command("pydocs-mlm.pt", Path(checkpoint).parent))
    # On another Python the standard library, and so the split, differ: test only on what the model never read.
    read = set(meta["read"])
    was_read = [text.fingerprint(t) in read for t in docs.texts]
    te = torch.tensor([i for i in docs.unseen_test_idx.tolist() if not was_read[i]], dtype=torch.long)
    unread = torch.tensor([i for i in docs.unread_idx.tolist() if not was_read[i]], dtype=torch.long)
    read_train = torch.tensor([i for i in docs.train_idx.tolist() if was_read[i]], dtype=torch.long)
    dropped = len(docs.unseen_test_idx) + len(docs.unread_idx) - len(te) - len(unread)
    torch.manual_seed(seed)
    untrained = domains.LANGUAGE.model(vocab)
    ids = vocab.encode(list(docs.texts), domains.LANGUAGE.max_len)
    tr = docs.train_idx
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit(docs.pretraining)
    sparse = tfidf.transform(list(docs.texts))
    lsa = TruncatedSVD(domains.LANGUAGE.dim, random_state=seed).fit(tfidf.transform(docs.pretraining))
    t = torch.tensor(sparse.toarray(), dtype=torch.float32)
    z = torch.tensor(lsa.transform(sparse), dtype=torch.float32)
    reps = {"TF-IDF": (t[tr], t[te]), "TF-IDF + LSA": (z[tr], z[te])}
    for name, m in (("untrained Transformer", untrained), ("masked language model", model)):
        f = sentence_features(m, ids)
        reps[name] = (f[tr], f[te])
    return Features("Python docstrings by module family", reps, docs.labels[tr], docs.labels[te], docs.families,
                    {"docs": docs, "model": model, "untrained": untrained, "vocab": vocab, "meta": meta,
                     "tfidf": tfidf, "test_idx": te, "unread_idx": unread, "read_idx": read_train,
                     "dropped": dropped})


def tabular(steps: int | None = None, seed: int | None = None) -> Features:
    """Breast cancer rows: SCARF pre-trained on the training rows (no labels), against
    the 30 standardised measurements and the untrained MLP. ``seed`` (by default
    :func:`sslbook.config.seed` ``(0)``) seeds SCARF's run; ``seed + 1`` the untrained MLP."""
    seed = config.or_seed(seed)
    d = data.load_breast_cancer()
    xtr, xte = d.x[d.train_idx], d.x[d.test_idx]
    run = domains.pretrain_scarf(xtr, steps=steps, seed=seed, progress=False)
    torch.manual_seed(seed + 1)
    untrained = models.MLP(xtr.shape[1], domains.TABULAR.hidden_dim, domains.TABULAR.feature_dim).eval()
    reps = {"raw measurements": (xtr, xte)}
    for name, enc in (("untrained MLP", untrained), ("SCARF", run.model.encoder.eval())):
        with torch.no_grad():
            reps[name] = (enc(xtr), enc(xte))
    return Features("breast cancer diagnosis", reps, d.labels[d.train_idx], d.labels[d.test_idx], d.classes,
                    {"run": run, "data": d})

