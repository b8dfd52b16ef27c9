"""Margin contrastive, triplet, MoCo and SimSiam losses against references."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sslbook import losses


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
