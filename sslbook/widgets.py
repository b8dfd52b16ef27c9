"""Interactive explorers (ipywidgets) for the chapters.

Their callbacks are Python: moved in Jupyter or Colab, they recompute. Each one's
``static()`` is the same explorer drawn in advance, one frame per option, linked in
the page (:class:`sslbook.frames.FrameExplorer`), so it moves in the rendered book
without a kernel.
"""

from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

from . import _validate, train
from ._validate import to_numpy as _np
from .evaluate import kmeans
from .frames import FrameExplorer
from .plots import PROJECTIONS, embedding_scatter, project_2d
from .plots import to_png as _png


class _Panel:
    """The shape every explorer shares: controls, a summary line and a picture.

    The picture is an Image widget, not an Output widget: executing a cell that
    writes into an Output widget can hang nbclient (jupyter/nbclient#312), and
    the PNG bytes travel with the saved widget state into the HTML.
    """

    def _build(self, observed, layout) -> None:
        self.summary = w.HTML()
        self.image = w.Image(format="png")
        self.controls = list(observed)
        for control in observed:
            control.observe(lambda _change: self.update(), names="value")
        self.ui = w.VBox([*layout, self.summary, self.image])
        self.update()

    def update(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def static(self, control=None, play: bool = False) -> FrameExplorer:
        """This explorer without a kernel: one frame (picture and summary) per option of
        ``control`` (by default the first control), drawn now, the others as they are."""
        control = self.controls[0] if control is None else control
        if control not in self.controls or not hasattr(control, "_options_labels"):
            raise ValueError("control must be one of this explorer's selection controls")
        start, frames = control.value, {}
        for label, value in zip(control._options_labels, control._options_values):
            control.value = value
            frames[label] = (bytes(self.image.value), self.summary.value)
        control.value = start
        self._park()
        return FrameExplorer(frames, description=control.description, value=control.label, play=play)

    def _park(self) -> None:
        """Drop the live picture once the frames are drawn: a page saves the state of every
        widget the kernel made, so a live explorer nobody displays would carry its picture
        into the page for nothing. Displaying the explorer draws it again."""
        self.image.value = b""

    def _repr_mimebundle_(self, **kwargs):
        if not self.image.value:
            self.update()
        return self.ui._repr_mimebundle_(**kwargs)


class ClusterExplorer(_Panel):
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

    def __init__(self, features: dict, labels, class_names=None, max_k: int = 20, seed: int | None = None):
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
        self.figure = None
        self.nmi = float("nan")
        self._build((self.which, self.projection, self.k), [w.HBox([self.which, self.k]), self.projection])

    def _cluster(self, name: str, k: int) -> np.ndarray:
        key = (name, k)
        if key not in self._clusters:
            self._clusters[key] = kmeans(self.features[name], k, seed=self.seed)
        return self._clusters[key]

    def update(self) -> None:
        """Recompute for the current controls and redraw."""
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
        self.figure = fig
        self.image.value = _png(fig)


def cluster_explorer(features: dict, labels, class_names=None, max_k: int = 20) -> ClusterExplorer:
    """Build a :class:`ClusterExplorer`; display it as the last line of a cell."""
    return ClusterExplorer(features, labels, class_names=class_names, max_k=max_k)


class TemperatureExplorer(_Panel):
    """How the temperature of InfoNCE weights the candidates of one anchor.

    ``similarities`` are one anchor's cosine similarities to its candidates, the
    positive first. For the chosen temperature t the explorer shows the softmax
    ``p_k = exp(s_k / t) / sum_j exp(s_j / t)``, the loss ``-log p_0`` and how
    much the hardest negative weighs against the average negative: the gradient
    of the loss with respect to ``s_k`` is ``p_k / t`` for a negative, so a low
    temperature concentrates the push on the hardest negatives.

    >>> ex = TemperatureExplorer([0.9, 0.8, 0.1, -0.2])
    >>> ex.temperature.value = 0.05; ex.hardest_share > 0.9
    True
    """

    def __init__(self, similarities, temperatures=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0), value: float = 0.5):
        sims = _np(similarities).astype(np.float64).ravel()
        if sims.size < 2 or not np.isfinite(sims).all() or np.abs(sims).max() > 1 + 1e-6:
            raise ValueError("similarities must hold at least 2 finite cosine similarities in [-1, 1], "
                             "the positive first")
        temperatures = tuple(float(t) for t in temperatures)
        if not temperatures or min(temperatures) <= 0:
            raise ValueError(f"temperatures must be positive numbers, got {temperatures!r}")
        if value not in temperatures:
            raise ValueError(f"value must be one of temperatures {temperatures}, got {value!r}")
        self.similarities = sims
        self.temperature = w.SelectionSlider(options=temperatures, value=value, description="temperature")
        self._build([self.temperature], [self.temperature])

    def weights(self, t: float) -> np.ndarray:
        """Softmax over the candidates at temperature ``t``."""
        logits = self.similarities / t
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def update(self) -> None:
        t = self.temperature.value
        p = self.weights(t)
        negatives = p[1:]
        self.loss = float(-np.log(p[0]))
        self.hardest_share = float(negatives.max() / negatives.sum())
        self.summary.value = (f"t = {t}: p(positive) = <b>{p[0]:.3f}</b>, loss = <b>{self.loss:.3f}</b>; "
                              f"the hardest negative gets <b>{self.hardest_share:.0%}</b> of the negatives' weight")
        order = np.argsort(-self.similarities[1:]) + 1
        fig, ax = plt.subplots(figsize=(7, 2.8))
        ax.bar([0], [p[0]], color="C2", label="positive")
        ax.bar(np.arange(1, len(p)), p[order], color="C3", label="negatives, most similar first")
        ax.set(xlabel="candidate", ylabel="softmax weight", ylim=(0, 1), title=f"temperature {t}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        self.image.value = _png(fig)


class ResultBrowser(_Panel):
    """Browse precomputed results with a slider: ``results`` maps an option to a
    ``(figure, html)`` pair or to a function returning one (called on demand and cached).

    >>> import matplotlib.pyplot as plt
    >>> b = ResultBrowser({"a": (plt.figure(), "first"), "b": (plt.figure(), "second")}, "option")
    >>> b.option.value = "b"; b.summary.value
    'second'
    """

    def __init__(self, results: dict, description: str = "option"):
        if not isinstance(results, dict) or not results:
            raise ValueError("results must be a non-empty dict mapping an option to (figure, html)")
        self._results, self._cache = results, {}
        self.option = w.SelectionSlider(options=list(results), description=description)
        self._build([self.option], [self.option])

    def update(self) -> None:
        key = self.option.value
        if key not in self._cache:
            item = self._results[key]
            fig, html = item() if callable(item) else item
            self._cache[key] = (_png(fig), html)
        self.image.value, self.summary.value = self._cache[key]


class AugmentationChooser(_Panel):
    """Pick augmentations, train, and see which factor the embedding clusters by.

    ``choices`` maps an augmentation name to a checkbox default; ``run(names)``
    trains with the chosen augmentations and returns ``{factor: NMI}``. Results
    already known are passed in ``results`` (keyed by the sorted tuple of names)
    and shown at once; others are computed when the button is pressed (this
    needs a running kernel).
    """

    def __init__(self, choices: dict, run, results: dict | None = None):
        if not isinstance(choices, dict) or not choices:
            raise ValueError("choices must be a non-empty dict mapping an augmentation to True/False")
        if not callable(run):
            raise ValueError("run must be a function of the chosen augmentation names")
        self.run_fn = run
        self.results = {tuple(sorted(k)): v for k, v in (results or {}).items()}
        self.boxes = {name: w.Checkbox(value=bool(v), description=name) for name, v in choices.items()}
        self.button = w.Button(description="train with these", button_style="primary")
        self.button.on_click(lambda _b: self.update(train=True))
        self._build(self.boxes.values(), [w.HBox(list(self.boxes.values())), self.button])

    def static(self, control=None, play: bool = False) -> FrameExplorer:
        """The settings already trained, one frame each, moving without a kernel."""
        if not self.results:
            raise ValueError("there is nothing to show yet: pass results or train a setting first")
        start = {name: box.value for name, box in self.boxes.items()}
        frames = {}
        for key in list(self.results):
            for name, box in self.boxes.items():
                box.value = name in key
            self.update()
            frames[" + ".join(key) or "no augmentation"] = (bytes(self.image.value), self.summary.value)
        for name, box in self.boxes.items():
            box.value = start[name]
        self._park()
        return FrameExplorer(frames, description="augmentations")

    @property
    def chosen(self) -> tuple:
        return tuple(sorted(name for name, box in self.boxes.items() if box.value))

    def update(self, train: bool = False) -> None:
        key = self.chosen
        label = " + ".join(key) if key else "no augmentation"
        if key not in self.results and train:
            self.summary.value = f"training with {label} ..."
            self.results[key] = self.run_fn(key)
        if key not in self.results:
            self.summary.value = f"<b>{label}</b>: not trained yet; press the button (needs a running kernel)."
            return
        nmi = self.results[key]
        winner = max(nmi, key=nmi.get)
        self.summary.value = (f"<b>{label}</b>: the embedding clusters by <b>{winner}</b> ("
                              + ", ".join(f"NMI({k}) = {v:.2f}" for k, v in nmi.items()) + ")")
        fig, ax = plt.subplots(figsize=(4.5, 2.6))
        ax.bar(list(nmi), list(nmi.values()), color=["C0", "C1", "C2", "C3"][: len(nmi)])
        ax.set(ylim=(0, 1), ylabel="k-means NMI", title=label)
        fig.tight_layout()
        self.image.value = _png(fig)


class MarginExplorer(_Panel):
    """The margin of the contrastive loss, two ways.

    Left: the per-pair loss and its gradient with respect to the distance d, for
    a similar pair (``d^2``, gradient ``2d``) and a dissimilar pair
    (``max(m - d, 0)^2``, gradient ``-2 max(m - d, 0)``: nothing beyond the
    margin). Right: 2-D points of three groups trained for a few steps with that
    margin, by ``toy(margin, steps=steps)`` (by default :func:`sslbook.train.margin_toy`),
    which returns ``(start, end, labels, losses)``.

    >>> ex = MarginExplorer(); ex.margin.value = 2.0; ex.final_loss >= 0
    True
    """

    def __init__(self, margins=(0.25, 0.5, 1.0, 1.5, 2.0), value: float = 1.0, steps: int = 60,
                 toy=train.margin_toy):
        margins = tuple(float(m) for m in margins)
        if not margins or min(margins) < 0:
            raise ValueError(f"margins must be numbers >= 0, got {margins!r}")
        if value not in margins:
            raise ValueError(f"value must be one of margins {margins}, got {value!r}")
        _validate.positive_int("steps", steps)
        if not callable(toy):
            raise ValueError(f"toy must be a function of (margin, steps=...), got {type(toy).__name__}")
        self.steps, self.toy = steps, toy
        self.margin = w.SelectionSlider(options=margins, value=value, description="margin m")
        self._build([self.margin], [self.margin])

    def update(self) -> None:
        m = self.margin.value
        d = np.linspace(0, 2.5, 200)
        start, end, labels, history = self.toy(m, steps=self.steps)
        self.final_loss = history[-1]
        dist = torch.cdist(end, end)
        other = labels.view(-1, 1) != labels.view(1, -1)
        self.min_negative_distance = float(dist[other].min())
        self.summary.value = (f"m = {m}: after {self.steps} steps the closest dissimilar pair is "
                              f"<b>{self.min_negative_distance:.2f}</b> apart (loss {self.final_loss:.4f})")
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
        a.plot(d, d ** 2, color="C2", label="similar: $d^2$")
        a.plot(d, np.maximum(m - d, 0) ** 2, color="C3", label="dissimilar: $\\max(m-d,0)^2$")
        a.plot(d, 2 * d, color="C2", ls="--", label="gradient, similar")
        a.plot(d, -2 * np.maximum(m - d, 0), color="C3", ls="--", label="gradient, dissimilar")
        a.axvline(m, color="grey", lw=0.8)
        a.set(xlabel="distance d", ylim=(-4.5, 5), title="per-pair loss and d(loss)/dd")
        a.legend(fontsize=7)
        for c in range(int(labels.max()) + 1):
            sel = labels == c
            b.scatter(start[sel, 0], start[sel, 1], s=12, color=f"C{c}", alpha=0.25)
            b.scatter(end[sel, 0], end[sel, 1], s=16, color=f"C{c}")
        b.set(title=f"2-D points: start (faint) and after {self.steps} steps", aspect="equal")
        fig.tight_layout()
        self.image.value = _png(fig)
