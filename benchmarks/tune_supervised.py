"""Tuning the supervised baselines on the validation split, with a budget like the SimCLR recipe's.

benchmarks/tune_cifar10.py chose SimCLR's settings from a 2 x 2 grid at 2 seeds, scored on the
validation split. The supervised baselines chapter 5 compares SimCLR with get a comparable budget
(not the same protocol: chapter 5 says how the two differ): for each
label count of the quick recipe (10, 100 and 1,000 labels per class), a 2 x 2 grid of
optimiser (the article's Adam at a constant 1e-3, or the pre-training's AdamW one-cycle at 3e-3)
x lower crop scale (0.08 or 0.2, as in SimCLR's grid), at seeds 0 and 1. Seed r draws its labelled
images with draw r from the 45,000 training images outside the validation split and initialises
the network with the book's seed r, as ``python -m sslbook.recipes`` does for its run r. Each run is
scored by accuracy on the 5,000 validation images; the test split is never read. The table gives
each setting's mean and t interval over the seeds (sslbook.stats), and the best per label count.

    SSLBOOK_CIFAR10=/path/to/cifar10-jpg.tar.gz SSLBOOK_PROGRESS=0 \\
        .venv/bin/python benchmarks/tune_supervised.py [--seeds 0 1] [--out ...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

from _common import machine, write_json

import sslbook
from sslbook import cifar, config, data, models, recipes, stats

OPTIMISERS = {"Adam 1e-3 constant": {"supervised_schedule": "constant", "supervised_lr": 1e-3},
              "AdamW 3e-3 one-cycle": {"supervised_schedule": "one-cycle", "supervised_lr": 3e-3}}


def grid(crops) -> list[tuple[str, dict]]:
    """Every optimiser x crop scale, as a label and recipe changes."""
    return [(f"{name}, crops {c:g}-1", {**opt, "supervised_crop_scale": (c, 1.0)})
            for (name, opt), c in itertools.product(OPTIMISERS.items(), crops)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--crops", type=float, nargs="+", default=[0.08, 0.2], help="lower crop scales")
    parser.add_argument("--counts", type=int, nargs="+", default=None,
                        help="labels per class (default: every count of the quick recipe)")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: the recipe's for each count)")
    parser.add_argument("--validation-size", type=int, default=cifar.VALIDATION_SIZE)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "tune_supervised.json"))
    args = parser.parse_args(argv)
    began = time.perf_counter()
    sslbook.seed_everything(0)
    (x_fit, y_fit), (x_val, y_val) = cifar.cifar10_validation(size=args.validation_size)
    fit_f, val_f = x_fit.float() / 255, x_val.float() / 255
    quick = recipes.recipe("quick")
    counts = args.counts or list(quick.supervised_steps)
    tables = {}
    for per_class in counts:
        steps = args.steps or quick.supervised_steps[per_class]
        rows = []
        for name, change in grid(args.crops):
            rec = quick.replace(**change)
            scores, seconds = [], 0.0
            for r in args.seeds:
                idx = data.few_labels(y_fit, per_class, seed=r)
                net = models.classifier(rec.arch)
                done = recipes.train_supervised(net, fit_f[idx], y_fit[idx], rec, steps=steps,
                                                seed=config.seed(r), progress=False)
                seconds += done["seconds"]
                scores.append(recipes.accuracy(net, val_f, y_val))
            e = stats.t_interval(scores)
            rows.append({"setting": name, "change": {**change, "supervised_crop_scale": list(change["supervised_crop_scale"])},
                         "accuracy_per_seed": scores, "mean": round(e.mean, 4), "low": round(e.low, 4),
                         "high": round(e.high, 4), "seconds": round(seconds, 1)})
            print(f"{per_class} labels/class | {name} | " + ", ".join(f"{v:.3f}" for v in scores)
                  + f" | {e.mean:.3f} [{e.low:.3f}, {e.high:.3f}] | {seconds:.0f} s", flush=True)
        best = max(rows, key=lambda r: r["mean"])
        article = next(r for r in rows if r["setting"] == grid(args.crops)[0][0])
        verdict = None
        if best is not article:
            verdict = stats.paired(best["accuracy_per_seed"], article["accuracy_per_seed"]).describe(unit="seeds")
        tables[str(per_class)] = {"steps": steps, "rows": rows, "best": best["setting"],
                                  "best_change": best["change"], "article": article["setting"],
                                  "best_minus_article": verdict}
        print(f"{per_class} labels/class: best on the validation split {best['setting']} "
              f"({best['mean']:.3f}; the article's {article['mean']:.3f}; best - article: {verdict})", flush=True)
    result = {"benchmark": "tune_supervised", **machine(), "scored_on": "validation split; the test split is never read",
              "seeds": args.seeds, "fit_images": len(x_fit), "validation_images": len(y_val), "counts": tables,
              "total_seconds": round(time.perf_counter() - began, 1)}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
