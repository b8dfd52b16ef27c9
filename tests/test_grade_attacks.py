"""Submissions that try their luck (issue 26), graded through the command line in one run.

A small chapter (``01_mini``: exercises 1.1, 9.1 and 3.2 with the book's own checkers: an answer that
is data, a function compared with ``math.isclose``, a function that changes two models in place) keeps
the run short. Every attacker answers all three exercises wrongly and adds one cell of tampering at the
top; none may be graded ``passed``, and where the kernel survives the rows must be exactly the honest
wrong student's. The honest right, wrong and blank copies in the same class keep their statuses.
"""
import csv
import math
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest
import torch

from sslbook import exercises, sandbox, student
from sslbook.exercises import ch3

MINI = '''---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A small chapter for the grader's tests

```{code-cell} ipython3
import math
import torch
from sslbook import exercises
```

### Exercise 1.1: where does the signal come from?

```{code-cell} ipython3
:tags: [solution]

# BEGIN SOLUTION -> answers = None
answers = {"a": "supervised", "b": "unsupervised", "c": "self-supervised",
           "d": "self-supervised", "e": "supervised", "f": "unsupervised"}
# END SOLUTION
```

```{code-cell} ipython3
:tags: [check]

exercises.check_signal_kinds(answers)
```

### Exercise 9.1: the standard error of an accuracy

```{code-cell} ipython3
:tags: [solution]

def standard_error(accuracy, n):
    # BEGIN SOLUTION -> return None
    return math.sqrt(accuracy * (1 - accuracy) / n)
    # END SOLUTION
```

```{code-cell} ipython3
:tags: [check]

from sslbook import exercises

exercises.check_standard_error(standard_error)
```

### Exercise 3.2: the momentum update

```{code-cell} ipython3
:tags: [solution]

def momentum_update(query_model, key_model, m):
    # BEGIN SOLUTION -> return None
    with torch.no_grad():
        for k, q in zip(key_model.parameters(), query_model.parameters()):
            k.mul_(m).add_(q, alpha=1 - m)
    # END SOLUTION
```

```{code-cell} ipython3
:tags: [check]

from sslbook.exercises import ch3

ch3.check_momentum_update(momentum_update)
```
'''

WRONG = {   # the answer cells of the honest wrong student, in order
    "answers": 'answers = {"a": "supervised", "b": "unsupervised", "c": "unsupervised", '
               '"d": "self-supervised", "e": "supervised", "f": "unsupervised"}',
    "standard_error": "def standard_error(accuracy, n):\n    return accuracy * (1 - accuracy) / n",
    "momentum_update": ("def momentum_update(query_model, key_model, m):\n    with torch.no_grad():\n"
                        "        for k, q in zip(key_model.parameters(), query_model.parameters()):\n"
                        "            k.mul_(1 - m).add_(q, alpha=m)"),
}

FAKE = "class Fake:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"

ATTACKS = {
    "checker": "exercises.check_signal_kinds = exercises.check_standard_error = lambda *a, **k: None\n"
               "from sslbook.exercises import ch3\nch3.check_momentum_update = lambda *a, **k: None",
    "every_checker": "import sslbook.exercises as e, sslbook.exercises.ch1 as c1, sslbook.exercises.ch3 as c3, "
                     "sslbook.exercises.ch9 as c9\nfor m in (e, c1, c3, c9):\n    for n in dir(m):\n"
                     "        if n.startswith('check_'):\n            setattr(m, n, lambda *a, **k: None)",
    "fail_helper": "import sslbook.exercises._common as c\nimport sslbook.exercises.ch1 as c1, sslbook.exercises.ch3 "
                   "as c3, sslbook.exercises.ch9 as c9\nnop = lambda *a, **k: None\nc.fail = c.unanswered = c.diagnose "
                   "= nop\nfor m in (c1, c3, c9):\n    m._fail = m._unanswered = m._diagnose = m._sweep = nop",
    "comparisons": "import math, torch\nmath.isclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
                   "torch.equal = lambda *a, **k: True",
    "exception_class": "import sslbook.exercises as e, sslbook.exercises._common as c\n"
                       "e.ExerciseError = c.ExerciseError = type('ExerciseError', (Warning,), {{}})",
    "swallowed_errors": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "rebound_name": FAKE + "exercises = Fake()",
    "sys_modules": FAKE + "import sys\nfor name in [n for n in sys.modules if n.startswith('sslbook.exercises')]:\n"
                          "    sys.modules[name] = Fake()",
}
FORGED = {   # a reply that is a pickle whose loading would run a command
    "forged_reply": "import os, pickle, sslbook.proxy as P\nclass Boom:\n    def __reduce__(self):\n"
                    "        return (os.system, ('touch {marks}/pickle-ran',))\n"
                    "def serve(request, reply):\n    with open(reply, 'wb') as f:\n        pickle.dump({{'names': Boom()}}, f)\n"
                    "P.serve = serve",
}
ATTACKS |= {
    "fork": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        time.sleep(0.2)\n"
            "        with open('{marks}/fork-alive', 'a') as f:\n            f.write('.')\n",
}
STOPPING = {   # attacks that stop the kernel: every row is an error
    "exit": "import os\nos._exit(0)",
    "loop": "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass",
    "flood": "print('x' * 50_000_000)",
}
ISOLATED = {   # attacks that only isolation stops (files reached by their absolute paths)
    "a_writes": "import pathlib\npathlib.Path('{subs}/alice/01_mini.ipynb').write_text('{{}}')\n"
                "pathlib.Path('{out}/grades.csv').write_text('hacked')",
    "reads_other": "import json\nnb = json.load(open('{subs}/alice/01_mini.ipynb'))\n"
                   "for cell in nb['cells']:\n    if 'solution' in cell['metadata'].get('tags', []):\n"
                   "        exec(''.join(cell['source']))",
}


def _wrong_lines():
    """What the checkers themselves say to the honest wrong answers (first lines, without "Exercise N.M: ")."""
    out = []
    for check, name in [(exercises.check_signal_kinds, "answers"), (exercises.check_standard_error, "standard_error"),
                        (ch3.check_momentum_update, "momentum_update")]:
        scope = {"torch": torch, "math": math}
        exec(WRONG[name], scope)
        with pytest.raises(exercises.ExerciseError) as err:
            check(scope[name])
        out.append(str(err.value).splitlines()[0].split(": ", 1)[1])
    return out


def _copy(md, answers=None, attack=None, blank=False):
    nb = student.student_notebook(md) if blank else _with_solutions(md)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    for cell, source in zip(solutions, (answers or {}).values()):
        cell.source = source
    if attack is not None:
        nb.cells.insert(2, nbformat.v4.new_code_cell(textwrap.dedent(attack)))
    return nb


def _with_solutions(md):
    import jupytext
    nb = jupytext.read(str(md))
    nb.metadata["sslbook"] = {"student_copy": True, "solutions_removed": 0}
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    chapters, subs, out, marks = (root / n for n in ("chapters", "class", "out", "marks"))
    for folder in (chapters, subs, out, marks):
        folder.mkdir()
    md = chapters / "01_mini.md"
    md.write_text(MINI, encoding="utf-8")
    paths = {"subs": subs, "out": out, "marks": marks}
    copies = {"alice": _copy(md), "bob": _copy(md, WRONG), "carol": _copy(md, blank=True)}
    for name, code in {**ATTACKS, **FORGED, **STOPPING, **ISOLATED}.items():
        stubs = {k: f"{k} = None" for k in WRONG} if name == "reads_other" else WRONG
        copies[name] = _copy(md, stubs, code.format(**paths))
    for name, nb in copies.items():
        (subs / name).mkdir()
        nbformat.write(nb, str(subs / name / "01_mini.ipynb"))
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "sslbook.grade", str(subs), "--chapters", str(chapters),
                          "--csv", str(out / "grades.csv"), "--timeout", "20"],
                         capture_output=True, text=True, cwd=str(root), timeout=1200)
    seconds = time.perf_counter() - start
    fork = marks / "fork-alive"
    size = fork.stat().st_size if fork.exists() else 0
    time.sleep(1.5)
    grown = (fork.stat().st_size if fork.exists() else 0) > size
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = [tuple(r) for r in csv.reader(f)][1:]
    by = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    return {"run": run, "rows": by, "marks": marks, "fork_grew": grown, "seconds": seconds}


def _statuses(rows):
    return [r[3] for r in rows]


def test_the_run_succeeds_and_the_header_names_the_sandbox(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0] == f"# sandbox: {sandbox.isolation()}: {sandbox.DESCRIPTIONS[sandbox.isolation()]}"
    print(f"graded {len(graded['rows'])} notebooks in {graded['seconds']:.0f} s")


def test_honest_students_keep_their_statuses(graded):
    rows = graded["rows"]
    assert _statuses(rows["alice"]) == ["passed"] * 3
    assert [(r[3], r[4]) for r in rows["bob"]] == [("wrong", line) for line in _wrong_lines()]
    assert _statuses(rows["carol"]) == ["not answered"] * 3


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_tampering_in_the_kernel_changes_nothing(graded, name):
    """The checker runs in the grader: each attacker gets exactly the honest wrong student's rows."""
    rows = graded["rows"][name]
    assert [r[2:] for r in rows] == [r[2:] for r in graded["rows"]["bob"]], rows


def test_a_forged_pickle_reply_never_runs(graded):
    assert _statuses(graded["rows"]["forged_reply"]) == ["error"] * 3
    assert "not data" in graded["rows"]["forged_reply"][0][4]
    assert not (graded["marks"] / "pickle-ran").exists()


def test_a_fork_dies_with_its_kernel(graded):
    assert not graded["fork_grew"], "a process forked by a kernel was still writing after grading"


@pytest.mark.parametrize("name,why", [("exit", "died or exited"), ("loop", "ran longer"), ("flood", "printed more than")])
def test_a_kernel_that_exits_loops_or_floods_gives_errors_for_that_student_only(graded, name, why):
    rows = graded["rows"][name]
    assert _statuses(rows) == ["error"] * 3, rows
    assert why in rows[0][4]


@pytest.mark.skipif(sandbox.isolation() == "none", reason="without bwrap or namespaces, files are reachable by path")
@pytest.mark.parametrize("name", sorted(ISOLATED))
def test_other_submissions_and_the_grades_file_are_out_of_reach(graded, name):
    assert "passed" not in _statuses(graded["rows"][name])
    assert "hacked" not in (graded["marks"].parent / "out" / "grades.csv").read_text()
    assert _statuses(graded["rows"]["alice"]) == ["passed"] * 3


def test_the_summary_counts_each_exercise(graded):
    out = graded["run"].stdout
    block = out.split("\nper exercise:\n")[1].split("\n\n")[0].splitlines()
    n = len(graded["rows"])
    assert block[0].startswith(f"exercise 1.1 (01_mini): 1 of {n} passed; ")
    assert [line.split(":")[0] for line in block] == [f"exercise {e} (01_mini)" for e in ("1.1", "9.1", "3.2")]


def test_the_teacher_sees_each_notebooks_time(graded):
    err = graded["run"].stderr
    for name in graded["rows"]:
        assert f"01_mini.ipynb ({name}) in " in err
