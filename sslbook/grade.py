"""Grade a class's returned notebooks, in the spirit of nbgrader's autograde, with checks the students'
code cannot reach (issue 26).

Run it as ``python -m sslbook.grade SUBMISSIONS... [--csv out.csv] [--timeout S] [--notebook-timeout S]
[--max-output MB] [--memory GB] [--chapters DIR]``. Each SUBMISSION is a notebook file or a folder searched
for notebooks (sub-folders included, hidden ones such as ``.ipynb_checkpoints`` skipped). Every notebook must
be a student copy of a chapter (``python -m sslbook.student``). It runs from top to bottom, every cell even
after an error, in a fresh kernel inside a throw-away folder (``sslbook.sandbox``: its own HOME and working
folder, a read-only copy of what the chapters read, limits on time, output and memory, bubblewrap or Linux
namespaces where they work). At each check cell (tag ``check``) the chapter's own check (whatever the student
left there) runs **in the grader's process** (``sslbook.checking``): the checker receives the student's
answers as data and calls the student's functions through ``sslbook.proxy``, so nothing the student's code
changed in its kernel (a checker, a comparison, an exception class) is what judges it. One row per check
cell: student, chapter, exercise, status, detail.

Who is the student: a notebook found in a folder belongs to the folder that holds it
(``submissions/alice/02_concepts.ipynb`` -> ``alice``); a file named on the command line belongs to its file
stem (``returned/bob.ipynb`` -> ``bob``). The chapter is the one whose exercise headings ("Exercise 2.1") the
notebook carries, or else the one whose file name it has.

Statuses: ``passed``; ``wrong`` (detail: the first line of the checker's message); ``not answered``; ``error``
(the check could not finish: a missing name, a kernel that died, exited, timed out or flooded its output; only
that student's rows); ``invalid`` (not a notebook, not a student copy of a chapter, missing). Rows checked in
the student's kernel (exercise 8.2: its answer is a model) say so in their detail. The table (headed by the
sandbox in use), a total per student and a summary per exercise are printed; ``--csv`` writes the rows. A
progress bar and each notebook's time go to stderr. Exit status: 0 once everything that could be graded was
graded (invalid rows included), 2 when an argument is unusable.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from . import _validate, checking, sandbox
from .checking import InvalidSubmission, chapter_checks, exercises

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
COLUMNS = ("student", "chapter", "exercise", "status", "detail")
STATUSES = ("passed", "wrong", "not answered", "error", "invalid")


class Row(NamedTuple):
    """One line of the grade table; ``detail`` is empty for ``passed`` and ``not answered``."""

    student: str
    chapter: str
    exercise: str
    status: str
    detail: str = ""


def _chapters_dir(chapters) -> Path:
    path = Path(CHAPTERS if chapters is None else chapters)
    if not path.is_dir() or not chapter_checks(path.resolve()):
        raise ValueError(f"chapters must be the book's chapters folder (MyST .md chapters with exercises), "
                         f"got {str(path)!r}")
    return path.resolve()


def read_submission(path, chapters=None):
    """Read a student's notebook; return ``(notebook, chapter stem)`` or raise ``InvalidSubmission``.

    >>> nb, chapter = read_submission("submissions/alice/02_concepts.ipynb")
    >>> chapter
    '02_concepts'
    """
    return checking.read_notebook(path, chapter_checks(_chapters_dir(chapters)))


def grade_notebook(path, student=None, *, chapters=None, timeout: float = 600, limits=None, hide=(),
                   read=None) -> list[Row]:
    """Execute one student notebook in a sandbox and return one ``Row`` per check cell.

    ``student`` defaults to the file stem; ``chapters`` (default: the book's ``chapters/`` folder) is where
    the chapters are looked up; ``timeout`` is in seconds per cell (``limits``, a :class:`sslbook.sandbox.Limits`,
    sets every limit instead); ``hide``: more folders or files the kernel must not see (the grader adds the
    submission's own folder, the chapters and, in :func:`grade`, every submission and the output file);
    ``read``: what :func:`read_submission` gave (or the ``InvalidSubmission`` it raised), read earlier.

    >>> grade_notebook("submissions/bob/01_background.ipynb", "bob")
    [Row(student='bob', chapter='01_background', exercise='1.1', status='wrong', detail='scenario c ...'), ...]
    """
    _validate.positive("timeout", timeout)
    chapters, path = _chapters_dir(chapters), Path(path)
    limits = sandbox.Limits(cell=float(timeout)) if limits is None else limits
    student = path.stem if student is None else str(student)
    read = _read(path, chapters) if read is None else read
    if isinstance(read, InvalidSubmission):
        return [Row(student, "", "", "invalid", f"{path.name}: {read}")]
    nb, chapter = read
    checks, found, results, handlers = chapter_checks(chapters)[chapter], exercises(nb), {}, {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with sandbox.Sandbox(chapters, hide=[path.resolve().parent, *hide], limits=limits) as box:
        for number, i in found:   # as nbgrader does: the chapter's own check, whatever the student left there
            nb.cells[i].source = checks.get(number, nb.cells[i].source)
            plan = checking.plan(nb.cells[i].source)
            if not checking.in_kernel(plan):
                handlers[i] = _handler(plan, i, results, box.exchange)
        stopped = sandbox.execute(nb, box, handlers)
    rows = []
    for number, i in found:
        cell = nb.cells[i]
        if i in results:
            rows.append(Row(student, chapter, number, *results[i]))
        elif i in handlers or (stopped and cell.get("execution_count") is None and not cell.get("outputs")):
            rows.append(Row(student, chapter, number, "error", stopped or "the check did not run"))
        else:
            rows.append(Row(student, chapter, number, *checking.kernel_status(cell, limits.cell)))
    missing = [n for n in checks if n not in {n for n, _ in found}]
    rows += [Row(student, chapter, n, "error", "its check cell is missing") for n in missing]
    return rows


def _read(path, chapters):
    try:
        return read_submission(path, chapters)
    except InvalidSubmission as exc:
        return exc


def _handler(plan, index, results, folder):
    def check(run):
        try:
            results[index] = checking.run_check(plan, run, folder)
        except sandbox.Stopped as exc:   # the kernel died during the check: this row says why, the rest stop
            results[index] = ("error", str(exc))
            raise
    return check


def submissions(paths) -> list[tuple[str, Path]]:
    """``[(student, path)]`` for the files and folders in ``paths``, following the rule in the module docstring.

    >>> submissions(["submissions"])
    [('alice', PosixPath('submissions/alice/01_background.ipynb')), ...]
    """
    if isinstance(paths, (str, Path)):
        raise ValueError(f"paths must be a list of files or folders, got the single path {str(paths)!r}")
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append((path.stem, path))
            continue
        for file in sorted(path.rglob("*")):
            hidden = any(p.startswith(".") for p in file.relative_to(path).parts)
            if file.is_file() and not hidden:
                found.append((file.parent.name if file.parent != path else path.resolve().name, file))
    return found


def grade(paths, *, chapters=None, timeout: float = 600, log=None, limits=None, hide=()) -> list[Row]:
    """Grade every submission in ``paths`` (files and folders); return all rows, invalid ones included.

    ``log`` (a file, e.g. ``sys.stderr``) receives a progress bar and one line per notebook with its time.
    Each kernel is kept from every submission and from ``hide`` (the output file).

    >>> rows = grade(["submissions"], timeout=300)
    >>> totals(rows)["alice"]
    (2, 2, 0)
    """
    _validate.positive("timeout", timeout)
    chapters, found = _chapters_dir(chapters), submissions(paths)
    read = [_read(path, chapters) for _, path in found]   # all read first: no kernel can change another's file
    hide = [*{(p if p.is_dir() else p.parent).resolve() for p in map(Path, paths) if p.exists()}, *hide]
    rows = []
    bar = tqdm(found, file=log, unit="notebook", disable=log is None, leave=False, dynamic_ncols=True)
    for (student, path), got in zip(bar, read):
        bar.set_postfix_str(f"{student}: {path.name}")
        start = time.perf_counter()
        rows += grade_notebook(path, student, chapters=chapters, timeout=timeout, limits=limits, hide=hide, read=got)
        if log is not None:
            bar.write(f"graded {path} ({student}) in {time.perf_counter() - start:.1f} s", file=log)
    return rows


def summary(rows) -> dict[tuple[str, str], dict[str, int]]:
    """``{(chapter, exercise): {status: count}}`` over the graded rows, in the order exercises first appear.

    >>> summary([Row("ann", "01_background", "1.1", "passed"), Row("ben", "01_background", "1.1", "wrong", "x")])
    {('01_background', '1.1'): {'passed': 1, 'wrong': 1}}
    """
    out = {}
    for row in rows:
        if row.status != "invalid":
            counts = out.setdefault((row.chapter, row.exercise), {})
            counts[row.status] = counts.get(row.status, 0) + 1
    return out


def format_summary(rows) -> str:
    """One line per exercise: how many passed of how many graded, and the other statuses.

    >>> rows = [Row("ann", "01_background", "1.1", "passed"), Row("ben", "01_background", "1.1", "wrong")]
    >>> print(format_summary(rows))
    exercise 1.1 (01_background): 1 of 2 passed; wrong 1
    """
    lines = []
    for (chapter, exercise), counts in summary(rows).items():
        others = "; " + ", ".join(f"{s} {counts[s]}" for s in STATUSES if s != "passed" and s in counts)
        lines.append(f"exercise {exercise} ({chapter}): {counts.get('passed', 0)} of {sum(counts.values())} passed"
                     + (others if len(counts) > ("passed" in counts) else ""))
    return "\n".join(lines)


def totals(rows) -> dict[str, tuple[int, int, int]]:
    """``{student: (passed, exercises, invalid submissions)}``, students in their first row's order.

    >>> totals([Row("ann", "01_background", "1.1", "passed"), Row("ann", "", "", "invalid", "x")])
    {'ann': (1, 1, 1)}
    """
    out = {}
    for row in rows:
        passed, total, invalid = out.get(row.student, (0, 0, 0))
        if row.status == "invalid":
            out[row.student] = (passed, total, invalid + 1)
        else:
            out[row.student] = (passed + (row.status == "passed"), total + 1, invalid)
    return out


def format_table(rows) -> str:
    """The rows as an aligned text table, then one total per student ("2 of 2 passed").

    >>> print(format_table([Row("ann", "01_background", "1.1", "passed")]))  # doctest: +NORMALIZE_WHITESPACE
    student  chapter        exercise  status  detail
    ann      01_background  1.1       passed
    <BLANKLINE>
    ann: 1 of 1 passed
    """
    table = [COLUMNS, *rows]
    widths = [max(len(str(r[c])) for r in table) for c in range(len(COLUMNS))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    lines.append("")
    for student, (passed, total, invalid) in totals(rows).items():
        note = f", {invalid} invalid submission{'s' * (invalid != 1)}" if invalid else ""
        lines.append(f"{student}: {passed} of {total} passed{note}")
    return "\n".join(lines)


def write_csv(rows, path) -> Path:
    """Write ``rows`` with a header line (``student,chapter,exercise,status,detail``) to ``path``.

    >>> write_csv(grade(["submissions"]), "grades.csv")
    PosixPath('grades.csv')
    """
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def _positive(option: str, unit: str):
    def read(text: str) -> float:
        try:
            value = float(text)
            _validate.positive(option, value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number of {unit} > 0, got {text!r}") from None
        return value
    return read


def _chapters_arg(text: str) -> Path:
    try:
        return _chapters_dir(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be the book's chapters folder, got {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sslbook.grade",
        description="Execute student copies of the chapters, each in a throw-away sandbox, and grade every "
                    "exercise's check cell in this process.",
        epilog="Exit status: 0 when everything that could be graded was (invalid submissions are rows "
               "of the table), 2 when an argument is unusable.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSIONS",
                        help="notebook files (student = file stem) or folders (student = the folder holding "
                             "each notebook)")
    parser.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the rows to this CSV file")
    parser.add_argument("--timeout", type=_positive("--timeout", "seconds"), default=600.0, metavar="S",
                        help="seconds a cell may run before it is interrupted (default 600)")
    parser.add_argument("--notebook-timeout", type=_positive("--notebook-timeout", "seconds"), default=3600.0,
                        metavar="S", help="seconds a notebook may run before its kernel is stopped (default 3600)")
    parser.add_argument("--max-output", type=_positive("--max-output", "MB"), default=10.0, metavar="MB",
                        help="MB a notebook may print before its kernel is stopped (default 10)")
    parser.add_argument("--memory", type=_positive("--memory", "GB"), default=8.0, metavar="GB",
                        help="GB of memory a kernel may allocate (RLIMIT_DATA; default 8)")
    parser.add_argument("--chapters", type=_chapters_arg, default=None, metavar="DIR",
                        help=f"the book's chapters folder: where chapters are looked up (default {CHAPTERS})")
    args = parser.parse_args(argv)
    if args.chapters is None and not CHAPTERS.is_dir():
        parser.error(f"--chapters is needed: there is no chapters folder at {CHAPTERS}")
    if args.csv is not None and not args.csv.resolve().parent.is_dir():
        parser.error(f"--csv: the folder of {str(args.csv)!r} does not exist")
    limits = sandbox.Limits(cell=args.timeout, notebook=args.notebook_timeout, output=int(args.max_output * 2**20),
                            memory=int(args.memory * 2**30))
    hide = [] if args.csv is None else [args.csv.resolve().parent, args.csv.resolve()]
    rows = grade(args.submissions, chapters=args.chapters, timeout=args.timeout, log=sys.stderr, limits=limits,
                 hide=hide)
    mode = sandbox.isolation()
    print(f"# sandbox: {mode}: {sandbox.DESCRIPTIONS[mode]}")
    print(format_table(rows))
    if summary(rows):
        print("\nper exercise:\n" + format_summary(rows))
    if args.csv is not None:
        write_csv(rows, args.csv)
        print(f"\nwrote {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
