"""Chapter 6's three domains as features with labels, so that every representation is
judged the same way: a few-label linear probe on frozen features, repeated over label
draws (:func:`curves`).

- :func:`vision_transfer`: scikit-learn's digits, which chapter 5's CIFAR-10 encoders
  never saw, against raw pixels and the same network untrained;
- :func:`language`: docstrings of Python's standard library, by module family: a
  masked language model's sentence features against TF-IDF and the untrained model;
- :func:`tabular`: the Wisconsin breast cancer measurements: SCARF against the raw
  measurements and the untrained network.

Each returns a :class:`Features`; nothing here downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from . import _validate, checkpoints, data, domains, evaluate, models, text

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


def curves(features: Features, counts=COUNTS, *, repeats: int = 10, seed: int = 0) -> dict:
    """``{name: {labels per class: (mean, std)}}``: the few-label probe of every
    representation, on the same label draws (:func:`sslbook.evaluate.labels_per_class_curve`)."""
    return {name: evaluate.labels_per_class_curve(tr, features.y_train, te, features.y_test, tuple(counts),
                                                  repeats=repeats, seed=seed)
            for name, (tr, te) in features.reps.items()}


def _checkpoint(folder: Path, kind: str, model: torch.nn.Module) -> dict:
    path = Path(folder) / f"cifar10-small-{kind}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint {path}: clone the repository with chapters/checkpoints/, or make "
                                "it with `python -m sslbook.recipes --out chapters/checkpoints`")
    return checkpoints.load_checkpoint(path, model)


def cifar_encoders(folder) -> dict:
    """Chapter 5's shipped CIFAR-10 encoders (small CNN): ``{"SimCLR": ..., "MoCo": ...,
    "supervised (1000 labels/class)": ...}`` plus ``"untrained"`` (seed 0), all frozen."""
    torch.manual_seed(0)
    encoders = {"untrained": models.encoder("small")}
    for name, kind in (("SimCLR", "simclr"), ("MoCo", "moco")):
        encoders[name] = models.encoder("small")
        _checkpoint(folder, kind, encoders[name])
    supervised = models.classifier("small")
    _checkpoint(folder, "supervised-1000", supervised)
    encoders["supervised (1000 labels/class)"] = supervised[0]
    return {name: enc.eval() for name, enc in encoders.items()}


def vision_transfer(folder) -> Features:
    """Digits (8 x 8 grey) seen by chapter 5's CIFAR-10 encoders as 32 x 32 colour images,
    against the raw 64 pixels."""
    digits = data.load_digits()
    x = data.as_colour_images(digits.images)
    reps = {"raw pixels": (digits.x_train.flatten(1), digits.x_test.flatten(1))}
    encoders = cifar_encoders(folder)
    for name, enc in encoders.items():
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


def language(checkpoint) -> Features:
    """Docstrings by module family: TF-IDF (fitted on the training docstrings), the
    untrained Transformer and the one pre-trained by masked language modelling."""
    docs = text.python_docs()
    model, vocab, meta = domains.load_language(checkpoint)
    torch.manual_seed(0)
    untrained = domains.LANGUAGE.model(vocab)
    ids = vocab.encode(list(docs.texts), domains.LANGUAGE.max_len)
    tr, te = docs.train_idx, docs.test_idx
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit([docs.texts[i] for i in tr.tolist()])
    t = torch.tensor(tfidf.transform(list(docs.texts)).toarray(), dtype=torch.float32)
    reps = {"TF-IDF": (t[tr], t[te])}
    for name, m in (("untrained Transformer", untrained), ("masked language model", model)):
        f = sentence_features(m, ids)
        reps[name] = (f[tr], f[te])
    return Features("Python docstrings by module family", reps, docs.labels[tr], docs.labels[te], docs.families,
                    {"docs": docs, "model": model, "untrained": untrained, "vocab": vocab, "meta": meta,
                     "tfidf": tfidf})


def tabular(steps: int | None = None, seed: int = 0) -> Features:
    """Breast cancer rows: SCARF pre-trained on the training rows (no labels), against
    the 30 standardised measurements and the untrained MLP."""
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


def verdict(mean_a: float, std_a: float, mean_b: float, std_b: float, repeats: int) -> str:
    """``"a"`` or ``"b"`` when that mean is higher by more than two standard errors of the
    difference, ``sqrt((std_a^2 + std_b^2) / repeats)`` (independent draws: conservative
    when both were measured on the same draws), else ``"tie"``.

    >>> verdict(0.9, 0.02, 0.85, 0.02, 10), verdict(0.9, 0.1, 0.85, 0.1, 10)
    ('a', 'tie')
    """
    _validate.positive_int("repeats", repeats)
    se = float(np.sqrt((std_a ** 2 + std_b ** 2) / repeats))
    if mean_a - mean_b > 2 * se:
        return "a"
    if mean_b - mean_a > 2 * se:
        return "b"
    return "tie"
