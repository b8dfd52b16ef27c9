"""Every family of chapter 3d pre-trained the same way: one function, :func:`pretrain`.

The families differ only in what they ask of two views of an image:

- ``"simclr"``: contrastive, the other images of the batch as negatives (:func:`~sslbook.losses.info_nce`);
- ``"barlow_twins"`` and ``"vicreg"``: redundancy reduction, no negatives
  (:func:`~sslbook.families.barlow_twins`, :func:`~sslbook.families.vicreg`);
- ``"swav"``: online clustering, each view predicting the other's Sinkhorn code over learned
  prototypes (:func:`~sslbook.families.swav`);
- ``"dino"``: self-distillation from a momentum teacher, centred and sharpened
  (:func:`~sslbook.families.dino`), and two ablations of it: ``"dino-no-centring"`` (the centre
  stays 0) and ``"dino-no-sharpening"`` (the teacher's temperature equals the student's).

Everything else is shared, so that a comparison is at equal settings: the encoder, a
projection head (:class:`~sslbook.models.ProjectionHead`), the views, the batch, the number of
steps, AdamW with one one-cycle schedule. DINO and SwAV carry what their method needs on top
(a momentum teacher; prototypes), and DINO's teacher costs one more forward pass per step.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from . import _validate, augment, config, families, losses, models
from .checkpoints import record
from .train import Pretrained, adamw_one_cycle, fit, shuffled_batches

#: The methods :func:`pretrain` trains.
METHODS = ("simclr", "barlow_twins", "vicreg", "swav", "dino", "dino-no-centring", "dino-no-sharpening")

#: DINO's student temperature and its teacher's (Caron et al., 2021: 0.1; the teacher's 0.04, the official code's
#: default, which the paper warms up to 0.07 over 30 epochs; no warm-up here).
DINO_TEMPS = (0.1, 0.04)


class _SwAVHead(nn.Module):
    """K prototypes (rows of ``weight``), normalised inside ``forward`` (the gradient goes through the
    normalisation; the official code renormalises the weights after each step instead):
    ``scores = normalize(z) @ normalize(C).T``."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(k, dim) / dim ** 0.5)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T


def _ema(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    with torch.no_grad():
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)
        for t, s in zip(teacher.buffers(), student.buffers()):
            t.copy_(s)


def pretrain(images: torch.Tensor, method: str, *, arch: str = "digits", steps: int = 200, batch_size: int = 128,
             lr: float = 3e-3, out_dim: int = 64, prototypes: int = 30, momentum: float = 0.99,
             views: augment.RandomViews | None = None, seed: int | None = None, progress: bool = False) -> Pretrained:
    """Pre-train a fresh ``arch`` encoder on unlabelled ``images`` (N x C x H x W in [0, 1]) with ``method``
    (:data:`METHODS`), every method with the same head (``out_dim`` outputs), ``views`` (by default
    :func:`~sslbook.augment.digit_views`), batch, ``steps`` and AdamW at ``lr`` with a one-cycle schedule.
    SwAV scores the head's outputs against ``prototypes`` learned unit vectors; DINO's teacher is the
    student's momentum copy (``momentum``), its outputs (``out_dim`` logits) centred by
    :func:`~sslbook.families.dino_center` and sharpened by the temperatures :data:`DINO_TEMPS`.
    ``seed`` (by default :func:`sslbook.config.seed` ``(0)``) fixes the initial weights, the order and the
    views. The DINO methods also record, every step, the teacher's mean entropy and the KL divergence
    from the teacher's to the student's distribution (``history.values["teacher_entropy"]``, ``["kl"]``),
    the two signals with which Caron et al. (2021, Fig. 7) tell the two collapses apart, and how much the
    teacher's output depends on the image (``["teacher_mi"]``, the entropy of its batch-mean distribution
    minus its mean entropy: 0 when every image gets the same distribution, whatever the temperature). Returns a :class:`~sslbook.train.Pretrained` (``model.encoder`` is the representation;
    ``meta["method"]`` names the method).

        >>> run = pretrain(torch.rand(64, 1, 8, 8), "vicreg", steps=2, batch_size=32)
        >>> run.history.steps, run.meta["method"]
        (2, 'vicreg')
    """
    _validate.one_of("method", method, set(METHODS))
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("steps", steps)
    _validate.positive_int("batch_size", batch_size, minimum=2)
    _validate.positive("lr", lr)
    _validate.positive_int("out_dim", out_dim)
    _validate.positive_int("prototypes", prototypes, minimum=2)
    _validate.in_range("momentum", momentum, 0, 1)
    seed = config.or_seed(seed)
    torch.manual_seed(seed)
    encoder = models.encoder(arch)
    model = models.SimCLRModel(encoder, models.ProjectionHead(encoder.feature_dim, out_dim=out_dim))
    extra = nn.ModuleList()
    if method == "swav":
        extra.append(_SwAVHead(out_dim, prototypes))
    views = augment.digit_views() if views is None else views
    g_idx, g_aug = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    teacher = copy.deepcopy(model).requires_grad_(False) if method.startswith("dino") else None
    center = torch.zeros(out_dim)
    student_temp, teacher_temp = DINO_TEMPS
    if method == "dino-no-sharpening":
        teacher_temp = student_temp

    def step(idx: torch.Tensor):
        nonlocal center
        v1, v2 = views.pair(images[idx], g_aug)
        z1, z2 = model(torch.cat([v1, v2])).chunk(2)
        if method == "simclr":
            return losses.info_nce(z1, z2)
        if method == "barlow_twins":
            return families.barlow_twins(z1, z2, eps=1e-5)   # BatchNorm1d's eps: a constant feature is no error
        if method == "vicreg":
            return families.vicreg(z1, z2)
        if method == "swav":
            return families.swav(extra[0](z1), extra[0](z2))
        _ema(teacher, model, momentum)   # the teacher follows the student (from the previous step's weights)
        with torch.no_grad():
            t = torch.stack(teacher(torch.cat([v1, v2])).chunk(2))
        loss = families.dino(torch.stack([z1, z2]), t, center, student_temp, teacher_temp)
        with torch.no_grad():   # DINO's Fig. 7 signals: the teacher's entropy and KL(teacher || student)
            p_t = F.softmax((t - center) / teacher_temp, dim=-1)
            log_s = F.log_softmax(torch.stack([z2, z1]).detach() / student_temp, dim=-1)
            entropy = -(p_t * p_t.clamp_min(1e-12).log()).sum(-1).mean()
            kl = (p_t * (p_t.clamp_min(1e-12).log() - log_s)).sum(-1).mean()
            # how much the teacher's output depends on the image: H(mean p) - mean H(p), the mutual information
            # between image and output; 0 in both collapses (the same distribution for every image)
            mean_p = p_t.reshape(-1, p_t.shape[-1]).mean(0)
            depends = -(mean_p * mean_p.clamp_min(1e-12).log()).sum() - entropy
        if method != "dino-no-centring":
            center = families.dino_center(center, t)
        return {"loss": loss, "teacher_entropy": float(entropy), "kl": float(kl), "teacher_mi": float(depends)}

    params = [*model.parameters(), *extra.parameters()]
    optimizer, scheduler = adamw_one_cycle(params, lr, steps)
    batch_size = min(batch_size, len(images))
    history = fit(step, shuffled_batches(len(images), batch_size, g_idx), optimizer, steps=steps,
                  scheduler=scheduler, model=model, progress=progress, desc=method)
    model.eval()
    return Pretrained(model, history, record(history, len(images), batch_size, method=method, lr=lr,
                                             out_dim=out_dim))
