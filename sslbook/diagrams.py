"""Architecture diagrams of the methods, drawn with matplotlib in one visual language.

Each method is a small graph: boxes (data, views, encoders, heads, predictors, momentum copies,
losses) placed on a grid, and arrows of four kinds, the same in every diagram:

- a solid arrow: data flowing forward, gradients flowing back along it;
- a solid arrow crossed by a red ``//``: a stop-gradient (no gradient flows back through it);
- a dashed grey arrow marked EMA: a momentum copy, updated as a moving average of the weights at
  its tail, never by the loss;
- a dotted line marked "shared": two boxes that are one network (the same weights).

A momentum copy is drawn hatched. Each diagram comes with alt text (:data:`ALT`) that says the
same in words, for readers who cannot see the figure.

>>> fig = draw("simclr")
>>> ALT["simclr"].startswith("SimCLR")
True
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from . import _validate

#: Box styles by kind: (face colour, edge colour, text colour, hatch).
KINDS = {
    "data": ("#e6e6e6", "#555555", "black", None),
    "view": ("#f5f5f5", "#888888", "black", None),
    "encoder": ("#9ecae1", "#1f3b73", "black", None),
    "head": ("#deebf7", "#1f3b73", "black", None),
    "predictor": ("#fdd0a2", "#a63603", "black", None),
    "momentum": ("#deebf7", "#1f3b73", "black", "///"),
    "op": ("white", "#555555", "black", None),
    "memory": ("#dadaeb", "#54278f", "black", None),
    "loss": ("#7f2704", "#7f2704", "white", None),
}

#: Arrow kinds: "flow" (data forward, gradients back), "stop" (a stop-gradient), "ema" (a
#: momentum update of the weights) and "shared" (the same network drawn twice).
EDGES = ("flow", "stop", "ema", "shared")

# A node is (label, kind, column, row); an edge is (tail, head, kind) or (tail, head, kind, label).
SPECS = {
    "simclr": {
        "title": "SimCLR",
        "nodes": {"x": ("image x", "data", 0, 0.5), "v1": ("view 1", "view", 1, 0), "v2": ("view 2", "view", 1, 1),
                  "f1": ("encoder f", "encoder", 2, 0), "f2": ("encoder f", "encoder", 2, 1),
                  "g1": ("projector g", "head", 3, 0), "g2": ("projector g", "head", 3, 1),
                  "loss": ("InfoNCE\nother 2N-2 views\nare negatives", "loss", 4.3, 0.5)},
        "edges": [("x", "v1", "flow", "augment"), ("x", "v2", "flow", "augment"), ("v1", "f1", "flow"),
                  ("v2", "f2", "flow"), ("f1", "g1", "flow"), ("f2", "g2", "flow"), ("g1", "loss", "flow"),
                  ("g2", "loss", "flow"), ("f1", "f2", "shared"), ("g1", "g2", "shared")],
    },
    "moco": {
        "title": "MoCo",
        "nodes": {"x": ("image x", "data", 0, 0.5), "v1": ("query view", "view", 1, 0), "v2": ("key view", "view", 1, 1),
                  "f1": ("encoder f_q\n+ projector", "encoder", 2, 0),
                  "f2": ("momentum\nencoder f_k", "momentum", 2, 1),
                  "queue": ("queue of\nearlier keys", "memory", 3.15, 1.9),
                  "loss": ("InfoNCE\nkey = positive\nqueue = negatives", "loss", 4.3, 0.5)},
        "edges": [("x", "v1", "flow"), ("x", "v2", "flow"), ("v1", "f1", "flow"), ("v2", "f2", "flow"),
                  ("f1", "loss", "flow", "q"), ("f2", "loss", "stop", "k"), ("f1", "f2", "ema"),
                  ("f2", "queue", "stop", "enqueue k"), ("queue", "loss", "stop")],
    },
    "byol": {
        "title": "BYOL",
        "nodes": {"x": ("image x", "data", 0, 0.5), "v1": ("view 1", "view", 1, 0), "v2": ("view 2", "view", 1, 1),
                  "f1": ("online encoder\n+ projector", "encoder", 2, 0), "q": ("predictor q", "predictor", 3, 0),
                  "f2": ("target encoder\n+ projector", "momentum", 2, 1),
                  "loss": ("MSE of normalised\nprediction and target\nno negatives", "loss", 4.3, 0.5)},
        "edges": [("x", "v1", "flow"), ("x", "v2", "flow"), ("v1", "f1", "flow"), ("v2", "f2", "flow"),
                  ("f1", "q", "flow"), ("q", "loss", "flow"), ("f2", "loss", "stop"), ("f1", "f2", "ema")],
    },
    "simsiam": {
        "title": "SimSiam",
        "nodes": {"x": ("image x", "data", 0, 0.5), "v1": ("view 1", "view", 1, 0), "v2": ("view 2", "view", 1, 1),
                  "f1": ("encoder\n+ projector", "encoder", 2, 0), "q": ("predictor h", "predictor", 3, 0),
                  "f2": ("encoder\n+ projector", "encoder", 2, 1),
                  "loss": ("negative cosine\nof prediction and\nthe other branch", "loss", 4.3, 0.5)},
        "edges": [("x", "v1", "flow"), ("x", "v2", "flow"), ("v1", "f1", "flow"), ("v2", "f2", "flow"),
                  ("f1", "q", "flow"), ("q", "loss", "flow"), ("f2", "loss", "stop"), ("f1", "f2", "shared")],
    },
    "mae": {
        "title": "MAE",
        "nodes": {"x": ("image x\nas patches", "data", 0, 0.5), "vis": ("visible patches\n(25%)", "view", 1, 0),
                  "hid": ("hidden patches\n(75%)", "view", 1, 1.2), "enc": ("ViT encoder\n(visible only)", "encoder", 2, 0),
                  "tok": ("+ mask tokens\nat hidden places", "op", 3, 0), "dec": ("small decoder", "head", 4.1, 0),
                  "loss": ("MSE on the\nhidden patches'\npixels", "loss", 4.1, 1.2)},
        "edges": [("x", "vis", "flow", "mask"), ("x", "hid", "flow"), ("vis", "enc", "flow"), ("enc", "tok", "flow"),
                  ("tok", "dec", "flow"), ("dec", "loss", "flow", "prediction"), ("hid", "loss", "flow", "target")],
    },
    "dino": {
        "title": "DINO",
        "nodes": {"x": ("image x", "data", 0, 0.5), "v1": ("all crops\n(global + local)", "view", 1, 0),
                  "v2": ("global crops", "view", 1, 1), "s": ("student\nencoder + head", "encoder", 2, 0),
                  "ss": ("softmax\n(temperature 0.1)", "op", 3, 0), "t": ("teacher\nencoder + head", "momentum", 2, 1),
                  "ct": ("centre, sharpen\n(temperature 0.04)", "op", 3, 1),
                  "loss": ("cross-entropy\nteacher -> student\n(other crops)", "loss", 4.3, 0.5)},
        "edges": [("x", "v1", "flow"), ("x", "v2", "flow"), ("v1", "s", "flow"), ("v2", "t", "flow"),
                  ("s", "ss", "flow"), ("ss", "loss", "flow"), ("t", "ct", "flow"), ("ct", "loss", "stop"),
                  ("s", "t", "ema")],
    },
    "ijepa": {
        "title": "I-JEPA",
        "nodes": {"x": ("image x\nas patches", "data", 0, 0.5), "c": ("context block", "view", 1, 0),
                  "ce": ("context\nencoder", "encoder", 2, 0), "p": ("narrow predictor\n+ target positions", "predictor", 3, 0),
                  "te": ("target encoder\n(whole image)", "momentum", 2, 1), "tb": ("embeddings of\nthe target blocks", "op", 3, 1),
                  "loss": ("L2 between\npredicted and target\nembeddings", "loss", 4.3, 0.5)},
        "edges": [("x", "c", "flow", "block mask"), ("c", "ce", "flow"), ("ce", "p", "flow"), ("p", "loss", "flow"),
                  ("x", "te", "flow"), ("te", "tb", "flow"), ("tb", "loss", "stop"), ("ce", "te", "ema")],
    },
    "clip": {
        "title": "CLIP",
        "nodes": {"img": ("image", "data", 0, 0), "txt": ("its caption", "data", 0, 1),
                  "fi": ("image encoder", "encoder", 1.15, 0), "ft": ("text encoder", "encoder", 1.15, 1),
                  "pi": ("projection,\nnormalise", "head", 2.3, 0), "pt": ("projection,\nnormalise", "head", 2.3, 1),
                  "loss": ("symmetric InfoNCE\nover the N x N\nimage-caption pairs", "loss", 3.7, 0.5)},
        "edges": [("img", "fi", "flow"), ("txt", "ft", "flow"), ("fi", "pi", "flow"), ("ft", "pt", "flow"),
                  ("pi", "loss", "flow"), ("pt", "loss", "flow")],
    },
}

#: What each diagram shows, in words (the figure's alt text).
ALT = {
    "simclr": "SimCLR: an image x is augmented twice into view 1 and view 2. Each view passes through the same "
              "encoder f and the same projector g (shared weights, drawn twice). The InfoNCE loss pulls each "
              "view's projection towards its partner's and away from the other 2N-2 views of the batch, its "
              "negatives. Gradients flow back through both branches.",
    "moco": "MoCo: a query view passes through the encoder f_q and its projector; a key view passes through "
            "a momentum encoder f_k, a moving average (EMA) of f_q that the loss does not train (stop-gradient). "
            "The InfoNCE loss takes the key of the same image as the positive and a queue of earlier keys as "
            "the negatives; each batch's keys are pushed onto the queue.",
    "byol": "BYOL: view 1 passes through the online encoder and projector and then a predictor q; view 2 "
            "passes through the target encoder and projector, a moving average (EMA) of the online network, "
            "behind a stop-gradient. The loss is the mean squared error between the normalised prediction and "
            "the normalised target; there are no negatives. The loss is symmetrised by swapping the views.",
    "simsiam": "SimSiam: both views pass through one encoder and projector (shared weights). View 1's output "
               "goes through a predictor h; view 2's output is the target, behind a stop-gradient. The loss is "
               "the negative cosine similarity between the prediction and the target; there is no momentum "
               "copy and there are no negatives. The loss is symmetrised by swapping the views.",
    "mae": "MAE: an image is cut into patches and 75% of them are hidden at random. The ViT encoder reads only "
           "the visible 25%; mask tokens are then placed at the hidden positions and a small decoder predicts "
           "their pixels. The loss is the mean squared error on the hidden patches only.",
    "dino": "DINO: the student network (encoder and head) sees all crops, global and local; the teacher, a "
            "moving average (EMA) of the student, sees only the global crops. The teacher's output is centred "
            "(a running mean is subtracted) and sharpened by a low temperature, then passed through a "
            "stop-gradient. The loss is the cross-entropy from the teacher's distribution to the student's "
            "softmax for every pair of different crops.",
    "ijepa": "I-JEPA: from an image cut into patches, a context block goes through the context encoder; a narrow "
             "predictor, told the positions of several target blocks, predicts their embeddings. A target "
             "encoder, a moving average (EMA) of the context encoder, embeds the whole image, and the target "
             "blocks' embeddings are selected behind a stop-gradient. The loss is the L2 distance between "
             "predicted and target embeddings, in latent space, not pixels.",
    "clip": "CLIP: two branches with separate weights. An image goes through an image encoder and a caption "
            "through a text encoder; each is projected to a shared space and normalised. A symmetric InfoNCE "
            "loss over the N x N image-caption similarities of the batch pulls each image towards its own "
            "caption and away from the other captions, and each caption towards its own image.",
}

_W, _H, _DX, _DY = 1.65, 0.78, 2.0, 1.35   # box width and height, column and row spacing


def _centre(col: float, row: float) -> tuple[float, float]:
    return col * _DX, -row * _DY


def _arrow(ax, boxes, tail, head, kind, label=None):
    (a, (xa, ya)), (b, (xb, yb)) = boxes[tail], boxes[head]
    vertical = abs(xa - xb) < 1e-6
    style = {"flow": dict(color="#1f3b73", linestyle="-", arrowstyle="-|>"),
             "stop": dict(color="#1f3b73", linestyle="-", arrowstyle="-|>"),
             "ema": dict(color="#777777", linestyle="--", arrowstyle="-|>"),
             "shared": dict(color="#777777", linestyle=":", arrowstyle="-")}[kind]
    ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), patchA=a, patchB=b, mutation_scale=12,
                                 linewidth=1.3, shrinkA=2, shrinkB=2, **style))
    mx, my = (xa + xb) / 2, (ya + yb) / 2
    if kind == "stop":
        ax.text(mx, my, "//", color="#cb181d", fontsize=12, fontweight="bold", ha="center", va="center")
    text = label or {"ema": "EMA", "shared": "shared"}.get(kind)
    if text and vertical:                               # beside a vertical arrow
        ax.text(mx + 0.08, my, text, fontsize=7, style="italic", ha="left", va="center", color="#333333")
    elif text:
        ax.text(mx, my + 0.12, text, fontsize=7, style="italic", ha="center", va="bottom", color="#333333")


def draw(method: str, ax=None, legend: bool = True):
    """Draw ``method``'s architecture (a key of :data:`SPECS`); returns the figure.

    The same boxes, colours and arrows in every diagram (see the module's docstring); its alt text
    is ``ALT[method]``.

    >>> draw("dino").axes[0].get_title()
    'DINO'
    """
    _validate.one_of("method", method, set(SPECS))
    spec = SPECS[method]
    if ax is None:
        fig, ax = plt.subplots(figsize=(9.6, 3.7))
    else:
        fig = ax.figure
    boxes = {}
    for key, (label, kind, col, row) in spec["nodes"].items():
        face, edge, colour, hatch = KINDS[kind]
        x, y = _centre(col, row)
        box = FancyBboxPatch((x - _W / 2, y - _H / 2), _W, _H, boxstyle="round,pad=0.04", facecolor=face,
                             edgecolor=edge, hatch=hatch, linewidth=1.2)
        ax.add_patch(box)
        ax.text(x, y, label, ha="center", va="center", fontsize=7.5, color=colour,
                bbox=dict(facecolor=face, edgecolor="none", pad=0.5) if hatch else None)
        boxes[key] = box, (x, y)
    for edge in spec["edges"]:
        if edge[2] not in EDGES:
            raise ValueError(f"edge kind must be one of {EDGES}, got {edge[2]!r}")
        _arrow(ax, boxes, *edge)
    xs = [_centre(c, r)[0] for _, _, c, r in spec["nodes"].values()]
    ys = [_centre(c, r)[1] for _, _, c, r in spec["nodes"].values()]
    ax.set_xlim(min(xs) - _W, max(xs) + _W)
    ax.set_ylim(min(ys) - _H - (0.55 if legend else 0.1), max(ys) + _H)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(spec["title"])
    if legend:
        ax.text(min(xs) - _W / 2, min(ys) - _H - 0.35,
                "solid arrow: forward pass, gradients flow back     red //: stop-gradient     "
                "dashed: EMA (momentum copy, hatched)     dotted: shared weights",
                fontsize=7, color="#333333", va="center")
    return fig
