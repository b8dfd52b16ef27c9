"""Settings from the environment: the only reader of ``SSLBOOK_*`` variables.

| variable | meaning | default |
| --- | --- | --- |
| ``SSLBOOK_BUDGET`` | ``quick`` (a chapter in under 90 s on a 2-core CPU) or ``full`` (GPU / Colab) | ``quick`` |
| ``SSLBOOK_PROGRESS`` | draw tqdm progress bars (yes/no) | yes |
| ``SSLBOOK_OFFLINE`` | never try to download a data set (yes/no) | no |
| ``SSLBOOK_CACHE`` | folder for downloads, decoded tensors and full-budget checkpoints | ``~/.cache/sslbook`` |
| ``SSLBOOK_CIFAR10`` | a CIFAR-10 image-folder tree or a ``.tar.gz`` of one | unset |
| ``SSLBOOK_SEED`` | shifts every seed in the book: seed ``k`` becomes ``k + 1000 * SSLBOOK_SEED`` | 0 |

Every value is read when asked for (not at import), so a chapter that sets a
variable sees the change, and every bad value is a ``ValueError`` naming the
variable, the value and what is allowed.

>>> budget() in BUDGETS
True
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

BUDGETS = ("quick", "full")
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")


def flag(name: str, default: bool) -> bool:
    """A yes/no environment variable: ``1/true/yes/on`` or ``0/false/no/off`` (any case);
    unset or empty gives ``default``.

    >>> flag("SSLBOOK_SURELY_UNSET", True)
    True
    """
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _YES:
        return True
    if raw in _NO:
        return False
    raise ValueError(f"{name} must be one of {list(_YES + _NO)}, got {os.environ[name]!r}")


def budget() -> str:
    """The compute budget chosen by ``SSLBOOK_BUDGET``: ``quick`` (the default) or ``full``.

    >>> budget() in ("quick", "full")
    True
    """
    raw = os.environ.get("SSLBOOK_BUDGET", "")
    value = raw.strip().lower() or "quick"
    if value not in BUDGETS:
        raise ValueError(f"SSLBOOK_BUDGET must be one of {list(BUDGETS)}, got {raw!r}")
    return value


def by_budget(quick, full):
    """``quick`` or ``full`` according to :func:`budget`.

    >>> by_budget(quick=200, full=5000) in (200, 5000)
    True
    """
    return quick if budget() == "quick" else full


def show_progress() -> bool:
    """Whether training loops draw progress bars (``SSLBOOK_PROGRESS``, default yes).

    ``make book`` and ``make test`` turn them off, so that executed notebooks carry
    no progress-bar widgets.
    """
    return flag("SSLBOOK_PROGRESS", True)


def offline() -> bool:
    """Whether data sets must not be downloaded (``SSLBOOK_OFFLINE``, default no)."""
    return flag("SSLBOOK_OFFLINE", False)


def cache_dir() -> Path:
    """Where sslbook caches downloads and decoded tensors: ``$SSLBOOK_CACHE`` or ``~/.cache/sslbook``."""
    raw = os.environ.get("SSLBOOK_CACHE", "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "sslbook"


def cifar10_root() -> Path | None:
    """The CIFAR-10 tree or archive named by ``SSLBOOK_CIFAR10``, or None when unset."""
    raw = os.environ.get("SSLBOOK_CIFAR10", "").strip()
    return Path(raw).expanduser() if raw else None


#: Seed ``k`` of the book becomes ``k + SEED_STRIDE * SSLBOOK_SEED``: the runs of two book seeds share no seed.
SEED_STRIDE = 1000


def seed_offset() -> int:
    """The book's seed, ``SSLBOOK_SEED`` (an integer from 0 to 999; default 0).

    ``make book SEED=1`` and ``make test SEED=1`` set it. Every seed the book uses goes through
    :func:`sslbook.seed` (``k + 1000 * SSLBOOK_SEED``), so another value re-draws everything:
    initialisations, views, label draws, training order.

    >>> 0 <= seed_offset() < 1000
    True
    """
    raw = os.environ.get("SSLBOOK_SEED", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value < SEED_STRIDE:
        raise ValueError(f"SSLBOOK_SEED must be an integer from 0 to {SEED_STRIDE - 1}, got {raw!r}")
    return value


def seed(k: int = 0) -> int:
    """The book's seed number ``k``, shifted by ``SSLBOOK_SEED``: ``k + 1000 * SSLBOOK_SEED``.

    Every seed in the chapters and in the package's defaults goes through this function, so that
    ``SSLBOOK_SEED=1`` re-draws every initialisation, view, label draw and training order.
    ``k`` is from 0 to 999.

    >>> seed(3) - 1000 * seed_offset()
    3
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < SEED_STRIDE:
        raise ValueError(f"seed number k must be an integer from 0 to {SEED_STRIDE - 1}, got {k!r}")
    return int(k) + SEED_STRIDE * seed_offset()


def seeds(n: int, start: int = 0) -> list[int]:
    """``n`` of the book's seeds, ``seed(start) ... seed(start + n - 1)``: one per repeated run.

    >>> len(seeds(5))
    5
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or start < 0 or start + n > SEED_STRIDE:
        raise ValueError(f"n must be an integer >= 1 with start + n <= {SEED_STRIDE}, got n={n!r}, start={start!r}")
    return [seed(k) for k in range(start, start + n)]


def or_seed(value: int | None) -> int:
    """``value`` itself, or the book's seed 0 (:func:`seed`) when ``value`` is None.

    Every package function with a seed takes ``seed=None`` by default and resolves it here (the
    one place), so that a chapter that does not pass a seed still follows ``SSLBOOK_SEED``.

    >>> or_seed(7)
    7
    """
    if value is None:
        return seed(0)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {value!r}")
    return int(value)
