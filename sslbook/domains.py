"""Recipes of the application domains of chapter 6: masked language modelling on
Python's own documentation, and SCARF on table rows. (The image recipes are in
:mod:`sslbook.recipes`, whose command line also makes the language checkpoint.)
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass

import torch

from . import _validate, attention, augment, config, losses, models, text
from .checkpoints import load_checkpoint, record
from .train import Pretrained, adamw_one_cycle, fit, mlm_step, shuffled_batches, simclr_step


@dataclass(frozen=True)
class Schedule:
    """What both recipes here share: ``steps`` optimiser steps of ``batch_size`` rows at
    learning rate ``lr``, and the loop that runs them (:meth:`run`).

    >>> TABULAR.replace(steps=10).steps
    10
    """

    batch_size: int
    lr: float
    steps: int

    def __post_init__(self):
        _validate.positive_int("batch_size", self.batch_size)
        _validate.positive("lr", self.lr)
        _validate.positive_int("steps", self.steps)

    def replace(self, **changes):
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def run(self, step, n: int, optimizer, generator: torch.Generator, model: torch.nn.Module, *,
            steps: int | None, seconds: float | None = None, scheduler=None, progress: bool = True,
            desc: str = "", **meta):
        """Fit ``step`` on shuffled batches of ``min(batch_size, n)`` of ``n`` rows drawn with
        ``generator``; returns ``(history, record)``, the record with ``lr`` and ``meta``."""
        batch_size = min(self.batch_size, n)
        history = fit(step, shuffled_batches(n, batch_size, generator), optimizer, steps=steps, seconds=seconds,
                      scheduler=scheduler, model=model, progress=progress, desc=desc)
        return history, record(history, n, batch_size, lr=self.lr, **meta)


@dataclass(frozen=True)
class LanguageRecipe(Schedule):
    """Masked language modelling on Python's own documentation (:func:`sslbook.text.python_docs`)."""

    vocab_size: int = 4000
    max_len: int = 64
    dim: int = 96
    depth: int = 2
    heads: int = 4
    dropout: float = 0.1
    weight_decay: float = 0.01
    mask_ratio: float = 0.15

    def model(self, vocab: text.Vocab) -> attention.TinyTransformer:
        """A fresh Transformer for ``vocab`` (its ``[MASK]`` id is the last embedding)."""
        return attention.TinyTransformer(len(vocab) + 1, dim=self.dim, depth=self.depth, heads=self.heads,
                                         max_len=self.max_len, dropout=self.dropout, pad_id=text.Vocab.PAD)


LANGUAGE = LanguageRecipe(batch_size=64, lr=1e-3, steps=9000)


def pretrain_language(docs: text.PythonDocs, recipe: LanguageRecipe = LANGUAGE, *, steps: int | None = None,
                      seconds: float | None = None, seed: int | None = None, progress: bool = True):
    """Build the vocabulary of ``docs.pretraining`` and pre-train a Transformer on it by
    masked language modelling; returns ``(model, vocab, meta)``. The meta records the
    vocabulary's words, so that :func:`load_language` rebuilds both from a checkpoint.
    ``seed`` (by default :func:`sslbook.config.seed` ``(0)``) seeds the initialisation, the
    masks and the order of the batches. The meta also records the :func:`sslbook.text.fingerprint`
    of every task docstring in the pre-training text (``read``) and the Python version."""
    seed = config.or_seed(seed)
    steps = recipe.steps if steps is None and seconds is None else steps
    vocab = text.Vocab.build(docs.pretraining, recipe.vocab_size)
    ids = vocab.encode(text.chunks(docs.pretraining, recipe.max_len), recipe.max_len)
    torch.manual_seed(seed)
    model = recipe.model(vocab)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), recipe.lr, steps, recipe.weight_decay)
    g = torch.Generator().manual_seed(seed)
    step = mlm_step(model, ids, vocab.mask_id, len(vocab), recipe.mask_ratio, (text.Vocab.PAD,), g)
    _, meta = recipe.run(step, len(ids), optimizer, g, model, steps=steps, seconds=seconds, scheduler=scheduler,
                         progress=progress, desc="masked language model", method="mlm", vocab=vocab.words,
                         dim=recipe.dim, depth=recipe.depth)
    # which task docstrings it read, and on which Python (the standard library, and so the split, differ
    # between versions): applications.language tests only on docstrings not in this list
    pre = set(docs.pretraining)
    meta.update(read=sorted(text.fingerprint(t) for t in set(docs.texts) if t in pre),
                python=platform.python_version())
    return model, vocab, meta


def load_language(path, recipe: LanguageRecipe = LANGUAGE):
    """The model and vocabulary saved by ``python -m sslbook.recipes --only mlm``; returns
    ``(model, vocab, meta)``."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "vocab" not in blob.get("meta", {}):
        raise ValueError(f"{path} is not a language checkpoint of sslbook (no vocabulary in its meta)")
    vocab = text.Vocab(blob["meta"]["vocab"])
    model = recipe.model(vocab)
    meta = load_checkpoint(path, model)
    return model, vocab, meta


@dataclass(frozen=True)
class TabularRecipe(Schedule):
    """SCARF (Bahri et al., 2022) on table rows: an MLP encoder, NT-Xent between a row and
    a copy with ``rate`` of its features replaced from their marginals."""

    hidden_dim: int = 128
    feature_dim: int = 64
    out_dim: int = 32
    rate: float = 0.6


TABULAR = TabularRecipe(batch_size=128, lr=1e-3, steps=2000)


def pretrain_scarf(rows: torch.Tensor, recipe: TabularRecipe = TABULAR, *, steps: int | None = None,
                   seed: int | None = None, progress: bool = True) -> Pretrained:
    """Pre-train an MLP encoder on unlabelled ``rows`` (N x D, standardised) with SCARF;
    ``model.encoder`` is the representation. ``seed`` (by default :func:`sslbook.config.seed`
    ``(0)``) seeds the initialisation, the corruptions and the order of the batches.

    >>> run = pretrain_scarf(torch.randn(64, 5), steps=2, progress=False); run.meta["steps"]
    2
    """
    _validate.tensor("rows", rows, ndim=2, floating=True)
    steps = recipe.steps if steps is None else steps
    _validate.positive_int("steps", steps)
    seed = config.or_seed(seed)
    torch.manual_seed(seed)
    encoder = models.MLP(rows.shape[1], recipe.hidden_dim, recipe.feature_dim)
    model = models.SimCLRModel(encoder, models.ProjectionHead(recipe.feature_dim, recipe.out_dim))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    g = torch.Generator().manual_seed(seed)
    views = augment.FeatureCorruption(rows, recipe.rate)
    history, meta = recipe.run(simclr_step(model, rows, views, losses.TEMPERATURES["scarf"], g), len(rows),
                               optimizer, g, model, steps=steps, progress=progress, desc="SCARF", method="scarf",
                               rate=recipe.rate)
    return Pretrained(model, history, meta)
