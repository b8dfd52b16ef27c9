"""torch.compile on the book's SimCLR step, on this CPU: what compiling costs once, and the steady state.

The step is chapter 5's quick recipe (sslbook.recipes.recipe("quick")): the small CNN and its
projection head, channels-last, the recipe's precision (bfloat16 autocast where the processor
computes it natively), SimCLR at the recipe's temperature, views with the recipe's crop scale,
AdamW; batches of the recipe's 256 images of chapter 7's 32 x 32 colour stand-in (the speed of a
step depends on the shapes, not on the pixels). The network alone is compiled (inductor), as in
benchmarks/cifar10.py section (a); the views and the optimizer stay eager.

1. Compile time, twice: the first compiled step minus the first eager step, with an empty inductor
   cache (a fresh TORCHINDUCTOR_CACHE_DIR, what a new machine pays), then again after
   ``torch._dynamo.reset()`` with the cache the first compile filled (what a second run pays).
2. Steady state: --blocks alternating blocks of --steps eager and --steps compiled steps after the
   warm-up, views per second per block; the paired t interval of compiled / eager over the blocks
   (sslbook.stats). On a shared 2-core machine the interval is what to read, not one number.

    .venv/bin/python benchmarks/compile_step.py [--blocks 6] [--steps 5] [--out benchmarks/results/compile_step.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time

import torch
from _common import machine, write_json

import sslbook
from sslbook import augment, cifar, losses, models, precision, recipes, stats, train


def build(recipe, seed: int = 0):
    torch.manual_seed(seed)
    encoder = models.encoder(recipe.arch)
    model = models.SimCLRModel(encoder, models.ProjectionHead(encoder.feature_dim, recipe.out_dim))
    model = model.to(memory_format=torch.channels_last) if recipe.channels_last else model
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def stepper(net, opt, x, views, recipe, mode, g):
    batches = train.shuffled_batches(len(x), recipe.batch_size, g)
    tau = recipe.temperature_for("simclr")

    def step() -> float:
        start = time.perf_counter()
        v1, v2 = views.pair(x[next(batches)], g)
        z1, z2 = train.forward(net, torch.cat([v1, v2]), mode, recipe.channels_last).chunk(2)
        loss = losses.info_nce(z1, z2, tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/compile_step.json")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="inductor-cold-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache          # read when inductor first compiles
    recipe = recipes.recipe("quick")
    mode = precision.resolve(recipe.precision, "cpu")
    x = cifar.coloured_digits().x_train
    views = augment.cifar_views(crop_scale=recipe.crop_scale)
    g = torch.Generator().manual_seed(0)
    eager_model, eager_opt = build(recipe)
    compiled_model, compiled_opt = build(recipe)
    eager = stepper(eager_model, eager_opt, x, views, recipe, mode, g)
    compiled = stepper(torch.compile(compiled_model), compiled_opt, x, views, recipe, mode, g)
    first_eager = eager()
    first_compiled = compiled()                               # compiles forward and backward (cold cache)
    second_eager, second_compiled = eager(), compiled()       # the backward may compile lazily: warm both
    torch._dynamo.reset()                                     # forget the compiled code, keep the disk cache
    warm_model, warm_opt = build(recipe)
    rewarm = stepper(torch.compile(warm_model), warm_opt, x, views, recipe, mode, g)
    first_warm = rewarm()
    print(f"first step: eager {first_eager:.2f} s, compiled {first_compiled:.1f} s (empty cache), "
          f"{first_warm:.1f} s (the cache filled); second: eager {second_eager:.2f} s, compiled {second_compiled:.2f} s")
    per_block = {"eager": [], "compiled": []}
    for _ in range(args.blocks):                              # alternate, so drift hits both alike
        for name, step in (("eager", eager), ("compiled", rewarm)):
            seconds = sum(step() for _ in range(args.steps))
            per_block[name].append(2 * recipe.batch_size * args.steps / seconds)
    ratio = [c / e for c, e in zip(per_block["compiled"], per_block["eager"])]
    speed = stats.t_interval(ratio)
    faster = stats.paired(per_block["compiled"], per_block["eager"])
    print(f"\n{'setting':30s} {'views/s per block (mean)':>26s}")
    for name, values in per_block.items():
        print(f"{name:30s} {sum(values) / len(values):26,.0f}")
    print(f"compiled / eager: {speed.describe(unit='block pairs')}; verdict {faster.verdict}")
    result = {"benchmark": "compile_step", "date": datetime.date.today().isoformat(), "cores": os.cpu_count(),
              "processor": platform.processor() or platform.machine(), **machine(),
              "recipe": {"arch": recipe.arch, "batch_size": recipe.batch_size, "precision": mode,
                         "channels_last": recipe.channels_last, "temperature": recipe.temperature_for("simclr"),
                         "crop_scale": list(recipe.crop_scale)},
              "first_step_seconds": {"eager": first_eager, "compiled_cold": first_compiled,
                                     "compiled_warm_cache": first_warm},
              "compile_seconds_cold": first_compiled - first_eager, "compile_seconds_warm": first_warm - first_eager,
              "blocks": args.blocks, "steps_per_block": args.steps, "views_per_second": per_block,
              "ratio": {"mean": speed.mean, "low": speed.low, "high": speed.high, "n": speed.n},
              "verdict": faster.verdict, "seed": sslbook.seed(0)}
    write_json(result, args.out)


if __name__ == "__main__":
    main()
