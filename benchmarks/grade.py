"""What grading costs: the grader of a git revision (default HEAD, before issue 26) against the working tree's.

    python benchmarks/grade.py                          # 10 copies of chapter 1's exercises, 1 whole chapter 1
    python benchmarks/grade.py --copies 30 --chapters 2 --before HEAD~3

Two classes are graded by each grader through its command line (``python -m sslbook.grade``): a folder
of ``--copies`` student copies of chapter 1's set-up cell and exercises (answers right, as the tests
build them) and a folder of ``--chapters`` copies of the whole chapter 1. The older grader runs from a
temporary ``git worktree`` of ``--before``. For each: the wall-clock seconds of the command, seconds per
submission, and how many rows passed (every row should). Prints a table and writes
benchmarks/results/grade.json. Run it on an otherwise idle machine: the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def chapter_one(whole: bool):
    """Chapter 1 with its solutions, marked as a student copy: the whole chapter, or set-up + exercises."""
    import jupytext

    nb = jupytext.read(os.path.join(ROOT, "chapters", "01_background.md"))
    if not whole:
        setup = next(c for c in nb.cells if c.cell_type == "code" and "digits = data.load_digits()" in c.source)
        start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "Exercise 1.1" in c.source)
        nb.cells = [setup, *nb.cells[start:]]
    nb.metadata["sslbook"] = {"student_copy": True, "solutions_removed": 0}
    return nb


def make_class(folder: str, copies: int, whole: bool) -> str:
    import nbformat

    nb = chapter_one(whole)
    for i in range(copies):
        os.makedirs(os.path.join(folder, f"student{i:02d}"))
        nbformat.write(nb, os.path.join(folder, f"student{i:02d}", "01_background.ipynb"))
    return folder


def run_grader(code_root: str, submissions: str, out_csv: str) -> dict:
    env = dict(os.environ, PYTHONPATH=code_root, SSLBOOK_PROGRESS="0")
    where = subprocess.run([sys.executable, "-c", "import sslbook.grade as g; print(g.__file__)"], cwd=code_root,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(os.path.realpath(code_root)) and not where.startswith(code_root):
        raise SystemExit(f"the grader under test is {where}, not the one in {code_root}")
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "sslbook.grade", submissions, "--csv", out_csv], cwd=code_root,
                         env=env, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"the grader in {code_root} failed:\n{run.stderr[-3000:]}")
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    students = {r["student"] for r in rows}
    return {"seconds": round(seconds, 2), "submissions": len(students),
            "per_submission": round(seconds / max(len(students), 1), 2),
            "rows": len(rows), "passed": sum(r["status"] == "passed" for r in rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of chapter 1's exercises (default 10)")
    parser.add_argument("--chapters", type=int, default=1, help="copies of the whole chapter 1 (default 1)")
    parser.add_argument("--before", default="HEAD", help="git revision of the older grader (default HEAD)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "grade.json"))
    args = parser.parse_args(argv)
    for name in ("copies", "chapters"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be >= 0, got {getattr(args, name)}")
    work = tempfile.mkdtemp(prefix="grade-bench-")
    before = os.path.join(work, "before")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", before, args.before], check=True,
                   capture_output=True)
    results = []
    try:
        classes = [("chapter 1 exercises", args.copies, False), ("whole chapter 1", args.chapters, True)]
        for label, copies, whole in classes:
            if not copies:
                continue
            folder = make_class(os.path.join(work, label.replace(" ", "_")), copies, whole)
            for grader, code in ((f"before ({args.before})", before), ("after (working tree)", ROOT)):
                got = run_grader(code, folder, os.path.join(work, "grades.csv"))
                results.append({"class": label, "grader": grader, **got})
                print(f"{label:<20} {grader:<22} {got['submissions']:>3} notebooks  {got['seconds']:>8.1f} s  "
                      f"{got['per_submission']:>6.1f} s each  passed {got['passed']}/{got['rows']}", flush=True)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", before], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    from sslbook import sandbox
    write_json({"machine": machine(), "cores": os.cpu_count(), "sandbox": sandbox.isolation(), "results": results},
               args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
