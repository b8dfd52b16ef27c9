import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sslbook import losses


def simclr_algorithm1(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    """A loop-by-loop NumPy port of SimCLR's Algorithm 1 (Chen et al., 2020).

    Views are interleaved as in the paper: z[2k] and z[2k+1] are the two views of sample k.
    """
    n = len(z1)
    z = np.empty((2 * n, z1.shape[1]), dtype=np.float64)
    z[0::2], z[1::2] = z1, z2
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = np.array([[z[i] @ z[j] for j in range(2 * n)] for i in range(2 * n)])

    def ell(i, j):
        denominator = sum(math.exp(s[i, k] / tau) for k in range(2 * n) if k != i)
        return -math.log(math.exp(s[i, j] / tau) / denominator)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 64), d=st.integers(2, 128), tau=st.floats(0.05, 2.0), seed=st.integers(0, 2**16))
def test_info_nce_matches_algorithm_1(n, d, tau, seed):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64)
    ours = losses.info_nce(z1.float(), z2.float(), tau).item()
    ref = simclr_algorithm1(z1.numpy(), z2.numpy(), tau)
    assert ours == pytest.approx(ref, abs=1e-5, rel=1e-5)


@pytest.mark.parametrize("n", [2, 3, 16, 64])
@pytest.mark.parametrize("tau", [0.05, 0.5, 2.0])
def test_info_nce_equals_log_2n_minus_1_when_all_embeddings_are_equal(n, tau):
    z = torch.randn(1, 7).repeat(n, 1)
    assert losses.info_nce(z, z.clone(), tau).item() == pytest.approx(math.log(2 * n - 1), rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_info_nce_ignores_the_length_of_embeddings(scale, seed):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    assert losses.info_nce(z1 * scale, z2, 0.3).item() == pytest.approx(losses.info_nce(z1, z2, 0.3).item(), rel=1e-4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000))
def test_info_nce_is_invariant_to_shuffling_pairs_and_swapping_views(seed):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    perm = torch.randperm(10, generator=g)
    base = losses.info_nce(z1, z2, 0.5).item()
    assert losses.info_nce(z1[perm], z2[perm], 0.5).item() == pytest.approx(base, rel=1e-5)
    assert losses.info_nce(z2, z1, 0.5).item() == pytest.approx(base, rel=1e-5)


def test_info_nce_is_lower_for_matched_views():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 16, generator=g)
    matched = losses.info_nce(z, z + 0.01 * torch.randn(32, 16, generator=g), 0.2)
    unrelated = losses.info_nce(z, torch.randn(32, 16, generator=g), 0.2)
    assert matched < 1.0 and unrelated > math.log(63) - 0.5


def test_info_nce_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    z2 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: losses.info_nce(a, b, 0.3), (z1, z2))


@pytest.mark.parametrize("tau", [0, -0.5, float("nan"), float("inf"), "0.5"])
def test_info_nce_rejects_bad_temperature(tau):
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        losses.info_nce(z, z, tau)


@pytest.mark.parametrize("z1,z2,match", [
    (torch.randn(4, 3), torch.randn(4, 2), "same shape"),
    (torch.randn(4, 3), torch.randn(5, 3), "same shape"),
    (torch.randn(4), torch.randn(4), "2-D"),
    (torch.randn(2, 4, 3), torch.randn(2, 4, 3), "2-D"),
    (torch.randn(1, 3), torch.randn(1, 3), "N >= 2"),
    (torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long), "floating"),
    (torch.full((4, 3), float("nan")), torch.randn(4, 3), "NaN"),
])
def test_info_nce_rejects_bad_shapes(z1, z2, match):
    with pytest.raises(ValueError, match=match):
        losses.info_nce(z1, z2)
