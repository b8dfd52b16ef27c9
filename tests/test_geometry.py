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
    for name in ("positive_ranks", "rank_signals", "embedding_std", "alignment", "uniformity", "rankme",
                 "singular_values"):
        assert getattr(evaluate, name) is getattr(geometry, name)


def test_singular_values_and_rankme_follow_their_definitions():
    import numpy as np

    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 6, generator=g) @ torch.diag(torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1, 0.01]))
    s = geometry.singular_values(z)
    assert torch.allclose(s, torch.tensor(np.linalg.svd(z.numpy(), compute_uv=False)), rtol=1e-4)
    assert (s[:-1] >= s[1:]).all()
    p = s.double() / s.double().sum() + 1e-7          # Garrido et al. 2023, Eq. 1, by hand
    assert math.isclose(geometry.rankme(z), float(torch.exp(-(p * p.log()).sum())), rel_tol=1e-9)
    # analytic cases: D equal directions give D, one direction gives 1; the scale does not matter
    assert math.isclose(geometry.rankme(torch.eye(5)), 5.0, rel_tol=1e-5)
    line = torch.randn(40, 1, generator=g) @ torch.randn(1, 8, generator=g)
    assert math.isclose(geometry.rankme(line), 1.0, rel_tol=1e-3)
    assert math.isclose(geometry.rankme(z), geometry.rankme(1000 * z), rel_tol=1e-6)
    # a dimensional collapse that the per-feature spread misses: 8 features, all on 2 directions
    flat = torch.randn(200, 2, generator=g) @ torch.randn(2, 8, generator=g)
    assert geometry.rankme(flat) < 2.01 < geometry.rankme(torch.randn(200, 8, generator=g))
    assert geometry.embedding_std(flat) > 0.1
    with pytest.raises(ValueError, match="all zeros"):
        geometry.rankme(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        geometry.rankme(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="N x D"):
        geometry.singular_values(torch.ones(3))
    with pytest.raises(ValueError, match="eps"):
        geometry.rankme(z, eps=0)
