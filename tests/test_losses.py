"""sslbook.losses: each loss against a reference, analytic cases, gradients, bad input."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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


def margin_reference(a, b, y, m, distance):
    total = 0.0
    for ai, bi, yi in zip(a, b, y):
        if distance == "euclidean":
            d = math.sqrt(sum((p - q) ** 2 for p, q in zip(ai, bi)))
        else:
            d = 1 - float(np.dot(ai, bi) / (np.linalg.norm(ai) * np.linalg.norm(bi)))
        total += yi * d ** 2 + (1 - yi) * max(m - d, 0.0) ** 2
    return total / (2 * len(a))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20), d=st.integers(1, 16), m=st.floats(0.0, 3.0), seed=st.integers(0, 10_000),
       distance=st.sampled_from(["euclidean", "cosine"]))
def test_margin_contrastive_matches_the_formula(n, d, m, seed, distance):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    y = rng.integers(0, 2, n)
    ours = losses.margin_contrastive(torch.tensor(a), torch.tensor(b), torch.tensor(y), m, distance).item()
    assert ours == pytest.approx(margin_reference(a, b, y, m, distance), abs=1e-6, rel=1e-6)


def test_margin_contrastive_accepts_booleans_and_ignores_far_negatives():
    a, b = torch.zeros(2, 2), torch.tensor([[3.0, 4.0], [0.0, 5.0]])
    assert losses.margin_contrastive(a, b, torch.tensor([False, False]), margin=1.0).item() == 0.0
    assert losses.margin_contrastive(a, b, torch.tensor([True, True])).item() == pytest.approx(50 / 4)


@pytest.mark.parametrize("call,match", [
    (lambda a: losses.margin_contrastive(a, a, [1, 0], margin=-1), "margin"),
    (lambda a: losses.margin_contrastive(a, a, [1, 0], distance="manhattan"), "distance must be one of"),
    (lambda a: losses.margin_contrastive(a, a[:1], [1, 0]), "same shape"),
    (lambda a: losses.margin_contrastive(a[:0], a[:0], []), "empty batch"),
    (lambda a: losses.margin_contrastive(a, a, [1, 0, 1]), "one flag per pair"),
    (lambda a: losses.margin_contrastive(a, a, [1, 2]), "only 0/1"),
    (lambda a: losses.triplet(a, a, a[:1]), "same shape"),
    (lambda a: losses.triplet(a, a, a, margin=float("nan")), "margin"),
    (lambda a: losses.moco_loss(a, a, torch.randn(5, 2)), "queue must be K x 3"),
    (lambda a: losses.moco_loss(a, a, torch.randn(5, 3), temperature=0), "temperature"),
    (lambda a: losses.negative_cosine(a, a[:1]), "same shape"),
])
def test_bad_inputs_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.randn(2, 3))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 16), d=st.integers(1, 8), m=st.floats(0.01, 2.0), seed=st.integers(0, 10_000))
def test_triplet_matches_torch(n, d, m, seed):
    g = torch.Generator().manual_seed(seed)
    a, p, q = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
    assert losses.triplet(a, p, q, m).item() == pytest.approx(F.triplet_margin_loss(a, p, q, margin=m).item(), abs=1e-5)


def moco_reference(q, k, queue, t):
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    queue = queue / np.linalg.norm(queue, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(q)):
        logits = [float(q[i] @ k[i]) / t] + [float(q[i] @ r) / t for r in queue]
        total += -logits[0] + math.log(sum(math.exp(v) for v in logits))
    return total / len(q)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 16), d=st.integers(2, 16), k=st.integers(1, 64), t=st.floats(0.05, 1.0), seed=st.integers(0, 10_000))
def test_moco_loss_matches_a_loop_reference(n, d, k, t, seed):
    rng = np.random.default_rng(seed)
    q, key, queue = rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(k, d))
    ours = losses.moco_loss(torch.tensor(q, dtype=torch.float32), torch.tensor(key, dtype=torch.float32),
                            torch.tensor(queue, dtype=torch.float32), t).item()
    assert ours == pytest.approx(moco_reference(q, key, queue, t), abs=1e-5, rel=1e-5)


def test_moco_loss_sends_no_gradient_into_keys_or_queue():
    q = torch.randn(4, 3, requires_grad=True)
    k = torch.randn(4, 3, requires_grad=True)
    queue = torch.randn(8, 3, requires_grad=True)
    losses.moco_loss(q, k, queue).backward()
    assert q.grad is not None and k.grad is None and queue.grad is None


def test_negative_cosine_and_its_stop_gradient():
    p, z = torch.randn(5, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    assert losses.negative_cosine(p, p.detach()).item() == pytest.approx(-1.0)
    losses.negative_cosine(p, z).backward()
    assert z.grad is None
    losses.negative_cosine(p, z, stop_gradient=False).backward()
    assert z.grad is not None


def test_gradcheck_every_loss_in_float64():
    g = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)

    same = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    key, queue = t(4, 3).detach(), t(6, 3).detach()
    checks = [
        (lambda a, b: losses.info_nce(a, b, 0.3), (t(4, 3), t(4, 3))),
        (lambda a, b: losses.margin_contrastive(a, b, same, margin=3.0), (t(4, 3), t(4, 3))),
        (lambda a, b: losses.margin_contrastive(a, b, same, margin=0.9, distance="cosine"), (t(4, 3), t(4, 3))),
        (lambda a, b, c: losses.triplet(a, b, c, margin=5.0), (t(4, 3), t(4, 3), t(4, 3))),
        # keys and queue are detached by design: only the queries get gradients
        (lambda a: losses.moco_loss(a, key, queue, 0.3), (t(4, 3),)),
        (lambda a, b: losses.negative_cosine(a, b, stop_gradient=False), (t(4, 3), t(4, 3))),
    ]
    for fn, inputs in checks:
        assert torch.autograd.gradcheck(fn, inputs)


def test_positive_index_pairs_the_two_views():
    assert losses.positive_index(2).tolist() == [2, 3, 0, 1]
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        losses.positive_index(0)


def test_temperature_of_reads_the_defaults_and_validates():
    assert losses.temperature_of("simclr") == losses.TEMPERATURES["simclr"]
    assert losses.temperature_of("moco", 0.3) == 0.3
    with pytest.raises(ValueError, match="method must be one of"):
        losses.temperature_of("byol")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got -1"):
        losses.temperature_of("simclr", -1)


def test_masked_token_loss_ignores_unchosen_positions():
    from sslbook.masking import IGNORE_INDEX

    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    labels = torch.full((2, 5), IGNORE_INDEX)
    labels[0, 1], labels[1, 4] = 3, 6
    expected = -(F.log_softmax(logits[0, 1], 0)[3] + F.log_softmax(logits[1, 4], 0)[6]) / 2
    assert torch.allclose(losses.masked_token_loss(logits, labels), expected)
    with pytest.raises(ValueError, match="no position to predict"):
        losses.masked_token_loss(logits, torch.full((2, 5), IGNORE_INDEX))
    with pytest.raises(ValueError, match="labels must be N x L"):
        losses.masked_token_loss(logits, labels[:, :3])


def clip_reference(u: np.ndarray, v: np.ndarray, tau: float) -> float:
    """A loop-by-loop NumPy port of CLIP's pseudo-code (Radford et al., 2021, Figure 3)."""
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    n = len(u)
    s = np.array([[u[i] @ v[j] / tau for j in range(n)] for i in range(n)])
    rows = sum(-s[i, i] + math.log(sum(math.exp(s[i, j]) for j in range(n))) for i in range(n)) / n
    cols = sum(-s[j, j] + math.log(sum(math.exp(s[i, j]) for i in range(n))) for j in range(n)) / n
    return (rows + cols) / 2


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 32), d=st.integers(2, 64), tau=st.floats(0.05, 2.0), seed=st.integers(0, 2**16))
def test_clip_loss_matches_reference(n, d, tau, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, d, generator=g, dtype=torch.float64)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    assert losses.clip_loss(u.float(), v.float(), tau).item() == pytest.approx(clip_reference(u.numpy(), v.numpy(), tau),
                                                                                abs=1e-4, rel=1e-4)


def test_clip_loss_analytic_cases():
    z = torch.ones(5, 3)
    assert losses.clip_loss(z, z).item() == pytest.approx(math.log(5), abs=1e-6)     # all equal: log N
    assert losses.clip_loss(torch.eye(4), torch.eye(4), 0.01).item() < 1e-6           # matched, orthogonal
    swapped = torch.eye(4)[[1, 0, 2, 3]]
    assert losses.clip_loss(torch.eye(4), swapped, 0.01).item() > 10                  # two captions swapped


def test_clip_loss_default_temperature_and_symmetry():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert losses.clip_loss(u, v).item() == pytest.approx(losses.clip_loss(u, v, losses.TEMPERATURES["clip"]).item())
    assert losses.clip_loss(u, v).item() == pytest.approx(losses.clip_loss(v, u).item(), rel=1e-6)


@pytest.mark.parametrize("u,v,t,match", [
    (torch.randn(4, 3), torch.randn(5, 3), None, "same shape"),
    (torch.randn(1, 3), torch.randn(1, 3), None, "N >= 2"),
    (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature"),
    (torch.randn(4), torch.randn(4), None, "z1"),
])
def test_clip_loss_bad_input(u, v, t, match):
    with pytest.raises(ValueError, match=match):
        losses.clip_loss(u, v, t)


# The InfoNCE floor (chapter 4, section 4.4): no batch goes below it; a regular simplex reaches it.

def regular_simplex(n: int, dtype=torch.float64) -> torch.Tensor:
    """n unit vectors in n dimensions with every pairwise cosine -1/(n - 1)."""
    return F.normalize(torch.eye(n, dtype=dtype) - 1 / n, dim=1)


@pytest.mark.parametrize("n", [2, 3, 5, 16, 64, 256])
@pytest.mark.parametrize("tau", [0.05, 0.2, 0.5, 2.0])
def test_info_nce_floor_is_reached_by_identical_views_on_a_regular_simplex(n, tau):
    z = regular_simplex(n)
    assert torch.allclose(z @ z.T, torch.full((n, n), -1 / (n - 1), dtype=torch.float64) + n / (n - 1) * torch.eye(n, dtype=torch.float64))
    assert losses.info_nce(z, z.clone(), tau).item() == pytest.approx(losses.info_nce_floor(n, tau), rel=1e-9, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 48), tau=st.floats(0.05, 2.0), seed=st.integers(0, 2**16),
       spread=st.floats(0.0, 3.0))
def test_random_embeddings_never_go_below_the_info_nce_floor(n, d, tau, seed, spread):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    z2 = z1 + spread * torch.randn(n, d, generator=g, dtype=torch.float64)  # from identical views to unrelated ones
    assert losses.info_nce(z1, z2, tau).item() >= losses.info_nce_floor(n, tau) - 1e-9


@pytest.mark.parametrize("n,d", [(4, 2), (8, 3), (8, 7), (16, 16), (32, 8)])
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_embeddings_optimised_for_the_loss_stop_at_the_floor(n, d, tau):
    """Free embeddings trained on the loss itself approach the floor where a simplex fits
    (d >= n - 1) and stay above it everywhere."""
    g = torch.Generator().manual_seed(n * d)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([z1, z2], lr=0.05)
    lowest = math.inf
    for _ in range(600):
        opt.zero_grad()
        loss = losses.info_nce(z1, z2, tau)
        loss.backward()
        opt.step()
        lowest = min(lowest, loss.item())
    floor = losses.info_nce_floor(n, tau)
    assert lowest >= floor - 1e-9
    if d >= n - 1:  # 99% of the way down from the loss of equal embeddings, log(2n - 1)
        assert lowest - floor <= 0.01 * (math.log(2 * n - 1) - floor)


@pytest.mark.parametrize("n", [2, 3, 10, 256])
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_info_nce_floor_lies_between_the_naive_floor_and_the_equal_embeddings_loss(n, tau):
    naive = math.log(1 + (2 * n - 2) * math.exp(-2 / tau))   # every negative at cosine -1
    floor = losses.info_nce_floor(n, tau)
    assert naive <= floor + 1e-12 < math.log(2 * n - 1)
    assert (floor == pytest.approx(naive)) == (n == 2)       # only two samples can be antipodal
    assert losses.info_nce_floor(n) == losses.info_nce_floor(n, losses.TEMPERATURES["simclr"])


@pytest.mark.parametrize("kwargs", [{"n": 1}, {"n": 0}, {"n": 2.5}, {"n": True}, {"n": 4, "temperature": 0.0},
                                    {"n": 4, "temperature": -1.0}])
def test_info_nce_floor_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="n must|temperature must"):
        losses.info_nce_floor(**kwargs)


def test_triplet_squared_is_facenets_eq_1():
    g = torch.Generator().manual_seed(3)
    a, p, q = (F.normalize(torch.randn(12, 5, generator=g), dim=1) for _ in range(3))
    want = sum(max(float(((a[i] - p[i]) ** 2).sum() - ((a[i] - q[i]) ** 2).sum()) + 0.2, 0.0) for i in range(12)) / 12
    assert losses.triplet(a, p, q, margin=0.2, squared=True).item() == pytest.approx(want, abs=1e-6)
    # the default is the non-squared form, PyTorch's TripletMarginLoss, which differs from it
    assert losses.triplet(a, p, q, margin=0.2).item() == pytest.approx(
        F.triplet_margin_loss(a, p, q, margin=0.2).item(), abs=1e-5)
    assert losses.triplet(a, p, q, margin=0.2).item() != pytest.approx(want, abs=1e-3)


def test_triplet_rejects_a_non_boolean_squared():
    a = torch.randn(3, 2)
    with pytest.raises(ValueError, match="squared must be True or False, got 'yes'"):
        losses.triplet(a, a, a, squared="yes")
