"""SimCLR on CIFAR-10 with one process and with two (torch.distributed, gloo), same global batch.

Runs the book's command line twice under ``torch.distributed.run`` (what ``torchrun`` runs):
one process with 2 threads, then two processes with 1 thread each, the same global batch (the
quick recipe's 256 images, 512 views) and the same number of steps. Reads each checkpoint's
record (training seconds, steps, losses, processes), prints a table and writes JSON.

On a 2-core machine the two processes share the cores the single process had: expect no
speed-up. What it shows is that the distributed run works and learns alike. The time to start
(importing torch, loading the decoded CIFAR-10 cache or decoding the JPEGs) is outside
``meta["seconds"]``; the wall time of each command is recorded beside it.

    .venv/bin/python benchmarks/distributed.py [--steps 150] [--root PATH] [--out benchmarks/results/distributed.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, write_json
from sslbook import checkpoints, config, models, recipes

DEFAULT_ROOT = "/work/shared/data/cifar10-jpg.tar.gz"
LAST = 20                       # the final loss: the mean of the last 20 steps


def run(processes: int, threads: int, steps: int, root: str, out: Path) -> dict:
    """One run of ``python -m torch.distributed.run ... -m sslbook.recipes``; its checkpoint's record."""
    env = {**os.environ, "SSLBOOK_BUDGET": "quick", "SSLBOOK_PROGRESS": "0", "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
           "-m", "sslbook.recipes", "--out", str(out), "--only", "simclr", "--steps", str(steps),
           "--root", root, "--no-track"]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    rec = recipes.recipe("quick")
    meta = checkpoints.load_checkpoint(out / recipes.checkpoint_name("simclr", rec.arch), models.encoder(rec.arch))
    views = 2 * meta["batch_size"] * meta["steps"]
    return {"processes": meta["processes"], "threads_per_process": threads, "steps": meta["steps"],
            "global_batch": meta["batch_size"], "seconds": meta["seconds"], "wall_seconds": wall,
            "views_per_second": views / meta["seconds"],
            "first_loss": sum(meta["loss"][:LAST]) / len(meta["loss"][:LAST]),
            "final_loss": sum(meta["loss"][-LAST:]) / len(meta["loss"][-LAST:])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="SimCLR steps of each run")
    parser.add_argument("--root", default=str(config.cifar10_root() or DEFAULT_ROOT),
                        help="CIFAR-10 image-folder tree or .tar.gz")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "distributed.json"))
    args = parser.parse_args(argv)
    if args.steps < LAST:
        parser.error(f"--steps must be at least {LAST}, got {args.steps}")

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for processes, threads in ((1, 2), (2, 1)):
            runs.append(run(processes, threads, args.steps, args.root, Path(tmp) / f"p{processes}"))

    print(f"SimCLR on CIFAR-10, quick recipe, {args.steps} steps, global batch {runs[0]['global_batch']} "
          f"({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    print("| processes x threads | training s | views/s | loss, first 20 steps | loss, last 20 steps | wall s |")
    print("| ------------------- | ---------- | ------- | -------------------- | ------------------- | ------ |")
    for r in runs:
        print(f"| {r['processes']} x {r['threads_per_process']:<15} | {r['seconds']:10.1f} | {r['views_per_second']:7,.0f} "
              f"| {r['first_loss']:20.3f} | {r['final_loss']:19.3f} | {r['wall_seconds']:6.1f} |")

    result = {"benchmark": "distributed", "date": datetime.date.today().isoformat(), "steps": args.steps,
              "cores": os.cpu_count(), "processor": platform.processor() or platform.machine(),
              **machine(), "note": "training seconds exclude start-up (imports, loading CIFAR-10); "
                                   "the loss of a 2-process run is rank 0's, over its anchors",
              "runs": runs}
    write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
