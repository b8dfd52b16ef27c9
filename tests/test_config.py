"""sslbook.config: the only reader of SSLBOOK_* variables; and the package's seed."""
import random
import re

import numpy as np
import pytest
import torch

import sslbook
from sslbook import config


def test_seed_everything_repeats_all_generators():
    sslbook.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(3))
    sslbook.seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert sslbook.seed_everything(7) is None      # a cell ending with it prints no stray 0


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


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("ON", True), ("0", False),
                                            ("false", False), ("No", False), ("", True)])
def test_flag_parses_yes_and_no(monkeypatch, value, expected):
    monkeypatch.setenv("SSLBOOK_X", value)
    assert config.flag("SSLBOOK_X", True) is expected


def test_flag_rejects_other_words(monkeypatch):
    monkeypatch.setenv("SSLBOOK_OFFLINE", "maybe")
    with pytest.raises(ValueError, match=r"SSLBOOK_OFFLINE must be one of \[.*\], got 'maybe'"):
        config.offline()


def test_paths_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("SSLBOOK_CIFAR10", str(tmp_path / "c.tar.gz"))
    assert config.cache_dir() == tmp_path and config.cifar10_root() == tmp_path / "c.tar.gz"
    monkeypatch.delenv("SSLBOOK_CACHE")
    monkeypatch.setenv("SSLBOOK_CIFAR10", "  ")
    assert config.cache_dir().name == "sslbook" and config.cifar10_root() is None


def test_only_config_reads_sslbook_variables(root):
    """One owner: no other module of the package, no chapter and no benchmark reads SSLBOOK_* itself."""
    readers = []
    for path in [*root.glob("sslbook/**/*.py"), *root.glob("chapters/*.md"), *root.glob("benchmarks/*.py")]:
        if path.name != "config.py" and re.search(r"environ(\.get)?\s*[\[(]\s*['\"]SSLBOOK_", path.read_text()):
            readers.append(str(path.relative_to(root)))
    assert readers == []


def test_seed_knob_shifts_every_seed(monkeypatch):
    import sslbook
    monkeypatch.delenv("SSLBOOK_SEED", raising=False)
    assert sslbook.seed(0) == 0 and sslbook.seeds(3) == [0, 1, 2]
    monkeypatch.setenv("SSLBOOK_SEED", "2")
    assert sslbook.seed(7) == 2007 and sslbook.seeds(2, start=5) == [2005, 2006]
    sslbook.seed_everything(0)
    a = torch.rand(3)
    torch.manual_seed(2000)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("raw", ["-1", "1000", "one", "1.5"])
def test_bad_seed_is_named(monkeypatch, raw):
    import sslbook
    monkeypatch.setenv("SSLBOOK_SEED", raw)
    with pytest.raises(ValueError, match="SSLBOOK_SEED"):
        sslbook.seed(0)


@pytest.mark.parametrize("k", [-1, 1000, 1.0, True])
def test_bad_seed_number(k):
    import sslbook
    with pytest.raises(ValueError, match="seed number k must be"):
        sslbook.seed(k)


def test_or_seed_resolves_none_through_the_knob(monkeypatch):
    assert config.or_seed(7) == 7 and config.or_seed(np.int64(3)) == 3
    monkeypatch.setenv("SSLBOOK_SEED", "2")
    assert config.or_seed(None) == 2000


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_or_seed_rejects_what_is_not_a_seed(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer or None"):
        config.or_seed(bad)


def test_package_defaults_follow_the_seed_knob(monkeypatch):
    """A chapter that passes no seed still re-draws under SSLBOOK_SEED (a label draw, a split)."""
    from sslbook import data
    labels = torch.arange(10).repeat(20)
    before = (data.few_labels(labels, 2), data.load_digits().test_idx)
    monkeypatch.setenv("SSLBOOK_SEED", "1")
    after = (data.few_labels(labels, 2), data.load_digits().test_idx)
    assert torch.equal(data.few_labels(labels, 2, seed=1000), after[0])
    assert not torch.equal(before[0], after[0])
    assert not np.array_equal(np.asarray(before[1]), np.asarray(after[1]))
