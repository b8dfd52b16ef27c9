"""Settings from the environment: the only reader of ``SSLBOOK_*`` variables.

| variable | meaning | default |
| --- | --- | --- |
| ``SSLBOOK_BUDGET`` | ``quick`` (a chapter in under 90 s on a 2-core CPU) or ``full`` (GPU / Colab) | ``quick`` |
| ``SSLBOOK_PROGRESS`` | draw tqdm progress bars (yes/no) | yes |
| ``SSLBOOK_OFFLINE`` | never try to download a data set (yes/no) | no |
| ``SSLBOOK_CACHE`` | folder for downloads, decoded tensors and full-budget checkpoints | ``~/.cache/sslbook`` |
| ``SSLBOOK_CIFAR10`` | a CIFAR-10 image-folder tree or a ``.tar.gz`` of one | unset |

Every value is read when asked for (not at import), so a chapter that sets a
variable sees the change, and every bad value is a ``ValueError`` naming the
variable, the value and what is allowed.

>>> budget() in BUDGETS
True
"""

from __future__ import annotations

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
