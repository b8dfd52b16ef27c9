"""Student copies of the chapters: every solution replaced by a stub.

In a chapter, the code of a solution sits between two marker lines::

    def my_info_nce(z1, z2, temperature):
        # BEGIN SOLUTION -> return None
        ...
        # END SOLUTION

The student copy keeps everything else and replaces the region by
``# YOUR CODE HERE`` and the stub after ``->`` (same indentation), so the
check cell below it fails with the checker's "not answered yet" message until
the student writes an answer. Solution cells lose their ``hide-input`` tag and
all outputs are cleared.

Run it as ``python -m sslbook.student chapters/ student/`` (or ``make student``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:\s*->\s*(?P<stub>.*\S))?\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


def strip_solutions(source: str) -> tuple[str, int]:
    """Replace every solution region of ``source``; return the new text and the number replaced.

    >>> strip_solutions("x = 1\\n# BEGIN SOLUTION -> y = None\\ny = 2\\n# END SOLUTION\\n")
    ('x = 1\\n# YOUR CODE HERE\\ny = None\\n', 1)
    """
    out, inside, count = [], False, 0
    for lineno, line in enumerate(source.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"line {lineno}: BEGIN SOLUTION inside another solution region")
            if not begin.group("stub"):
                raise ValueError(f"line {lineno}: BEGIN SOLUTION needs a stub after '->', "
                                 "for example '# BEGIN SOLUTION -> return None'")
            indent = begin.group("indent")
            out.append(f"{indent}# YOUR CODE HERE\n{indent}{begin.group('stub')}\n")
            inside, count = True, count + 1
        elif END.match(line):
            if not inside:
                raise ValueError(f"line {lineno}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a BEGIN SOLUTION region is never closed by END SOLUTION")
    return "".join(out), count


def student_notebook(path):
    """Read a chapter (MyST ``.md`` or ``.ipynb``) and return its student copy (nbformat)."""
    import jupytext

    nb = jupytext.read(str(path))
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source, count = strip_solutions(cell.source)
        if count:
            replaced += count
            tags = [t for t in cell.metadata.get("tags", []) if t not in ("hide-input", "hide-cell")]
            cell.metadata["tags"] = tags
        cell.outputs = []
        cell.execution_count = None
    nb.metadata["sslbook"] = {"student_copy": True, "solutions_removed": replaced}
    return nb


def write_student_copies(src_dir, dst_dir) -> list[Path]:
    """Write a student ``.ipynb`` for every chapter ``.md`` of ``src_dir`` into ``dst_dir``."""
    import nbformat

    src, dst = Path(src_dir), Path(dst_dir)
    chapters = sorted(src.glob("*.md"))
    if not chapters:
        raise ValueError(f"src_dir must hold chapter .md files, found none in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for md in chapters:
        target = dst / (md.stem + ".ipynb")
        nbformat.write(student_notebook(md), str(target))
        written.append(target)
    return written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m sslbook.student CHAPTERS_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    for path in write_student_copies(*argv):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
