"""sslbook: the tested helpers behind *Self-Supervised Learning, Hands On*.

Data flows one way through the modules, and a chapter reads the same way
(see ``sslbook/README.md`` for which module owns what)::

    config -> data -> augment, masking -> models -> losses -> train -> recipes
           -> evaluate -> plots -> widgets -> exercises -> student, grade

>>> import sslbook
>>> sslbook.seed_everything(0); sslbook.budget()
'quick'
"""

from __future__ import annotations

import random

import numpy as np
import torch

from . import distributed as _distributed
from .config import BUDGETS, budget, by_budget, seed, seed_offset, seeds, show_progress

__version__ = "0.1.0"


def seed_everything(k: int = 0) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with the book's seed ``seed(k)``.

    The same ``SSLBOOK_SEED`` on the same machine gives the same numbers in every chapter (another
    machine gives other numbers: other kernels round differently). Returns nothing, so that a
    notebook cell ending with it prints nothing.

    >>> seed_everything(42)
    """
    value = seed(k)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)  # also seeds every CUDA device


def device() -> torch.device:
    """The device to compute on: CUDA when present, else the CPU; under ``torchrun``, this
    process's own GPU, ``cuda:LOCAL_RANK`` (see :func:`sslbook.distributed.device`, its owner).

    >>> device().type in ("cpu", "cuda")
    True
    """
    return _distributed.device()


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


__all__ = ["BUDGETS", "budget", "by_budget", "device", "glue", "seed", "seed_everything", "seeds", "show_progress",
           "__version__"]
