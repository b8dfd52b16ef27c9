"""sslbook.jepa (issue 25): I-JEPA's block masks (disjoint context and targets, one rectangle size per
batch), the model's shapes, a target encoder that no gradient reaches and that follows by EMA, and a
prediction that never sees the pixels it predicts."""
import doctest

import pytest
import torch

from sslbook import jepa
from sslbook.masking import patchify, unpatchify


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_doctests():
    assert doctest.testmod(jepa).failed == 0


def as_sets(masks):
    return ([set(row.tolist()) for row in masks.context],
            [[set(block.tolist()) for block in row] for row in masks.targets])


@pytest.mark.parametrize("grid,n,m", [(4, 8, 4), (7, 5, 4), (14, 3, 4), (6, 4, 1)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_masks_are_disjoint_rectangles_as_specified(grid, n, m, seed):
    masks = jepa.block_masks(grid, n, num_targets=m, generator=gen(seed))
    nc, (n_, m_, _) = masks.context.shape[1], masks.targets.shape
    assert masks.context.shape[0] == n and (n_, m_) == (n, m) and nc >= 1
    assert masks.context.dtype == masks.targets.dtype == torch.long
    contexts, targets = as_sets(masks)
    sizes = set()
    for context, blocks, row in zip(contexts, targets, masks.context):
        assert len(context) == nc and row.tolist() == sorted(context)             # unique, in patch order
        assert all(0 <= i < grid * grid for i in context)
        for block in blocks:
            assert not context & block                                             # disjoint, as the paper says
            rows, cols = {i // grid for i in block}, {i % grid for i in block}
            assert block == {r * grid + c for r in rows for c in cols}             # a filled rectangle
            assert max(rows) - min(rows) + 1 == len(rows) and max(cols) - min(cols) + 1 == len(cols)
            sizes.add((len(rows), len(cols)))
    assert len(sizes) == 1                                                         # one block size per batch
    (h, w), = sizes
    if grid >= 14:   # at the paper's grid the blocks cover about (0.15, 0.2) of the image
        assert 0.15 * grid * grid - (h + w) <= h * w <= 0.2 * grid * grid + (h + w)
        assert 0.75 * 0.7 <= h / w <= 1.5 / 0.7


def test_block_masks_follow_the_generator():
    a, b, c = (jepa.block_masks(7, 6, generator=gen(s)) for s in (3, 3, 4))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    assert not (a.context.shape == c.context.shape and torch.equal(a.context, c.context)
                and torch.equal(a.targets, c.targets))


@pytest.mark.parametrize("kwargs,match", [
    ({"grid": 1}, "grid must be an integer >= 2"),
    ({"n": 0}, "n must be an integer >= 1"),
    ({"num_targets": 0}, "num_targets must be"),
    ({"target_scale": (0.3, 0.2)}, r"target_scale must be a pair \(low, high\) with 0 < low <= high <= 1"),
    ({"context_scale": (0.0, 1.0)}, "context_scale must be a pair"),
    ({"context_scale": (0.5, 1.5)}, "context_scale must be a pair"),
    ({"target_aspect": (-1.0, 2.0)}, "target_aspect must be a pair"),
    ({"target_scale": 0.2}, "target_scale must be a pair"),
    ({"grid": 2, "target_scale": (1.0, 1.0)}, "no context patch is left .* use fewer targets"),
])
def test_block_masks_bad_input(kwargs, match):
    args = {"grid": 4, "n": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        jepa.block_masks(args.pop("grid"), args.pop("n"), **args)


def small(**kwargs):
    torch.manual_seed(0)
    return jepa.IJEPA(image_size=8, patch=2, dim=32, depth=1, heads=4, predictor_dim=16, predictor_depth=1,
                      predictor_heads=2, **kwargs)


def test_shapes():
    model, x = small(), torch.rand(5, 1, 8, 8, generator=gen())
    masks = model.sample_masks(5, gen(1))
    n, m, nt = masks.targets.shape
    assert model.encode(x).shape == (5, 16, 32)
    assert model.encode(x, masks.context).shape == (5, masks.context.shape[1], 32)
    assert model(x, masks).shape == model.targets(x, masks).shape == (5, m, nt, 32)
    assert model.features(x).shape == (5, 32) and model.loss(x, masks).shape == ()
    assert torch.isfinite(model.loss(x, generator=gen(2)))
    rgb = jepa.IJEPA(image_size=28, channels=3, patch=4, dim=16, depth=1, heads=2, predictor_dim=8, predictor_heads=2)
    masks = rgb.sample_masks(2, gen(3))
    assert rgb(torch.rand(2, 3, 28, 28), masks).shape == masks.targets.shape + (16,)


def test_the_predictor_is_narrower_and_the_targets_are_layer_normalised():
    model, x = small(), torch.rand(4, 1, 8, 8, generator=gen())
    assert model.predictor.blocks.layers[0].linear1.in_features == 16 < 32
    t = model.targets(x, model.sample_masks(4, gen(1)))
    assert torch.allclose(t.mean(-1), torch.zeros(t.shape[:-1]), atol=1e-5)
    assert torch.allclose(t.var(-1, unbiased=False), torch.ones(t.shape[:-1]), atol=1e-3)


def test_no_gradient_reaches_the_target_encoder():
    model, x = small(), torch.rand(6, 1, 8, 8, generator=gen())
    masks = model.sample_masks(6, gen(1))
    assert model.targets(x, masks).grad_fn is None
    before = [p.detach().clone() for p in model.target_encoder.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    loss = model.loss(x, masks)
    loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in model.target_encoder.parameters())
    trained = [*model.context_encoder.parameters(), *model.predictor.parameters()]
    assert all(p.grad is not None for p in trained)
    opt.step()
    assert all(torch.equal(a, p) for a, p in zip(before, model.target_encoder.parameters()))


def test_the_target_encoder_follows_the_context_encoder_by_ema():
    model = small()
    pairs = list(zip(model.target_encoder.parameters(), model.context_encoder.parameters()))
    assert all(torch.equal(t, c) for t, c in pairs)                      # starts as a copy
    with torch.no_grad():
        for c in model.context_encoder.parameters():
            c.add_(torch.randn(c.shape, generator=gen()))
    t0 = [t.clone() for t, _ in pairs]
    model.update_target(0.9)
    assert all(torch.allclose(t, 0.9 * a + 0.1 * c, atol=1e-6) for (t, c), a in zip(pairs, t0))
    t1 = [t.clone() for t, _ in pairs]
    model.update_target(1.0)
    assert all(torch.equal(t, a) for (t, _), a in zip(pairs, t1))
    model.update_target(0.0)
    assert all(torch.equal(t, c) for t, c in pairs)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        model.update_target(1.5)


def test_the_prediction_never_sees_the_pixels_outside_the_context():
    model, x = small(), torch.rand(3, 1, 8, 8, generator=gen())
    masks = model.sample_masks(3, gen(1))
    hidden = torch.ones(3, 16, dtype=torch.bool)
    hidden[torch.arange(3)[:, None], masks.context] = False
    noise = torch.rand(3, 16, 4, generator=gen(2)) * hidden[..., None]      # only outside the context
    changed = x + unpatchify(noise, 2, 1, 8, 8)
    assert torch.equal(patchify(changed, 2)[~hidden], patchify(x, 2)[~hidden]) and not torch.equal(changed, x)
    assert torch.allclose(model(changed, masks), model(x, masks), atol=1e-6)    # the predictor sees only context
    assert not torch.allclose(model.targets(changed, masks), model.targets(x, masks))   # the targets change


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    model, x = small(), torch.rand(16, 1, 8, 8, generator=gen())
    masks = model.sample_masks(16, gen(1))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = model.loss(x, masks).item()
    for _ in range(30):
        opt.zero_grad()
        model.loss(x, masks).backward()
        opt.step()
        model.update_target(0.996)
    assert model.loss(x, masks).item() < first


@pytest.mark.parametrize("call,match", [
    (lambda m: m(torch.rand(2, 1, 6, 6), m.sample_masks(2)), r"images must be N x 1 x 8 x 8"),
    (lambda m: m(torch.rand(2, 1, 8, 8), m.sample_masks(3)), "masks.context must have 2 rows"),
    (lambda m: m(torch.rand(2, 1, 8, 8), (torch.zeros(2, 3), torch.zeros(2, 1, 2))), "masks must be a BlockMasks"),
    (lambda m: m(torch.rand(2, 1, 8, 8), jepa.BlockMasks(torch.full((2, 3), 16), torch.zeros(2, 1, 2).long())),
     r"masks.context must index patches in \[0, 16\)"),
    (lambda m: m.loss(torch.rand(2, 1, 8, 8).long()), "images must be a floating-point tensor"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(small())


@pytest.mark.parametrize("kwargs,match", [
    ({"patch": 3}, "patch must divide image_size"),
    ({"patch": 8}, "grid of at least 2 x 2"),
    ({"dim": 30, "heads": 5}, "dim must be a multiple of 4"),
    ({"predictor_dim": 12, "predictor_heads": 8}, "predictor_dim must be a multiple of 4 .* and of predictor_heads"),
    ({"depth": 0}, "depth must be an integer >= 1"),
    ({"target_scale": (0.5, 0.1)}, "target_scale must be a pair"),
])
def test_bad_settings(kwargs, match):
    settings = {"image_size": 8, "patch": 2, "dim": 32, "heads": 4, "predictor_dim": 16, "predictor_heads": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        jepa.IJEPA(**settings)
