"""Student copies and chapter notebooks: the promises the book makes to teachers.

- every chapter's .ipynb is the same notebook as its MyST source;
- a student copy holds no solution code (executing it, every check cell fails with the
  checker's "not answered yet" message: tests/chapter_plugin.py, the chapter pass of `make test`);
- a deliberately wrong answer fails with a message saying what is wrong.
"""
import glob
import os
import re

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from sslbook import student

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # parametrize needs it at collection


def _is_notebook(path):
    """A chapter notebook is a MyST source with a jupytext header; chapter 10, the references, is a plain page."""
    with open(path, encoding="utf-8") as f:
        return f.read().startswith("---\njupytext:")


CHAPTERS = sorted(p for p in glob.glob(os.path.join(ROOT, "chapters", "*.md")) if _is_notebook(p))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2


def test_strip_solutions_keeps_indentation_and_code_around():
    src = "def f(x):\n    y = 1\n    # BEGIN SOLUTION -> return None\n    return x + y\n    # END SOLUTION\nprint(f)\n"
    out, n = student.strip_solutions(src)
    assert n == 1
    assert out == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    return None\nprint(f)\n"


@pytest.mark.parametrize("src,match", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "needs a stub"),
    ("# BEGIN SOLUTION -> x = None\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without BEGIN"),
    ("# BEGIN SOLUTION -> a\n# BEGIN SOLUTION -> b\n# END SOLUTION\n", "inside another"),
])
def test_strip_solutions_rejects_broken_markers(src, match):
    with pytest.raises(ValueError, match=match):
        student.strip_solutions(src)


@pytest.mark.parametrize("md", CHAPTERS, ids=os.path.basename)
def test_ipynb_is_in_sync_with_its_source(md):
    ipynb = md[:-3] + ".ipynb"
    assert os.path.exists(ipynb), f"{ipynb} is missing: run `make notebooks`"
    src = [(c.cell_type, c.source) for c in jupytext.read(md).cells]
    nb = [(c.cell_type, c.source) for c in nbformat.read(ipynb, as_version=4).cells]
    assert src == nb, f"{os.path.basename(ipynb)} differs from its .md source: run `make notebooks`"


def exercise_cells(nb):
    return [i for i, c in enumerate(nb.cells) if "check" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("md", CHAPTERS, ids=os.path.basename)
def test_each_notebook_has_checked_exercises_with_folded_solutions(md):
    nb = jupytext.read(md)
    checks = exercise_cells(nb)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(checks) >= 1 and len(solutions) == len(checks)
    for c in solutions:
        assert "hide-input" in c.metadata["tags"] and "# BEGIN SOLUTION" in c.source


def test_each_chapter_has_at_least_two_exercises():
    per_chapter = {}
    for md in CHAPTERS:
        number = re.match(r"(\d+)", os.path.basename(md)).group(1)
        per_chapter[number] = per_chapter.get(number, 0) + len(exercise_cells(jupytext.read(md)))
    assert per_chapter and all(n >= 2 for n in per_chapter.values()), per_chapter


def run(nb, cwd):
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": cwd}})
    client.execute()
    return nb


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("md", CHAPTERS, ids=os.path.basename)
def test_student_copy_holds_no_solution(md, tmp_path):
    """What a student copy hides. That it also *executes* (every check cell failing with the checker's
    "not answered yet", every other cell passing) is tested by the chapter pass of `make test`
    (tests/chapter_plugin.py), which runs each exercise's stub and then its solution in one execution."""
    nb = student.student_notebook(md)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert nb.metadata["sslbook"]["solutions_removed"] == len(exercise_cells(nb))
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            assert "YOUR CODE HERE" in cell.source
    nbformat.write(nb, str(tmp_path / "student.ipynb"))


def test_chapter_5_says_when_it_runs_on_the_stand_in(monkeypatch):
    """Offline and without CIFAR-10, chapter 5's first cells say that every number is for the stand-in
    (only those cells run here: the whole chapter runs in the chapter pass and in the book build)."""
    monkeypatch.setenv("SSLBOOK_OFFLINE", "1")
    monkeypatch.delenv("SSLBOOK_CIFAR10", raising=False)
    md = os.path.join(ROOT, "chapters", "05_cifar10.md")
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"]
    last = next(i for i, c in enumerate(code) if "cifar10_or_stand_in()" in c.source)
    nb.cells = code[:last + 1]
    run(nb, os.path.dirname(md))
    assert not any(errors(c) for c in nb.cells), [errors(c)[0].evalue for c in nb.cells if errors(c)]
    first = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "STAND-IN, not CIFAR-10" in first and "CIFAR-10 IS NOT AVAILABLE HERE" in first, first


def test_a_wrong_answer_fails_with_what_is_wrong(tmp_path):
    md = os.path.join(ROOT, "chapters", "01_background.md")
    nb = jupytext.read(md)
    # Keep only what exercise 1.1 needs: the imports, its listing, a wrong answer and its check.
    cells = [c for c in nb.cells if c.cell_type == "code"]
    listing = next(c for c in cells if "exercises.SCENARIOS" in c.source)
    solution = next(c for c in cells if "answers = {" in c.source)
    check = next(c for c in cells if "check_signal_kinds" in c.source)
    wrong = solution.source.replace('"c": "self-supervised"', '"c": "unsupervised"')
    assert wrong != solution.source
    solution.source = wrong
    nb.cells = [listing, solution, check]
    run(nb, str(tmp_path))
    err = errors(nb.cells[-1])
    assert err and err[0].ename == "ExerciseError"
    assert "scenario c is not unsupervised" in err[0].evalue
