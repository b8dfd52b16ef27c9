"""sslbook: the tested helpers behind *Self-Supervised Learning, Hands On*.

Data flows one way through the modules, and a chapter reads the same way:
``data -> augment -> models -> losses -> train -> evaluate -> plots/widgets``.

>>> import sslbook
>>> sslbook.seed_everything(0); sslbook.budget()
'quick'
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__version__ = "0.1.0"

BUDGETS = ("quick", "full")


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one number.

    The same seed on the same machine gives the same numbers in every chapter.

    >>> seed_everything(42)
    42
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def budget() -> str:
    """The compute budget chosen by the ``SSLBOOK_BUDGET`` environment variable.

    ``quick`` (the default) sizes every run for a 2-core CPU, a chapter in under
    90 s; ``full`` sizes it for a GPU or Colab.

    >>> budget() in ("quick", "full")
    True
    """
    value = os.environ.get("SSLBOOK_BUDGET", "quick").strip().lower() or "quick"
    if value not in BUDGETS:
        raise ValueError(
            f"SSLBOOK_BUDGET must be one of {list(BUDGETS)}, got {os.environ['SSLBOOK_BUDGET']!r}"
        )
    return value


def by_budget(quick, full):
    """Return ``quick`` or ``full`` according to :func:`budget`.

    >>> by_budget(quick=200, full=5000) in (200, 5000)
    True
    """
    return quick if budget() == "quick" else full


def device() -> torch.device:
    """The fastest device here: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's prose (myst-nb ``glue``).

    Returns nothing, so that a ``glue`` on the last line of a cell shows no
    output. Outside the book build (plain Jupyter, Colab without myst-nb) it
    falls back to printing ``name = value`` so that the notebook still runs.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        print(f"{name} = {value}")
        return
    _glue(name, value, display=display)


def show_progress() -> bool:
    """Whether training loops draw progress bars: yes, unless ``SSLBOOK_PROGRESS=0``.

    ``make book`` and ``make test`` turn them off, so that executed notebooks
    carry no progress-bar widgets.
    """
    return os.environ.get("SSLBOOK_PROGRESS", "1").strip() not in ("0", "false", "no")


__all__ = ["BUDGETS", "budget", "by_budget", "device", "glue", "seed_everything", "show_progress", "__version__"]
