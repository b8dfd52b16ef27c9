"""Two modalities, one space: CLIP-style pre-training on generated shapes and their captions.

Every image of :func:`sslbook.data.make_shapes` has a caption such as ``"a red circle"``.
An image encoder and a text encoder are trained so that an image and its own caption
land close together and apart from the other captions of the batch
(:func:`sslbook.losses.clip_loss`). No class label is used: the pairing is the signal.
Zero-shot classification then compares an image with every candidate caption, including
captions of shape-colour combinations held out of training.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate, config, data, losses, models
from .checkpoints import record
from .train import Pretrained, adamw_one_cycle, fit, shuffled_batches

#: The caption vocabulary: the article word, then the colour and shape words.
VOCAB = ("a",) + tuple(data.COLOURS) + data.SHAPES
WORD = {w: i for i, w in enumerate(VOCAB)}


def caption(shape: int, colour: int) -> str:
    """The caption of a shape-colour combination, e.g. ``caption(0, 0) == "a red circle"``."""
    _validate.in_range("shape", shape, 0, len(data.SHAPES) - 1)
    _validate.in_range("colour", colour, 0, len(data.COLOURS) - 1)
    return f"a {VOCAB[1 + colour]} {data.SHAPES[shape]}"


def all_captions() -> list[tuple[int, int, str]]:
    """Every ``(shape, colour, caption)``, shape-major: 16 captions."""
    return [(s, c, caption(s, c)) for s in range(len(data.SHAPES)) for c in range(len(data.COLOURS))]


def tokenize(texts) -> list[list[int]]:
    """Word ids of each text, split on spaces. Raises ``ValueError`` for an empty text or
    a word outside :data:`VOCAB`.

    >>> tokenize(["a red circle", "cross"])
    [[0, 1, 5], [8]]
    """
    if isinstance(texts, str):
        raise ValueError(f"texts must be a list of strings, got the string {texts!r}")
    ids = []
    for text in texts:
        words = str(text).lower().split()
        if not words:
            raise ValueError(f"texts must not contain an empty text, got {text!r}")
        unknown = [w for w in words if w not in WORD]
        if unknown:
            raise ValueError(f"texts may only use the words {VOCAB}, got {unknown} in {text!r}")
        ids.append([WORD[w] for w in words])
    return ids


@dataclass(frozen=True)
class Pairs:
    """Images (N x 3 x S x S) with their captions, shape and colour labels."""

    images: torch.Tensor
    shape: torch.Tensor
    colour: torch.Tensor
    captions: tuple[str, ...]


def make_pairs(n: int = 2000, size: int = 16, seed: int | None = None, held_out=()) -> Pairs:
    """``n`` captioned shapes, none of whose ``(shape, colour)`` combination is in ``held_out``.

    >>> p = make_pairs(50, held_out=[(0, 0)])
    >>> len(p.captions), "a red circle" in p.captions
    (50, False)
    """
    _validate.positive_int("n", n)
    held = set()
    for pair in held_out:
        s, c = pair
        caption(s, c)                      # validates both indices
        held.add((int(s), int(c)))
    if len(held) >= len(data.SHAPES) * len(data.COLOURS):
        raise ValueError(f"held_out must leave at least one combination to train on, got all {len(held)}")
    kept, tries = None, 0
    while kept is None or len(kept[0]) < n:
        tries += 1
        s = data.make_shapes(2 * n, size=size, seed=config.or_seed(seed) + 1000 * (tries - 1))
        keep = torch.tensor([(int(a), int(b)) not in held for a, b in zip(s.shape, s.colour)])
        part = (s.images[keep], s.shape[keep], s.colour[keep])
        kept = part if kept is None else tuple(torch.cat([k, p]) for k, p in zip(kept, part))
    images, shape, colour = (t[:n] for t in kept)
    return Pairs(images, shape, colour, tuple(caption(int(a), int(b)) for a, b in zip(shape, colour)))


class TextEncoder(nn.Module):
    """A bag of words: the mean of the word embeddings, then a linear layer.
    Input: lists of word ids (see :func:`tokenize`); output N x ``feature_dim``."""

    def __init__(self, vocab_size: int = len(VOCAB), embed_dim: int = 32, feature_dim: int = 64):
        super().__init__()
        _validate.positive_int("vocab_size", vocab_size)
        _validate.positive_int("embed_dim", embed_dim)
        _validate.positive_int("feature_dim", feature_dim)
        self.embed = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean")
        self.proj = nn.Linear(embed_dim, feature_dim)

    def forward(self, token_lists: list[list[int]]) -> torch.Tensor:
        flat = torch.tensor([t for ids in token_lists for t in ids], dtype=torch.long)
        offsets = torch.tensor([0] + [len(ids) for ids in token_lists[:-1]]).cumsum(0)
        return self.proj(self.embed(flat.to(self.proj.weight.device), offsets.to(self.proj.weight.device)))


class ClipModel(nn.Module):
    """An image encoder (a small CNN on 3-channel images) and a text encoder, each with a
    linear projection into one shared ``dim``-dimensional space; embeddings are L2-normalised."""

    def __init__(self, dim: int = 32, widths=(16, 32, 64)):
        super().__init__()
        _validate.positive_int("dim", dim)
        self.image_encoder = models.SmallCNN(in_channels=3, widths=widths, feature_dim=64)
        self.image_proj = nn.Linear(64, dim)
        self.text_encoder = TextEncoder(feature_dim=64)
        self.text_proj = nn.Linear(64, dim)
        self.view_head = models.ProjectionHead(64, out_dim=dim)   # used only with image views

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(self.image_encoder(images)), dim=1)

    def encode_text(self, texts) -> torch.Tensor:
        ids = tokenize(texts) if texts and isinstance(texts[0], str) else texts
        return F.normalize(self.text_proj(self.text_encoder(ids)), dim=1)


def clip_step(model: ClipModel, pairs: Pairs, temperature: float | None = None, views=None,
              generator: torch.Generator | None = None, view_batch: int | None = None):
    """One step for :func:`sslbook.train.fit`: a batch of indices -> the symmetric CLIP loss,
    plus, when ``views`` are given, SimCLR's loss on two views of each image through the
    image encoder and ``model.view_head`` (image-only self-supervision beside the captions,
    as in SLIP, Mu et al., 2022). With ``view_batch`` the SimCLR term takes only the first
    ``view_batch`` images of each (shuffled) batch, a cheaper step; the two views of those
    images go through the encoder as one batch of ``2 * view_batch``."""
    ids = tokenize(pairs.captions)
    if view_batch is not None:
        _validate.positive_int("view_batch", view_batch, minimum=2)

    def step(idx: torch.Tensor) -> torch.Tensor:
        x = pairs.images[idx]
        loss = losses.clip_loss(model.encode_image(x), model.encode_text([ids[i] for i in idx.tolist()]), temperature)
        if views is not None:
            v = x if view_batch is None else x[:view_batch]
            h = model.image_encoder(torch.cat([views(v, generator), views(v, generator)]))
            z1, z2 = model.view_head(h).chunk(2)
            loss = loss + losses.info_nce(z1, z2)
        return loss
    return step


def loss_floor(captions, batch_size: int) -> float:
    """The lowest CLIP loss reachable when a batch of ``batch_size`` pairs is drawn from
    ``captions`` and repeated captions are each other's negatives: an image whose caption
    appears ``m`` times in the batch can at best give its own copy probability ``1/m``, so
    the floor is the expected ``log m``, with ``m - 1 ~ Binomial(batch_size - 1, p)`` for a
    caption of frequency ``p``.

    >>> round(loss_floor(["a red circle"] * 10, 4), 4) == round(float(torch.log(torch.tensor(4.0))), 4)
    True
    """
    _validate.positive_int("batch_size", batch_size, minimum=2)
    if len(captions) == 0:
        raise ValueError("captions must not be empty")
    counts = torch.tensor(list(Counter(captions).values()), dtype=torch.float64)
    p = counts / counts.sum()
    k = torch.arange(batch_size, dtype=torch.float64)                       # other copies: 0 .. B-1
    pmf = torch.distributions.Binomial(batch_size - 1, probs=p.clamp(max=1 - 1e-12).unsqueeze(1)).log_prob(k).exp()
    return float((p * (pmf * torch.log1p(k)).sum(dim=1)).sum())


def train_clip(pairs: Pairs, steps: int, batch_size: int = 128, lr: float = 3e-3, seed: int | None = None,
               temperature: float | None = None, views=None, progress: bool = True,
               view_batch: int | None = None) -> Pretrained:
    """Train a :class:`ClipModel` on ``pairs`` (AdamW, one-cycle schedule over ``steps``);
    with ``views`` (e.g. :class:`sslbook.augment.RandomViews`) also SimCLR on the images,
    on the first ``view_batch`` images of each batch when given (see :func:`clip_step`).

    >>> run = train_clip(make_pairs(64), steps=2, batch_size=32, progress=False)
    >>> run.history.steps
    2
    """
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size, minimum=2)
    _validate.positive("lr", lr)
    if batch_size > len(pairs.images):
        raise ValueError(f"batch_size must be at most the {len(pairs.images)} pairs, got {batch_size}")
    if view_batch is not None:
        _validate.positive_int("view_batch", view_batch, minimum=2)
        if view_batch > batch_size:
            raise ValueError(f"view_batch must be at most batch_size {batch_size}, got {view_batch}")
    temperature = losses.temperature_of("clip", temperature)
    seed = config.or_seed(seed)
    torch.manual_seed(seed)
    model = ClipModel()
    optimizer, scheduler = adamw_one_cycle(model.parameters(), lr, steps)
    batches = shuffled_batches(len(pairs.images), batch_size, torch.Generator().manual_seed(seed))
    step = clip_step(model, pairs, temperature, views, torch.Generator().manual_seed(seed), view_batch)
    history = fit(step, batches, optimizer, steps=steps, scheduler=scheduler,
                  model=model, progress=progress, desc="clip")
    meta = record(history, len(pairs.images), batch_size, method="clip" if views is None else "clip+simclr", lr=lr, temperature=temperature)
    return Pretrained(model, history, meta)


@torch.no_grad()
def zero_shot(model: ClipModel, images: torch.Tensor, texts) -> torch.Tensor:
    """For each image, the index of the most similar text in ``texts`` (no training, no labels).

    >>> model = ClipModel()
    >>> zero_shot(model.eval(), torch.rand(3, 3, 16, 16), ["a red circle", "a cyan cross"]).shape
    torch.Size([3])
    """
    _validate.tensor("images", images, ndim=4, floating=True)
    if len(texts) == 0:
        raise ValueError("texts must hold at least one candidate caption")
    model.eval()
    return (model.encode_image(images) @ model.encode_text(list(texts)).T).argmax(dim=1)
