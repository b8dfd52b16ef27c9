"""Does every chapter hold for other seeds? Execute chapters under several ``SSLBOOK_SEED`` values.

    python benchmarks/seeds.py                       # every chapter, seeds 0 1 2
    python benchmarks/seeds.py 03a 05 --seeds 1 2    # some chapters, some seeds
    python benchmarks/seeds.py 03a --dump /tmp/out   # also write each run's printed output

Each chapter runs from its MyST source in `chapters/`, in the quick budget unless SSLBOOK_BUDGET
says otherwise, with CIFAR-10 from SSLBOOK_CIFAR10 or ../shared/data when there. Prints a table
(seconds per chapter and seed, the first failing cell and its error) and writes
benchmarks/results/seeds.json. Exits 1 when any run failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chapters(prefixes):
    paths = sorted(p for p in glob.glob(os.path.join(ROOT, "chapters", "*.md"))
                   if open(p, encoding="utf-8").read().startswith("---\njupytext:"))
    if prefixes:
        paths = [p for p in paths if any(os.path.basename(p).startswith(x) for x in prefixes)]
    return paths


def execute(md, seed, timeout):
    """Run one chapter with SSLBOOK_SEED=seed; (seconds, first error or None, printed text)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(md, fmt="md:myst")
    os.environ.update(SSLBOOK_SEED=str(seed))  # the kernel inherits it
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": os.path.dirname(md)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    error, lines = None, []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                lines.append(out.text)
            elif out.output_type == "error":
                lines.append(f"[cell {i}] {out.ename}: {out.evalue}\n")
                if error is None and "check" not in cell.metadata.get("tags", []):
                    error = {"cell": i, "error": f"{out.ename}: {out.evalue}"[:400],
                             "source": cell.source[-400:]}
    return seconds, error, "".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter file-name prefixes (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--dump", help="folder for each run's printed output")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "seeds.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("SSLBOOK_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")
    shared = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10-jpg.tar.gz")
    if "SSLBOOK_CIFAR10" not in os.environ and os.path.exists(shared):
        os.environ.update(SSLBOOK_CIFAR10=shared)
    runs, failed = [], 0
    print(f"{'chapter':28s} {'seed':>4s} {'seconds':>8s}  result", flush=True)
    for md in chapters(args.chapters):
        for seed in args.seeds:
            seconds, error, text = execute(md, seed, args.timeout)
            name = os.path.basename(md)
            if args.dump:
                os.makedirs(args.dump, exist_ok=True)
                with open(os.path.join(args.dump, f"{name[:-3]}-seed{seed}.txt"), "w") as f:
                    f.write(text)
            failed += error is not None
            result = "ok" if error is None else f"FAILED at cell {error['cell']}: {error['error'][:160]}"
            print(f"{name:28s} {seed:4d} {seconds:8.1f}  {result}", flush=True)
            runs.append({"chapter": name, "seed": seed, "seconds": round(seconds, 1), "error": error})
    from sslbook import config
    write_json({"machine": machine(), "budget": config.budget(), "runs": runs},
               args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
