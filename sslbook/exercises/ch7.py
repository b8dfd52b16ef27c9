"""Exercises of chapter 7: find the slowest function with cProfile, what speeding up one
phase of a step can buy (Amdahl's law), and a scalar logger TensorBoard reads."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from .. import tools as _tools
from ._common import call as _call
from ._common import checker as _checker
from ._common import diagnose as _diagnose
from ._common import fail as _fail
from ._common import number as _number
from ._common import passed as _passed
from ._common import sweep as _sweep
from ._common import unanswered as _unanswered


def _tokenise(word):
    return word.lower()


def _crunch(n=300_000):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def _sort_rows(n=300_000):
    rows = 0
    for i in range(n):
        rows ^= i * 31 % 11
    return rows


def _hash_rows(n=300_000):
    seen = 0
    for i in range(n):
        seen = (seen * 31 + i) % 1_000_003
    return seen


def _work_hash():
    words = [_tokenise("Word") for _ in range(2000)]
    return len(words) + _crunch(2000) + _sort_rows(2000) + _hash_rows()


def _work_crunch():
    words = [_tokenise("Word") for _ in range(2000)]
    return len(words) + _crunch() + _sort_rows(2000)


def _work_sort():
    words = [_tokenise("Word") for _ in range(2000)]
    return len(words) + _crunch(2000) + _sort_rows()


@_checker("7.1")
def check_slowest_function(fn) -> None:
    """Exercise 7.1: ``fn(work)`` runs ``work()`` under cProfile and returns the name of the
    function with the most time in its own code (tottime)."""
    for work, slow, fast in [(_work_crunch, "_crunch", "_sort_rows"), (_work_sort, "_sort_rows", "_crunch"),
                             (_work_hash, "_hash_rows", "_crunch")]:
        got = _call("7.1", fn, "slowest_function", work)
        if got is None:
            _unanswered("7.1", "slowest_function returned None.")
        if not isinstance(got, str):
            _fail("7.1", f"slowest_function must return the function's name as a string (a key of "
                         f"get_stats_profile().func_profiles), got {got!r}"[:300])
        if slow in got and fast not in got:
            continue
        if work.__name__ in got or "runcall" in got:
            _fail("7.1", f"{got!r} is the function that calls everything else: that is the ranking by cumulative "
                         "time (cumtime). Rank by the time in each function's own code (tottime).")
        if "_tokenise" in got or "lower" in got or "listcomp" in got:
            _fail("7.1", f"{got!r} is the most called function, not the slowest: rank by tottime, not by calls.")
        if fast in got:
            _fail("7.1", f"{got!r} is fast in this run: profile the function you are given, do not name a fixed one.")
        _fail("7.1", f"the function with the most own time is {slow}, got {got!r}. Use cProfile.Profile().runcall, "
                     "pstats.Stats(profiler).get_stats_profile().func_profiles, and take the name whose "
                     "FunctionProfile has the largest tottime.")
    _passed("7.1", "slowest_function ranks by own time and finds a different culprit in each of three runs.")


def _speedup(ms, phase, factor):
    total = sum(ms.values())
    return total / (total - ms[phase] + ms[phase] / factor)


@_checker("7.2")
def check_step_speedup(fn) -> None:
    """Exercise 7.2: ``fn(ms_per_step, phase, factor)`` is how many times faster the whole step
    gets when ``phase`` alone runs ``factor`` times faster (Amdahl's law)."""
    step = {"views": 20.0, "forward": 180.0, "backward": 250.0, "optimizer": 10.0}
    other = {"data": 40.0, "model": 60.0}
    cases = [(step, "views", 4.0), (step, "views", 2.0), (step, "backward", 2.0), (step, "backward", 4.0),
             ({"views": 300.0, "forward": 100.0, "backward": 150.0, "optimizer": 50.0}, "views", 10.0),
             ({"load": 5.0, "forward": 5.0}, "forward", 1.0), (other, "data", 1.5), (other, "model", 1.5),
             (other, "model", 100.0)]
    got = [_number("7.2", _call("7.2", fn, "step_speedup", dict(ms), phase, factor), "step_speedup")
           for ms, phase, factor in cases]
    right = [_speedup(*case) for case in cases]

    def sweep():
        _sweep("7.2", "step_speedup", [{"ms_per_step": id(ms), "phase": p, "factor": f} for ms, p, f in cases],
               got, right, {"factor": "the phase's new time is its old time divided by factor.",
                            "phase": "speed up the phase you are given, ms_per_step[phase]."},
               what="speed-up", rel=1e-5)

    for (ms, phase, factor), value, want in zip(cases, got, right):
        if math.isclose(value, want, rel_tol=1e-5):
            continue
        total, t = sum(ms.values()), ms[phase]
        where = f"with {ms}, {phase} {factor:g} times faster: the step is {want:.4f} times faster, got {value:.4f}"
        hints = [(factor, "only one phase gets faster; the others take as long as before."),
                 (total / (total - t) if total > t else -1.0, ("that is the speed-up with the phase removed "
                                                                 "entirely; it runs 1/factor of its time, not zero.")),
                 (t / total * factor, ("the new step time is (total - t_phase) + t_phase / factor; the speed-up is "
                                       "the old step time divided by it.")),
                 ((total - t + t / factor) / total, "that is new / old; the speed-up is old / new."),
                 (1 + t / total * (factor - 1), ("a phase that runs factor times faster saves t_phase "
                                                 "(1 - 1/factor), not t_phase (factor - 1)."))]
        _diagnose("7.2", value, where, hints, "Old step: the sum of the phases. New step: the same sum with "
                                               "t_phase replaced by t_phase / factor. Return old / new.",
                  rel_tol=1e-5, then=sweep)
    _passed("7.2", "step_speedup is Amdahl's law: a phase that takes a small share can only buy a small speed-up.")


_LOSSES = [2.25, 1.75, 1.5, 1.25, 1.0, 0.875, 0.8125, 0.75, 0.6875, 0.625, 0.59375, 0.5625]
_OTHER_LOSSES = [3.0, 2.5, 0.125, 4.75, 1.0625]  # exact in float32, as add_scalar stores them


def _logged(fn, losses):
    """What the student's logger wrote for ``losses``, read back: {tag: (steps, values)}."""
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(tmp) / "run"
        logdir.mkdir()
        _call("7.3", fn, "log_losses", str(logdir), list(losses))
        files = list(logdir.rglob("events.out.tfevents.*"))
        if not files:
            _unanswered("7.3", "no TensorBoard event file was written in logdir: create a "
                               "SummaryWriter(log_dir=logdir), add_scalar each loss, then close it.")
        if not any(p.parent == logdir for p in files):
            _fail("7.3", f"the event file is in {files[0].parent.relative_to(logdir)}/ inside logdir: "
                         "pass log_dir=logdir to SummaryWriter so it writes there.")
        return _tools.read_scalars(logdir)


@_checker("7.3")
def check_scalar_logger(fn) -> None:
    """Exercise 7.3: ``fn(logdir, losses)`` writes ``losses[i]`` under the tag ``"loss"`` at
    step ``i`` as TensorBoard event files in ``logdir``, which TensorBoard can read back."""
    for losses in (_LOSSES, _OTHER_LOSSES):
        scalars = _logged(fn, losses)
        if not scalars:
            _fail("7.3", "the event file holds no scalar: log each loss with writer.add_scalar, then writer.close() "
                         "(or flush()), or the values may stay in the writer's memory.")
        if "loss" not in scalars:
            _fail("7.3", f"log under the tag 'loss', found the tags {sorted(scalars)}")
        steps, values = scalars["loss"]
        if len(set(steps)) == 1 and len(steps) > 1:
            _fail("7.3", f"every value was logged at step {steps[0]}: pass global_step=i to add_scalar.")
        if steps == list(range(1, len(losses) + 1)):
            _fail("7.3", "the steps start at 1: log losses[i] at step i, from 0.")
        if losses is _OTHER_LOSSES and values == _LOSSES:
            _fail("7.3", "given other losses, your logger wrote the chapter's list again: log the losses you are given.")
        if len(values) != len(losses):
            _fail("7.3", f"{len(losses)} losses given, {len(values)} read back: log each one once, then close the writer.")
        if steps != list(range(len(losses))) or values != losses:
            _fail("7.3", f"read back {list(zip(steps, values))[:3]}..., expected {list(enumerate(losses))[:3]}...")
    _passed("7.3", "the losses were written as TensorBoard event files and read back unchanged, for two lists.")
