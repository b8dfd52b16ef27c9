"""CIFAR-10 on a CPU: augmentation throughput, and what a fixed training budget buys.

(a) Views per second of one SimCLR training step (two views of each image of a
    batch, the encoder forward and backward, the optimiser step) with
    sslbook's batched per-sample augmentation against the standard torchvision
    pipeline (PIL images, per-sample transforms in a DataLoader), same encoder,
    same batch size, same machine, in one run; and (a') the augmentation alone.
(b) Linear-probe and kNN accuracy on the test split after a fixed CPU budget of
    SimCLR, for the SSL encoder, the same encoder at random initialisation and
    raw pixels; and for the checkpoints in chapters/checkpoints when present.

    .venv/bin/python benchmarks/cifar10.py [--seconds 120] [--train-subset 10000] [--out ...]

The data comes from sslbook.cifar.cifar10: set SSLBOOK_CIFAR10 to an image-folder
tree or a .tar.gz of one, or be online for torchvision's download.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import sslbook
from _common import machine, write_json
from sslbook import augment, checkpoints, cifar, evaluate, losses, models, recipes, train

CHECKPOINTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "chapters", "checkpoints")


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


def throughput(images: torch.Tensor, batch_size: int, steps: int, workers: int) -> dict:
    """Views per second of a SimCLR step with each augmentation pipeline."""
    results = {}
    for name in ("sslbook (batched, per sample)", f"torchvision DataLoader ({workers} workers)"):
        torch.manual_seed(0)
        enc = models.encoder("small")
        model = models.SimCLRModel(enc, models.ProjectionHead(enc.feature_dim, 64))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(0)
        if name.startswith("sslbook"):
            views = augment.cifar_views()
            floats = images.float() / 255

            def pairs():
                for idx in train.shuffled_batches(len(floats), batch_size, g):
                    yield views.pair(floats[idx], g)
            batches = pairs()
        else:
            loader = torchvision_loader(images, batch_size, workers)
            batches = (b for _ in range(10**6) for b in loader)
        done, start = 0, None
        for i, (v1, v2) in enumerate(batches):
            z1, z2 = model(torch.cat([v1, v2])).chunk(2)
            loss = losses.info_nce(z1, z2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i == 1:  # the first two steps warm up (and start the workers)
                start = time.perf_counter()
            elif i > 1:
                done += 1
            if done == steps:
                break
        results[name] = 2 * batch_size * steps / (time.perf_counter() - start)
    return results


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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="SimCLR training budget for (b)")
    parser.add_argument("--train-subset", type=int, default=10_000, help="training images used in (b)")
    parser.add_argument("--test-subset", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--throughput-steps", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--augment-images", type=int, default=2048, help="images for (a')")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cifar10.json"))
    args = parser.parse_args(argv)

    sslbook.seed_everything(0)
    x_train, y_train = cifar.cifar10("train")
    x_test, y_test = cifar.cifar10("test")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(x_train), generator=g)[: args.train_subset]
    te = torch.randperm(len(x_test), generator=g)[: args.test_subset]
    x_train, y_train, x_test, y_test = x_train[tr], y_train[tr], x_test[te], y_test[te]

    speed = throughput(x_train, args.batch_size, args.throughput_steps, args.workers)
    print(f"(a) SimCLR step throughput, chapter 5's small CNN, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    print("| pipeline | views/s |\n| --- | --- |")
    for name, v in speed.items():
        print(f"| {name} | {v:.0f} |")
    names = list(speed)
    print(f"speed-up: {speed[names[0]] / speed[names[1]]:.2f}x")
    aug = augmentation_only(x_train[: args.augment_images], args.batch_size)
    print(f"\n(a') the augmentation alone, one process, {args.augment_images} images")
    print("| pipeline | views/s |\n| --- | --- |")
    for name, v in aug.items():
        print(f"| {name} | {v:.0f} |")
    print(f"speed-up: {aug[list(aug)[0]] / aug[list(aug)[1]]:.1f}x")

    train_f, test_f = x_train.float() / 255, x_test.float() / 255
    torch.manual_seed(0)
    random_encoder = models.encoder("small")
    ssl_encoder = models.encoder("small")
    # As many steps as the budget allows at the speed measured in (a), so that the
    # one-cycle schedule completes; the budget also stops training outright.
    steps = max(1, int(args.seconds * speed[names[0]] / (2 * args.batch_size)))
    recipe = recipes.recipe().replace(batch_size=args.batch_size)
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
          f"({meta['epochs']} epochs); labels of those images for the probes; test on {len(te)} images")
    print("| features | linear probe | kNN (k=20) |\n| --- | --- | --- |")
    for name, q in quality.items():
        print(f"| {name} | {q['linear_probe']:.3f} | {q['knn']:.3f} |")

    result = {"benchmark": "cifar10", **machine(), "batch_size": args.batch_size,
              "throughput_views_per_s": speed, "augmentation_views_per_s": aug, "budget_seconds": args.seconds, "steps": meta["steps"],
              "train_subset": len(tr), "test_subset": len(te), "quality": quality}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
