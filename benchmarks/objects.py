"""Objects without labels: does DINO's [CLS] attention find the objects of generated scenes?

Trains a small ViT (sslbook.objects.SceneViT: patches of 4 on 32 x 32 scenes, an 8 x 8 grid) with
DINO on unlabelled scenes of digits pasted on textured colour (sslbook.scenes), and the same ViT
with labels, for --minutes of training in all (split so that both run the same number of steps,
sized once from a timing of a few steps: a schedule is sized by steps). Then measures, on scenes
never trained on, the Jaccard measure of Caron et al. (2021): per head, the patches holding --mass
(60%) of the last block's [CLS] attention, upsampled to pixels, against the object mask.

Rows: the untrained ViT (the same initial weights), DINO's teacher (the network the paper
evaluates), the supervised ViT, and two references that train nothing: uniform attention (every
patch kept: the object's share of the image) and attention spread over the object's patches in
proportion to the object's pixels in each (what a ViT whose [CLS] looked only at the object would
score at this patch size). The best head is chosen on validation scenes and scored on test scenes,
whose digits come from the other side of sklearn's digit split. Intervals: Student t over test
images (one pre-training run per seed: the run is fixed, not covered); with several --seeds, also
over seeds.

    .venv/bin/python benchmarks/objects.py [--minutes 5] [--seeds 0] [--out benchmarks/results/objects.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, write_json  # noqa: E402

from sslbook import evaluate, objects, scenes, stats  # noqa: E402

MODELS = ("untrained", "DINO (teacher)", "supervised")
REFERENCES = ("uniform attention", "attention on the object's patches")


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training time per seed, DINO and supervised")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--objects", choices=scenes.OBJECTS, default="digits")
    parser.add_argument("--scale", type=float, nargs=2, default=[0.45, 0.7], help="object side, share of the image")
    parser.add_argument("--backgrounds", type=int, default=None,
                        help="draw backgrounds from this many textures (default: one per scene)")
    parser.add_argument("--train", type=int, default=4000, help="training scenes (unlabelled for DINO)")
    parser.add_argument("--val", type=int, default=300, help="validation scenes: choose the best head")
    parser.add_argument("--test", type=int, default=500, help="test scenes: score it")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--local-crops", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--mass", type=float, default=0.6)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "objects.json"))
    return parser.parse_args(argv)


def object_attention(masks: torch.Tensor, grid: int) -> torch.Tensor:
    """N x 1 x P: each patch's share of the object's pixels (the attention of a [CLS] that sees only it)."""
    side = masks.shape[-1] // grid
    per_patch = masks.float().reshape(len(masks), grid, side, grid, side).sum(dim=(2, 4)).flatten(1)
    return (per_patch / per_patch.sum(dim=1, keepdim=True))[:, None]


def estimate(values) -> dict:
    e = stats.t_interval(values)
    return {"mean": round(e.mean, 4), "low": round(e.low, 4), "high": round(e.high, 4), "n": e.n}


def timed_steps(args, train, vit) -> tuple[float, float]:
    """Seconds per step of DINO and of the supervised ViT, from 3 steps each after one to warm up."""
    per = []
    for fn in (lambda k: objects.pretrain_dino(train.images, steps=k, seed=0, batch_size=args.batch_size,
                                               local_crops=args.local_crops, vit=vit),
               lambda k: objects.train_supervised_vit(train.images, train.labels, steps=k, seed=0,
                                                      batch_size=args.batch_size, vit=vit)):
        fn(1)
        start = time.perf_counter()
        fn(3)
        per.append((time.perf_counter() - start) / 3)
    return per[0], per[1]


def run_seed(args, seed: int) -> dict:
    vit = {"dim": args.dim, "depth": args.depth, "heads": args.heads}
    kind = {"objects": args.objects, "scale": tuple(args.scale), "backgrounds": args.backgrounds}
    train = scenes.make_scenes(args.train, pool="train", seed=10 * seed + 1, **kind)
    val = scenes.make_scenes(args.val, pool="train", seed=10 * seed + 2, **kind)
    test = scenes.make_scenes(args.test, pool="test", seed=10 * seed + 3, **kind)
    t_dino, t_sup = timed_steps(args, train, vit)
    steps = max(1, int(args.minutes * 60 / (t_dino + t_sup)))
    print(f"seed {seed}: {t_dino:.3f} s per DINO step, {t_sup:.3f} s per supervised step -> {steps} steps each")
    start = time.perf_counter()
    dino = objects.pretrain_dino(train.images, steps=steps, seed=seed, batch_size=args.batch_size, lr=args.lr,
                                 local_crops=args.local_crops, vit=vit)
    dino_seconds = time.perf_counter() - start
    start = time.perf_counter()
    sup = objects.train_supervised_vit(train.images, train.labels, steps=steps, seed=seed,
                                       batch_size=args.batch_size, lr=args.lr, vit=vit)
    sup_seconds = time.perf_counter() - start
    nets = {"untrained": objects.untrained_vit(train.images, seed=seed, vit=vit), "DINO (teacher)": dino.vit,
            "supervised": sup.vit}
    bank = slice(0, min(2000, len(train)))
    rows, scores = {}, {}
    for name, net in nets.items():
        j_val = objects.attention_jaccard(objects.attention_maps(net, val.images), val.masks, args.mass)
        j_test = objects.attention_jaccard(objects.attention_maps(net, test.images), test.masks, args.mass)
        best = int(j_val.mean(dim=0).argmax())
        scores[name] = j_test[:, best]
        knn = evaluate.knn_accuracy(evaluate.embed(net, train.images[bank]), train.labels[bank],
                                    evaluate.embed(net, test.images), test.labels, k=min(20, bank.stop))
        rows[name] = {"per_head": [estimate(j_test[:, h]) for h in range(j_test.shape[1])],
                      "mean_of_heads": estimate(j_test.mean(dim=1)), "best_head": best,
                      "best_head_on_validation": round(float(j_val[:, best].mean()), 4),
                      "best": estimate(j_test[:, best]), "knn20": round(knn, 4)}
    grid = nets["untrained"].grid
    for name, attn in zip(REFERENCES, (torch.ones(len(test), 1, grid * grid), object_attention(test.masks, grid))):
        scores[name] = objects.attention_jaccard(attn, test.masks, args.mass)[:, 0]
        rows[name] = {"best": estimate(scores[name])}
    with torch.no_grad():
        accuracy = float((sup.student(test.images).argmax(1) == test.labels).float().mean())
    comparisons = {f"DINO - {other}": stats.paired(scores["DINO (teacher)"], scores[other])
                   for other in ("untrained", "supervised", "uniform attention")}
    end = {k: round(v[-1], 4) for k, v in dino.history.values.items()}
    return {"seed": seed, "steps": steps, "seconds_per_step": {"dino": round(t_dino, 4), "supervised": round(t_sup, 4)},
            "train_seconds": {"dino": round(dino_seconds, 1), "supervised": round(sup_seconds, 1)},
            "dino_end": end, "supervised_test_accuracy": round(accuracy, 4), "rows": rows,
            "comparisons_over_test_images": {k: c.describe(unit="test images") for k, c in comparisons.items()},
            "object_share": round(float(test.share.mean()), 4)}


def table(result: dict) -> str:
    heads = max(len(r.get("per_head", [])) for r in result["rows"].values())
    head_cols = " | ".join(f"head {h}" for h in range(heads))
    lines = [f"| attention of | {head_cols} | mean of heads | best head (val) | best head, test: Jaccard (95% CI) "
             f"| kNN-20 |", "|" + " --- |" * (heads + 5)]
    for name, r in result["rows"].items():
        per = " | ".join(f"{e['mean']:.3f}" for e in r.get("per_head", [])) or " | ".join("-" * heads)
        mean = f"{r['mean_of_heads']['mean']:.3f}" if "mean_of_heads" in r else "-"
        best = r["best"]
        lines.append(f"| {name} | {per} | {mean} | {r.get('best_head', '-')} | {best['mean']:.3f} "
                     f"({best['low']:.3f} to {best['high']:.3f}, {best['n']} images) | {r.get('knn20', '-')} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.minutes <= 0 or args.train < 2 or args.val < 2 or args.test < 2:
        raise SystemExit("--minutes must be > 0 and --train, --val, --test at least 2")
    results = [run_seed(args, seed) for seed in args.seeds]
    for r in results:
        print(f"\nseed {r['seed']}: {r['steps']} steps each, DINO {r['train_seconds']['dino']} s, supervised "
              f"{r['train_seconds']['supervised']} s; objects cover {r['object_share']:.1%} of a test image; "
              f"supervised test accuracy {r['supervised_test_accuracy']:.3f}; DINO at the end {r['dino_end']}")
        print(table(r))
        for k, c in r["comparisons_over_test_images"].items():
            print(f"{k}: {c}")
    over_seeds = {}
    if len(results) > 1:
        for name in (*MODELS, *REFERENCES):
            over_seeds[name] = estimate([r["rows"][name]["best"]["mean"] for r in results])
            e = over_seeds[name]
            print(f"over {e['n']} seeds, {name}: {e['mean']:.3f} (95% CI {e['low']:.3f} to {e['high']:.3f})")
    out = {"benchmark": "objects", "settings": vars(args), "machine": machine(), "seeds": results,
           "best_head_over_seeds": over_seeds,
           "notes": "Jaccard of Caron et al. (2021): per head, the patches holding `mass` of the last block's [CLS] "
                    "attention, upsampled to pixels, against the object mask; best head chosen on validation "
                    "scenes, scored on test scenes; intervals over test images with the pre-training run fixed."}
    write_json(out, args.out)
    return out


if __name__ == "__main__":
    main()
