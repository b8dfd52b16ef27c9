"""The command line that trains the checkpoints the book ships, ``python -m sslbook.recipes``
(also under ``torchrun``; ``python -m sslbook.cli`` is the same). The recipes themselves, and
:func:`~sslbook.recipes.pretrain`, are in :mod:`sslbook.recipes`.

    python -m sslbook.recipes --out sslbook/weights     # the shipped, quick ones (checkpoints.shipped())
    SSLBOOK_BUDGET=full python -m sslbook.recipes --out ~/ckpt   # ResNet-18, on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from . import cifar, config, data, distributed, domains, models, recipes, seed_everything, text
from .checkpoints import save_checkpoint


def main(argv=None) -> int:
    """Train the checkpoints of the current budget and write them to ``--out``.

    Every checkpoint is trained on the 45,000 training images outside the validation split
    (:func:`sslbook.cifar.validation_split`); its learning curve and its ``validation`` score are
    measured on the 5,000 held-out ones (kNN, k = 20, against 1,000 labelled images per class of the
    training part; the classifiers' accuracy). The test split is read once, after all training,
    and scores each checkpoint once (``meta["test"]``): nothing here is chosen by it.
    """
    parser = argparse.ArgumentParser(prog="python -m sslbook.recipes", description=main.__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the .pt files (the chapters read sslbook/weights)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="kinds to train, e.g. simclr moco supervised-10 (default: all of the recipe)")
    parser.add_argument("--root", default=None, help="CIFAR-10 image-folder tree or .tar.gz (else $SSLBOOK_CIFAR10)")
    parser.add_argument("--steps", type=int, default=None, help="pre-training steps (default: the recipe's)")
    parser.add_argument("--validation-size", type=int, default=cifar.VALIDATION_SIZE,
                        help=f"training images held out for the learning curve and the validation scores "
                             f"(default {cifar.VALIDATION_SIZE:,}; smaller only for a small image tree)")
    parser.add_argument("--no-track", dest="track", action="store_false",
                        help="skip the kNN learning curve (on the validation split) recorded in each pre-training checkpoint")
    parser.add_argument("--chosen-by", default=None,
                        help="the JSON that benchmarks/tune_cifar10.py wrote: its validation table is recorded in the "
                             "SimCLR checkpoint (meta['chosen_by']); refused unless the recipe uses its best setting")
    parser.add_argument("--supervised-chosen-by", default=None,
                        help="the JSON that benchmarks/tune_supervised.py wrote: its validation table per label count "
                             "is recorded in each supervised checkpoint; refused unless the recipe uses its best settings")
    parser.add_argument("--supervised-seeds", type=int, default=3,
                        help="runs per supervised baseline, each with its own label draw and initialisation; the "
                             "first is the checkpoint, all are recorded with their test predictions (default 3)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be a positive number of steps, got {args.steps}")
    if args.supervised_seeds < 1:
        parser.error(f"--supervised-seeds must be at least 1, got {args.supervised_seeds}")
    started = distributed.start()   # under torchrun: each rank on its own GPU (LOCAL_RANK); NCCL, or gloo on CPUs
    rec, budget = recipes.recipe(), config.budget()
    words = sys.argv[1:] if argv is None else argv
    command = f"SSLBOOK_BUDGET={budget} python -m sslbook.recipes {' '.join(words)}"
    kinds = [*rec.pretrain_steps, *(f"supervised-{c}" for c in rec.supervised_steps)]
    unknown = set(args.only or []) - set(kinds) - {"mlm"}
    if unknown:
        parser.error(f"--only: unknown kind(s) {sorted(unknown)}; this budget has {kinds} and mlm")
    chosen_by = None if args.chosen_by is None else tuning_record(args.chosen_by, rec)
    sup_chosen = None if args.supervised_chosen_by is None else supervised_record(args.supervised_chosen_by, rec)
    seed_everything(0)  # SSLBOOK_SEED shifts it, and with it every run's seed below (pretrain's default)
    out = Path(args.out)
    chosen = kinds if args.only is None else [k for k in [*kinds, "mlm"] if k in args.only]
    settings = {k: (list(v) if isinstance(v, tuple) else {str(a): b for a, b in v.items()} if isinstance(v, dict) else v)
                for k, v in dataclasses.asdict(rec).items()}
    split = {"images": args.validation_size, "seed": cifar.VALIDATION_SEED,
             "what": "a stratified share of the training split, never trained on"}
    if any(k != "mlm" for k in chosen):
        with distributed.rank_zero_first():              # rank 0 decodes and caches, the others read its cache
            (x, y), (val_x, val_y) = cifar.cifar10_validation(args.root, args.validation_size, cifar.VALIDATION_SEED)
        x, val_x = x.float() / 255, val_x.float() / 255
        # kNN (k = 20) against 1,000 labelled images per class of the training part (seed 0: one fixed draw)
        known = data.few_labels(y, min(1000, int(torch.bincount(y).min())), seed=0)
        knn = min(20, len(known))
        on_val = recipes.knn_tracker(x[known], y[known], val_x, val_y, k=knn)
    trained, replicas = [], {}
    for kind in chosen:
        if kind == "mlm":
            model, _, meta = domains.pretrain_language(text.python_docs())
            meta.update(command=command, budget=budget)
            path = out / "pydocs-mlm.pt"
        elif kind in rec.pretrain_steps:
            model = models.encoder(rec.arch)
            steps = rec.pretrain_steps[kind] if args.steps is None else args.steps
            meta = recipes.pretrain(model, x, kind, rec, steps=steps, track=on_val if args.track else None,
                                    track_every=max(1, steps // recipes.TRACK_POINTS)).meta
            meta["processes"] = distributed.world_size()
            meta["validation"] = {**split, **on_val(model)}
            if args.track:
                meta["track_on"] = "validation"
            if kind == "simclr" and chosen_by is not None:
                meta["chosen_by"] = chosen_by
        else:
            per_class = int(kind.split("-")[1])
            tuned = rec.for_labels(per_class)    # the settings chosen on the validation split for this count
            runs = []   # run r: label draw r and the book's seed r (run 0 is the checkpoint)
            for r in range(args.supervised_seeds):
                idx = data.few_labels(y, per_class, seed=r)
                net = models.classifier(rec.arch)
                done = recipes.train_supervised(net, x[idx], y[idx], tuned, steps=rec.supervised_steps[per_class],
                                                seed=config.seed(r))
                runs.append((net, {"label_draw": r, "seed": config.seed(r), "seconds": done["seconds"],
                                   "validation": recipes.accuracy(net, val_x, val_y)}, done))
            model, meta = runs[0][0], runs[0][2]
            meta["labels_per_class"] = per_class
            meta["validation"] = {**split, "accuracy": runs[0][1]["validation"]}
            meta["runs"] = [info for _, info, _ in runs]
            if sup_chosen is not None:
                meta["chosen_by"] = {**{k: v for k, v in sup_chosen.items() if k != "counts"},
                                     **sup_chosen["counts"][str(per_class)]}
            replicas[kind] = [net for net, _, _ in runs]
        if kind != "mlm":
            meta.update(command=command, arch=rec.arch, budget=budget, recipe=settings)
            path = out / recipes.checkpoint_name(kind, rec.arch)
        trained.append((kind, path, model, meta))
    if any(kind != "mlm" for kind, *_ in trained):
        # The test split, read now that every choice is made: one score per checkpoint, recorded, never used.
        with distributed.rank_zero_first():
            test_x, test_y = cifar.cifar10("test", root=args.root)
        test_x = test_x.float() / 255
        on_test = recipes.knn_tracker(x[known], y[known], test_x, test_y, k=knn)
        for kind, _, model, meta in trained:
            if kind in rec.pretrain_steps:
                meta["test"] = {"images": len(test_y), **on_test(model)}
            elif kind != "mlm":
                meta["test"] = {"images": len(test_y), "accuracy": recipes.accuracy(model, test_x, test_y)}
                for net, info in zip(replicas[kind], meta["runs"]):
                    # one digit per test image, in the split's order: a chapter scores any subset of it
                    guess = recipes.predict(net, test_x)
                    info["test"] = round(float((guess == test_y).float().mean()), 4)
                    info["test_predictions"] = "".join(map(str, guess.tolist()))
    for kind, path, model, meta in trained:
        if distributed.rank() == 0:                      # one checkpoint, written once
            save_checkpoint(path, model, **meta)
            scores = "".join(f", {part} {', '.join(f'{k} {v}' for k, v in meta[part].items() if k in ('accuracy', f'knn{knn}'))}"
                             for part in ("validation", "test") if part in meta)
            print(f"{path}: {meta['steps']} steps, {meta['epochs']} epochs, {meta['seconds']:.0f} s, "
                  f"final loss {meta['loss'][-1]:.3f}{scores}", flush=True)
    if started:
        distributed.stop()
    return 0


def tuning_record(path, rec) -> dict:
    """The validation table of a ``benchmarks/tune_cifar10.py`` run (its JSON at ``path``), as a
    checkpoint records it. Refused, with what differs, if the run read the test split or if ``rec``
    does not use the setting it found best: a checkpoint must not claim a choice it did not follow."""
    record = json.loads(Path(path).read_text())
    if record.get("benchmark") != "tune_cifar10" or "validation" not in str(record.get("scored_on", "")):
        raise ValueError(f"--chosen-by must be the JSON of benchmarks/tune_cifar10.py (scored on the validation "
                         f"split), got {path} with benchmark {record.get('benchmark')!r}")
    best = next((r for r in record.get("rows", []) if r.get("setting") == record.get("best")), None)
    if best is None or "change" not in best:
        raise ValueError(f"--chosen-by: {path} has no row for its best setting {record.get('best')!r}; "
                         "re-run benchmarks/tune_cifar10.py to write a complete record")
    used = {"crop_scale": list(rec.crop_scale or (0.08, 1.0)), "temperature": rec.temperature_for("simclr"), "lr": rec.lr}
    found = {"crop_scale": best["change"]["crop_scale"], "temperature": best["change"]["temperature"]["simclr"],
             "lr": best["change"]["lr"]}
    if used != found:
        raise ValueError(f"--chosen-by: the recipe uses {used}, but {path} found {found} best on the validation "
                         "split; change the recipe in sslbook/recipes.py, or leave --chosen-by out")
    keep = ("setting", "mean", "low", "high", "knn_per_seed")
    return {"script": "benchmarks/tune_cifar10.py", "scored_on": record["scored_on"], "steps": record["steps"],
            "seeds": record["seeds"], "fit_images": record["fit_images"],
            "validation_images": record["validation_images"], "best": record["best"],
            "previous": record["current"], "best_minus_previous": record["best_minus_current"],
            "rows": [{k: r[k] for k in keep} for r in record["rows"]], "machine": f"{record.get('machine', '?')}, {record.get('threads', '?')} torch threads"}


def supervised_record(path, rec) -> dict:
    """The validation tables of a ``benchmarks/tune_supervised.py`` run (its JSON at ``path``), one per
    label count under ``"counts"``. Refused, with what differs, unless it was scored on the validation
    split, covers every supervised count of ``rec`` and ``rec.for_labels`` uses each count's best setting."""
    record = json.loads(Path(path).read_text())
    if record.get("benchmark") != "tune_supervised" or "validation" not in str(record.get("scored_on", "")):
        raise ValueError(f"--supervised-chosen-by must be the JSON of benchmarks/tune_supervised.py (scored on the "
                         f"validation split), got {path} with benchmark {record.get('benchmark')!r}")
    counts = {}
    for per_class in rec.supervised_steps:
        table = record.get("counts", {}).get(str(per_class))
        if table is None:
            raise ValueError(f"--supervised-chosen-by: {path} has no table for {per_class} labels per class; "
                             f"re-run benchmarks/tune_supervised.py")
        used = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(rec.for_labels(per_class)).items()
                if k in recipes.SUPERVISED_KNOBS}
        if used != table["best_change"]:
            raise ValueError(f"--supervised-chosen-by: at {per_class} labels per class the recipe uses {used}, but "
                             f"{path} found {table['best_change']} best on the validation split; change "
                             f"supervised_tuned in sslbook/recipes.py, or leave --supervised-chosen-by out")
        keep = ("setting", "mean", "low", "high", "accuracy_per_seed")
        counts[str(per_class)] = {"steps": table["steps"], "best": table["best"], "article": table["article"],
                                  "best_minus_article": table["best_minus_article"],
                                  "rows": [{k: r[k] for k in keep} for r in table["rows"]]}
    return {"script": "benchmarks/tune_supervised.py", "scored_on": record["scored_on"], "seeds": record["seeds"],
            "fit_images": record["fit_images"], "validation_images": record["validation_images"], "counts": counts,
            "machine": f"{record.get('machine', '?')}, {record.get('threads', '?')} torch threads"}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
