"""Grade a class's returned notebooks, in the spirit of nbgrader's autograde.

Run it as ``python -m sslbook.grade SUBMISSIONS... [--csv out.csv] [--timeout S]
[--chapters DIR]``. Each SUBMISSION is a notebook file or a folder searched for
notebooks (sub-folders included, hidden ones such as ``.ipynb_checkpoints``
skipped). Every notebook must be a student copy of a chapter (made by
``python -m sslbook.student``); it is executed from top to bottom in a fresh
kernel whose working folder is the chapters folder (so ``checkpoints/`` is
found), every cell runs even after an error, and each check cell (tag ``check``)
gives one row: student, chapter, exercise, status, detail. Before running, each
check cell gets back the chapter's own source, so an edited check cannot pass.

Who is the student: a notebook found in a folder belongs to the folder that
holds it (``submissions/alice/02_concepts.ipynb`` -> ``alice``, whether you name
``submissions/`` or ``submissions/alice/``); a file named on the command line
belongs to its file stem (``returned/bob.ipynb`` -> ``bob``, so ``returned/*.ipynb``
grades a flat folder of files named after their students). The chapter is the
one whose exercise headings ("Exercise 2.1") the notebook carries, or else the
one whose file name it has.

Statuses: ``passed``; ``wrong`` (detail: the first line of the checker's
message); ``not answered``; ``error`` (another exception in the check cell:
its type and first line, or a time-out); ``invalid`` (the submission could not
be graded: not a notebook, not a student copy of a chapter, missing; the row
says why). One bad submission never stops the others. The table and a total per
student (passed of total) are printed; ``--csv`` writes the rows (without the
totals). Progress goes to stderr. Exit status: 0 once everything that could be
graded was graded (invalid rows included), 2 when an argument is unusable.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import _validate

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
COLUMNS = ("student", "chapter", "exercise", "status", "detail")
STATUSES = ("passed", "wrong", "not answered", "error", "invalid")
HEADING = re.compile(r"^\s*(?:#{1,6}\s+|\*\*)Exercise\s+(\d+\.\d+)", re.MULTILINE)
PREFIX = re.compile(r"^Exercise\s+(\d+\.\d+):\s*")


class Row(NamedTuple):
    """One line of the grade table; ``detail`` is empty for ``passed`` and ``not answered``."""

    student: str
    chapter: str
    exercise: str
    status: str
    detail: str = ""


class InvalidSubmission(ValueError):
    """A submission that cannot be graded; the message says why."""


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def _is_check(cell) -> bool:
    return cell.get("cell_type") == "code" and "check" in cell.get("metadata", {}).get("tags", [])


def exercises(nb) -> list[tuple[str, int]]:
    """``[(exercise number, index of its check cell)]`` of a notebook, in order.

    The number is the last "Exercise N.M" heading since the previous check cell;
    a check cell without one is numbered by position (``?1``, ``?2``...).

    >>> exercises(jupytext.read("chapters/01_background.md"))
    [('1.1', 17), ('1.2', 21)]
    """
    found, number = [], None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            heads = HEADING.findall(cell.source)
            number = heads[-1] if heads else number
        elif _is_check(cell):
            found.append((number or f"?{len(found) + 1}", i))
            number = None
    return found


@lru_cache(maxsize=8)
def chapter_checks(chapters: Path) -> dict[str, dict[str, str]]:
    """``{chapter stem: {exercise number: check cell source}}`` for the MyST chapters in ``chapters``.

    >>> chapter_checks(CHAPTERS)["01_background"]["1.1"]
    'exercises.check_signal_kinds(answers)'
    """
    import jupytext

    index = {}
    for md in sorted(Path(chapters).glob("*.md")):
        if not md.read_text(encoding="utf-8").startswith("---\njupytext:"):
            continue  # a plain page (the references), not a notebook
        nb = jupytext.read(str(md))
        index[md.stem] = {n: nb.cells[i].source for n, i in exercises(nb)}
    return {stem: checks for stem, checks in index.items() if checks}


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
    import nbformat

    path, index = Path(path), chapter_checks(_chapters_dir(chapters))
    if not path.exists():
        raise InvalidSubmission("no such file or folder")
    if path.is_dir() or path.suffix != ".ipynb":
        raise InvalidSubmission("not a notebook (not an .ipynb file)")
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except nbformat.reader.NotJSONError:
        raise InvalidSubmission("not a notebook (not valid JSON)") from None
    except UnicodeDecodeError:
        raise InvalidSubmission("not a notebook (not UTF-8 text)") from None
    except Exception as exc:  # nbformat's schema errors come in several types
        raise InvalidSubmission(f"not a valid notebook (nbformat: {_first_line(exc)})") from None
    if not isinstance(nb.metadata.get("sslbook"), dict):
        raise InvalidSubmission("not a student copy of a chapter: no 'sslbook' metadata "
                                "(make copies with python -m sslbook.student)")
    numbers = {n for n, _ in exercises(nb)}
    votes = {stem: len(numbers & set(checks)) for stem, checks in index.items()}
    best = max(votes, key=votes.get, default=None)
    chapter = best if best and votes[best] else path.stem if path.stem in index else None
    if chapter is None:
        raise InvalidSubmission(f"unknown chapter: neither its exercises ({', '.join(sorted(numbers)) or 'none'}) "
                                f"nor its name ({path.stem!r}) match a chapter of the book")
    return nb, chapter


def _status(cell, timeout) -> tuple[str, str]:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return "passed", ""
    name, message = errors[0].get("ename", ""), _first_line(errors[0].get("evalue", ""))
    if name == "ExerciseError":
        message = PREFIX.sub("", message)
        return ("not answered", "") if message.startswith("not answered yet") else ("wrong", message)
    if name == "KeyboardInterrupt":
        return "error", f"timed out: a cell ran longer than {timeout:g} s and was interrupted"
    return "error", f"{name}: {message}" if message else name


def grade_notebook(path, student=None, *, chapters=None, timeout: float = 600) -> list[Row]:
    """Execute one student notebook and return one ``Row`` per check cell.

    ``student`` defaults to the file stem; ``chapters`` (default: the book's
    ``chapters/`` folder) is both where the chapters are looked up and the
    kernel's working folder; ``timeout`` is in seconds per cell. A submission
    that cannot be graded gives a single ``invalid`` row saying why.

    >>> grade_notebook("submissions/bob/01_background.ipynb", "bob")
    [Row(student='bob', chapter='01_background', exercise='1.1', status='wrong', detail='scenario c ...'), ...]
    """
    from nbclient import NotebookClient

    _validate.positive("timeout", timeout)
    chapters, path = _chapters_dir(chapters), Path(path)
    student = path.stem if student is None else str(student)
    try:
        nb, chapter = read_submission(path, chapters)
    except InvalidSubmission as exc:
        return [Row(student, "", "", "invalid", f"{path.name}: {exc}")]
    checks = chapter_checks(chapters)[chapter]
    found = exercises(nb)
    for number, i in found:  # as nbgrader does: the chapter's own check, whatever the student left there
        nb.cells[i].source = checks.get(number, nb.cells[i].source)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    stopped = ""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(chapters)}})
    try:
        client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines, not the cells' output
    except Exception as exc:  # a dead kernel or a kernel that never started: report, go on
        stopped = f"the notebook stopped: {type(exc).__name__}: {_first_line(exc)}"
    rows = []
    for number, i in found:
        cell = nb.cells[i]
        if stopped and cell.get("execution_count") is None and not cell.get("outputs"):
            rows.append(Row(student, chapter, number, "error", stopped))
        else:
            rows.append(Row(student, chapter, number, *_status(cell, timeout)))
    missing = [n for n in checks if n not in {n for n, _ in found}]
    rows += [Row(student, chapter, n, "error", "its check cell is missing") for n in missing]
    return rows


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


def grade(paths, *, chapters=None, timeout: float = 600, log=None) -> list[Row]:
    """Grade every submission in ``paths`` (files and folders); return all rows, invalid ones included.

    ``log`` (a file, e.g. ``sys.stderr``) receives one progress line per notebook.

    >>> rows = grade(["submissions"], timeout=300)
    >>> totals(rows)["alice"]
    (2, 2, 0)
    """
    _validate.positive("timeout", timeout)
    chapters = _chapters_dir(chapters)
    rows = []
    for student, path in submissions(paths):
        if log is not None:
            print(f"grading {path} ({student})", file=log, flush=True)
        rows += grade_notebook(path, student, chapters=chapters, timeout=timeout)
    return rows


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


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
        _validate.positive("--timeout", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}") from None
    return value


def _chapters_arg(text: str) -> Path:
    try:
        return _chapters_dir(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be the book's chapters folder, got {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sslbook.grade",
        description="Execute student copies of the chapters and grade every exercise's check cell.",
        epilog="Exit status: 0 when everything that could be graded was (invalid submissions are rows "
               "of the table), 2 when an argument is unusable.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSIONS",
                        help="notebook files (student = file stem) or folders (student = the folder holding "
                             "each notebook)")
    parser.add_argument("--csv", type=Path, metavar="OUT.csv", help="also write the rows to this CSV file")
    parser.add_argument("--timeout", type=_positive_seconds, default=600.0, metavar="S",
                        help="seconds a cell may run before it is interrupted (default 600)")
    parser.add_argument("--chapters", type=_chapters_arg, default=None, metavar="DIR",
                        help="the book's chapters folder: where chapters are looked up and notebooks run "
                             f"(default {CHAPTERS})")
    args = parser.parse_args(argv)
    if args.chapters is None and not CHAPTERS.is_dir():
        parser.error(f"--chapters is needed: there is no chapters folder at {CHAPTERS}")
    if args.csv is not None and not args.csv.resolve().parent.is_dir():
        parser.error(f"--csv: the folder of {str(args.csv)!r} does not exist")
    rows = grade(args.submissions, chapters=args.chapters, timeout=args.timeout, log=sys.stderr)
    print(format_table(rows))
    if args.csv is not None:
        write_csv(rows, args.csv)
        print(f"\nwrote {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
