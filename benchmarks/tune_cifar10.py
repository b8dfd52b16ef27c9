"""Choosing the quick recipe's settings on the validation split, never on the test split.

Each setting of a small grid (crop scale x temperature x learning rate by default) pre-trains
chapter 5's small CNN with the quick recipe for --steps SimCLR steps on the training images
outside the validation split (sslbook.cifar.cifar10_validation, which never reads the test split),
at --seeds seeds, and is scored by kNN (k = 20, cosine) against a bank of labelled training images
on the validation images. The table gives each setting's mean and its t interval over the seeds
(sslbook.stats), the best setting, and the paired difference from the recipe's current one.

    SSLBOOK_CIFAR10=/path/to/cifar10-jpg.tar.gz SSLBOOK_PROGRESS=0 \\
        .venv/bin/python benchmarks/tune_cifar10.py [--steps 800] [--seeds 0 1] [--out ...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import torch
from _common import machine, write_json

import sslbook
from sslbook import cifar, data, recipes, stats


def grid(crops, temperatures, lrs) -> list[dict]:
    """Every combination, as recipe changes."""
    return [{"crop_scale": (c, 1.0), "temperature": {"simclr": t}, "lr": lr}
            for c, t, lr in itertools.product(crops, temperatures, lrs)]


def label(change: dict) -> str:
    return (f"crops {change['crop_scale'][0]:g}-1, tau {change['temperature']['simclr']:g}, "
            f"lr {change['lr']:g}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800, help="SimCLR steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--crops", type=float, nargs="+", default=[0.08, 0.2], help="lower crop scales")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-3])
    parser.add_argument("--train-subset", type=int, default=None, help="training images (default: all 45,000)")
    parser.add_argument("--bank-per-class", type=int, default=1000)
    parser.add_argument("--validation-size", type=int, default=cifar.VALIDATION_SIZE)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "tune_cifar10.json"))
    args = parser.parse_args(argv)
    began = time.perf_counter()
    sslbook.seed_everything(0)
    (x_fit, y_fit), (x_val, y_val) = cifar.cifar10_validation(size=args.validation_size)
    keep = torch.randperm(len(x_fit), generator=torch.Generator().manual_seed(0))[: args.train_subset].sort().values
    x_fit, y_fit = x_fit[keep], y_fit[keep]                   # a random share (the tree is sorted by class)
    fit_f, val_f = x_fit.float() / 255, x_val.float() / 255
    known = data.few_labels(y_fit, min(args.bank_per_class, int(torch.bincount(y_fit).min())), seed=0)
    track = recipes.knn_tracker(fit_f[known], y_fit[known], val_f, y_val, k=min(20, len(known)))
    quick = recipes.recipe("quick")
    current = {"crop_scale": quick.crop_scale, "temperature": {"simclr": quick.temperature_for("simclr")},
               "lr": quick.lr}
    settings = grid(args.crops, args.temperatures, args.lrs)
    if current not in settings:
        settings.append(current)
    rows = []
    for change in settings:
        scores = []
        for seed in args.seeds:
            run = recipes.pretrain("small", fit_f, "simclr", quick.replace(**change), steps=args.steps, seed=seed,
                                   progress=False)
            scores.append(next(iter(track(run.model.encoder).values())))
        if len(scores) > 1:
            e = stats.t_interval(scores)
            summary = {"mean": round(e.mean, 4), "low": round(e.low, 4), "high": round(e.high, 4)}
        else:
            summary = {"mean": scores[0], "low": None, "high": None}
        rows.append({"setting": label(change), "change": {**change, "crop_scale": list(change["crop_scale"])},
                     "current": change == current, "knn_per_seed": scores, **summary})
    best = max(rows, key=lambda r: r["mean"])
    now = next(r for r in rows if r["current"])
    print(f"{args.steps} SimCLR steps per run on {len(x_fit)} training images, seeds {args.seeds}; "
          f"kNN (k=20) on {len(y_val)} validation images against {len(known)} labelled training images")
    print("| setting | kNN per seed | mean | t interval |\n| --- | --- | --- | --- |")
    for r in rows:
        ci = f"{r['low']:.3f}-{r['high']:.3f}" if r["low"] is not None else "one seed"
        print(f"| {r['setting']}{' (current)' if r['current'] else ''} | "
              + ", ".join(f"{v:.3f}" for v in r["knn_per_seed"]) + f" | {r['mean']:.3f} | {ci} |")
    print(f"best on the validation split: {best['setting']} (mean {best['mean']:.3f}; current {now['mean']:.3f})")
    verdict = None
    if best is not now and len(args.seeds) > 1:
        c = stats.paired(best["knn_per_seed"], now["knn_per_seed"])     # same seeds: paired
        verdict = c.describe(unit="seeds")
        print(f"best - current: {verdict}")
    result = {"benchmark": "tune_cifar10", **machine(), "scored_on": "validation split; the test split is never read",
              "steps": args.steps, "seeds": args.seeds, "fit_images": len(x_fit), "validation_images": len(y_val),
              "rows": rows, "best": best["setting"], "current": now["setting"], "best_minus_current": verdict,
              "total_seconds": round(time.perf_counter() - began, 1)}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
