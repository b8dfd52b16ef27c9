"""Tools around training: where a step spends its time, and scalars a standard tool reads.

:func:`profile_step` runs SimCLR steps of the book's own code (:func:`~sslbook.train.simclr_step`)
under ``torch.profiler`` with one labelled range per phase (views, forward, backward, optimizer)
and returns a :class:`PhaseProfile`. :func:`cprofile_top` runs any function under ``cProfile``
and returns its slowest functions. :func:`log_scalars` writes a history as TensorBoard event files
and :func:`read_scalars` reads them back with TensorBoard's own ``EventAccumulator``;
:func:`run_record` is what to keep beside them (settings, seed, commit, a run name).
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import platform
import pstats
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from . import _validate, losses
from . import precision as _precision
from .train import History, shuffled_batches, simclr_step

try:  # tensorboard is in the book and test extras; without it the rest of the package still imports
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover - depends on the environment
    EventAccumulator = SummaryWriter = None

# torch's profiler back end (Kineto) prints a line to stderr each time a profile starts and
# stops; level 6 keeps it quiet unless the user chose a level (read when the first profile starts).
os.environ.setdefault("KINETO_LOG_LEVEL", "6")

#: The phases of one training step, in the order they run.
PHASES = ("views", "forward", "backward", "optimizer")
SORTS = ("tottime", "cumtime", "ncalls")


class _TimedViews:
    """Wraps a view maker so that drawing the two views is one labelled profiler range."""

    def __init__(self, views, seconds: list, clock: Callable[[], float]):
        self.views, self.seconds, self.clock = views, seconds, clock

    def pair(self, x, generator=None):
        start = self.clock()
        with record_function("views"):
            out = self.views.pair(x, generator)
        self.seconds.append(self.clock() - start)
        return out


@dataclass
class PhaseProfile:
    """Where ``steps`` training steps spent their time.

    ``seconds[phase]`` is a list with one wall-clock duration per profiled step
    (perf_counter around each phase; the forward pass excludes the views drawn
    inside the step function). ``profiler`` is the ``torch.profiler.profile``
    object of the run, for ``profiler.key_averages().table(...)``.
    ``warmup_seconds`` holds the wall-clock time of each unprofiled warm-up step,
    all four phases together (the first step in a process can pay one-off costs).
    ``profiler`` is None when the steps were timed without it; ``precision`` says how the
    network ran (``"float32"`` or ``"bfloat16"``), ``channels_last`` its memory format.
    """

    seconds: dict[str, list[float]]
    steps: int
    batch_size: int
    profiler: object = field(default=None, repr=False)
    warmup_seconds: list[float] = field(default_factory=list)
    precision: str = "float32"
    channels_last: bool = False

    def total(self, phase: str) -> float:
        """Seconds spent in ``phase`` over all profiled steps."""
        _validate.one_of("phase", phase, set(PHASES))
        return float(sum(self.seconds[phase]))

    def fractions(self) -> dict[str, float]:
        """Each phase's share of the time of the four phases together (they sum to 1)."""
        totals = {p: self.total(p) for p in PHASES}
        whole = sum(totals.values())
        return {p: t / whole for p, t in totals.items()}

    def per_step_ms(self) -> dict[str, float]:
        """Mean milliseconds per step of each phase."""
        return {p: 1000 * self.total(p) / self.steps for p in PHASES}

    def views_per_second(self) -> float:
        """Training throughput: 2 views per image over the time of the four phases."""
        return 2 * self.batch_size * self.steps / sum(self.total(p) for p in PHASES)

    def step_seconds(self) -> list[float]:
        """Wall-clock seconds of each profiled step, the four phases together."""
        return [sum(parts) for parts in zip(*(self.seconds[p] for p in PHASES))]

    def rows(self) -> list[tuple[str, float, float]]:
        """``(phase, ms per step, share)`` for each phase, slowest first."""
        ms, share = self.per_step_ms(), self.fractions()
        return sorted(((p, ms[p], share[p]) for p in PHASES), key=lambda r: -r[1])

    def table(self) -> str:
        """The rows as a fixed-width text table."""
        lines = [f"{'phase':10s} {'ms/step':>9s} {'share':>7s}"]
        lines += [f"{p:10s} {m:9.1f} {s:7.1%}" for p, m, s in self.rows()]
        return "\n".join(lines)


def profile_step(model: nn.Module, images: torch.Tensor, views, optimizer: torch.optim.Optimizer, *,
                 batch_size: int = 256, steps: int = 5, warmup: int = 1, temperature: float | None = None,
                 generator: torch.Generator | None = None, record_shapes: bool = False,
                 precision: str = "float32", channels_last: bool = False,
                 with_profiler: bool = True) -> PhaseProfile:
    """Profile ``steps`` SimCLR steps (after ``warmup`` unprofiled ones) phase by phase.

    Each step is :func:`~sslbook.train.simclr_step` on a batch of ``batch_size``
    images (N x C x H x W, two views each, so 2N views per step), then
    ``zero_grad``, ``backward`` and ``optimizer.step()``, as in
    :func:`~sslbook.train.fit`. Every phase runs inside a
    ``torch.profiler.record_function`` range named after it (:data:`PHASES`), so
    the profiler's table shows them next to the operators they call. The model
    is trained by these steps and left in evaluation mode, as ``fit`` leaves it.
    On a GPU (``images`` on CUDA) the clock waits for the device before each
    reading and the profiler also records CUDA activity.

    ``precision`` (``"auto"``: bfloat16 where the device computes it natively) and ``channels_last``
    (the model is converted in place) run the network as chapter 5's recipe does. With
    ``with_profiler`` false the steps are only timed by the clock (``profiler`` is None): the
    profiler adds time to every operator, so shares for Amdahl's law should come from such a run.

    >>> from sslbook import augment, models
    >>> m = models.SimCLRModel(models.SmallCNN(1, widths=(8,), feature_dim=8), models.ProjectionHead(8, 4))
    >>> p = profile_step(m, torch.rand(32, 1, 8, 8), augment.digit_views(), torch.optim.SGD(m.parameters(), 0.1),
    ...                  batch_size=16, steps=2)
    >>> sorted(p.fractions()) == sorted(PHASES), round(sum(p.fractions().values()), 6)
    (True, 1.0)
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")  # noqa: TRY004
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")  # noqa: TRY004
    _validate.tensor("images", images, ndim=4, floating=True)
    _validate.positive_int("batch_size", batch_size, minimum=2)
    if batch_size > len(images):
        raise ValueError(f"batch_size must be at most len(images) = {len(images)}, got {batch_size}")
    _validate.positive_int("steps", steps)
    _validate.positive_int("warmup", warmup, minimum=0)
    if not hasattr(views, "pair"):
        raise ValueError(f"views must have a pair(x, generator) method (a RandomViews), got {type(views).__name__}")
    temperature = losses.temperature_of("simclr", temperature)
    mode = _precision.resolve(precision, images.device)
    for name, flag in (("channels_last", channels_last), ("with_profiler", with_profiler)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if channels_last:
        model.to(memory_format=torch.channels_last)
    on_gpu = images.is_cuda
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if on_gpu else [ProfilerActivity.CPU]

    def clock() -> float:
        if on_gpu:  # GPU work is asynchronous: wait for it before reading the clock
            torch.cuda.synchronize(images.device)
        return time.perf_counter()

    view_seconds: list[float] = []
    step_fn = simclr_step(model, images, _TimedViews(views, view_seconds, clock), temperature, generator,
                          precision=mode, channels_last=channels_last)
    batches = shuffled_batches(len(images), batch_size, generator)
    seconds: dict[str, list[float]] = {p: [] for p in PHASES}
    model.train()

    def one_step(keep: bool) -> float:
        view_seconds.clear()
        t0 = clock()
        with record_function("forward"):
            loss = step_fn(next(batches))
        t1 = clock()
        with record_function("backward"):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        t2 = clock()
        with record_function("optimizer"):
            optimizer.step()
        t3 = clock()
        if keep:
            seconds["views"].append(sum(view_seconds))
            seconds["forward"].append(t1 - t0 - sum(view_seconds))
            seconds["backward"].append(t2 - t1)
            seconds["optimizer"].append(t3 - t2)
        return t3 - t0

    warmup_seconds, prof = [], None
    try:
        for _ in range(warmup):
            warmup_seconds.append(one_step(False))
        recorder = profile(activities=activities, record_shapes=record_shapes) if with_profiler else None
        with recorder or contextlib.nullcontext():
            for _ in range(steps):
                one_step(True)
        prof = recorder
    finally:
        model.eval()
    return PhaseProfile(seconds, steps, batch_size, prof, warmup_seconds, mode, channels_last)


class ProfileRow(NamedTuple):
    """A function in a cProfile run: where, how often, own seconds (tottime), with callees (cumtime)."""

    function: str
    calls: int
    tottime: float
    cumtime: float


def _where(key: tuple) -> str:
    file, line, name = key
    if file == "~":  # a built-in, such as a torch C++ function
        return name
    return f"{Path(file).name}:{line}({name})"


def cprofile_top(fn: Callable, *args, n: int = 10, sort: str = "tottime", **kwargs):
    """Run ``fn(*args, **kwargs)`` under ``cProfile``; return ``(result, rows)`` with the ``n``
    slowest functions as :class:`ProfileRow`, slowest first by ``sort`` (``"tottime"``: own
    time, ``"cumtime"``: including callees, ``"ncalls"``: most called).

    >>> result, rows = cprofile_top(sorted, range(10), n=3)
    >>> result[:3], len(rows) <= 3
    ([0, 1, 2], True)
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")  # noqa: TRY004
    _validate.positive_int("n", n)
    _validate.one_of("sort", sort, set(SORTS))
    profiler = cProfile.Profile()
    result = profiler.runcall(fn, *args, **kwargs)
    index = {"tottime": 2, "cumtime": 3, "ncalls": 1}[sort]
    # pstats' public get_stats_profile() keys on the bare name (two __init__ share one entry) and
    # rounds to the millisecond, so the rows come from the full (file, line, name) table.
    rows = [ProfileRow(_where(k), calls, tt, ct) for k, (_, calls, tt, ct, _) in pstats.Stats(profiler).stats.items()]
    rows.sort(key=lambda r: -r[index])
    return result, rows[:n]


def _need_tensorboard() -> None:
    if SummaryWriter is None or EventAccumulator is None:
        raise ImportError("TensorBoard event files need the tensorboard package: pip install 'tensorboard>=2.14'")


def log_scalars(logdir, scalars, steps=None) -> Path:
    """Write scalars as TensorBoard event files in ``logdir``; returns the folder.

    ``scalars`` maps a tag (``"loss"``, ``"train/lr"``) to a list of numbers, one per step, or is a
    :class:`~sslbook.train.History` (its values, at its steps). ``steps`` are the global steps
    (default ``0, 1, ...``, or the history's). Each value is stored as a 32-bit float.

    >>> log_scalars("/tmp/run", {"loss": [2.0, 1.5]})  # doctest: +SKIP
    """
    if isinstance(scalars, History):
        steps = scalars.step if steps is None else steps
        scalars = scalars.values
    if not isinstance(scalars, dict) or not scalars:
        raise ValueError(f"scalars must be a non-empty dict of tag -> list of numbers (or a History), got {scalars!r}")
    lengths = {tag: len(values) for tag, values in scalars.items()}
    for tag, values in scalars.items():
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"every tag in scalars must be a non-empty string, got {tag!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"scalars[{tag!r}] must hold plain numbers, got {list(values)[:3]!r}...")
    steps = list(range(max(lengths.values()))) if steps is None else list(steps)
    if any(length != len(steps) for length in lengths.values()):
        raise ValueError(f"steps has {len(steps)} entries but the tags have {lengths}: give one value per step")
    if any(not isinstance(s, int) or s < 0 for s in steps):
        raise ValueError(f"steps must be integers >= 0, got {steps[:5]!r}...")
    _need_tensorboard()
    writer = SummaryWriter(log_dir=str(logdir := Path(logdir)))
    try:
        for tag, values in scalars.items():
            for step, value in zip(steps, values):
                writer.add_scalar(tag, value, global_step=step)
    finally:
        writer.close()
    return logdir


def read_scalars(logdir) -> dict[str, tuple[list[int], list[float]]]:
    """Read every scalar in ``logdir``'s event files with TensorBoard's ``EventAccumulator``:
    ``{tag: (steps, values)}``, in step order (all of them, none sampled away).

    >>> read_scalars(log_scalars("/tmp/run", {"loss": [2.0, 1.5]}))  # doctest: +SKIP
    {'loss': ([0, 1], [2.0, 1.5])}
    """
    logdir = Path(logdir)
    if not logdir.is_dir() or not any(logdir.glob("events.out.tfevents.*")):
        raise ValueError(f"logdir must be a folder holding TensorBoard event files, got {str(logdir)!r}")
    _need_tensorboard()
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        events = sorted(acc.Scalars(tag), key=lambda e: e.step)
        out[tag] = ([e.step for e in events], [e.value for e in events])
    return out


def git_commit(where=".") -> tuple[str, bool]:
    """``(commit, dirty)`` of the git work tree that holds ``where``: the full hash of ``HEAD`` and
    whether tracked files differ from it; ``("unknown", False)`` outside a work tree or without git."""
    try:
        run = dict(cwd=str(where), capture_output=True, text=True, timeout=10, check=True)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return commit, dirty


def run_record(hparams: dict, seed: int, *, tag: str = "run", where=".") -> dict:
    """What to store beside a run's numbers so that a curve can be traced to what made it.

    Returns ``name`` (``{tag}-{time}-s{seed}-{commit[:7]}``, a folder name that sorts by time and
    says seed and code), ``hparams`` (every setting, as given: plain numbers, strings, lists),
    ``seed``, ``commit`` and ``dirty`` (:func:`git_commit` of ``where``: a dirty tree means the
    commit alone does not say what ran), ``torch``, ``python`` and ``time`` (UTC).

    >>> r = run_record({"lr": 3e-3, "batch_size": 256}, seed=0, tag="simclr")
    >>> r["name"].startswith("simclr-"), r["hparams"]["lr"], sorted(r)[:3]
    (True, 0.003, ['commit', 'dirty', 'hparams'])
    """
    if not isinstance(hparams, dict) or not all(isinstance(k, str) and k for k in hparams):
        raise ValueError(f"hparams must be a dict with non-empty string keys, got {hparams!r}"[:200])
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not isinstance(tag, str) or not tag or any(c in tag for c in "/\\ "):
        raise ValueError(f"tag must be a non-empty string without slashes or spaces, got {tag!r}")
    (commit, dirty), now = git_commit(where), time.gmtime()
    return {"name": f"{tag}-{time.strftime('%Y%m%d-%H%M%S', now)}-s{seed}-{commit[:7]}", "hparams": dict(hparams),
            "seed": seed, "commit": commit, "dirty": dirty, "torch": torch.__version__,
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", now)}
