"""CIFAR-10 on a CPU: training-step throughput, what a fixed budget buys, and whether bfloat16 learns.

(a)  Views per second of one SimCLR training step of chapter 5's small CNN (two views of
     each image of a batch, the forward and backward pass, an AdamW step, the InfoNCE loss in
     float32), in one run, same encoder, batch and machine, for five settings: the usual
     torchvision pipeline (PIL images, per-sample transforms in a DataLoader) in float32, the
     baseline; sslbook's batched per-sample views in float32; the same with channels-last
     memory; with bfloat16 autocast (sslbook.precision; labelled "emulated" where the CPU has
     no native bfloat16); and with both. Each against the baseline.
(a') The augmentation alone, in one process: sslbook's batched views against torchvision's
     per-sample transforms on PIL images.
(b)  Linear-probe and kNN accuracy on the test split after a fixed CPU budget of SimCLR in the
     recipe's precision ("auto": bfloat16 and channels-last where the CPU computes bfloat16
     natively), for the SSL encoder, the same encoder at random initialisation and raw
     pixels; and for the shipped checkpoints (sslbook/weights, checkpoints.shipped()) when present.
(c)  Does bfloat16 learn as well as float32? recipes.pretrain with the quick recipe for
     --learn-steps steps in float32 and in bfloat16 + channels-last, seeds 0 and 1 (same
     initial weights and views for both precisions), kNN (k=20) accuracy on the test subset
     at the end; the difference of the means against the seed-to-seed spread.

    SSLBOOK_CIFAR10=/path/to/cifar10-jpg.tar.gz SSLBOOK_PROGRESS=0 \\
        .venv/bin/python benchmarks/cifar10.py [--seconds 60] [--learn-steps 300] [--train-subset 10000] [--out ...]

About 10 minutes on 2 CPU cores. The data comes from sslbook.cifar.cifar10: set SSLBOOK_CIFAR10
to an image-folder tree or a .tar.gz of one, or be online for torchvision's download.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from _common import machine, write_json

import sslbook
from sslbook import augment, checkpoints, cifar, evaluate, losses, models, precision, recipes, train

CHECKPOINTS = str(checkpoints.shipped())


def torchvision_recipe():
    """SimCLR's CIFAR-10 views as the usual torchvision pipeline of per-sample PIL transforms."""
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(32, scale=(0.08, 1.0)), T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2), T.ToTensor(),
    ])


def torchvision_loader(images: torch.Tensor, batch_size: int, workers: int):
    """The usual pipeline: PIL images through per-sample torchvision transforms in a DataLoader."""
    from PIL import Image

    recipe = torchvision_recipe()
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            return recipe(pil[i]), recipe(pil[i])

    return torch.utils.data.DataLoader(Pairs(), batch_size=batch_size, shuffle=True, drop_last=True,
                                       num_workers=workers, persistent_workers=workers > 0)


def settings(workers: int, native: bool) -> list[dict]:
    """The settings of (a): the torchvision baseline first, then sslbook's views in each precision."""
    bf16 = "bfloat16 autocast" + ("" if native else " (emulated)")
    return [
        {"setting": f"torchvision DataLoader ({workers} workers), float32", "pipeline": "torchvision",
         "precision": "float32", "channels_last": False},
        {"setting": "sslbook batched views, float32", "pipeline": "sslbook", "precision": "float32",
         "channels_last": False},
        {"setting": "sslbook, float32, channels-last", "pipeline": "sslbook", "precision": "float32",
         "channels_last": True},
        {"setting": f"sslbook, {bf16}", "pipeline": "sslbook", "precision": "bfloat16", "channels_last": False},
        {"setting": f"sslbook, {bf16}, channels-last", "pipeline": "sslbook", "precision": "bfloat16",
         "channels_last": True},
    ]


def throughput(images: torch.Tensor, batch_size: int, steps: int, workers: int, lr: float = 3e-3,
               warmup: int = 2) -> list[dict]:
    """Views per second of a SimCLR step in each of :func:`settings`, with the ratio to the first."""
    rows = settings(workers, precision.native_bfloat16("cpu"))
    floats = images.float() / 255
    for row in rows:
        torch.manual_seed(0)
        enc = models.encoder("small")
        model = models.SimCLRModel(enc, models.ProjectionHead(enc.feature_dim, 64))
        if row["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        mode = precision.resolve(row["precision"], "cpu")
        g = torch.Generator().manual_seed(0)
        if row["pipeline"] == "sslbook":
            views = augment.cifar_views()

            def pairs(views, g):
                for idx in train.shuffled_batches(len(floats), batch_size, g):  # endless
                    yield views.pair(floats[idx], g)
            batches, loader = pairs(views, g), None
        else:
            loader = torchvision_loader(images, batch_size, workers)
            batches = (b for _ in range(10**6) for b in loader)
        done, start = 0, None
        for i, (v1, v2) in enumerate(batches):
            z1, z2 = train.forward(model, torch.cat([v1, v2]), mode, row["channels_last"]).chunk(2)
            loss = losses.info_nce(z1, z2)  # float32: forward() casts the embeddings back
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i == warmup - 1:  # the first steps warm up (and start the workers)
                start = time.perf_counter()
            elif i >= warmup:
                done += 1
            if done == steps:
                break
        row["views_per_s"] = round(2 * batch_size * steps / (time.perf_counter() - start), 1)
        row["final_loss"] = round(float(loss.detach()), 4)
        del batches, loader  # stops the DataLoader's workers before the next setting
    base = rows[0]["views_per_s"]
    for row in rows:
        row["vs_torchvision"] = round(row["views_per_s"] / base, 3)
    return rows


def augmentation_only(images: torch.Tensor, batch_size: int) -> dict:
    """Views per second of the augmentation alone, in this one process: sslbook's batched
    per-sample views against torchvision's per-sample transforms on PIL images."""
    from PIL import Image

    recipe = torchvision_recipe()
    views, g = augment.cifar_views(), torch.Generator().manual_seed(0)
    floats = images.float() / 255
    views(floats[:batch_size], g)  # warm up
    start = time.perf_counter()
    for i in range(0, len(floats), batch_size):
        views.pair(floats[i:i + batch_size], g)
    ours = 2 * len(floats) / (time.perf_counter() - start)
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
    start = time.perf_counter()
    for p in pil:
        recipe(p), recipe(p)
    theirs = 2 * len(pil) / (time.perf_counter() - start)
    return {"sslbook (batched, per sample)": ours, "torchvision (per sample, PIL)": theirs}


def learns(train_f, y_train, test_f, y_test, steps: int, seeds) -> dict:
    """(c): the final kNN (k=20) accuracy of SimCLR pre-training in float32 and in bfloat16 +
    channels-last, for each seed; same initial weights and views for both at one seed."""
    tracker = recipes.knn_tracker(train_f, y_train, test_f, y_test, k=20)
    quick = recipes.recipe("quick")
    out = {}
    for seed in seeds:  # interleaved, so that a slower stretch of the machine hits both
        for mode, cl in (("float32", False), ("bfloat16", True)):
            name = mode + (", channels-last" if cl else "")
            start = time.perf_counter()
            run = recipes.pretrain("small", train_f, "simclr", quick.replace(precision=mode, channels_last=cl),
                                   steps=steps, seed=seed, progress=False, track=tracker)
            wall = time.perf_counter() - start
            track = run.meta["track"]
            # pretrain's tracker embeds in the run's precision; the same encoder embedded in float32:
            f32_eval = tracker(run.model.encoder.eval())["knn20"]
            entry = out.setdefault(name, {"precision": run.meta["precision"], "channels_last": cl, "runs": {}})
            entry["runs"][seed] = {"knn20": track["knn20"][-1], "knn20_at_start": track["knn20"][0],
                                   "final_loss": run.meta["loss"][-1], "train_seconds": run.meta["seconds"],
                                   "knn20_float32_eval": f32_eval, "wall_seconds": round(wall, 1),
                                   "steps": run.meta["steps"]}
    for entry in out.values():
        accs = [r["knn20"] for r in entry["runs"].values()]
        entry["mean"] = round(statistics.mean(accs), 4)
        entry["sd"] = round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0
        entry["mean_train_seconds"] = round(statistics.mean(r["train_seconds"] for r in entry["runs"].values()), 1)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="SimCLR training budget for (b)")
    parser.add_argument("--train-subset", type=int, default=10_000, help="training images used in (b) and (c)")
    parser.add_argument("--test-subset", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--throughput-steps", type=int, default=10, help="timed steps per setting in (a)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--augment-images", type=int, default=2048, help="images for (a')")
    parser.add_argument("--learn-steps", type=int, default=300, help="SimCLR steps per run in (c)")
    parser.add_argument("--learn-seeds", type=int, nargs="+", default=[0, 1], help="seeds in (c)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cifar10.json"))
    args = parser.parse_args(argv)
    began = time.perf_counter()

    sslbook.seed_everything(0)
    x_train, y_train = cifar.cifar10("train")
    x_test, y_test = cifar.cifar10("test")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(x_train), generator=g)[: args.train_subset]
    te = torch.randperm(len(x_test), generator=g)[: args.test_subset]
    x_train, y_train, x_test, y_test = x_train[tr], y_train[tr], x_test[te], y_test[te]

    native = precision.native_bfloat16("cpu")
    print(f"CPU native bfloat16 (AVX-512 BF16 or AMX): {native}"
          + ("" if native else " -- bfloat16 below is emulated"))
    rows = throughput(x_train, args.batch_size, args.throughput_steps, args.workers)
    print(f"\n(a) SimCLR step throughput, chapter 5's small CNN, batch {args.batch_size} pairs, AdamW, "
          f"{args.throughput_steps} timed steps after 2 warm-up steps, {torch.get_num_threads()} threads")
    print("| setting | views/s | vs torchvision |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['setting']} | {row['views_per_s']:.0f} | {row['vs_torchvision']:.2f}x |")
    aug = augmentation_only(x_train[: args.augment_images], args.batch_size)
    print(f"\n(a') the augmentation alone, one process, {args.augment_images} images")
    print("| pipeline | views/s |\n| --- | --- |")
    for name, v in aug.items():
        print(f"| {name} | {v:.0f} |")
    ours, theirs = aug.values()
    print(f"speed-up: {ours / theirs:.1f}x")

    train_f, test_f = x_train.float() / 255, x_test.float() / 255
    torch.manual_seed(0)
    random_encoder = models.encoder("small")
    ssl_encoder = models.encoder("small")
    recipe = recipes.recipe().replace(batch_size=args.batch_size)
    if recipe.precision != "auto":  # the recipe's own default once it is "auto"
        recipe = recipe.replace(precision="auto", channels_last=True)
    mode = precision.resolve(recipe.precision, "cpu")
    # As many steps as the budget allows at the speed measured in (a) for this setting, so
    # that the one-cycle schedule completes; the budget also stops training outright.
    speed = next(r["views_per_s"] for r in rows[1:]
                 if r["precision"] == mode and r["channels_last"] == recipe.channels_last)
    steps = max(1, int(args.seconds * speed / (2 * args.batch_size)))
    meta = recipes.pretrain(ssl_encoder, train_f, "simclr", recipe, steps=steps, seconds=args.seconds,
                            progress=False).meta
    encoders = {"random-init encoder": random_encoder, "SimCLR encoder (this budget)": ssl_encoder}
    for method in ("simclr", "moco"):
        path = os.path.join(CHECKPOINTS, recipes.checkpoint_name(method, "small"))
        if os.path.exists(path):
            enc = models.encoder("small")
            m = checkpoints.load_checkpoint(path, enc)
            encoders[f"{method} checkpoint ({m['epochs']} epochs, {m['seconds'] / 60:.0f} min)"] = enc
    reps = {"raw pixels": (train_f, test_f)}
    reps.update({name: (evaluate.embed(e, train_f), evaluate.embed(e, test_f)) for name, e in encoders.items()})
    quality = {}
    for name, (a, b) in reps.items():
        quality[name] = {"linear_probe": evaluate.linear_probe(a, y_train, b, y_test, solver="torch", max_iter=300),
                         "knn": evaluate.knn_accuracy(a, y_train, b, y_test, k=20)}
    print(f"\n(b) after {meta['steps']} SimCLR steps in {meta['seconds']:.0f} s on {len(tr)} training images "
          f"({meta['epochs']} epochs; precision {recipe.precision!r} -> {meta['precision']}, "
          f"channels-last {meta['channels_last']}); labels of those images for the probes; test on {len(te)} images")
    print("| features | linear probe | kNN (k=20) |\n| --- | --- | --- |")
    for name, q in quality.items():
        print(f"| {name} | {q['linear_probe']:.3f} | {q['knn']:.3f} |")

    learn = learns(train_f, y_train, test_f, y_test, args.learn_steps, args.learn_seeds)
    print(f"\n(c) does bfloat16 learn as well as float32? quick recipe, {args.learn_steps} SimCLR steps on "
          f"{len(tr)} training images, kNN (k=20) on {len(te)} test images"
          + ("" if native else " (bfloat16 emulated)"))
    seeds = args.learn_seeds
    print("| precision | " + " | ".join(f"kNN seed {s}" for s in seeds) + " | mean ± sd | seconds |")
    print("| --- " * (len(seeds) + 3) + "|")
    for name, e in learn.items():
        print(f"| {name} | " + " | ".join(f"{e['runs'][s]['knn20']:.3f}" for s in seeds)
              + f" | {e['mean']:.3f} ± {e['sd']:.3f} | {e['mean_train_seconds']:.0f} |")
    f32, b16 = learn["float32"], learn["bfloat16, channels-last"]
    diff = b16["mean"] - f32["mean"]
    paired = [b16["runs"][s]["knn20"] - f32["runs"][s]["knn20"] for s in seeds]
    se = ((f32["sd"] ** 2 + b16["sd"] ** 2) / len(seeds)) ** 0.5
    verdict = "within" if abs(diff) <= max(f32["sd"], b16["sd"], se) else "outside"
    print(f"difference of means (bfloat16 - float32): {diff:+.4f}; seed-to-seed sd {f32['sd']:.4f} (float32), "
          f"{b16['sd']:.4f} (bfloat16); standard error of the difference {se:.4f}; per-seed differences "
          + ", ".join(f"{d:+.4f}" for d in paired) + f" -> {verdict} the spread; "
          f"training time ratio {f32['mean_train_seconds'] / b16['mean_train_seconds']:.2f}x")
    print("kNN of the same final encoders embedded in float32: " + "; ".join(
        f"{name}: " + ", ".join(f"{e['runs'][s]['knn20_float32_eval']:.3f}" for s in seeds) for name, e in learn.items()))
    learn_summary = {"steps": args.learn_steps, "seeds": seeds, "runs": learn, "difference_of_means": round(diff, 4),
                     "per_seed_differences": [round(d, 4) for d in paired], "standard_error": round(se, 4),
                     "verdict": f"{verdict} the spread"}

    total = time.perf_counter() - began
    print(f"\ntotal {total / 60:.1f} min")
    result = {"benchmark": "cifar10", **machine(), "cpu_native_bfloat16": native, "batch_size": args.batch_size,
              "throughput_steps": args.throughput_steps, "throughput": rows, "augmentation_views_per_s": aug,
              "budget_seconds": args.seconds, "budget_recipe": {"precision": recipe.precision,
                                                               "resolved": meta["precision"],
                                                               "channels_last": meta["channels_last"]},
              "steps": meta["steps"], "train_subset": len(tr), "test_subset": len(te), "quality": quality,
              "learns": learn_summary, "total_seconds": round(total, 1)}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
