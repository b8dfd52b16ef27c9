"""The label-free signals of sslbook.geometry (re-exported by sslbook.evaluate)."""
import math

import pytest
import torch

from sslbook import evaluate, geometry


def test_positive_ranks_and_embedding_std():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 16, generator=g)
    top1, rank = geometry.positive_ranks(z, z + 0.01 * torch.randn(32, 16, generator=g))
    assert top1 == 1.0 and rank == 1.0
    top1, rank = geometry.positive_ranks(z, torch.randn(32, 16, generator=g))
    assert top1 < 0.2 and 15 < rank < 50
    assert 0.2 < geometry.embedding_std(torch.randn(2000, 16, generator=g)) < 0.3  # about 1/4
    assert geometry.embedding_std(torch.ones(10, 16)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        geometry.positive_ranks(z, z[:3])
    with pytest.raises(ValueError, match="N >= 2"):
        geometry.embedding_std(torch.ones(1, 4))


def test_alignment_and_uniformity():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 8, generator=g)
    assert geometry.alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    assert geometry.alignment(z, -z) == pytest.approx(4.0, rel=1e-5)  # antipodal unit vectors: distance 2
    assert geometry.alignment(z, -z, alpha=1.0) == pytest.approx(2.0, rel=1e-5)
    spread = geometry.uniformity(z)
    collapsed = geometry.uniformity(torch.ones(50, 8))
    assert collapsed == pytest.approx(0.0, abs=1e-6) and spread < -1.0
    # a brute-force reference over all pairs
    u = torch.nn.functional.normalize(z[:20], dim=1)
    ref = math.log(sum(math.exp(-2 * float((u[i] - u[j]).pow(2).sum())) for i in range(20) for j in range(i + 1, 20)) / 190)
    assert geometry.uniformity(z[:20]) == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        geometry.alignment(z, z[:5])
    with pytest.raises(ValueError, match="N >= 2"):
        geometry.uniformity(z[:1])
    with pytest.raises(ValueError, match="t must be"):
        geometry.uniformity(z, t=0)
    with pytest.raises(ValueError, match="alpha"):
        geometry.alignment(z, z, alpha=-1)


def test_evaluate_re_exports_the_geometry():
    for name in ("positive_ranks", "rank_signals", "embedding_std", "alignment", "uniformity"):
        assert getattr(evaluate, name) is getattr(geometry, name)
