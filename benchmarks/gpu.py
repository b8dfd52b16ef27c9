"""The `full` recipe on CUDA GPUs for a fixed time: views per second, and kNN at the end.

SimCLR on CIFAR-10 with the full budget's recipe (``sslbook.recipes.RECIPES["full"]``: the CIFAR
ResNet-18, a global batch of 512 images, AdamW with a one-cycle schedule, the recipe's views and
temperature) for ``--minutes`` of training: the forward pass under bfloat16 autocast where the GPU
computes it (the recipe's precision "auto"), channels-last memory, the views drawn on the GPU
(``sslbook.augment`` works on the device's tensors), ``torch.compile`` with ``--compile``.

The schedule is sized by steps, not by a guess of the time: the first ``--warmup-steps`` steps
(compilation and cuDNN's tuning included; the learning rate is 0, so they change no weight) measure
the rate, and the one-cycle schedule is sized to the steps that fit in the rest of the minutes at
that rate. A schedule sized by a time guess stops early or stalls at its end.

At the end it prints the views per second (summed over processes) and the kNN accuracy (k=20,
cosine, ``sslbook.evaluate.knn_accuracy``) of the encoder on the test split, the training split as
memory, and writes JSON. It refuses to start without CUDA. Under ``torchrun`` every process trains
on its own GPU (``sslbook.distributed``) with its share of each global batch; rank 0 alone
evaluates and writes:

    .venv/bin/python benchmarks/gpu.py [--minutes 5] [--compile] [--root PATH] [--out PATH]
    torchrun --standalone --nproc_per_node=N benchmarks/gpu.py --minutes 5 --compile
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

import torch
from _common import machine, write_json

import sslbook
from sslbook import cifar, distributed, evaluate, models, precision, recipes, train

# -- settings ------------------------------------------------------------------------------------
MINUTES = 5.0            # training time, warm-up included (the kNN evaluation comes after)
WARMUP_STEPS = 30        # steps that measure the rate; the rate is that of their second half
MARGIN = 0.97            # plan this share of the steps the measured rate allows
KNN_K = 20
LOG_EVERY = 50           # read the loss every this many steps (each read waits for the GPU)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "gpu.json")
NO_CUDA = ("benchmarks/gpu.py measures the full recipe on CUDA GPUs, and torch.cuda.is_available() is False "
           "here. On a CPU, benchmarks/cifar10.py measures the quick recipe.")


def planned_steps(seconds_left: float, steps_per_second: float, margin: float = MARGIN) -> int:
    """The steps that fit in ``seconds_left`` at ``steps_per_second``, times ``margin`` (at least 1).

    >>> planned_steps(100.0, 2.0, margin=0.9)
    180
    """
    for name, value in (("seconds_left", seconds_left), ("steps_per_second", steps_per_second)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], got {margin!r}")
    return max(1, math.floor(seconds_left * steps_per_second * margin))


def parse(argv=None) -> argparse.Namespace:
    """The command line, validated (``parser.error``: exit code 2 and a message naming the option)."""
    parser = argparse.ArgumentParser(prog="benchmarks/gpu.py", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=MINUTES, help="training time, warm-up included")
    parser.add_argument("--warmup-steps", type=int, default=WARMUP_STEPS, help="steps that measure the rate")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--root", default=None, help="CIFAR-10 image-folder tree or .tar.gz (else $SSLBOOK_CIFAR10)")
    parser.add_argument("--out", default=OUT, help="the JSON file (rank 0 writes it)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        parser.error(f"--minutes must be a positive number of minutes, got {args.minutes}")
    if args.warmup_steps < 4:
        parser.error(f"--warmup-steps must be at least 4 (the rate is measured on the second half), "
                     f"got {args.warmup_steps}")
    return args


def _now(dev: torch.device) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)         # the GPU runs behind the Python code: wait for it
    return time.perf_counter()


def _over_processes(value: float, op, dev: torch.device) -> float:
    """``value`` reduced over the processes (sum or min); itself with one process."""
    if not distributed.is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=dev)
    torch.distributed.all_reduce(t, op=op)
    return float(t)


def run(images: torch.Tensor, rec: recipes.Recipe, dev: torch.device, minutes: float,
        warmup_steps: int = WARMUP_STEPS, compiled: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train SimCLR with ``rec`` on ``images`` (N x 3 x H x W in [0, 1], already on ``dev``) for
    about ``minutes``; returns the model (unwrapped) and the record. Any device: the tests run it
    on the CPU, :func:`main` on a GPU."""
    began = time.perf_counter()
    world, rank = distributed.world_size(), distributed.rank()
    if rec.batch_size % world:
        raise ValueError(f"the batch size ({rec.batch_size}) must be divisible by the number of processes ({world})")
    share, mode, seed = rec.batch_size // world, precision.resolve(rec.precision, dev), sslbook.seed(0)
    torch.manual_seed(seed)                   # the same initial weights in every process
    encoder = models.encoder(rec.arch)
    raw = models.SimCLRModel(encoder, models.ProjectionHead(encoder.feature_dim, out_dim=rec.out_dim)).to(dev)
    if rec.channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    model = distributed.wrap(torch.compile(raw) if compiled else raw)
    views = recipes.VIEWS[rec.views](**({} if rec.crop_scale is None else {"crop_scale": rec.crop_scale}))
    g_idx, g_aug = torch.Generator().manual_seed(seed), torch.Generator(device=dev).manual_seed(seed + rank)
    step = train.simclr_step(model, images, views, rec.temperature_for("simclr"), g_aug, gather=world > 1,
                             precision=mode, channels_last=rec.channels_last)
    batches = (i[rank * share:(rank + 1) * share].to(dev, non_blocking=True)
               for i in train.shuffled_batches(len(images), rec.batch_size, g_idx))

    def steps(optimizer, n, scheduler=None, log=None):
        for i in range(n):
            loss = step(next(batches))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if log is not None and (i % LOG_EVERY == 0 or i == n - 1):
                log.append(round(loss.item(), 4))
        return lr

    # Warm-up: compile, tune, measure. At learning rate 0 AdamW changes no weight (nor decays it).
    raw.train()
    steps(torch.optim.AdamW(model.parameters(), lr=0.0), warmup_steps // 2)
    t0 = _now(dev)
    steps(torch.optim.AdamW(model.parameters(), lr=0.0), warmup_steps - warmup_steps // 2)
    rate = (warmup_steps - warmup_steps // 2) / (_now(dev) - t0)
    left = max(minutes * 60 - (time.perf_counter() - began), 1.0)
    n = int(_over_processes(planned_steps(left, rate), torch.distributed.ReduceOp.MIN, dev))  # the same n for all

    optimizer = torch.optim.AdamW(model.parameters(), lr=rec.lr, weight_decay=rec.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=rec.lr, total_steps=n)
    log: list[float] = []
    t0 = _now(dev)
    last_lr = steps(optimizer, n, scheduler, log)             # the schedule's end: max_lr / 25 / 1e4
    seconds = _now(dev) - t0
    raw.eval()
    views_per_s = _over_processes(2 * share * n / seconds, torch.distributed.ReduceOp.SUM, dev)
    return raw, {"processes": world, "precision": mode, "channels_last": rec.channels_last, "compile": compiled,
                 "warmup_steps": warmup_steps, "warmup_steps_per_s": round(rate, 3), "steps": n,
                 "epochs": round(n * rec.batch_size / len(images), 2), "train_seconds": round(seconds, 3),
                 "seconds_with_warmup": round(time.perf_counter() - began, 1),
                 "views_per_s": round(views_per_s, 1), "loss": log, "last_step_lr": last_lr}


def main(argv=None) -> int:
    args = parse(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 1
    started = distributed.start()            # under torchrun: this process's GPU, then NCCL
    dev, rank = distributed.device(), distributed.rank()
    torch.backends.cudnn.benchmark = True     # fixed shapes: let cuDNN pick its fastest convolutions
    rec = recipes.recipe("full")
    with distributed.rank_zero_first():       # rank 0 decodes and caches CIFAR-10, the others read it
        x_train, y_train = cifar.cifar10("train", root=args.root)
        x_test, y_test = cifar.cifar10("test", root=args.root)
    images = x_train.to(dev).float() / 255
    model, result = run(images, rec, dev, args.minutes, args.warmup_steps, compiled=args.compile)
    if rank == 0:
        # kNN (k=20, cosine): the training split as memory, the test split as queries, float32 features.
        train_h = evaluate.embed(model.encoder, images)
        test_h = evaluate.embed(model.encoder, x_test.to(dev).float() / 255)
        knn = evaluate.knn_accuracy(train_h, y_train, test_h, y_test, k=KNN_K)
        print(f"{result['processes']} x {torch.cuda.get_device_name(dev)}, precision {result['precision']}, "
              f"channels-last {result['channels_last']}, compile {result['compile']}: {result['steps']} steps "
              f"({result['epochs']} epochs) in {result['train_seconds']:.0f} s after the warm-up; "
              f"{result['views_per_s']:,.0f} views/s; loss {result['loss'][0]:.3f} -> {result['loss'][-1]:.3f}; "
              f"kNN (k={KNN_K}) {knn:.3f}")
        write_json({"benchmark": "gpu", **machine(), "gpu": torch.cuda.get_device_name(dev),
                    "recipe": "full", "settings": dataclasses.asdict(rec), "minutes": args.minutes, **result,
                    f"knn{KNN_K}": round(knn, 4), "train_images": len(images), "test_images": len(x_test)}, args.out)
    if started:
        distributed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
