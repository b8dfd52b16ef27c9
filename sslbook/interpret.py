"""What an encoder's features respond to: nearest neighbours and occlusion maps.

Both look only at the frozen encoder's outputs, with no labels: the neighbours show
what the features treat as alike, the occlusion map which part of an image the
features depend on (Zeiler and Fergus, 2014).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _validate


@torch.no_grad()
def nearest(query: torch.Tensor, gallery: torch.Tensor, k: int = 5, exclude_self: bool = False) -> torch.Tensor:
    """Indices (Q x k) of the ``k`` gallery rows most cosine-similar to each query row.
    With ``exclude_self`` the query set is the gallery and row ``i`` never returns itself.

    >>> nearest(torch.eye(3), torch.eye(3), k=1).flatten().tolist()
    [0, 1, 2]
    """
    _validate.tensor("query", query, ndim=2, floating=True)
    _validate.tensor("gallery", gallery, ndim=2, floating=True)
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery must have the same width, got {query.shape[1]} and {gallery.shape[1]}")
    _validate.positive_int("k", k)
    available = len(gallery) - (1 if exclude_self else 0)
    if k > available:
        raise ValueError(f"k must be at most {available} (the gallery's rows), got {k}")
    sim = F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).T
    if exclude_self:
        if len(query) != len(gallery):
            raise ValueError("exclude_self needs query to be the gallery itself (same number of rows)")
        sim.fill_diagonal_(float("-inf"))
    return sim.topk(k, dim=1).indices


@torch.no_grad()
def occlusion_map(encoder: torch.nn.Module, image: torch.Tensor, patch: int = 8, fill: float = 0.5) -> torch.Tensor:
    """How much the features of ``image`` (C x H x W) change when each non-overlapping
    ``patch`` x ``patch`` square is replaced by ``fill``: ``1 - cos(f(image), f(occluded))``,
    a map of ceil(H / patch) x ceil(W / patch) values in [0, 2]. Large values mark the
    regions the features depend on. ``encoder`` maps N x C x H x W to N x D and is put in
    evaluation mode. The default ``fill`` is grey, 0.5 on images in [0, 1], as Zeiler and
    Fergus (2014) occlude with a grey square; black (0) changes few pixels on a dark border
    and so makes such squares look unimportant.

    >>> enc = torch.nn.Sequential(torch.nn.Flatten())
    >>> occlusion_map(enc, torch.ones(1, 4, 4), patch=2).shape
    torch.Size([2, 2])
    """
    _validate.tensor("image", image, ndim=3, floating=True)
    _validate.positive_int("patch", patch)
    _, h, w = image.shape
    if patch > min(h, w):
        raise ValueError(f"patch must be at most the image's side {min(h, w)}, got {patch}")
    encoder.eval()
    rows, cols = range(0, h, patch), range(0, w, patch)
    occluded = []
    for r in rows:
        for c in cols:
            x = image.clone()
            x[:, r:r + patch, c:c + patch] = fill
            occluded.append(x)
    feats = encoder(torch.stack([image] + occluded))
    change = 1 - F.cosine_similarity(feats[:1], feats[1:], dim=1)
    return change.view(len(rows), len(cols))
