"""sslbook: the tested helpers behind *Self-Supervised Learning, Hands On*.

Data flows one way through the modules, and a chapter reads the same way
(see ``sslbook/README.md`` for which module owns what)::

    config -> data -> augment, masking -> models -> losses -> train -> recipes
           -> evaluate -> plots -> widgets -> exercises -> student, grade

>>> import sslbook
>>> sslbook.seed_everything(0); sslbook.budget()
0
'quick'
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .config import BUDGETS, budget, by_budget, show_progress

__version__ = "0.1.0"


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one number.

    The same seed on the same machine gives the same numbers in every chapter.
    Returns nothing, so that a notebook cell ending with it prints nothing.

    >>> seed_everything(42)
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def device() -> torch.device:
    """The fastest device here: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the book's prose (myst-nb ``glue``).

    Returns nothing, so that a ``glue`` on the last line of a cell shows no
    output. Outside the book build (plain Jupyter, Colab without myst-nb) it
    falls back to printing ``name = value`` so that the notebook still runs.
    """
    try:  # myst-nb is optional: only the book build has it
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        print(f"{name} = {value}")
        return
    _glue(name, value, display=display)


__all__ = ["BUDGETS", "budget", "by_budget", "device", "glue", "seed_everything", "show_progress", "__version__"]
