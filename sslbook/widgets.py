"""Interactive explorers (ipywidgets) for the chapters.

Widgets need a running kernel: in the rendered book they show their first
state; run the chapter in Jupyter or Colab to move them.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validate
from .plots import PROJECTIONS, embedding_scatter, project_2d


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class ClusterExplorer:
    """Explore how embeddings cluster, before and after training.

    ``features`` maps a name (say ``"random init"``, ``"after SimCLR"``) to an
    N x D array of features of the same N samples; ``labels`` are their classes,
    used only for colour and for scoring. Controls: which features, the 2-D
    projection (PCA or t-SNE) and the number of k-means clusters k. The left
    panel colours points by class, the right by k-means cluster (computed in
    the full feature space, not in 2-D), and the NMI between the two is shown.

    >>> ex = ClusterExplorer({"a": np.random.rand(30, 4)}, np.arange(30) % 3)
    >>> ex.k.value = 2; round(ex.nmi, 3) >= 0.0
    True
    """

    def __init__(self, features: dict, labels, class_names=None, max_k: int = 20, seed: int = 0):
        import ipywidgets as w

        if not isinstance(features, dict) or not features:
            raise ValueError("features must be a non-empty dict mapping a name to N x D features")
        self.labels = _np(labels)
        self.features = {}
        for name, f in features.items():
            f = _np(f).reshape(len(f), -1)
            if len(f) != len(self.labels):
                raise ValueError(
                    f"features[{name!r}] has {len(f)} rows but labels has {len(self.labels)}"
                )
            self.features[name] = f
        _validate.positive_int("max_k", max_k, minimum=2)
        self.class_names, self.seed = class_names, seed
        n_classes = len(np.unique(self.labels))
        self._points: dict = {}
        self._clusters: dict = {}
        self.which = w.Dropdown(options=list(self.features), description="features")
        self.projection = w.ToggleButtons(options=list(PROJECTIONS), description="projection")
        self.k = w.IntSlider(value=min(n_classes, max_k), min=2, max=max_k, description="k-means k")
        self.summary = w.HTML()
        # An Image widget, not an Output widget: executing a cell that writes into
        # an Output widget can hang nbclient (jupyter/nbclient#312), and the PNG
        # bytes also travel with the saved widget state into the HTML.
        self.image = w.Image(format="png")
        for control in (self.which, self.projection, self.k):
            control.observe(lambda _change: self.update(), names="value")
        self.ui = w.VBox([w.HBox([self.which, self.k]), self.projection, self.summary, self.image])
        self.figure = None
        self.nmi = float("nan")
        self.update()

    def _cluster(self, name: str, k: int) -> np.ndarray:
        from sklearn.cluster import KMeans

        key = (name, k)
        if key not in self._clusters:
            x = self.features[name]
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            self._clusters[key] = KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit_predict(x)
        return self._clusters[key]

    def update(self) -> None:
        """Recompute for the current controls and redraw."""
        import io

        import matplotlib.pyplot as plt
        from sklearn.metrics import normalized_mutual_info_score

        name, method, k = self.which.value, self.projection.value, self.k.value
        key = (name, method)
        if key not in self._points:
            self._points[key] = project_2d(self.features[name], method, self.seed)
        pts = self._points[key]
        clusters = self._cluster(name, k)
        self.nmi = float(normalized_mutual_info_score(self.labels, clusters))
        self.summary.value = (f"<b>{name}</b>: k-means with k = {k} gives NMI = "
                              f"<b>{self.nmi:.3f}</b> against the classes (1 = clusters are the classes)")
        fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.6))
        embedding_scatter(None, self.labels, points=pts, ax=a, title="coloured by class",
                          class_names=self.class_names)
        embedding_scatter(None, clusters, points=pts, ax=b, title=f"coloured by k-means cluster (k = {k})")
        fig.suptitle(f"{name}, {method.upper()}", fontsize=10)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        self.figure = fig
        self.image.value = buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)


def cluster_explorer(features: dict, labels, class_names=None, max_k: int = 20) -> ClusterExplorer:
    """Build a :class:`ClusterExplorer`; display it as the last line of a cell."""
    return ClusterExplorer(features, labels, class_names=class_names, max_k=max_k)
