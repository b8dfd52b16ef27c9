"""The book's statistics, in one place: every claimed effect goes through here.

A chapter that says "A beats B" has compared A and B over repeated runs (seeds,
label draws, initialisations) with one of these functions and asserted the
verdict. The rules, following Bouthillier et al. (2021, *Accounting for variance
in machine learning benchmarks*) and Agarwal et al. (2021, *Deep RL at the edge
of the statistical precipice*):

- report an **interval**, not a point: the Student t interval of a mean with the
  right degrees of freedom (``n - 1`` for paired draws, Welch-Satterthwaite for
  two independent samples), or a percentile bootstrap;
- a **verdict** is ``"a"`` or ``"b"`` only when the whole interval of ``a - b``
  clears ``margin`` on one side; otherwise it is ``"within noise"``, which means
  that these runs cannot tell, not that there is no difference;
- many comparisons on one page are decided together by **Holm's** step-down rule
  (:func:`holm`), which keeps the chance of any false claim on the page at most
  ``1 - level``;
- an accuracy over ``n`` test images has its own standard error
  ``sqrt(p (1 - p) / n)`` (:func:`accuracy_se`) and a Wilson interval
  (:func:`accuracy_interval`): the test images are one draw too.

What the interval covers is only what varied between the runs. A test set, a
pre-training run or an initialisation that every run shares is fixed once, and
the interval says nothing about it: chapters name what was fixed.

>>> c = paired([0.91, 0.88, 0.90, 0.89], [0.85, 0.84, 0.86, 0.83])
>>> c.verdict, round(c.diff, 3)
('a', 0.05)
>>> paired([0.9, 0.7, 0.8], [0.7, 0.9, 0.8]).verdict
'within noise'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _st

from . import _validate, config

VERDICTS = ("a", "b", "within noise")
LEVEL = 0.95


def _sample(name: str, values, minimum: int = 2) -> np.ndarray:
    x = np.asarray(_validate.to_numpy(values), dtype=float).reshape(-1) if not isinstance(values, dict) else None
    if x is None:
        raise ValueError(f"{name} must be a sequence of numbers, got a dict")
    if len(x) < minimum:
        raise ValueError(f"{name} needs at least {minimum} values (one per run) for an interval, got {len(x)}: "
                         "a single score has no spread to judge it by; add seeds or draws")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values: {x.tolist()}")
    return x


def _level(level) -> None:
    _validate.in_range("level", level, 0, 1, low_open=True, high_open=True)


def _decide(low: float, high: float, margin: float) -> str:
    if low > margin:
        return "a"
    if high < -margin:
        return "b"
    return "within noise"


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` runs with its ``level`` interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.half_width:.3f}"

    def describe(self, digits: int = 3, unit: str = "runs") -> str:
        """``0.797 (95% CI 0.771 to 0.823, 3 runs)``; ``unit`` names what ``n`` counts
        (``"test images"`` for :func:`accuracy_interval`, ``"label draws"``...)."""
        return (f"{self.mean:.{digits}f} ({self.level:.0%} CI {self.low:.{digits}f} to "
                f"{self.high:.{digits}f}, {self.n:,} {unit})")


@dataclass(frozen=True)
class Comparison:
    """``a - b``: the mean difference, its interval, a p-value and the verdict.

    ``verdict`` is ``"a"`` (a is higher), ``"b"`` or ``"within noise"``; ``method`` says which
    interval was used ("paired t", "Welch t", "paired bootstrap", "bootstrap"). ``p`` is two-sided,
    against ``margin`` (against 0 when there is no margin), so that :func:`holm` decides the same
    question the verdict does. After :func:`holm`, ``family`` is the number of comparisons decided
    together and ``unadjusted`` the verdict this comparison had on its own.
    """

    diff: float
    low: float
    high: float
    p: float
    df: float
    n: int
    method: str
    verdict: str
    level: float = LEVEL
    margin: float = 0.0
    family: int = 1
    unadjusted: str | None = None

    def __str__(self) -> str:
        return f"{self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"

    @property
    def words(self) -> str:
        """The verdict in words: ``"above zero"``, ``"below zero"`` (or the margin), ``"within noise"``."""
        edge = "zero" if self.margin == 0 else f"the margin of {self.margin:g}"
        return {"a": f"above {edge}", "b": f"below {'zero' if self.margin == 0 else 'minus ' + edge}",
                "within noise": "within noise"}[self.verdict]

    def describe(self, digits: int = 3, unit: str = "runs") -> str:
        """``+0.048 (95% CI +0.031 to +0.065, paired t over 5 runs): above zero``; ``unit`` names what
        ``n`` counts (``"label draws"``, ``"test images"``, ``"seeds"``...). After :func:`holm` it names
        the family, and an interval that clears zero on its own but is not confirmed by Holm says so."""
        rule = ""
        if self.family > 1:
            rule = f"; Holm over {self.family} comparisons"
            if self.unadjusted not in (None, self.verdict):
                rule = f"; unadjusted, not confirmed by Holm over {self.family} comparisons"
        return (f"{self.diff:+.{digits}f} ({self.level:.0%} CI {self.low:+.{digits}f} to {self.high:+.{digits}f}, "
                f"{self.method} over {self.n:,} {unit}{rule}): {self.words}")


def _p_against(mean: float, se: float, margin: float, df: float) -> float:
    """Two-sided t p-value of ``|mean| > margin`` (of ``mean != 0`` without a margin)."""
    excess = abs(mean) - margin
    if se == 0:
        return 0.0 if excess > 0 else 1.0
    if excess <= 0:
        return 1.0
    return float(min(1.0, 2 * _st.t.sf(excess / se, df)))


def t_interval(values, level: float = LEVEL) -> Estimate:
    """The mean of ``values`` (one per run, at least 2) and its Student t interval with ``n - 1``
    degrees of freedom: ``mean ± t_{n-1} sd / sqrt(n)``.

    >>> e = t_interval([0.80, 0.82, 0.78]); round(e.low, 3), round(e.high, 3)
    (0.75, 0.85)
    """
    _level(level)
    x = _sample("values", values)
    n = len(x)
    half = _st.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return Estimate(float(x.mean()), float(x.mean() - half), float(x.mean() + half), n, level)


def paired(a, b, level: float = LEVEL, margin: float = 0.0) -> Comparison:
    """Compare two methods scored on the same runs (same seeds, same label draws), run by run.

    The differences ``d_i = a_i - b_i`` give a t interval with ``n - 1`` degrees of freedom,
    ``mean(d) ± t_{n-1} sd(d) / sqrt(n)``; the verdict is ``"a"`` when the interval lies above
    ``margin``, ``"b"`` when it lies below ``-margin``, else ``"within noise"``. With 3 runs
    the interval is ``± 4.30`` standard errors wide, not 2.

    >>> paired([0.80, 0.79, 0.81], [0.70, 0.72, 0.69]).verdict
    'a'
    """
    _level(level)
    _validate.positive("margin", margin, allow_zero=True)
    x, y = _sample("a", a), _sample("b", b)
    if x.shape != y.shape:
        raise ValueError(f"a and b must be paired runs of the same length, got {len(x)} and {len(y)}")
    d = x - y
    n = len(d)
    se = d.std(ddof=1) / math.sqrt(n)
    half = _st.t.ppf((1 + level) / 2, n - 1) * se
    mean = float(d.mean())
    p = _p_against(mean, se, margin, n - 1)   # se = 0: every run differs by the same amount
    return Comparison(mean, mean - half, mean + half, p, float(n - 1), n, "paired t",
                      _decide(mean - half, mean + half, margin), level, margin)


def unpaired(a, b, level: float = LEVEL, margin: float = 0.0) -> Comparison:
    """Compare two independent samples (runs that share nothing) with Welch's t interval:
    ``mean(a) - mean(b) ± t_df sqrt(s_a^2/n_a + s_b^2/n_b)``, ``df`` by Welch-Satterthwaite.

    >>> unpaired([0.80, 0.79, 0.81, 0.80], [0.70, 0.72, 0.69]).verdict
    'a'
    """
    _level(level)
    _validate.positive("margin", margin, allow_zero=True)
    x, y = _sample("a", a), _sample("b", b)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    mean = float(x.mean() - y.mean())
    if se > 0:
        df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
        half = _st.t.ppf((1 + level) / 2, df) * se
    else:
        df, half = float(len(x) + len(y) - 2), 0.0
    p = _p_against(mean, se, margin, df)
    return Comparison(mean, mean - half, mean + half, p, float(df), len(x) + len(y), "Welch t",
                      _decide(mean - half, mean + half, margin), level, margin)


def bootstrap(a, b=None, *, is_paired: bool = True, level: float = LEVEL, margin: float = 0.0,
              resamples: int = 10_000, seed: int | None = None) -> Comparison:
    """A percentile bootstrap interval of ``mean(a) - mean(b)`` (or of ``mean(a)`` when ``b`` is None,
    against 0): paired resamples runs together, unpaired resamples each sample on its own.
    Use it when the t interval's normal assumption is doubtful and there are enough runs (10 or more).
    ``p`` is the share of resampled differences on the far side of 0 (of the margin), doubled (at most 1).

    >>> bootstrap([0.8, 0.82, 0.81, 0.79, 0.83], [0.7, 0.72, 0.71, 0.69, 0.7]).verdict
    'a'
    """
    _level(level)
    _validate.positive("margin", margin, allow_zero=True)
    _validate.positive_int("resamples", resamples, minimum=100)
    x = _sample("a", a)
    y = np.zeros_like(x) if b is None else _sample("b", b)
    if is_paired and x.shape != y.shape:
        raise ValueError(f"a and b must be paired runs of the same length, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(config.or_seed(seed))
    if is_paired:
        d = x - y
        means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1)
        mean, method, n = float(d.mean()), "paired bootstrap", len(d)
    else:
        means = (x[rng.integers(0, len(x), (resamples, len(x)))].mean(axis=1)
                 - y[rng.integers(0, len(y), (resamples, len(y)))].mean(axis=1))
        mean, method, n = float(x.mean() - y.mean()), "bootstrap", len(x) + len(y)
    low, high = (float(v) for v in np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))
    side = means - margin if mean >= 0 else -(means + margin)   # how far each resample clears the margin
    p = float(min(1.0, 2 * (side <= 0).mean()))
    return Comparison(mean, low, high, p, float("nan"), n, method, _decide(low, high, margin), level, margin)


def holm(comparisons: dict, level: float = LEVEL) -> dict:
    """Decide many comparisons on one page together with Holm's step-down rule (Holm 1979).

    Sort the p-values; the ``k``-th smallest (from 0) is a claim only if it and every smaller one
    lie below ``(1 - level) / (m - k)``. The chance of one or more false claims on the page is then
    at most ``1 - level`` (for this family: say on the page which comparisons form it). The p-values are
    taken against each comparison's ``margin``. A comparison that Holm does not confirm becomes
    ``"within noise"``; the intervals are left as they were (each is a single-comparison interval,
    and :meth:`Comparison.describe` says "unadjusted, not confirmed by Holm" when it clears zero on
    its own). Returns a new dict.

    >>> cs = {"x": paired([1.0, 1.1, 0.9], [0.0, 0.1, -0.1]), "y": paired([0.1, 0.3, 0.0], [0.0, 0.1, 0.1])}
    >>> {k: c.verdict for k, c in holm(cs).items()}
    {'x': 'a', 'y': 'within noise'}
    """
    _level(level)
    if not isinstance(comparisons, dict) or not all(isinstance(c, Comparison) for c in comparisons.values()):
        raise ValueError("comparisons must be a dict of stats.Comparison, got "
                         f"{type(comparisons).__name__}")
    alpha, m = 1 - level, len(comparisons)
    order = sorted(comparisons, key=lambda k: comparisons[k].p)
    out, stopped = {}, False
    for k, key in enumerate(order):
        c = comparisons[key]
        stopped = stopped or c.p >= alpha / (m - k)
        out[key] = replace(c, verdict="within noise" if stopped else c.verdict, family=m, unadjusted=c.verdict)
    return {key: out[key] for key in comparisons}


def accuracy_se(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` test items: ``sqrt(p (1 - p) / n)``.

    It measures only the test draw (which images were tested), not seeds or label draws.

    >>> round(accuracy_se(0.9, 2500), 4)
    0.006
    """
    _validate.in_range("accuracy", accuracy, 0, 1)
    _validate.positive_int("n", n)
    return math.sqrt(accuracy * (1 - accuracy) / n)


def accuracy_interval(accuracy: float, n: int, level: float = LEVEL) -> Estimate:
    """The Wilson score interval of an accuracy over ``n`` test items (Wilson 1927), which, unlike
    ``p ± 1.96 se``, stays inside [0, 1] and is honest near 0 and 1.

    >>> e = accuracy_interval(0.9, 100); round(e.low, 3), round(e.high, 3)
    (0.826, 0.945)
    """
    _validate.in_range("accuracy", accuracy, 0, 1)
    _validate.positive_int("n", n)
    _level(level)
    z = _st.norm.ppf((1 + level) / 2)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return Estimate(float(accuracy), float(centre - half), float(centre + half), n, level)


def rank_correlation(x, y, level: float = LEVEL) -> Estimate:
    """Spearman's rank correlation of paired values with a Fisher-z interval
    (standard error ``1.06 / sqrt(n - 3)``, Fieller et al. 1957); needs at least 4 pairs.

    >>> round(rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).mean, 2)
    0.8
    """
    _level(level)
    a, b = _sample("x", x, minimum=4), _sample("y", y, minimum=4)
    if a.shape != b.shape:
        raise ValueError(f"x and y must be paired values of the same length, got {len(a)} and {len(b)}")
    rho = float(_st.spearmanr(a, b).statistic)
    z, half = math.atanh(max(min(rho, 0.999999), -0.999999)), _st.norm.ppf((1 + level) / 2) * 1.06 / math.sqrt(len(a) - 3)
    return Estimate(rho, math.tanh(z - half), math.tanh(z + half), len(a), level)


__all__ = ["Comparison", "Estimate", "LEVEL", "VERDICTS", "accuracy_interval", "accuracy_se", "bootstrap",
           "holm", "paired", "rank_correlation", "t_interval", "unpaired"]
