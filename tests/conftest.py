import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quick_budget(monkeypatch):
    """Tests run in the quick budget and the book's default seed unless a test sets another."""
    monkeypatch.setenv("SSLBOOK_BUDGET", "quick")
    monkeypatch.delenv("SSLBOOK_SEED", raising=False)


@pytest.fixture(scope="session")
def digits():
    from sslbook import data

    return data.load_digits()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's top folder."""
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_cifar10(root) -> Path:
    """The CIFAR-10 archive in ../shared/data; tests that need it skip, saying so, without it."""
    path = root.parent / "shared" / "data" / "cifar10-jpg.tar.gz"
    if not path.exists():
        pytest.skip(f"CIFAR-10 tree not found at {path}")
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Every test shares one fresh sslbook cache (decoded CIFAR-10 tensors), never ~/.cache."""
    path = tmp_path_factory.mktemp("sslbook-cache")
    previous = os.environ.get("SSLBOOK_CACHE")
    os.environ["SSLBOOK_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SSLBOOK_CACHE", None)
    else:
        os.environ["SSLBOOK_CACHE"] = previous
