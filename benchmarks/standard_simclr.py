"""The field's standard SimCLR recipe for CIFAR-10, written with torchvision, as a baseline.

The settings are solo-learn's ``scripts/pretrain/cifar/simclr.yaml`` with its symmetric CIFAR
augmentations (read from the repository, reported in :data:`SETTINGS`): ResNet-18 with the CIFAR
stem (:func:`sslbook.models.cifar_resnet18`), a 2048 -> 256 projector, InfoNCE at tau 0.2,
batch 256, LARS (lr 0.4, eta 0.02, clipped, biases and norms excluded, weight decay 1e-4) with a
linear warm-up and a cosine decay, and per-sample torchvision transforms in a DataLoader: random
resized crops of 8-100%, colour jitter (0.8, 0.8, 0.8, 0.2) with probability 0.8, greyscale 0.2,
Gaussian blur 0.5, horizontal flip, CIFAR-10's mean and standard deviation. solo-learn trains it for
1,000 epochs on a GPU; here it runs for a wall-clock budget, and its schedule is sized by the
steps that budget buys (warm-up 1% of them, solo-learn's 10 of 1,000 epochs).

Nothing here imports the book's own recipe: this is the baseline the book's recipe is measured
against (benchmarks/cifar10.py, section (d)).
"""

from __future__ import annotations

import copy
import time

import torch
from PIL import Image, ImageFilter
from torch import nn
from torchvision import transforms as T

from sslbook import losses, models

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

#: solo-learn's settings (scripts/pretrain/cifar/simclr.yaml, augmentations/symmetric.yaml).
SETTINGS = {
    "source": "solo-learn scripts/pretrain/cifar/simclr.yaml + augmentations/symmetric.yaml",
    "backbone": "resnet18, CIFAR stem (3x3 stride-1 conv, no max-pool)", "proj_hidden_dim": 2048,
    "proj_output_dim": 256, "temperature": 0.2, "batch_size": 256, "optimizer": "lars", "lr": 0.4,
    "weight_decay": 1e-4, "eta": 0.02, "clip_lr": True, "exclude_bias_n_norm": True, "momentum": 0.9,
    "scheduler": "warmup_cosine (warm-up 1% of the steps)", "crop_scale": [0.08, 1.0],
    "color_jitter": {"prob": 0.8, "brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2},
    "grayscale_prob": 0.2, "gaussian_blur_prob": 0.5, "horizontal_flip_prob": 0.5, "epochs_in_solo_learn": 1000,
    "precision": "float32 here (solo-learn trains in 16-bit mixed precision on GPUs)",
}


class RandomGaussianBlur:
    """PIL Gaussian blur with a radius drawn from [0.1, 2.0], applied with probability ``p``
    (SimCLR's blur as solo-learn writes it for PIL images)."""

    def __init__(self, p: float = 0.5, sigma=(0.1, 2.0)):
        self.p, self.sigma = p, sigma

    def __call__(self, img: Image.Image) -> Image.Image:
        if torch.rand(()) >= self.p:
            return img
        radius = float(torch.empty(()).uniform_(*self.sigma))
        return img.filter(ImageFilter.GaussianBlur(radius=radius))


def views() -> T.Compose:
    """One view of a PIL image, with solo-learn's symmetric CIFAR augmentations."""
    jitter = SETTINGS["color_jitter"]
    return T.Compose([
        T.RandomResizedCrop(32, scale=tuple(SETTINGS["crop_scale"]), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomApply([T.ColorJitter(jitter["brightness"], jitter["contrast"], jitter["saturation"], jitter["hue"])],
                      p=jitter["prob"]),
        T.RandomGrayscale(p=SETTINGS["grayscale_prob"]),
        RandomGaussianBlur(p=SETTINGS["gaussian_blur_prob"]),
        T.RandomHorizontalFlip(p=SETTINGS["horizontal_flip_prob"]),
        T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ])


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor):
        self.pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
        self.view = views()

    def __len__(self):
        return len(self.pil)

    def __getitem__(self, i):
        return self.view(self.pil[i]), self.view(self.pil[i])


def loader(images: torch.Tensor, batch_size: int, workers: int, seed: int) -> torch.utils.data.DataLoader:
    """Pairs of views of uint8 images (N x 3 x 32 x 32) in shuffled batches, per-sample transforms
    in ``workers`` processes."""
    return torch.utils.data.DataLoader(_Pairs(images), batch_size=batch_size, shuffle=True, drop_last=True,
                                       num_workers=workers, persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(seed))


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose step of each weight tensor is scaled by a layer-wise trust ratio
    ``eta ||w|| / (||g|| + wd ||w||)`` (You et al., 2017), clipped at 1 relative to the learning
    rate (``clip_lr``); one-dimensional tensors (biases, norms) are neither scaled nor decayed."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.02,
                 clip_lr: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, clip_lr=clip_lr))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.ndim > 1:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = p.norm(), p.grad.norm()
                    denom = g_norm + group["weight_decay"] * w_norm
                    if w_norm > 0 and denom > 0:
                        trust = group["eta"] * w_norm / denom
                        if group["clip_lr"]:
                            trust = torch.clamp(trust / group["lr"], max=1.0)
                        g = g * trust
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])


def warmup_cosine(optimizer, steps: int, warmup: int, start_lr: float = 3e-5):
    """Linear warm-up from ``start_lr`` to the optimizer's lr over ``warmup`` steps, then cosine to 0."""
    base = optimizer.param_groups[0]["lr"]
    first = start_lr / base
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=first, total_iters=max(1, warmup)),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps - warmup)),
    ], milestones=[max(1, warmup)])


class Normalised(nn.Module):
    """The encoder as it is evaluated: CIFAR-10's normalisation, then the ResNet (input in [0, 1])."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR10_STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.encoder((x - self.mean) / self.std)


def model(seed: int) -> nn.Module:
    """A fresh ResNet-18 (CIFAR stem) with solo-learn's SimCLR projector (Linear, ReLU, Linear; no
    batch norm), seeded."""
    torch.manual_seed(seed)
    projector = nn.Sequential(nn.Linear(512, SETTINGS["proj_hidden_dim"]), nn.ReLU(),
                              nn.Linear(SETTINGS["proj_hidden_dim"], SETTINGS["proj_output_dim"]))
    return models.SimCLRModel(models.cifar_resnet18(), projector)


def pretrain(images: torch.Tensor, seconds: float, *, steps: int, snapshots: int = 4, workers: int = 2,
             seed: int = 0) -> dict:
    """Train the recipe for ``seconds`` of wall clock (data loading included) on uint8 ``images``,
    with a schedule sized for ``steps`` steps (measure the speed with a short run of this function);
    stops at whichever comes first. Returns the evaluated encoder (:class:`Normalised`), ``snapshots``
    copies of it taken at equal shares of the time with their seconds, and the record of the run."""
    net = model(seed).train()
    batch_size = min(SETTINGS["batch_size"], len(images))
    opt = LARS(net.parameters(), lr=SETTINGS["lr"] * batch_size / 256, weight_decay=SETTINGS["weight_decay"],
               eta=SETTINGS["eta"])
    sched = warmup_cosine(opt, steps, warmup=max(1, steps // 100))
    marks = [seconds * (i + 1) / snapshots for i in range(snapshots)]
    taken, losses_seen, done = [], [], 0
    start = time.perf_counter()                           # the loader's start-up counts too
    batches = loader(images, batch_size, workers, seed)   # built once: a new shuffle every epoch
    while done < steps and marks:
        for v1, v2 in batches:
            loss = losses.info_nce(*net(torch.cat([v1, v2])).chunk(2), SETTINGS["temperature"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            losses_seen.append(round(loss.item(), 4))
            elapsed = time.perf_counter() - start
            while marks and (elapsed >= marks[0] or done == steps):
                taken.append({"seconds": round(elapsed, 1), "step": done,
                              "encoder": Normalised(copy.deepcopy(net.encoder)).eval()})
                marks.pop(0)
                if done == steps:
                    marks.clear()
            if not marks or done >= steps:
                break
    seconds_used = time.perf_counter() - start
    return {"encoder": taken[-1]["encoder"], "snapshots": taken,
            "meta": {"steps": done, "planned_steps": steps, "seconds": round(seconds_used, 1),
                     "epochs": round(done * batch_size / len(images), 2), "views_per_s": round(2 * done * batch_size /
                                                                                            seconds_used, 1),
                     "final_loss": losses_seen[-1] if losses_seen else None, "settings": SETTINGS}}
