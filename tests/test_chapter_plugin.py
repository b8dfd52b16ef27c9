"""The chapter pass of `make test` (tests/chapter_plugin.py): one execution tests the chapter, its
student copy and its solutions, and fails where any of them is wrong."""
import textwrap

import jupytext
import pytest

pytest_plugins = ["pytester"]

HEADER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---
    """)


def chapter(solution_body, extra=""):
    return HEADER + textwrap.dedent(f"""
        # A chapter

        ```{{code-cell}} ipython3
        class ExerciseError(Exception):
            pass
        ```

        ```{{code-cell}} ipython3
        :tags: [hide-input, solution]

        # BEGIN SOLUTION -> x = None
        {solution_body}
        # END SOLUTION
        ```

        ```{{code-cell}} ipython3
        :tags: [check]

        if x is None:
            raise ExerciseError("Exercise 9.9: not answered yet: set x")
        assert x == 1, "Exercise 9.9: x should be 1"
        print("Exercise 9.9 passed")
        ```
        """) + extra


@pytest.fixture
def run(pytester, root, monkeypatch):
    """Run the chapter pass over one toy chapter in a fresh pytest process."""
    monkeypatch.setenv("PYTHONPATH", str(root))

    def go(text):
        folder = pytester.mkdir("chapters")
        (folder / "99_toy.md").write_text(text)
        return pytester.runpytest_subprocess("-p", "tests.chapter_plugin", "--nbval-current-env",
                                             "-p", "no:cacheprovider", "chapters", "-v")
    return go


def test_stub_then_solution_order():
    from tests.chapter_plugin import with_student_stubs
    nb = with_student_stubs(jupytext.reads(chapter("x = 1"), fmt="md:myst"))
    kinds = [c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"]
    assert kinds == [[], ["student-stub"], ["student-check"], ["hide-input", "solution"], ["check"]]
    assert "x = None" in nb.cells[2].source and "x = 1" not in nb.cells[2].source


def test_an_honest_chapter_passes(run):
    result = run(chapter("x = 1"))
    result.assert_outcomes(passed=5)


def test_a_wrong_solution_fails(run):
    result = run(chapter("x = 2"))
    result.assert_outcomes(passed=4, failed=1)


def test_a_stub_that_answers_fails(run):
    text = chapter("x = 1").replace("# BEGIN SOLUTION -> x = None", "# BEGIN SOLUTION -> x = 1")
    result = run(text)
    assert "a check cell passed in the student copy" in result.stdout.str()
    result.assert_outcomes(passed=4, failed=1)


def test_a_failing_cell_fails(run):
    extra = "\n```{code-cell} ipython3\nassert 1 + 1 == 3, 'the claim does not hold'\n```\n"
    result = run(chapter("x = 1", extra))
    result.assert_outcomes(passed=5, failed=1)
