"""sslbook.families (issue 25): Barlow Twins, VICReg, DINO and SwAV, each against a loop-by-loop port of
its paper's pseudo-code, analytic cases, gradients (gradcheck in float64) and bad input."""
import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sslbook import families, losses


def randn(seed, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_doctests_and_the_re_export_from_losses():
    assert doctest.testmod(families).failed == 0
    for name in ("barlow_twins", "cross_correlation", "vicreg", "vicreg_terms", "dino", "dino_center", "sinkhorn",
                 "swav"):
        assert getattr(losses, name) is getattr(families, name)


# --- Barlow Twins (Zbontar et al., 2021) ---------------------------------------------------------------------

def barlow_twins_algorithm1(za: np.ndarray, zb: np.ndarray, lambd: float) -> float:
    """Algorithm 1, element by element: normalise along the batch, cross-correlate, (c - I)^2 with the
    off-diagonal entries times lambda, summed. The standard deviation divides by N, as Eq. 2 (and the
    official code's BatchNorm1d) has it."""
    n, d = za.shape

    def normalise(z):
        out = np.empty_like(z)
        for j in range(d):
            mean = sum(z[b, j] for b in range(n)) / n
            std = math.sqrt(sum((z[b, j] - mean) ** 2 for b in range(n)) / n)
            for b in range(n):
                out[b, j] = (z[b, j] - mean) / std
        return out

    a, b_ = normalise(za), normalise(zb)
    c = [[sum(a[b, i] * b_[b, j] for b in range(n)) / n for j in range(d)] for i in range(d)]
    return sum((c[i][j] - (i == j)) ** 2 * (1 if i == j else lambd) for i in range(d) for j in range(d))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 24), d=st.integers(1, 12), lambd=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_barlow_twins_matches_algorithm_1(n, d, lambd, seed):
    za, zb = randn(seed, n, d), randn(seed + 1, n, d) + 0.5 * randn(seed, n, d)
    ref = barlow_twins_algorithm1(za.numpy(), zb.numpy(), lambd)
    assert families.barlow_twins(za, zb, lambd).item() == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_cross_correlation_is_eq_2_and_batchnorm_without_affine():
    za, zb = randn(0, 16, 5) * 3 + 2, randn(1, 16, 5)
    a, b = za - za.mean(0), zb - zb.mean(0)                          # Eq. 2: cosines of the centred columns
    eq2 = (a.T @ b) / (a.norm(dim=0)[:, None] * b.norm(dim=0)[None, :])
    assert torch.allclose(families.cross_correlation(za, zb), eq2, atol=1e-12)
    bn = torch.nn.BatchNorm1d(5, affine=False, eps=1e-5).double().train()
    assert torch.allclose(families.cross_correlation(za, zb, eps=1e-5), bn(za).T @ bn(zb) / 16, atol=1e-12)


@pytest.mark.parametrize("n,d", [(4, 2), (16, 8), (50, 3)])
@pytest.mark.parametrize("lambd", [0.005, 0.5])
def test_identical_views_leave_only_lambda_times_the_off_diagonal_sum(n, d, lambd):
    z = randn(n * d, n, d) * 4 - 1
    c = families.cross_correlation(z, z)
    assert torch.allclose(c.diagonal(), torch.ones(d, dtype=z.dtype), rtol=0, atol=1e-12)   # on-diagonal term 0
    corr = np.corrcoef(z.numpy(), rowvar=False).reshape(d, d)
    off = sum(corr[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    assert families.barlow_twins(z, z, lambd).item() == pytest.approx(lambd * off, rel=1e-9, abs=1e-12)
    assert families.barlow_twins(z, z, 0.0).item() == pytest.approx(0.0, abs=1e-12)
    # perfectly correlated views (a positive scale and a shift per feature) cost the same
    z2 = z * torch.linspace(0.5, 3.0, d, dtype=z.dtype) + 7
    assert families.barlow_twins(z, z2, lambd).item() == pytest.approx(lambd * off, rel=1e-9, abs=1e-12)
    # anti-correlated views: every C_ii = -1 costs (1 - (-1))^2 = 4
    assert families.barlow_twins(z, -z, lambd).item() == pytest.approx(4 * d + lambd * off, rel=1e-9)


def test_barlow_twins_gradcheck_float64():
    za, zb = randn(2, 6, 3).requires_grad_(), randn(3, 6, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: families.barlow_twins(a, b, 0.1), (za, zb))
    assert torch.autograd.gradcheck(lambda a, b: families.barlow_twins(a, b, 0.1, eps=1e-3), (za, zb))


@pytest.mark.parametrize("call,match", [
    (lambda: families.barlow_twins(torch.randn(1, 3), torch.randn(1, 3)), "N >= 2 samples .a standard deviation"),
    (lambda: families.barlow_twins(torch.randn(4, 3), torch.randn(4, 2)), "same shape"),
    (lambda: families.barlow_twins(torch.randn(4), torch.randn(4)), "z1 must be 2-D"),
    (lambda: families.barlow_twins(torch.randn(4, 3), torch.randn(4, 3), lambd=-1),
     "lambd must be a finite number >= 0, got -1"),
    (lambda: families.barlow_twins(torch.randn(4, 3), torch.randn(4, 3), eps=-1e-5), "eps must be"),
    (lambda: families.barlow_twins(torch.ones(4, 3), torch.randn(4, 3)), "z1 has 3 feature.s. constant"),
    (lambda: families.barlow_twins(torch.randn(4, 3), torch.full((4, 3), float("nan"))), "z2 contains NaN"),
])
def test_barlow_twins_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_barlow_twins_with_eps_accepts_a_constant_feature():
    z = torch.randn(8, 3)
    z[:, 0] = 1.0
    assert torch.isfinite(families.barlow_twins(z, z, eps=1e-5))


# --- VICReg (Bardes et al., 2022) ----------------------------------------------------------------------------

def vicreg_algorithm1(za: np.ndarray, zb: np.ndarray, lam, mu, nu, gamma=1.0, eps=1e-4) -> float:
    """Algorithm 1, element by element: MSE; the hinge on sqrt(var + eps) (var with divisor N - 1);
    the squared off-diagonal covariances over D, for each branch."""
    n, d = za.shape
    sim = sum((za[b, j] - zb[b, j]) ** 2 for b in range(n) for j in range(d)) / (n * d)
    std_loss = cov_loss = 0.0
    for z in (za, zb):
        mean = [sum(z[b, j] for b in range(n)) / n for j in range(d)]
        cov = [[sum((z[b, i] - mean[i]) * (z[b, j] - mean[j]) for b in range(n)) / (n - 1) for j in range(d)]
               for i in range(d)]
        std_loss += sum(max(0.0, gamma - math.sqrt(cov[j][j] + eps)) for j in range(d)) / d
        cov_loss += sum(cov[i][j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return lam * sim + mu * std_loss + nu * cov_loss


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 20), d=st.integers(1, 10), scale=st.floats(0.05, 3.0), seed=st.integers(0, 2**16),
       weights=st.sampled_from([(25.0, 25.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (2.0, 3.0, 0.5)]))
def test_vicreg_matches_algorithm_1(n, d, scale, seed, weights):
    za, zb = scale * randn(seed, n, d), scale * randn(seed + 1, n, d)
    ref = vicreg_algorithm1(za.numpy(), zb.numpy(), *weights)
    assert families.vicreg(za, zb, *weights).item() == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_vicreg_analytic_cases():
    # a collapsed batch: no invariance or covariance cost, every feature's hinge at gamma - sqrt(eps)
    z = torch.ones(8, 5, dtype=torch.float64)
    s, v, c = families.vicreg_terms(z, z)
    assert (s.item(), c.item()) == (0.0, 0.0) and v.item() == pytest.approx(2 * (1 - 1e-2))
    assert families.vicreg(z, z).item() == pytest.approx(25 * 2 * (1 - 1e-2))
    # spread above gamma and uncorrelated features: every term 0
    z = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=torch.float64)
    assert families.vicreg(z, z).item() == 0.0
    # the three terms make up the loss with the paper's weights
    za, zb = randn(4, 10, 6), randn(5, 10, 6)
    s, v, c = families.vicreg_terms(za, zb)
    assert families.vicreg(za, zb).item() == pytest.approx((25 * s + 25 * v + c).item(), rel=1e-12)


def test_vicreg_gradcheck_float64():
    za, zb = randn(6, 6, 4).requires_grad_(), randn(7, 6, 4).requires_grad_()
    # scaled down so that the variance hinge is active
    assert torch.autograd.gradcheck(lambda a, b: families.vicreg(0.3 * a, 0.3 * b), (za, zb))


@pytest.mark.parametrize("call,match", [
    (lambda: families.vicreg(torch.randn(1, 3), torch.randn(1, 3)), "N >= 2 samples .a variance"),
    (lambda: families.vicreg(torch.randn(4, 3), torch.randn(5, 3)), "same shape"),
    (lambda: families.vicreg(torch.randn(4, 3), torch.randn(4, 3), mu=-1.0), "mu must be a finite number >= 0"),
    (lambda: families.vicreg(torch.randn(4, 3), torch.randn(4, 3), eps=0.0), "eps must be a finite number > 0"),
    (lambda: families.vicreg(torch.randn(4, 3), torch.randn(4, 3), gamma=float("inf")), "gamma must be"),
    (lambda: families.vicreg_terms(torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3)), "floating"),
])
def test_vicreg_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- DINO (Caron et al., 2021) -------------------------------------------------------------------------------

def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def dino_H(t, s, center, tps, tpt):
    """Algorithm 1's H(t, s), row by row."""
    total = 0.0
    for tn, sn in zip(t, s):
        ps = softmax([v / tps for v in sn])
        pt = softmax([(v - c) / tpt for v, c in zip(tn, center)])
        total += -sum(a * math.log(b) for a, b in zip(pt, ps))
    return total / len(t)


def dino_reference(student, teacher, center, tps, tpt):
    """The official multi-crop loop: every teacher view against every other student view, averaged;
    with two views, Algorithm 1's H(t1, s2) / 2 + H(t2, s1) / 2."""
    total, count = 0.0, 0
    for iq, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v != iq:
                total, count = total + dino_H(t, s, center, tps, tpt), count + 1
    return total / count


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(2, 16), vs=st.integers(2, 5), vt=st.integers(1, 2),
       tps=st.floats(0.05, 1.0), tpt=st.floats(0.02, 0.5), seed=st.integers(0, 2**16))
def test_dino_matches_algorithm_1_and_the_multi_crop_loop(n, k, vs, vt, tps, tpt, seed):
    student, teacher, center = randn(seed, vs, n, k), randn(seed + 1, vt, n, k), 0.3 * randn(seed + 2, k)
    ref = dino_reference(student.tolist(), teacher.tolist(), center.tolist(), tps, tpt)
    assert families.dino(student, teacher, center, tps, tpt).item() == pytest.approx(ref, rel=1e-9, abs=1e-9)


def test_dino_two_views_is_algorithm_1_and_lists_work():
    s1, s2, t1, t2, c = randn(0, 4, 6), randn(1, 4, 6), randn(2, 4, 6), randn(3, 4, 6), randn(4, 6)
    want = dino_H(t1.tolist(), s2.tolist(), c.tolist(), 0.1, 0.04) / 2 + dino_H(t2.tolist(), s1.tolist(), c.tolist(),
                                                                                0.1, 0.04) / 2
    assert families.dino([s1, s2], [t1, t2], c).item() == pytest.approx(want, rel=1e-9)
    assert families.dino(torch.stack([s1, s2]), torch.stack([t1, t2]), c[None]).item() == pytest.approx(want, rel=1e-9)


def test_dino_analytic_cases_and_invariances():
    k = 5
    uniform = families.dino(torch.zeros(2, 3, k), torch.zeros(2, 3, k), torch.zeros(k))
    assert uniform.item() == pytest.approx(math.log(k))
    s, t, c = randn(5, 2, 4, k), randn(6, 2, 4, k), randn(7, k)
    base = families.dino(s, t, c).item()
    assert families.dino(s + randn(8, 2, 4, 1), t, c).item() == pytest.approx(base, rel=1e-9)   # softmax shift
    assert families.dino(s, t + 3.0, c + 3.0).item() == pytest.approx(base, rel=1e-9)          # centre and teacher
    # a very sharp teacher target is one-hot: the loss is the student's cross-entropy towards its arg max
    one_hot = families.dino(s, t, c, teacher_temp=1e-6).item()
    argmax = (t - c).argmax(-1)
    ce = (F.cross_entropy(s[1] / 0.1, argmax[0]) + F.cross_entropy(s[0] / 0.1, argmax[1])) / 2
    assert one_hot == pytest.approx(ce.item(), rel=1e-6)


def test_dino_sends_no_gradient_into_the_teacher_or_the_centre():
    s = randn(0, 2, 3, 4).requires_grad_()
    t, c = randn(1, 2, 3, 4).requires_grad_(), randn(2, 4).requires_grad_()
    families.dino(s, t, c).backward()
    assert s.grad is not None and t.grad is None and c.grad is None


def test_dino_gradcheck_float64():
    t, c = randn(1, 3, 4, 5), randn(2, 5)
    s = randn(0, 3, 4, 5).requires_grad_()
    assert torch.autograd.gradcheck(lambda s: families.dino(s, t[:2], c, 0.5, 0.2), (s,))


def test_dino_center_is_the_ema_of_the_teacher_batch_mean():
    c, t = randn(0, 1, 6), randn(1, 2, 4, 6)
    mean = [sum(t[v, b, j].item() for v in range(2) for b in range(4)) / 8 for j in range(6)]
    new = families.dino_center(c, t, 0.9)
    assert new.shape == c.shape
    assert torch.allclose(new, 0.9 * c + 0.1 * torch.tensor(mean, dtype=c.dtype), atol=1e-12)
    assert torch.allclose(families.dino_center(c[0], [t[0], t[1]], 0.0), torch.tensor(mean, dtype=c.dtype))
    assert torch.equal(families.dino_center(c, t.reshape(8, 6), 1.0), c)
    assert not families.dino_center(c, t.requires_grad_(), 0.5).requires_grad


@pytest.mark.parametrize("call,match", [
    (lambda s, t, c: families.dino(s, t, c, student_temp=0.0), "student_temp must be a finite number > 0, got 0.0"),
    (lambda s, t, c: families.dino(s, t, c, teacher_temp=-0.04), "teacher_temp must be a finite number > 0"),
    (lambda s, t, c: families.dino(s[:1], t[:1], c), "V_s >= 2 views .* got V_s = 1"),
    (lambda s, t, c: families.dino(s[:2], torch.cat([t, t]), c), "1 <= V_t <= V_s .* V_t = 4"),
    (lambda s, t, c: families.dino(s, t[:, :2], c), "teacher_out must be V_t x 3 x 4"),
    (lambda s, t, c: families.dino(s, t, c[:3]), "center must have K = 4 entries"),
    (lambda s, t, c: families.dino(s[0], t, c), "student_out must be 3-D"),
    (lambda s, t, c: families.dino([], t, c), "at least one view"),
    (lambda s, t, c: families.dino([s[0], s[1, :2]], t, c), "every view must be N x K alike"),
    (lambda s, t, c: families.dino_center(c, t, momentum=1.5), r"momentum must be in \[0, 1\]"),
    (lambda s, t, c: families.dino_center(c[:2], t), "center must have K = 4"),
])
def test_dino_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.randn(3, 3, 4), torch.randn(2, 3, 4), torch.zeros(4))


# --- SwAV (Caron et al., 2020) -------------------------------------------------------------------------------

def sinkhorn_paper(scores: list, eps: float, niters: int) -> np.ndarray:
    """The appendix's Sinkhorn (Algorithm 1's sinkhorn()), element by element:
    Q = exp(scores / eps).T; Q /= sum(Q); then u = sum_rows; Q *= r / u; Q *= c / sum_cols; finally
    the columns normalised to 1, transposed back to B x K."""
    b, k = len(scores), len(scores[0])
    q = [[math.exp(scores[j][i] / eps) for j in range(b)] for i in range(k)]        # K x B
    total = sum(map(sum, q))
    q = [[v / total for v in row] for row in q]
    r, c = 1 / k, 1 / b
    for _ in range(niters):
        u = [sum(row) for row in q]
        q = [[q[i][j] * r / u[i] for j in range(b)] for i in range(k)]
        col = [sum(q[i][j] for i in range(k)) for j in range(b)]
        q = [[q[i][j] * c / col[j] for j in range(b)] for i in range(k)]
    col = [sum(q[i][j] for i in range(k)) for j in range(b)]
    return np.array([[q[i][j] / col[j] for i in range(k)] for j in range(b)])


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 12), k=st.integers(1, 10), eps=st.floats(0.05, 1.0), iterations=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_sinkhorn_matches_the_papers_pseudo_code(b, k, eps, iterations, seed):
    scores = F.normalize(randn(seed, b, 4), dim=1) @ F.normalize(randn(seed + 1, 4, k), dim=0)   # cosines
    ref = sinkhorn_paper(scores.tolist(), eps, iterations)
    assert np.allclose(families.sinkhorn(scores, eps, iterations).numpy(), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("b,k", [(8, 4), (5, 5), (3, 7), (32, 10)])
def test_sinkhorn_rows_sum_to_one_and_columns_reach_n_over_k(b, k):
    scores = 0.5 * randn(b * k, b, k)
    q = families.sinkhorn(scores, eps=0.5, iterations=3)
    assert q.shape == (b, k) and bool((q > 0).all())
    assert torch.allclose(q.sum(dim=1), torch.ones(b, dtype=q.dtype), atol=1e-12)          # exact after any count
    converged = families.sinkhorn(scores, eps=0.5, iterations=500)
    assert torch.allclose(converged.sum(dim=0), torch.full((k,), b / k, dtype=q.dtype), atol=1e-8)
    if b == k:   # a square batch: the converged codes are doubly stochastic
        assert torch.allclose(converged.sum(dim=0), torch.ones(k, dtype=q.dtype), atol=1e-8)
        assert torch.allclose(converged.sum(dim=1), torch.ones(k, dtype=q.dtype), atol=1e-12)


def test_sinkhorn_analytic_cases_and_stability():
    assert torch.allclose(families.sinkhorn(torch.full((6, 3), 0.7)), torch.full((6, 3), 1 / 3))
    scores = randn(0, 10, 4)
    q = families.sinkhorn(scores, 0.05, 3)
    assert torch.allclose(families.sinkhorn(scores + 100.0, 0.05, 3), q, atol=1e-12)        # a global shift: nothing
    extreme = families.sinkhorn(1000 * scores.float())                                      # log domain: no
    assert torch.isfinite(extreme).all() and torch.allclose(extreme.sum(1), torch.ones(10))  # overflow, no 0 / 0
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(families.sinkhorn(scores[perm], 0.05, 3), q[perm], atol=1e-12)    # equivariant
    # equipartition: one prototype preferred by every sample still gets only its share of the batch
    skewed = torch.zeros(12, 3, dtype=torch.float64)
    skewed[:, 0] = 0.05
    assert families.sinkhorn(skewed, 0.05, 200).sum(dim=0).tolist() == pytest.approx([4.0, 4.0, 4.0], abs=1e-6)
    assert families.sinkhorn(scores.float().requires_grad_()).requires_grad is False          # codes are targets
    assert families.sinkhorn(scores.float()).dtype == torch.float32


def swav_reference(s1: torch.Tensor, s2: torch.Tensor, temp, eps, niters) -> float:
    """Algorithm 1's swapped prediction, sum over prototypes and mean over the batch (as the official code)."""
    q1, q2 = sinkhorn_paper(s1.tolist(), eps, niters), sinkhorn_paper(s2.tolist(), eps, niters)
    total = 0.0
    for n in range(len(s1)):
        p1, p2 = softmax([v / temp for v in s1[n].tolist()]), softmax([v / temp for v in s2[n].tolist()])
        total += sum(q1[n, k] * math.log(p2[k]) + q2[n, k] * math.log(p1[k]) for k in range(len(p1)))
    return -0.5 * total / len(s1)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 10), k=st.integers(2, 8), temp=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_swav_matches_algorithm_1(b, k, temp, seed):
    s1, s2 = torch.tanh(randn(seed, b, k)), torch.tanh(randn(seed + 1, b, k))
    ours = families.swav(s1, s2, temp, 0.05, 3).item()
    assert ours == pytest.approx(swav_reference(s1, s2, temp, 0.05, 3), rel=1e-9, abs=1e-12)
    # Algorithm 1 writes mean() over the B x K entries: 1/K of the loss here
    q1, q2 = families.sinkhorn(s1), families.sinkhorn(s2)
    literal = -0.5 * torch.mean(q1 * F.log_softmax(s2 / temp, 1) + q2 * F.log_softmax(s1 / temp, 1))
    assert ours == pytest.approx(k * literal.item(), rel=1e-9)


def test_swav_gradient_treats_the_codes_as_constants():
    """gradcheck would move the codes with the scores (finite differences go through sinkhorn), while the
    loss holds them fixed by design; so the gradient is checked against its closed form
    d L / d s2 = (softmax(s2 / t) - q1) / (2 N t), and gradcheck runs with the codes frozen."""
    s1, s2 = randn(0, 6, 4).requires_grad_(), randn(1, 6, 4).requires_grad_()
    families.swav(s1, s2, 0.1).backward()
    q1, q2 = families.sinkhorn(s1), families.sinkhorn(s2)
    assert torch.allclose(s2.grad, (F.softmax(s2.detach() / 0.1, 1) - q1) / (2 * 6 * 0.1), atol=1e-12)
    assert torch.allclose(s1.grad, (F.softmax(s1.detach() / 0.1, 1) - q2) / (2 * 6 * 0.1), atol=1e-12)
    real = families.sinkhorn

    def frozen_codes(a, b):   # swav asks for the codes of its first, then of its second argument
        codes = iter([q1, q2])
        families.sinkhorn = lambda *args: next(codes)
        try:
            return families.swav(a, b, 0.3)
        finally:
            families.sinkhorn = real

    assert frozen_codes(s1, s2).item() == pytest.approx(families.swav(s1, s2, 0.3).item(), rel=1e-12)
    assert torch.autograd.gradcheck(frozen_codes, (s1, s2))
    assert families.sinkhorn is real


@pytest.mark.parametrize("call,match", [
    (lambda s: families.sinkhorn(s, eps=0.0), "eps must be a finite number > 0, got 0.0"),
    (lambda s: families.sinkhorn(s, iterations=0), "iterations must be an integer >= 1, got 0"),
    (lambda s: families.sinkhorn(s, iterations=2.5), "iterations must be an integer"),
    (lambda s: families.sinkhorn(s[0]), "scores must be 2-D"),
    (lambda s: families.sinkhorn(s[:0]), "N, K >= 1"),
    (lambda s: families.swav(s, s[:2]), "scores1 and scores2 must be N x K alike"),
    (lambda s: families.swav(s, s, temperature=-0.1), "temperature must be a finite number > 0"),
    (lambda s: families.swav(s, s, iterations=0), "iterations must be"),
])
def test_sinkhorn_and_swav_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.randn(4, 3))
