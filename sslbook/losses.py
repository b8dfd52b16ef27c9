"""Self-supervised losses and their default temperatures.

Each loss is one short function over embeddings (or logits), validated on
entry, with its paper and formula in the docstring. The default temperature of
every method lives in :data:`TEMPERATURES` and nowhere else: a loss called
without a temperature, a training step and a recipe all read it from there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _validate, distributed
from .families import barlow_twins, cross_correlation, dino, dino_center, sinkhorn, swav, vicreg, vicreg_terms  # noqa
from .masking import IGNORE_INDEX

#: The default temperature of each contrastive method: SimCLR's NT-Xent (0.5,
#: what chapter 2 measured best on digits; SimCLR's CIFAR-10 runs used 0.5),
#: MoCo's InfoNCE against a queue (0.2, as in MoCo v2) and SCARF's NT-Xent on
#: table rows (1.0, as in Bahri et al., 2022) and CLIP's image-caption loss (0.07,
#: CLIP's starting value; CLIP then learns it).
TEMPERATURES = {"simclr": 0.5, "moco": 0.2, "scarf": 1.0, "clip": 0.07}


def temperature_of(method: str, temperature: float | None = None) -> float:
    """``temperature`` if given, else the default of ``method`` in :data:`TEMPERATURES`; validated.

    >>> temperature_of("simclr"), temperature_of("moco", 0.1)
    (0.5, 0.1)
    """
    _validate.one_of("method", method, set(TEMPERATURES))
    t = TEMPERATURES[method] if temperature is None else temperature
    _validate.positive("temperature", t)
    return float(t)


def positive_index(n: int, device=None) -> torch.Tensor:
    """For 2N views stacked as ``cat([view1, view2])``, the row of each view's positive:
    ``[n, ..., 2n-1, 0, ..., n-1]``.

    >>> positive_index(3).tolist()
    [3, 4, 5, 0, 1, 2]
    """
    _validate.positive_int("n", n)
    return torch.cat([torch.arange(n, 2 * n, device=device), torch.arange(n, device=device)])


_PAIR_NEED = "a contrastive loss needs a batch of N >= 2 pairs (negatives come from the batch)"


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float | None = None, *,
             gather: bool = False) -> torch.Tensor:
    """NT-Xent, the InfoNCE loss of SimCLR (Chen et al., 2020, Algorithm 1).

    ``z1[i]`` and ``z2[i]`` are embeddings of two views of sample ``i``; both
    are N x D. The 2N views are L2-normalised, and with cosine similarities
    ``s`` every view ``i`` is an anchor whose positive ``j`` is the other view
    of the same sample, and whose 2N - 2 negatives are all the other views:

        l(i, j) = -log( exp(s_ij / t) / sum_{k != i} exp(s_ik / t) )
        L = 1 / (2N) * sum over the 2N anchors of l(i, j)

    When all embeddings are equal every similarity is 1 and ``L = log(2N - 1)``.
    ``temperature`` defaults to ``TEMPERATURES["simclr"]``.

    ``gather=True`` (under ``torch.distributed``): this process's 2N views are the anchors
    and the views of every process are the candidates (:func:`sslbook.distributed.gather`,
    whose backward sums the gradients over processes), so that the mean of the processes'
    losses is the loss of the whole batch. With one process it is exactly the loss above.

    Raises ``ValueError`` when z1 and z2 are not 2-D floating tensors of the
    same shape with N >= 2, or when ``temperature`` is not > 0.

    >>> z = torch.ones(4, 3)
    >>> round(info_nce(z, z).item(), 4) == round(float(torch.log(torch.tensor(7.0))), 4)
    True
    """
    _validate.embedding_pair(z1, z2, why=_PAIR_NEED)
    temperature = temperature_of("simclr", temperature)
    n = z1.shape[0]
    if gather and distributed.is_distributed():
        return _info_nce_gathered(F.normalize(z1, dim=1), F.normalize(z2, dim=1), temperature)
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(logits, positive_index(n, z.device))


def _info_nce_gathered(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent with this process's views as anchors against every process's views."""
    n, w, r = z1.shape[0], distributed.world_size(), distributed.rank()
    everyone = torch.cat([distributed.gather(z1), distributed.gather(z2)], dim=0)   # 2 W n x D
    anchors = torch.cat([z1, z2], dim=0)                                             # 2 n x D
    mine = torch.arange(n, device=z1.device) + r * n
    rows = torch.cat([mine, mine + w * n])               # where this process's views sit in everyone
    logits = (anchors @ everyone.T / temperature).index_put((torch.arange(2 * n, device=z1.device), rows),
                                                            torch.tensor(float("-inf"), dtype=z1.dtype))
    return F.cross_entropy(logits, torch.cat([mine + w * n, mine]))


DISTANCES = ("euclidean", "cosine")


def _pair_distance(a: torch.Tensor, b: torch.Tensor, distance: str) -> torch.Tensor:
    if distance == "euclidean":
        # sqrt with a tiny floor keeps the gradient finite when a == b
        return torch.sqrt(((a - b) ** 2).sum(dim=1).clamp_min(1e-12))
    return 1 - F.cosine_similarity(a, b, dim=1, eps=1e-8)


def margin_contrastive(a: torch.Tensor, b: torch.Tensor, same, margin: float = 1.0,
                       distance: str = "euclidean") -> torch.Tensor:
    """The margin contrastive loss of Hadsell, Chopra and LeCun (2006).

    ``a`` and ``b`` are N x D; ``same[i]`` is 1 (or True) when ``a[i]`` and
    ``b[i]`` are a similar pair and 0 otherwise. With ``d_i`` the distance of
    pair i (Euclidean, or the cosine *distance* 1 - cosine similarity):

        L = 1 / (2N) * sum_i [ y_i d_i^2 + (1 - y_i) max(m - d_i, 0)^2 ]

    Similar pairs are pulled together; dissimilar pairs are pushed apart until
    they are ``margin`` away, after which they cost nothing.

    >>> a = torch.zeros(2, 2); b = torch.tensor([[3.0, 4.0], [0.6, 0.8]])
    >>> margin_contrastive(a, b, torch.tensor([1, 0])).item()  # (25 + 0) / 4
    6.25
    """
    _validate.tensor("a", a, ndim=2, floating=True)
    _validate.tensor("b", b, ndim=2, floating=True)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] == 0:
        raise ValueError("a and b must hold at least one pair, got an empty batch")
    _validate.positive("margin", margin, allow_zero=True)
    _validate.one_of("distance", distance, set(DISTANCES))
    y = torch.as_tensor(same, device=a.device)
    if y.shape != (a.shape[0],):
        raise ValueError(f"same must hold one flag per pair, shape ({a.shape[0]},), got {tuple(y.shape)}")
    if not torch.all((y == 0) | (y == 1)):
        raise ValueError("same must hold only 0/1 or False/True values")
    y = y.to(a.dtype)
    d = _pair_distance(a, b, distance)
    per_pair = y * d ** 2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2
    return per_pair.sum() / (2 * a.shape[0])


def triplet(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
            margin: float = 1.0, squared: bool = False) -> torch.Tensor:
    """The triplet loss: ``mean_i max(d(a_i, p_i) - d(a_i, n_i) + margin, 0)``, all inputs N x D.

    ``d`` is the plain (not squared) Euclidean distance: this is the form of PyTorch's
    ``torch.nn.functional.triplet_margin_loss`` (which adds 1e-6 inside the norm), and
    it agrees with it. FaceNet (Schroff et al., 2015, Eq. 1) writes the same hinge with
    *squared* distances, ``max(||a - p||^2 - ||a - n||^2 + margin, 0)`` on L2-normalised
    embeddings; pass ``squared=True`` for that form. The margin means different things in
    the two forms (a gap in distance, or in squared distance).

    >>> a = torch.zeros(1, 2); p = torch.tensor([[1.0, 0.0]]); n = torch.tensor([[2.0, 0.0]])
    >>> triplet(a, p, n, margin=0.5).item(), triplet(a, p, n, margin=0.5, squared=True).item()
    (0.0, 0.0)
    """
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _validate.tensor(name, t, ndim=2, floating=True)
    if not anchor.shape == positive.shape == negative.shape:
        raise ValueError(f"anchor, positive and negative must have the same shape, got "
                         f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}")
    if anchor.shape[0] == 0:
        raise ValueError("anchor must hold at least one triplet, got an empty batch")
    _validate.positive("margin", margin, allow_zero=True)
    if not isinstance(squared, bool):
        raise ValueError(f"squared must be True or False, got {squared!r}")
    d_pos = _pair_distance(anchor, positive, "euclidean")
    d_neg = _pair_distance(anchor, negative, "euclidean")
    if squared:   # FaceNet's Eq. 1
        d_pos, d_neg = d_pos ** 2, d_neg ** 2
    return torch.clamp(d_pos - d_neg + margin, min=0).mean()


def moco_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """MoCo's InfoNCE (He et al., 2020): each query against its key and a queue of negatives.

    ``q`` (N x D) come from the online encoder, ``k`` (N x D) from the momentum
    encoder (no gradient flows into them), ``queue`` (K x D) holds keys of
    earlier batches. All are L2-normalised here. For query i the logits are
    ``[q_i . k_i, q_i . queue_1, ..., q_i . queue_K] / t`` and the target is 0.
    ``temperature`` defaults to ``TEMPERATURES["moco"]``.
    """
    _validate.tensor("q", q, ndim=2, floating=True)
    _validate.tensor("k", k, ndim=2, floating=True)
    _validate.tensor("queue", queue, ndim=2, floating=True)
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same shape, got {tuple(q.shape)} and {tuple(k.shape)}")
    if queue.shape[1] != q.shape[1] or queue.shape[0] == 0:
        raise ValueError(f"queue must be K x {q.shape[1]} with K >= 1, got {tuple(queue.shape)}")
    temperature = temperature_of("moco", temperature)
    q, k, queue = F.normalize(q, dim=1), F.normalize(k.detach(), dim=1), F.normalize(queue.detach(), dim=1)
    logits = torch.cat([(q * k).sum(dim=1, keepdim=True), q @ queue.T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def negative_cosine(p: torch.Tensor, z: torch.Tensor, stop_gradient: bool = True) -> torch.Tensor:
    """SimSiam's loss D(p, z) = -mean_i cos(p_i, z_i) (Chen and He, 2021).

    With ``stop_gradient`` (the default, as in the paper) no gradient flows into
    ``z``; without it the method collapses, which chapter 3 measures.
    """
    _validate.tensor("p", p, ndim=2, floating=True)
    _validate.tensor("z", z, ndim=2, floating=True)
    if p.shape != z.shape:
        raise ValueError(f"p and z must have the same shape, got {tuple(p.shape)} and {tuple(z.shape)}")
    if stop_gradient:
        z = z.detach()
    return -F.cosine_similarity(p, z, dim=1).mean()


def masked_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked language modelling's loss (Devlin et al., 2019): cross-entropy over the
    positions whose label is not :data:`~sslbook.masking.IGNORE_INDEX`, averaged over them.

    ``logits`` N x L x V, ``labels`` N x L (the second output of
    :func:`~sslbook.masking.mask_tokens`).

    >>> labels = torch.full((1, 3), IGNORE_INDEX); labels[0, 1] = 2
    >>> round(masked_token_loss(torch.zeros(1, 3, 4), labels).item(), 4)  # log 4
    1.3863
    """
    _validate.tensor("logits", logits, ndim=3, floating=True)
    _validate.tensor("labels", labels, ndim=2, integer=True)
    if labels.shape != logits.shape[:2]:
        raise ValueError(f"labels must be N x L = {tuple(logits.shape[:2])} like logits, got {tuple(labels.shape)}")
    if not (labels != IGNORE_INDEX).any():
        raise ValueError(f"labels has no position to predict (every label is {IGNORE_INDEX})")
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


def clip_loss(image_z: torch.Tensor, text_z: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """CLIP's symmetric contrastive loss (Radford et al., 2021, Figure 3).

    ``image_z[i]`` and ``text_z[i]`` (both N x D) embed an image and its caption. After
    L2 normalisation, ``logits = image_z @ text_z.T / t``; each image must pick its own
    caption among the N captions (rows) and each caption its own image (columns):

        L = ( CE(logits, arange(N)) + CE(logits.T, arange(N)) ) / 2

    Unlike :func:`info_nce` the two sides are different modalities, so an image is never
    compared with another image. When the batch repeats a caption, its copies are
    negatives of each other: the loss cannot go below the mean log-count of each
    image's caption in the batch. ``temperature`` defaults to ``TEMPERATURES["clip"]``
    (CLIP learns it; it starts at 0.07).

    >>> z = torch.eye(4)
    >>> clip_loss(z, z, temperature=0.01).item() < 1e-6
    True
    """
    _validate.embedding_pair(image_z, text_z, why=_PAIR_NEED)
    temperature = temperature_of("clip", temperature)
    logits = F.normalize(image_z, dim=1) @ F.normalize(text_z, dim=1).T / temperature
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def info_nce_floor(n: int, temperature: float | None = None) -> float:
    """The lowest value :func:`info_nce` can take on a batch of ``n`` pairs (2n views).

    Per anchor the loss is ``log(1 + sum_k exp((s_k - s_pos) / t))`` over its 2n - 2
    negatives, a convex, symmetric function of the differences; by Jensen it is at least
    its value at their mean. Cosines are at most 1 and the 2n unit vectors satisfy
    ``|sum z|^2 >= 0``, which holds the mean negative cosine at or above ``-1/(n - 1)``
    when positives coincide. Hence

        L >= log(1 + (2n - 2) * exp(-(1 + 1/(n - 1)) / t)),

    reached when the two views of each sample coincide and the n samples form a regular
    simplex (pairwise cosine -1/(n - 1)), which needs a dimension of at least n - 1; in
    fewer dimensions it is a strict lower bound. ``temperature`` defaults to
    ``TEMPERATURES["simclr"]``. Chapter 4, section 4.4, derives it.

    >>> z = F.normalize(torch.eye(4) - 0.25, dim=1)        # a regular simplex of 4 points
    >>> abs(info_nce(z, z, 0.5).item() - info_nce_floor(4, 0.5)) < 1e-6
    True
    """
    _validate.positive_int("n", n, minimum=2)
    t = temperature_of("simclr", temperature)
    return math.log1p((2 * n - 2) * math.exp(-(1 + 1 / (n - 1)) / t))
