import os

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quick_budget(monkeypatch):
    """Tests run in the quick budget unless a test sets another."""
    monkeypatch.setenv("SSLBOOK_BUDGET", "quick")


@pytest.fixture(scope="session")
def digits():
    from sslbook import data

    return data.load_digits()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
