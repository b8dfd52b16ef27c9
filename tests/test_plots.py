"""sslbook.plots: projections and figures."""
import numpy as np
import pytest

from sslbook import plots


def two_blobs(n=40):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 5)) + np.where(y == 1, 6.0, -6.0)[:, None], y



@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_2d(method):
    x, _ = two_blobs()
    pts = plots.project_2d(x, method)
    assert pts.shape == (40, 2) and np.isfinite(pts).all()



def test_project_2d_rejects_bad_input():
    with pytest.raises(ValueError, match="method must be one of"):
        plots.project_2d(np.zeros((5, 2)), "umap")
    with pytest.raises(ValueError, match="at least 3 samples"):
        plots.project_2d(np.zeros((2, 2)))



def test_figures_draw(digits):
    x, y = two_blobs()
    ax = plots.embedding_scatter(x, y, title="t")
    assert len(ax.collections) == 2
    fig = plots.compare_embeddings({"a": x, "b": x * 2}, y)
    assert len(fig.axes) == 2
    fig = plots.image_grid({"row": digits.x_train[:5], "rgb": np.random.rand(3, 3, 4, 4)}, ncols=5)
    assert len(fig.axes) == 10
    fig = plots.pipeline_diagram([("a", "x"), ("b", None)])
    assert len(fig.axes[0].patches) == 3  # two boxes, one arrow
    with pytest.raises(ValueError, match="at least two boxes"):
        plots.pipeline_diagram([("a", None)])



def test_few_label_curves():
    ax = plots.few_label_curves({"a": {1: (0.5, 0.1), 5: (0.7, 0.05)}, "b": {1: (0.4, 0.1), 5: (0.8, 0.02)}}, "t")
    assert len(ax.get_legend().get_texts()) == 2 and ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="curves must map"):
        plots.few_label_curves({})
