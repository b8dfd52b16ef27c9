"""sslbook.scenes: generated scenes whose object masks are exact."""
import doctest

import pytest
import torch
import torch.nn.functional as F

from sslbook import data, scenes


@pytest.fixture(scope="module")
def digit_scenes():
    return scenes.make_scenes(200, seed=0)


@pytest.fixture(scope="module")
def shape_scenes():
    return scenes.make_scenes(100, objects="shapes", per_image=3, scale=(0.3, 0.5), seed=1)


def test_doctests():
    assert doctest.testmod(scenes).failed == 0


@pytest.mark.parametrize("which", ["digit_scenes", "shape_scenes"])
def test_shapes_types_and_range(which, request):
    s = request.getfixturevalue(which)
    n, k = len(s), s.object_labels.shape[1]
    assert s.images.shape == s.backgrounds.shape == (n, 3, 32, 32) and s.images.dtype == torch.float32
    assert 0 <= s.images.min() and s.images.max() <= 1
    assert s.masks.shape == (n, 32, 32) and s.masks.dtype == torch.bool
    assert s.object_masks.shape == (n, k, 32, 32) and s.object_labels.shape == (n, k)
    assert s.labels.dtype == torch.long and torch.equal(s.labels, s.object_labels[:, 0])
    assert int(s.object_labels.max()) < len(s.classes) and int(s.object_labels.min()) >= 0
    assert s.share.shape == (n,) and bool((s.share > 0).all()) and bool((s.share < 0.6).all())


def test_classes_name_digits_and_shapes(digit_scenes, shape_scenes):
    assert digit_scenes.classes == tuple(str(i) for i in range(10))
    assert shape_scenes.classes == data.SHAPES
    assert len(digit_scenes.labels.unique()) == 10 and len(shape_scenes.object_labels.unique()) == 4


@pytest.mark.parametrize("which", ["digit_scenes", "shape_scenes"])
def test_an_image_differs_from_its_background_exactly_on_the_mask(which, request):
    s = request.getfixturevalue(which)
    assert torch.equal((s.images != s.backgrounds).any(dim=1), s.masks)


@pytest.mark.parametrize("which", ["digit_scenes", "shape_scenes"])
def test_each_object_is_one_flat_colour_and_the_objects_tile_the_mask(which, request):
    s = request.getfixturevalue(which)
    assert torch.equal(s.object_masks.any(dim=1), s.masks)
    assert int(s.object_masks.sum(dim=1).max()) <= 1                  # visible parts never overlap
    for i in range(20):
        for j in range(s.object_masks.shape[1]):
            pixels = s.images[i][:, s.object_masks[i, j]]              # 3 x (pixels of object j)
            if pixels.numel():
                assert torch.equal(pixels, pixels[:, :1].expand_as(pixels))
                assert float(pixels.min(dim=0).values.min()) == 0.0   # full saturation: one channel at 0


def test_objects_fit_boxes_of_the_requested_sizes():
    s = scenes.make_scenes(100, scale=(0.5, 0.6), seed=2)
    for m in s.masks:
        rows, cols = m.any(dim=1).nonzero().flatten(), m.any(dim=0).nonzero().flatten()
        height, width = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
        assert 4 <= max(height, width) <= round(0.6 * 32)


def test_each_mask_is_its_digit_upscaled_into_its_box_and_labelled_with_its_class(digit_scenes, digits):
    """Re-render every object from its source digit and box: the mask is exactly that, nothing else."""
    assert bool((digit_scenes.sources >= 0).all()) and torch.equal(digit_scenes.labels,
                                                                 digits.labels[digit_scenes.sources[:, 0]])
    for i in range(len(digit_scenes)):
        top, left, side = digit_scenes.boxes[i, 0].tolist()
        assert 0 <= top <= 32 - side and 0 <= left <= 32 - side and round(0.45 * 32) <= side <= round(0.7 * 32)
        digit = digits.images[digit_scenes.sources[i, 0]][None]
        expected = torch.zeros(32, 32, dtype=torch.bool)
        expected[top:top + side, left:left + side] = F.interpolate(digit, size=(side, side), mode="bilinear",
                                                                   align_corners=False)[0, 0] > 0.3
        assert torch.equal(digit_scenes.masks[i], expected), f"scene {i}"


def test_shapes_stay_inside_their_boxes_and_have_no_source(shape_scenes):
    assert bool((shape_scenes.sources == -1).all())
    for i in range(len(shape_scenes)):
        for j in range(3):
            top, left, side = shape_scenes.boxes[i, j].tolist()
            outside = shape_scenes.object_masks[i, j].clone()
            outside[top:top + side, left:left + side] = False
            assert not outside.any()


def test_the_same_seed_gives_the_same_scenes_and_another_seed_others():
    a, b, c = (scenes.make_scenes(20, objects=o, seed=s) for o, s in (("shapes", 5), ("shapes", 5), ("shapes", 6)))
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.masks, c.masks)


def test_the_pools_and_sizes_other_than_the_default():
    s = scenes.make_scenes(10, size=48, pool="test", seed=0)
    assert s.images.shape == (10, 3, 48, 48) and s.masks.shape == (10, 48, 48)
    assert torch.equal((s.images != s.backgrounds).any(dim=1), s.masks)
    assert not torch.equal(s.images, scenes.make_scenes(10, size=48, pool="train", seed=0).images)


def test_texture_and_noise_zero_give_a_flat_background():
    s = scenes.make_scenes(4, texture=0.0, noise=0.0, seed=0)
    flat = s.backgrounds.flatten(2)
    assert torch.allclose(flat, flat[:, :, :1].expand_as(flat))


def test_a_pool_of_backgrounds_is_shared_by_the_scenes():
    s = scenes.make_scenes(30, backgrounds=3, seed=0)
    assert len(s.backgrounds.flatten(1).unique(dim=0)) <= 3
    assert torch.equal((s.images != s.backgrounds).any(dim=1), s.masks)
    assert len(scenes.make_scenes(30, seed=0).backgrounds.flatten(1).unique(dim=0)) == 30


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n must be"),
    ({"size": 8}, "size must be"),
    ({"objects": "letters"}, "objects must be one of"),
    ({"per_image": 0}, "per_image must be"),
    ({"per_image": 9}, r"per_image must be an integer in \[1, 8\], got 9"),
    ({"scale": (0.1, 0.2)}, "scale must give objects of at least 8 pixels"),
    ({"scale": (0.7, 0.5)}, r"scale must be a pair \(low, high\)"),
    ({"scale": (0.5, 1.5)}, "scale must be a pair"),
    ({"scale": 0.5}, "scale must be a pair"),
    ({"texture": -0.1}, r"texture must be in \[0, 0.3\]"),
    ({"noise": 0.5}, r"noise must be in \[0, 0.2\], got 0.5"),
    ({"pool": "validation"}, "pool must be one of"),
    ({"backgrounds": 0}, "backgrounds must be an integer >= 1, got 0"),
    ({"seed": -1}, "seed must be"),
])
def test_bad_arguments_name_the_parameter_the_value_and_the_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scenes.make_scenes(**{"n": 4, **kwargs})
