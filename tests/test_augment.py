import pytest
import torch

from sslbook import augment


def test_views_keep_shape_and_range():
    x = torch.rand(16, 3, 12, 12)
    v = augment.RandomViews(rotation=30, translate=0.2, brightness=0.3, contrast=0.3, noise=0.2, erase=1.0, flip=True)(x)
    assert v.shape == x.shape and v.min() >= 0 and v.max() <= 1


def test_identity_settings_leave_images_unchanged():
    x = torch.rand(5, 1, 8, 8)
    v = augment.RandomViews(rotation=0, scale=(1, 1), translate=0)(x)
    assert torch.allclose(v, x, atol=1e-5)


def test_every_sample_gets_its_own_draw():
    x = torch.rand(1, 1, 8, 8).repeat(32, 1, 1, 1)
    v = augment.digit_views()(x, torch.Generator().manual_seed(0))
    distinct = {tuple(row.flatten().tolist()) for row in v}
    assert len(distinct) == 32


def test_generator_makes_views_reproducible():
    x = torch.rand(8, 1, 8, 8)
    views = augment.digit_views()
    a = views(x, torch.Generator().manual_seed(5))
    b = views(x, torch.Generator().manual_seed(5))
    c = views(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pair_gives_two_different_views():
    x = torch.rand(4, 1, 8, 8)
    v1, v2 = augment.digit_views().pair(x, torch.Generator().manual_seed(0))
    assert v1.shape == v2.shape == x.shape and not torch.equal(v1, v2)


def test_shift_moves_mass_and_zooming_in_keeps_the_centre():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # a dot in the centre
    shifted = augment.RandomViews(rotation=0, scale=(1, 1), translate=0.3)(x, torch.Generator().manual_seed(0))
    centre = shifted[:, 0, 4, 4]
    assert (centre < 0.5).float().mean() > 0.5  # most dots moved away from the centre
    zoomed = augment.RandomViews(rotation=0, scale=(2, 2), translate=0)(x)
    assert torch.all(zoomed[:, 0, 4, 4] > 0.2)


def test_erase_zeroes_a_rectangle():
    x = torch.ones(64, 1, 10, 10)
    v = augment.RandomViews(rotation=0, scale=(1, 1), translate=0, erase=1.0)(x)
    zeros = (v == 0).sum(dim=(1, 2, 3))
    assert torch.all(zeros >= 4) and torch.all(zeros <= 25)


@pytest.mark.parametrize("kwargs,name", [
    ({"rotation": -1}, "rotation"), ({"rotation": 200}, "rotation"),
    ({"scale": (1.2, 0.8)}, "scale"), ({"scale": 1.0}, "scale"), ({"scale": (0, 1)}, "scale"),
    ({"translate": 2}, "translate"), ({"brightness": -0.1}, "brightness"), ({"contrast": 1.5}, "contrast"),
    ({"noise": -1}, "noise"), ({"erase": 1.1}, "erase"),
])
def test_bad_settings_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        augment.RandomViews(**kwargs)


@pytest.mark.parametrize("x,match", [
    (torch.rand(8, 8), "4-D"), (torch.ones(2, 1, 8, 8, dtype=torch.long), "floating"),
    ([[0.0]], "torch.Tensor"), (torch.full((1, 1, 4, 4), float("nan")), "NaN"),
])
def test_bad_images_are_refused(x, match):
    with pytest.raises(ValueError, match=match):
        augment.digit_views()(x)


def test_cifar_views_are_per_sample_crops_flips_and_colour():
    x = torch.rand(1, 3, 32, 32).repeat(16, 1, 1, 1)
    v = augment.cifar_views()(x, torch.Generator().manual_seed(0))
    assert v.shape == x.shape and 0 <= v.min() and v.max() <= 1
    assert len({tuple(r.flatten().tolist()) for r in v}) == 16



def test_crop_mode_with_full_area_and_no_jitter_is_the_identity():
    x = torch.rand(4, 3, 16, 16)
    v = augment.RandomViews(rotation=0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))(x)
    assert torch.allclose(v, x, atol=1e-5)
    with pytest.raises(ValueError, match="crop_scale"):
        augment.RandomViews(crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="crop_ratio"):
        augment.RandomViews(crop_scale=(0.5, 1.0), crop_ratio=(2.0, 1.0))



def test_feature_corruption_replaces_a_rate_of_each_row_from_the_marginals():
    pool = torch.randn(100, 10, generator=torch.Generator().manual_seed(0))
    views = augment.FeatureCorruption(pool, rate=0.3)
    x = torch.randn(50, 10) + 100
    a, b = views.pair(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, x) and ((b != x).sum(1) == 3).all()
    assert all(torch.isin(b[:, j][b[:, j] != x[:, j]], pool[:, j]).all() for j in range(10))
    c = views(x, torch.Generator().manual_seed(2))
    assert not torch.equal(b, c)
    with pytest.raises(ValueError, match="rate must be in"):
        augment.FeatureCorruption(pool, rate=1.5)
    with pytest.raises(ValueError, match="x must have 10 features"):
        views(torch.randn(4, 9))
