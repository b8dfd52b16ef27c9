"""Figures the chapters draw: embeddings, augmentations, curves, diagrams."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from . import _validate, config
from ._validate import to_numpy as _np

PROJECTIONS = ("pca", "tsne")


def project_2d(x, method: str = "pca", seed: int | None = None) -> np.ndarray:
    """Project N x D features to N x 2 with PCA or t-SNE (scikit-learn).

    >>> project_2d(np.random.rand(20, 5)).shape
    (20, 2)
    """
    _validate.one_of("method", method, set(PROJECTIONS))
    x = _np(x).reshape(len(x), -1).astype(np.float64)
    if len(x) < 3:
        raise ValueError(f"x must hold at least 3 samples to project, got {len(x)}")
    if method == "pca":
        return PCA(n_components=2, random_state=config.or_seed(seed)).fit_transform(x)
    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=config.or_seed(seed)).fit_transform(x)


def embedding_scatter(x, labels, method: str = "pca", ax=None, title: str | None = None,
                      class_names=None, seed: int | None = None, points=None):
    """Scatter plot of features projected to 2-D, coloured by class.

    ``points`` (N x 2) skips the projection when it is already computed.
    Returns the matplotlib axes.
    """
    labels = _np(labels)
    pts = project_2d(x, method, seed) if points is None else _np(points)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        sel = labels == c
        name = class_names[int(c)] if class_names is not None else str(c)
        ax.scatter(pts[sel, 0], pts[sel, 1], s=6, color=cmap(i % cmap.N), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def compare_embeddings(named: dict, labels, method: str = "pca", class_names=None, seed: int | None = None):
    """Side-by-side :func:`embedding_scatter` for ``{title: features}``; returns the figure."""
    if not named:
        raise ValueError("named must map at least one title to features")
    fig, axes = plt.subplots(1, len(named), figsize=(3.6 * len(named), 3.6))
    axes = np.atleast_1d(axes)
    for ax, (title, feats) in zip(axes, named.items()):
        embedding_scatter(feats, labels, method, ax=ax, title=title, class_names=class_names, seed=seed)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2, frameon=False)
    fig.tight_layout()
    return fig


def image_grid(rows: dict, ncols: int | None = None, cmap: str = "gray_r"):
    """Show rows of images: ``{row title: N x C x H x W tensor}``; returns the figure."""
    if not rows:
        raise ValueError("rows must map at least one title to images")
    ncols = ncols or max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.1 * ncols, 1.2 * len(rows)), squeeze=False)
    for r, (title, imgs) in enumerate(rows.items()):
        imgs = _np(imgs)
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(imgs):
                img = imgs[c]
                if img.shape[0] == 1:
                    ax.imshow(img[0], cmap=cmap, vmin=0, vmax=1)
                else:
                    ax.imshow(np.clip(np.transpose(img, (1, 2, 0)), 0, 1))
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def loss_curve(history, key: str = "loss", window: int = 20, ax=None, label: str | None = None):
    """The smoothed training curve of a :class:`~sslbook.train.History`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(history.step, history.values[key], alpha=0.25, color="C0")
    ax.plot(history.step, history.smoothed(key, window), color="C0", label=label or key)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    return ax


def pipeline_diagram(steps, ax=None, title: str | None = None):
    """A left-to-right flow chart of labelled boxes, drawn with matplotlib only.

    ``steps`` is a sequence of ``(box text, arrow text)`` pairs; the last
    arrow text is ignored. Returns the figure.
    """
    steps = list(steps)
    if len(steps) < 2:
        raise ValueError(f"steps must hold at least two boxes, got {len(steps)}")
    n = len(steps)
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.3 * n, 2.0))
    else:
        fig = ax.figure
    width, gap = 1.6, 0.7
    for i, (text, arrow) in enumerate(steps):
        x = i * (width + gap)
        box = FancyBboxPatch((x, 0), width, 1, boxstyle="round,pad=0.05", facecolor=plt.get_cmap("Blues")(0.15 + 0.6 * i / n),
                             edgecolor="#1f3b73")
        ax.add_patch(box)
        ax.text(x + width / 2, 0.5, text, ha="center", va="center", fontsize=9, wrap=True)
        if i < n - 1:
            ax.add_patch(FancyArrowPatch((x + width + 0.05, 0.5), (x + width + gap - 0.05, 0.5),
                                         arrowstyle="-|>", mutation_scale=14, color="#1f3b73"))
            if arrow:
                ax.text(x + width + gap / 2, 0.62, arrow, ha="center", va="bottom", fontsize=7.5, style="italic")
    ax.set_xlim(-0.2, n * (width + gap) - gap + 0.2)
    ax.set_ylim(-0.3, 1.5)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def to_png(fig, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (for an Image widget); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def few_label_curves(curves: dict, title: str = "", xlabel: str = "labelled examples per class", ax=None):
    """Accuracy against labels per class, mean ± std over label draws, one line per
    representation: ``curves`` is ``{name: {count: (mean, std)}}`` (as from
    :func:`sslbook.evaluate.labels_per_class_curve`). Returns the axes."""
    if not curves:
        raise ValueError("curves must map at least one name to {count: (mean, std)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, curve in curves.items():
        counts = list(curve)
        ax.errorbar(counts, [curve[c][0] for c in counts], yerr=[curve[c][1] for c in counts],
                    marker="o", capsize=3, label=name)
    ax.set(xscale="log", xticks=counts, xticklabels=counts, xlabel=xlabel, ylabel="held-out accuracy", title=title)
    ax.legend(fontsize=8)
    return ax
