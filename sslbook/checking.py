"""A chapter's check cell, run by the grader in its own process against a student's kernel (issue 26).

A check cell is a call such as ``exercises.check_signal_kinds(answers)`` (after optional ``from sslbook
import ...`` lines). :func:`plan` reads which checker it calls and which notebook names it passes;
:func:`run_check` imports that checker in the grader (where no student code ever ran: the checker,
``_common.fail``, ``ExerciseError``, ``torch.allclose`` and ``math.isclose`` are the grader's own) and
calls it with the kernel's values as data and the student's functions as :class:`sslbook.proxy.Remote`
stand-ins. The checkers are the same functions the chapters call in-kernel.

A checker whose answer cannot travel as data (:data:`IN_KERNEL`: exercise 8.2's answer is a quantized
model) runs in the student's kernel as before, and its row says so.

>>> plan("from sslbook import exercises\\nexercises.check_triplet(triplet_loss)")
Plan(module='sslbook.exercises', function='check_triplet', args=(('name', 'triplet_loss'),), kwargs=())
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import exercises as _exercises
from . import proxy

#: Checkers that run in the student's kernel, and why (their rows say "checked in the student's kernel").
IN_KERNEL = {"check_dynamic_quantization": "its answer is a quantized model, not data"}
IN_KERNEL_NOTE = "checked in the student's kernel"
PREFIX = re.compile(r"^Exercise\s+(\d+\.\d+):\s*")
HEADING = re.compile(r"^\s*(?:#{1,6}\s+|\*\*)Exercise\s+(\d+\.\d+)", re.MULTILINE)


class Plan(NamedTuple):
    """Which checker a check cell calls (``module.function``) and with what: ``("name", x)`` or ``("const", v)``."""

    module: str
    function: str
    args: tuple
    kwargs: tuple


class InvalidSubmission(ValueError):
    """A submission that cannot be graded; the message says why."""


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


def read_notebook(path, index):
    """Read a student's notebook; ``index``: :func:`chapter_checks` of the chapters. Return ``(notebook,
    chapter stem)`` or raise ``InvalidSubmission``."""
    import nbformat

    path = Path(path)
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


def _first_line(text) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def _argument(node):
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.Constant):
        return ("const", node.value)
    return None


def plan(source: str) -> Plan | None:
    """The checker call of a check cell, or ``None`` when the cell is not one import-and-call of a checker
    of ``sslbook.exercises`` with names and constants as arguments (then it runs in the kernel)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    aliases, call = {"exercises": "sslbook.exercises"}, None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sslbook"):
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import) and all(a.name.startswith("sslbook") for a in node.names):
            aliases.update({a.asname: a.name for a in node.names if a.asname})
            aliases.update({"sslbook": "sslbook" for a in node.names if not a.asname})
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and call is None:
            call = node.value
        else:
            return None
    if call is None:
        return None
    parts, func = [], call.func
    while isinstance(func, ast.Attribute):
        parts.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in aliases:
        return None
    dotted = ".".join([aliases[func.id], *parts])
    module, _, function = dotted.rpartition(".")
    args = tuple(_argument(a) for a in call.args)
    kwargs = tuple((k.arg, _argument(k.value)) for k in call.keywords)
    if not (module == "sslbook.exercises" or module.startswith("sslbook.exercises.")) or not function.startswith(
            "check_") or None in args or any(k is None or v is None for k, v in kwargs):
        return None
    return Plan(module, function, args, kwargs)


def in_kernel(p: Plan | None) -> bool:
    """Whether a check runs in the student's kernel: it is not a plain checker call, or its answer is not data."""
    return p is None or p.function in IN_KERNEL


def verdict(exc: BaseException | None) -> tuple[str, str]:
    """``(status, detail)`` for what the checker raised (``None``: it returned)."""
    if exc is None:
        return "passed", ""
    message = _first_line(exc)
    if isinstance(exc, _exercises.ExerciseError):   # the grader's own class: a student cannot swap it here
        message = PREFIX.sub("", message)
        return ("not answered", "") if message.startswith("not answered yet") else ("wrong", message)
    if isinstance(exc, proxy.KernelFault):
        return "error", message
    return "error", f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def run_check(p: Plan, run, folder) -> tuple[str, str]:
    """Call the checker of ``p`` in this process on the kernel's values; ``run(code)`` reaches the kernel,
    ``folder`` (seen by both) holds the requests and replies and any temporary folder the checker makes."""
    checker = getattr(importlib.import_module(p.module), p.function, None)
    if not callable(checker):
        return "error", f"the chapter's check calls {p.module}.{p.function}, which does not exist"
    kernel = proxy.Kernel(run, folder)
    names = [v for kind, v in [*p.args, *(a for _, a in p.kwargs)] if kind == "name"]
    try:
        values = kernel.values(names)
    except proxy.KernelFault as exc:
        return verdict(exc)
    for name in names:
        if isinstance(values[name], proxy.Missing):
            return "error", f"NameError: name {name!r} is not defined"
    args = [values[v] if kind == "name" else v for kind, v in p.args]
    kwargs = {k: values[v] if kind == "name" else v for k, (kind, v) in p.kwargs}
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)   # a checker's temporary folder (7.3's log folder) must be seen by the kernel
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            checker(*args, **kwargs)
    except (Exception, proxy.KernelFault) as exc:  # noqa: BLE001 - every outcome is a row
        return verdict(exc)
    finally:
        tempfile.tempdir = saved
    return verdict(None)


def kernel_status(cell, timeout) -> tuple[str, str]:
    """``(status, detail)`` of a check cell that ran in the kernel, from its error output (if any)."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return "passed", IN_KERNEL_NOTE
    name, message = errors[0].get("ename", ""), _first_line(errors[0].get("evalue", ""))
    if name == "ExerciseError":
        message = PREFIX.sub("", message)
        status = "not answered" if message.startswith("not answered yet") else "wrong"
        return status, f"{message} ({IN_KERNEL_NOTE})" if status == "wrong" else IN_KERNEL_NOTE
    if name == "KeyboardInterrupt":
        return "error", f"timed out: a cell ran longer than {timeout:g} s and was interrupted ({IN_KERNEL_NOTE})"
    return "error", (f"{name}: {message}" if message else name) + f" ({IN_KERNEL_NOTE})"
