"""The book's linear probes on one BLAS thread against the default (one thread per core).

scikit-learn's L-BFGS logistic regression calls numpy and scipy (each with its own OpenBLAS) on
small vectors thousands of times; on a 2-core machine the threads' hand-offs cost more than the
arithmetic they share. This measures ``evaluate.linear_probe`` and ``applications.tuned_probe`` at
the sizes the chapters use (few labels, all digits, a wide bag of words, raw pixels), each
``--repeats`` times under ``threadpool_limits(None)`` (the default) and ``threadpool_limits(1)``,
with both probes' own limit switched off for the default arm. The data are Gaussian classes (the
time of a fit depends on the shapes and the conditioning, not on what the numbers mean).

    .venv/bin/python benchmarks/probe_threads.py [--repeats 3] [--out benchmarks/results/probe_threads.json]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from unittest import mock

import numpy as np
from _common import machine, write_json
from threadpoolctl import threadpool_info, threadpool_limits

from sslbook import applications, evaluate

CASES = {   # name: (training rows, features, classes, probe)
    "few labels, 5 x 10 classes x 128": (50, 128, 10, "linear"),
    "digits, 1,257 x 128": (1257, 128, 10, "linear"),
    "pixels, 2,000 x 3,072": (2000, 3072, 10, "linear"),
    "tuned, 120 x 3,609 (6b's TF-IDF)": (120, 3609, 6, "tuned"),
    "tuned, 120 x 96 (6b's sentence vectors)": (120, 96, 6, "tuned"),
}


def data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    y, yt = rng.integers(0, k, n), rng.integers(0, k, 500)
    shift = np.eye(k, d) * 2
    return rng.normal(size=(n, d)) + shift[y], y, rng.normal(size=(500, d)) + shift[yt], yt


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/probe_threads.json")
    args = parser.parse_args(argv)
    blas = sorted({f"{i['internal_api']} x{i['num_threads']}" for i in threadpool_info()})
    rows = []
    print(f"{'case':42s} {'default (s)':>12s} {'one thread (s)':>15s} {'speed-up':>9s}   BLAS: {', '.join(blas)}")
    for name, (n, d, k, kind) in CASES.items():
        x, y, xt, yt = data(n, d, k)
        fn = ((lambda: evaluate.linear_probe(x, y, xt, yt)) if kind == "linear"
              else (lambda: applications.tuned_probe(x, y, xt, yt)))
        out = {}
        for arm, limit in (("default", None), ("one thread", 1)):
            off = (mock.patch.object(evaluate, "threadpool_limits", lambda n: contextlib.nullcontext()),
                   mock.patch.object(applications, "threadpool_limits", lambda n: contextlib.nullcontext()))
            with off[0], off[1], threadpool_limits(limit):
                out[arm] = timed(fn, args.repeats)
        rows.append({"case": name, "default_s": out["default"], "one_thread_s": out["one thread"],
                     "speedup": out["default"] / out["one thread"]})
        print(f"{name:42s} {out['default']:12.3f} {out['one thread']:15.3f} {rows[-1]['speedup']:8.1f}x")
    write_json({"machine": {**machine(), "blas": blas}, "repeats": args.repeats, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
