"""How long each chapter took to execute in the book build, read from the build's own records.

    python benchmarks/chapter_times.py                  # every build under _build/
    python benchmarks/chapter_times.py --build _build/quick-cifar10-cifar10-jpg.tar.gz --limit 60

`make book` executes every chapter through jupyter-cache and stores each run's `execution_seconds`
(the same figure the book's execution-status page shows with `{nb-exec-table}`). This script reads
those records (the newest per chapter), prints one table per build configuration with the total,
marks chapters over `--limit` seconds, and writes benchmarks/results/chapter_times.json.
It exits 1 when a chapter is over the limit and `--strict` is given.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def caches(build: str | None) -> list[str]:
    """Every jupyter-cache folder of one build configuration, or of all of them."""
    base = build or os.path.join(ROOT, "_build")
    return sorted(set(glob.glob(os.path.join(base, "**", ".jupyter_cache"), recursive=True)))


def records(cache_path: str) -> dict:
    """{chapter file name: (seconds, created)} of the newest cached execution of each notebook."""
    from jupyter_cache import get_cache

    newest = {}
    for rec in get_cache(cache_path).list_cache_records():
        seconds = (rec.data or {}).get("execution_seconds")
        name = os.path.basename(rec.uri)
        if seconds is not None and (name not in newest or rec.created > newest[name][1]):
            newest[name] = (float(seconds), rec.created)
    return newest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", help="one build folder (default: every build under _build/)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a chapter may take (default 60)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a chapter is over the limit")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "chapter_times.json"))
    args = parser.parse_args(argv)
    found = caches(args.build)
    if not found:
        print(f"no jupyter-cache under {args.build or '_build/'}: run `make book` first", file=sys.stderr)
        return 2
    result, over = {"machine": machine(), "limit_s": args.limit, "builds": {}}, []
    base = args.build or os.path.join(ROOT, "_build")
    for path in found:
        config = os.path.relpath(path, base).split(os.sep)[0]
        config = os.path.basename(os.path.abspath(base)) if config == ".jupyter_cache" else config
        rows = records(path)
        print(f"\n{config}\n| chapter | seconds | |\n| --- | ---: | --- |")
        for name, (seconds, created) in sorted(rows.items()):
            flag = f"over {args.limit:.0f} s" if seconds > args.limit else ""
            over += [f"{config}/{name}"] if flag else []
            print(f"| {name} | {seconds:.1f} | {flag} |")
        total = sum(s for s, _ in rows.values())
        print(f"| total ({len(rows)} chapters) | {total:.1f} | |")
        result["builds"][config] = {"chapters": {n: round(s, 1) for n, (s, _) in rows.items()},
                                    "total_s": round(total, 1)}
    write_json(result, args.out)
    if over:
        print(f"over the limit: {', '.join(over)}")
    return 1 if over and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
