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

Each returns a :class:`Features`; nothing here downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

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


def scores(features: Features, counts=COUNTS, *, repeats: int = 10, seed: int | None = None) -> dict:
    """``{name: {labels per class: accuracies}}``: the few-label probe of every representation
    on the same ``repeats`` label draws (:func:`sslbook.evaluate.few_label_scores`, draw ``r``
    with seed ``seed + r``; by default ``seed`` is :func:`sslbook.config.seed` ``(0)``), so that
    two representations can be compared draw by draw (:func:`sslbook.stats.paired`). A count at
    least the size of the smallest class uses every training label once (one score, which has
    no interval)."""
    seed = config.or_seed(seed)
    smallest = int(torch.as_tensor(features.y_train).bincount().min())
    out = {}
    for name, (tr, te) in features.reps.items():
        out[name] = {c: (evaluate.few_label_scores(tr, features.y_train, te, features.y_test, c,
                                                   repeats=repeats, seed=seed) if c < smallest else
                         np.array([evaluate.linear_probe(tr, features.y_train, te, features.y_test)]))
                     for c in counts}
    return out


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

        >>> f = language()
        >>> sorted(f.reps)[0]
        'TF-IDF'
    """
    seed = config.or_seed(seed)
    checkpoint = checkpoints.shipped("pydocs-mlm.pt") if checkpoint is None else checkpoint
    docs = text.python_docs()
    model, vocab, meta = domains.load_language(checkpoint)
    torch.manual_seed(seed)
    untrained = domains.LANGUAGE.model(vocab)
    ids = vocab.encode(list(docs.texts), domains.LANGUAGE.max_len)
    tr, te = docs.train_idx, docs.unseen_test_idx
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
                     "tfidf": tfidf, "test_idx": te})


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

