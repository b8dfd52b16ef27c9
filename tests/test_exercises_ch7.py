"""Chapter 7's checkers accept right answers in every form and reject families of wrong ones (a parameter
ignored, a fixed answer, off by a constant, wrong type, a function that raises) with a message that says
what to change."""
import cProfile
import pstats

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from sslbook import exercises, tools
from sslbook.exercises import ExerciseError


def _stats(work):
    profiler = cProfile.Profile()
    profiler.runcall(work)
    return pstats.Stats(profiler).stats


def slowest(work):
    (_, _, name), _ = max(_stats(work).items(), key=lambda kv: kv[1][2])
    return name


def slowest_public(work):            # the chapter's solution: pstats' public get_stats_profile()
    profiler = cProfile.Profile()
    profiler.runcall(work)
    functions = pstats.Stats(profiler).get_stats_profile().func_profiles
    return max(functions, key=lambda name: functions[name].tottime)


def by_cumtime(work):
    (_, _, name), _ = max(_stats(work).items(), key=lambda kv: kv[1][3])
    return name


def most_called(work):
    (_, _, name), _ = max(_stats(work).items(), key=lambda kv: kv[1][1])
    return name


@pytest.mark.parametrize("right", [slowest, slowest_public, lambda work: tools.cprofile_top(work, n=1)[1][0].function,  # file:line(name)
                                   lambda work: "sslbook/exercises/ch7.py:1(" + slowest(work) + ")"])
def test_slowest_function_checker(right, capsys):
    exercises.check_slowest_function(right)
    assert "Exercise 7.1 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda work: None, "not answered yet"),
    (by_cumtime, "cumulative time"),
    (most_called, "most called"),
    (lambda work: "_crunch", "profile the function you are given"),
    (lambda work: 3, "must return the function's name"),
    (lambda work: ("ch7.py", 1, slowest(work)), "must return the function's name"),
    (lambda work: "_sort_rows" if slowest(work) == "_sort_rows" else "_crunch", "profile the function you are given"),
    (lambda work: work() and None, "not answered yet"),  # runs the work, returns nothing
    (lambda work: "sleep", "the most own time is"),
    (lambda work: 1 / 0, "raised ZeroDivisionError"),
])
def test_slowest_function_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 7.1: .*" + match):
        exercises.check_slowest_function(wrong)


def speedup(ms, phase, factor):
    total = sum(ms.values())
    return total / (total - ms[phase] + ms[phase] / factor)


@pytest.mark.parametrize("right", [
    speedup, lambda ms, p, f: np.float64(speedup(ms, p, f)), lambda ms, p, f: torch.tensor(speedup(ms, p, f)),
    lambda ms, p, f: 1 / (1 - ms[p] / sum(ms.values()) * (1 - 1 / f)),   # Amdahl's law as a share
    lambda ms, p, f: round(speedup(ms, p, f), 9),
])
def test_step_speedup_checker(right):
    exercises.check_step_speedup(right)


@pytest.mark.parametrize("wrong,match", [
    (lambda ms, p, f: None, "not answered yet"),
    (lambda ms, p, f: f, "only one phase gets faster"),
    (lambda ms, p, f: sum(ms.values()) / (sum(ms.values()) - ms[p]), "removed entirely"),
    (lambda ms, p, f: 1 / speedup(ms, p, f), "new / old"),
    (lambda ms, p, f: 1 + ms[p] / sum(ms.values()) * (f - 1), "not t_phase \\(factor - 1\\)"),
    (lambda ms, p, f: speedup(ms, p, f) + 0.1, "Return old / new"),
    (lambda ms, p, f: speedup(ms, p, 2.0), "same speed-up for factor = 4.0 and factor = 2.0"),
    (lambda ms, p, f: speedup(ms, "views", f) if "views" in ms else speedup(ms, p, f),
     "same speed-up for phase = 'views' and phase = 'backward'"),
    (lambda ms, p, f: speedup({"views": 20.0, "forward": 180.0, "backward": 250.0, "optimizer": 10.0}, p, f),
     "raised KeyError"),
    (lambda ms, p, f: [speedup(ms, p, f)] * 2, "must return one number"),
    (lambda ms, p, f: "fast", "must return one number"),
    (lambda ms, p, f: float("inf"), "returned inf"),
])
def test_step_speedup_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 7.2: .*" + match):
        exercises.check_step_speedup(wrong)


def log_losses(logdir, losses, tag="loss", start=0, same_step=False, subdir=None):
    writer = SummaryWriter(log_dir=logdir if subdir is None else f"{logdir}/{subdir}")
    for i, value in enumerate(losses):
        writer.add_scalar(tag, value, global_step=start if same_step else i + start)
    writer.close()


def test_scalar_logger_checker(capsys):
    exercises.check_scalar_logger(log_losses)
    exercises.check_scalar_logger(lambda d, losses: tools.log_scalars(d, {"loss": losses}))
    exercises.check_scalar_logger(lambda d, losses: log_losses(d, torch.tensor(losses)))  # tensor values
    assert "Exercise 7.3 passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,match", [
    (lambda d, losses: None, "not answered yet"),
    (lambda d, losses: SummaryWriter(d).add_text("note", "no scalars"), "add_scalar"),
    (lambda d, losses: log_losses(d, losses, tag="train/loss"), "tag 'loss'"),
    (lambda d, losses: log_losses(d, losses, same_step=True), "global_step"),
    (lambda d, losses: log_losses(d, losses, start=1), "start at 1"),
    (lambda d, losses: log_losses(d, losses[:-2]), "12 losses given, 10 read back"),
    (lambda d, losses: log_losses(d, sorted(losses)), "expected"),
    (lambda d, losses: log_losses(d, losses, subdir="run1"), "pass log_dir=logdir"),
    (lambda d, losses: log_losses(d, [2.25, 1.75, 1.5, 1.25, 1.0, 0.875, 0.8125, 0.75, 0.6875, 0.625, 0.59375, 0.5625]),
     "log the losses you are given"),
    (lambda d, losses: log_losses(d, [round(v, 1) for v in losses]), "expected"),
    (lambda d, losses: 1 / 0, "raised ZeroDivisionError"),
])
def test_scalar_logger_checker_wrong(wrong, match):
    with pytest.raises(ExerciseError, match="Exercise 7.3: .*" + match):
        exercises.check_scalar_logger(wrong)
