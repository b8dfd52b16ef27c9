"""What every benchmark records beside its figures, and how it writes them."""

from __future__ import annotations

import json
import os
import platform

import torch


def machine() -> dict:
    """The facts a reader needs to compare two runs."""
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "machine": platform.machine()}


def write_json(result: dict, out: str) -> None:
    """Write ``result`` to ``out`` (creating its folder) and say where."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}")
