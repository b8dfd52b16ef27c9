import random

import numpy as np
import pytest
import torch

import sslbook


def test_seed_everything_repeats_all_generators():
    sslbook.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3))
    sslbook.seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "0", True, None])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        sslbook.seed_everything(bad)


def test_budget_defaults_to_quick(monkeypatch):
    monkeypatch.delenv("SSLBOOK_BUDGET", raising=False)
    assert sslbook.budget() == "quick"
    assert sslbook.by_budget(quick=1, full=2) == 1


@pytest.mark.parametrize("value,expected", [("quick", "quick"), ("full", "full"), (" FULL ", "full"), ("", "quick")])
def test_budget_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("SSLBOOK_BUDGET", value)
    assert sslbook.budget() == expected


def test_by_budget_full(monkeypatch):
    monkeypatch.setenv("SSLBOOK_BUDGET", "full")
    assert sslbook.by_budget(quick=1, full=2) == 2


@pytest.mark.parametrize("value", ["fast", "medium", "0"])
def test_budget_rejects_unknown_values(monkeypatch, value):
    monkeypatch.setenv("SSLBOOK_BUDGET", value)
    with pytest.raises(ValueError, match=r"SSLBOOK_BUDGET must be one of \['quick', 'full'\], got '" + value):
        sslbook.budget()


def test_glue_returns_nothing_so_cells_stay_quiet():
    assert sslbook.glue("x", 3) is None


@pytest.mark.parametrize("value,expected", [(None, True), ("1", True), ("0", False), ("false", False)])
def test_show_progress(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("SSLBOOK_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("SSLBOOK_PROGRESS", value)
    assert sslbook.show_progress() is expected
