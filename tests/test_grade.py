"""The grading command: a class's returned notebooks in, one row per exercise out.

The submissions are built from chapter 1's exercises (the fastest to run): the
chapter's set-up cell and everything from "Exercise 1.1" on, as a student copy.
Each executed notebook starts a kernel (about 8 s here), so the command runs on
three notebooks in-process and on one through ``python -m sslbook.grade``. The
attacks on the grader are in ``test_grade_attacks.py``; its parts (the data-only
proxy, the sandbox, reading a check cell) in ``test_grade_parts.py``.
"""
import contextlib
import csv
import io
import os
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest

from sslbook import exercises, grade, sandbox, student

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAPTER = "01_background"


def chapter_one_exercises():
    """Chapter 1's set-up cell and its two exercises with their solutions, marked as a student copy."""
    nb = jupytext.read(os.path.join(ROOT, "chapters", CHAPTER + ".md"))
    setup = next(c for c in nb.cells if c.cell_type == "code" and "digits = data.load_digits()" in c.source)
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "Exercise 1.1" in c.source)
    nb.cells = [setup, *nb.cells[start:]]
    nb.metadata["sslbook"] = {"student_copy": True, "solutions_removed": 0}
    return nb


def open_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def solution(nb, text):
    return next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and text in c.source)


WRONG_1_1 = ('"c": "self-supervised"', '"c": "unsupervised"')


def wrong_message():
    """What the checker itself says about bob's answer to 1.1 (first line, without "Exercise 1.1: ")."""
    answers = {"a": "supervised", "b": "unsupervised", "c": "unsupervised",
               "d": "self-supervised", "e": "supervised", "f": "unsupervised"}
    with pytest.raises(exercises.ExerciseError) as err:
        exercises.check_signal_kinds(answers)
    return str(err.value).splitlines()[0].removeprefix("Exercise 1.1: ")


def make_submissions(folder):
    """alice right, bob wrong (1.1, with its check edited away) and broken (1.2), carol unanswered,
    dave corrupt and a text file,
    erin the chapter itself (not a student copy), frank a notebook of no chapter."""
    right = chapter_one_exercises()
    wrong = chapter_one_exercises()
    cell = solution(wrong, "answers = {")
    assert WRONG_1_1[0] in cell.source
    cell.source = cell.source.replace(*WRONG_1_1)
    solution(wrong, "labels_needed").source = 'labels_needed = int("twelve")'
    check = next(c for c in wrong.cells if "check_signal_kinds" in c.source)
    check.source = "print('Exercise 1.1 passed')  # edited by the student: grading restores the check"
    blank = chapter_one_exercises()
    for cell in blank.cells:
        if cell.cell_type == "code":
            cell.source, _ = student.strip_solutions(cell.source)
    blank.metadata["sslbook"]["solutions_removed"] = 2
    for name, nb in [("alice", right), ("bob", wrong), ("carol", blank)]:
        (folder / name).mkdir(parents=True)
        nbformat.write(nb, str(folder / name / (CHAPTER + ".ipynb")))
    (folder / "dave").mkdir()
    (folder / "dave" / (CHAPTER + ".ipynb")).write_text('{"cells": [', encoding="utf-8")
    (folder / "dave" / "notes.txt").write_text("I did my best.\n", encoding="utf-8")
    (folder / "erin").mkdir()
    chapter_ipynb = os.path.join(ROOT, "chapters", CHAPTER + ".ipynb")
    (folder / "erin" / (CHAPTER + ".ipynb")).write_text(open_text(chapter_ipynb), encoding="utf-8")
    (folder / "frank").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# My essay")],
                                            metadata={"sslbook": {"student_copy": True}}),
                   str(folder / "frank" / "essay.ipynb"))
    (folder / "carol" / ".ipynb_checkpoints").mkdir()  # Jupyter's autosaves are not submissions
    (folder / "carol" / ".ipynb_checkpoints" / "01_background-checkpoint.ipynb").write_text("{}")
    return folder


def expected_rows():
    chapter_copy = ("not a student copy of a chapter: no 'sslbook' metadata "
                    "(make copies with python -m sslbook.student)")
    return [
        ("alice", CHAPTER, "1.1", "passed", ""),
        ("alice", CHAPTER, "1.2", "passed", ""),
        ("bob", CHAPTER, "1.1", "wrong", wrong_message()),
        ("bob", CHAPTER, "1.2", "error", "NameError: name 'labels_needed' is not defined"),
        ("carol", CHAPTER, "1.1", "not answered", ""),
        ("carol", CHAPTER, "1.2", "not answered", ""),
        ("dave", "", "", "invalid", "01_background.ipynb: not a notebook (not valid JSON)"),
        ("dave", "", "", "invalid", "notes.txt: not a notebook (not an .ipynb file)"),
        ("erin", "", "", "invalid", f"01_background.ipynb: {chapter_copy}"),
        ("frank", "", "", "invalid", "essay.ipynb: unknown chapter: neither its exercises (none) "
                                     "nor its name ('essay') match a chapter of the book"),
        ("gina", "", "", "invalid", "gina.ipynb: no such file or folder"),
    ]


TOTALS = ["alice: 2 of 2 passed", "bob: 0 of 2 passed", "carol: 0 of 2 passed",
          "dave: 0 of 0 passed, 2 invalid submissions", "erin: 0 of 0 passed, 1 invalid submission",
          "frank: 0 of 0 passed, 1 invalid submission", "gina: 0 of 0 passed, 1 invalid submission"]


def table_rows(text):
    """The data rows of a printed table, split on the column starts of its header (after the sandbox line)."""
    lines = [line for line in text.splitlines() if not line.startswith("# sandbox: ")]
    header = lines[0]
    starts = [header.index(c) for c in grade.COLUMNS] + [None]
    rows = []
    for line in lines[1:lines.index("")]:
        rows.append(tuple(line[a:b].strip() for a, b in zip(starts, starts[1:])))
    return rows


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The command run in-process on the whole class plus a missing path: (exit status, stdout, stderr, CSV)."""
    folder = make_submissions(tmp_path_factory.mktemp("class") / "submissions")
    out_csv = folder.parent / "grades.csv"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = grade.main([str(folder), str(folder / "gina.ipynb"), "--csv", str(out_csv), "--timeout", "120"])
    return status, out.getvalue(), err.getvalue(), out_csv


def test_the_table_has_one_row_per_exercise_and_one_per_bad_submission(graded):
    status, out, err, _ = graded
    assert status == 0
    mode = sandbox.isolation()
    assert out.splitlines()[0] == f"# sandbox: {mode}: {sandbox.DESCRIPTIONS[mode]}"
    assert out.splitlines()[1].split() == ["student", "chapter", "exercise", "status", "detail"]
    assert table_rows(out) == expected_rows()
    assert "01_background-checkpoint" not in err
    for name in ("alice", "bob", "carol"):   # one line per notebook with its time
        assert re.search(rf"graded \S+/{name}/01_background.ipynb \({name}\) in \d+\.\d s", err), err


def test_a_summary_per_exercise_shows_what_the_class_struggled_with(graded):
    _, out, _, _ = graded
    block = out.split("\nper exercise:\n")[1].split("\n\n")[0].splitlines()
    assert block == ["exercise 1.1 (01_background): 1 of 3 passed; wrong 1, not answered 1",
                     "exercise 1.2 (01_background): 1 of 3 passed; not answered 1, error 1"]


def test_the_totals_count_passed_of_total_per_student(graded):
    _, out, _, out_csv = graded
    block = out.split("\n\n")[1].splitlines()
    assert block == TOTALS
    assert out.rstrip().endswith(f"wrote {len(expected_rows())} rows to {out_csv}")


def test_the_csv_holds_the_same_rows(graded):
    *_, out_csv = graded
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = [tuple(r) for r in csv.reader(f)]
    assert rows[0] == grade.COLUMNS
    assert rows[1:] == expected_rows()


def test_the_command_runs_as_a_module(tmp_path):
    folder = make_submissions(tmp_path / "submissions")
    out_csv = tmp_path / "carol.csv"
    run = subprocess.run([sys.executable, "-m", "sslbook.grade", str(folder / "carol"),
                          str(folder / "dave" / "notes.txt"), "--csv", str(out_csv)],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [r for r in expected_rows() if r[0] == "carol"]
    # A file named on the command line belongs to its stem: notes.txt -> "notes".
    rows.append(("notes", "", "", "invalid", "notes.txt: not a notebook (not an .ipynb file)"))
    assert table_rows(run.stdout) == rows
    assert run.stdout.split("\n\n")[1].splitlines() == [
        "carol: 0 of 2 passed", "notes: 0 of 0 passed, 1 invalid submission"]
    with open(out_csv, newline="", encoding="utf-8") as f:
        assert [tuple(r) for r in csv.reader(f)][1:] == rows


@pytest.mark.parametrize("args,message", [
    (["--timeout", "0", "x.ipynb"], "argument --timeout: must be a number of seconds > 0, got '0'"),
    (["--chapters", "nowhere", "x.ipynb"], "argument --chapters: must be the book's chapters folder"),
    ([], "the following arguments are required: SUBMISSIONS"),
])
def test_unusable_arguments_exit_with_2_and_say_why(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        grade.main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_unusable_arguments_exit_with_2_from_the_shell(tmp_path):
    run = subprocess.run([sys.executable, "-m", "sslbook.grade", "--timeout", "-5", "x.ipynb"],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert run.returncode == 2 and "--timeout: must be a number of seconds > 0" in run.stderr


@pytest.mark.parametrize("kwargs,message", [
    (dict(timeout=0), "timeout must be a finite number > 0, got 0"),
    (dict(timeout=float("nan")), "timeout must be a finite number > 0, got nan"),
    (dict(chapters="nowhere"), "chapters must be the book's chapters folder"),
])
def test_the_python_api_names_the_bad_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        grade.grade_notebook("x.ipynb", **kwargs)


def test_grade_wants_a_list_of_paths():
    with pytest.raises(ValueError, match="paths must be a list of files or folders, got the single path 'x'"):
        grade.grade("x")


def test_read_submission_finds_the_chapter_by_its_exercises_whatever_the_file_is_called(tmp_path):
    path = tmp_path / "my homework.ipynb"
    nbformat.write(chapter_one_exercises(), str(path))
    _, chapter = grade.read_submission(path)
    assert chapter == CHAPTER


def test_the_chapter_index_holds_each_exercises_check():
    nb = chapter_one_exercises()
    checks = grade.chapter_checks(grade.CHAPTERS)[CHAPTER]
    numbers = [n for n, _ in grade.exercises(nb)]
    assert numbers == ["1.1", "1.2"] and set(checks) == {"1.1", "1.2"}
    assert checks["1.1"] == "exercises.check_signal_kinds(answers)"


def test_submissions_name_students_by_folder_or_file_stem(tmp_path):
    folder = make_submissions(tmp_path / "submissions")
    found = grade.submissions([str(folder), str(folder / "alice" / "01_background.ipynb")])
    assert [s for s, _ in found] == ["alice", "bob", "carol", "dave", "dave", "erin", "frank", "01_background"]
    assert [s for s, _ in grade.submissions([str(folder / "bob")])] == ["bob"]


def test_totals_and_table_from_rows():
    rows = [grade.Row("ann", CHAPTER, "1.1", "passed"), grade.Row("ann", CHAPTER, "1.2", "wrong", "no"),
            grade.Row("ben", "", "", "invalid", "x.ipynb: not a notebook (not valid JSON)")]
    assert grade.totals(rows) == {"ann": (1, 2, 0), "ben": (0, 0, 1)}
    text = grade.format_table(rows)
    assert table_rows(text) == [tuple(r) for r in rows]
    assert text.endswith("ann: 1 of 2 passed\nben: 0 of 0 passed, 1 invalid submission")
