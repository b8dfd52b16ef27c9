"""One execution per chapter for `make test`: nbval over the chapters' MyST sources, as students get them.

    python -m pytest -p tests.chapter_plugin chapters        (what `make test` runs, with SSLBOOK_SEED=1)

Each chapter's `.md` (the `.ipynb` beside it is the same notebook: tests/test_student.py checks that) is
read with jupytext and executed cell by cell by nbval in one kernel, in the chapter's folder, with the
environment's SSLBOOK_SEED. Around every exercise the notebook is rearranged so that the same execution
also tests the student copy:

    [the solution cell as a student gets it: the stub]  [cells up to the check]
    [the check cell, which must fail with "Exercise N.M: not answered yet"]
    [the real solution cell]  [the check cell, which must pass]

so a chapter is executed once in `make test` (and once more by `make book`), not three times.
Any error in any other cell fails its test item, as under nbval. The `.ipynb` files are not collected.
"""

from __future__ import annotations

from collections import defaultdict

import jupytext
import nbformat
from nbval.plugin import IPyNbCell, IPyNbFile, find_metadata_tags

from sslbook import student

EXPECT_UNANSWERED = '''\
# (make test) With the student's stub above, this exercise's check must say "not answered yet".
import re as _re
try:
    exec(compile({source!r}, "<check cell of exercise>", "exec"), globals())
except Exception as _err:
    assert type(_err).__name__ == "ExerciseError", f"the check failed with {{type(_err).__name__}}: {{_err}}"
    assert _re.match(r"Exercise \\d+\\.\\d+: not answered yet", str(_err)), str(_err)
else:
    raise AssertionError("a check cell passed in the student copy: its stub answers the exercise")
'''


def tags(cell) -> list:
    return cell.metadata.get("tags", [])


def with_student_stubs(nb):
    """The chapter with each exercise run twice in place: the student's stub (the check must say
    'not answered yet'), then the solution (the check must pass)."""
    cells, out, i = nb.cells, [], 0
    while i < len(cells):
        cell = cells[i]
        if "solution" not in tags(cell):
            out.append(cell)
            i += 1
            continue
        j = next((k for k in range(i + 1, len(cells)) if "check" in tags(cells[k])), None)
        if j is None:
            raise ValueError(f"solution cell {i} has no check cell after it")
        stub = nbformat.v4.new_code_cell(student.strip_solutions(cell.source)[0], metadata={"tags": ["student-stub"]})
        expect = nbformat.v4.new_code_cell(EXPECT_UNANSWERED.format(source=cells[j].source),
                                           metadata={"tags": ["student-check"]})
        out += [stub, *cells[i + 1:j], expect, cell, cells[j]]
        i = j + 1
    nb.cells = out
    return nb


def is_chapter(path) -> bool:
    if path.suffix != ".md" or path.parent.name != "chapters":
        return False
    with open(path, encoding="utf-8") as f:
        return f.read(12) == "---\njupytext"


class ChapterFile(IPyNbFile):
    """A chapter's MyST source as an nbval notebook (outputs are not compared: chapters assert)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False

    def collect(self):
        self.nb = with_student_stubs(jupytext.read(str(self.fspath), fmt="md:myst"))
        number = 0
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            options = defaultdict(bool, find_metadata_tags(cell.metadata))
            options.setdefault("check", False)
            kind = next((t for t in ("student-stub", "student-check", "solution", "check") if t in tags(cell)), "")
            name = f"Cell {number}" + (f" ({kind})" if kind else "")
            yield IPyNbCell.from_parent(self, name=name, cell_num=number, cell=cell, options=options)
            number += 1


def pytest_collect_file(file_path, parent):
    if is_chapter(file_path):
        return ChapterFile.from_parent(parent, path=file_path)
    return None
