"""Concept formation on digits at a fixed CPU budget.

Trains chapter 2's SimCLR recipe for a fixed number of seconds, then measures
k-means NMI, the 5-labels-per-class linear probe and kNN accuracy on the
held-out digits for raw pixels, the same encoder at random initialisation and
the SimCLR encoder. Prints a table and writes JSON.

    .venv/bin/python benchmarks/concepts.py [--seconds 45] [--out benchmarks/results/concepts.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

import sslbook
from _common import machine, write_json
from sslbook import data, evaluate, models, recipes


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="SimCLR training budget in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "concepts.json"))
    args = parser.parse_args(argv)

    sslbook.seed_everything(args.seed)
    digits = data.load_digits()
    torch.manual_seed(args.seed)
    random_encoder = models.SmallCNN(1, feature_dim=128)
    start = time.perf_counter()
    run = recipes.pretrain("digits", digits.x_train, "simclr", recipes.DIGITS, seconds=args.seconds,
                           seed=args.seed, progress=False)
    model, history = run.model, run.history
    train_seconds = time.perf_counter() - start
    reps = {
        "raw pixels": (digits.x_train, digits.x_test),
        "random-init encoder": (evaluate.embed(random_encoder, digits.x_train), evaluate.embed(random_encoder, digits.x_test)),
        "SimCLR encoder": (evaluate.embed(model.encoder, digits.x_train), evaluate.embed(model.encoder, digits.x_test)),
    }
    report = evaluate.concept_report(reps, digits.y_train, digits.y_test, per_class=5, seed=args.seed)

    print(f"SimCLR on digits: {history.steps} steps in {train_seconds:.1f} s "
          f"({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})")
    print(f"| {'features (held-out digits)':26s} | k-means NMI | 5-label probe | kNN (k=5) |")
    print(f"| {'-' * 26} | ----------- | ------------- | --------- |")
    for name, r in report.items():
        print(f"| {name:26s} | {r['nmi']:11.3f} | {r['probe']:.3f} ± {r['probe_std']:.3f} | {r['knn']:9.3f} |")

    result = {"benchmark": "concepts", "budget_seconds": args.seconds, "steps": history.steps,
              "train_seconds": train_seconds, "final_loss": history.smoothed()[-1],
              **machine(), "seed": args.seed, "results": report}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
