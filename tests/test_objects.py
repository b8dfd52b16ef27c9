"""sslbook.objects: a small ViT, DINO and supervised training, and the Jaccard measure of its attention."""
import doctest
import math

import numpy as np
import pytest
import torch

from sslbook import objects, scenes


@pytest.fixture(scope="module")
def small():
    s = scenes.make_scenes(16, seed=0)
    return s.images, s.labels


def test_doctests():
    assert doctest.testmod(objects).failed == 0


# --- the ViT and its attention --------------------------------------------------------------------

def test_the_vit_gives_a_cls_feature_and_attention_rows_that_sum_to_one():
    vit = objects.SceneViT(dim=32, depth=2, heads=4).eval()
    x = torch.rand(3, 3, 32, 32)
    assert vit(x).shape == (3, 32)
    full = vit.attention(x)
    assert full.shape == (3, 4, 65, 65) and bool((full >= 0).all())
    assert torch.allclose(full.sum(dim=-1), torch.ones(3, 4, 65), atol=1e-5)
    cls = vit.cls_attention(x)
    assert cls.shape == (3, 4, 64) and torch.allclose(cls.sum(dim=-1), torch.ones(3, 4), atol=1e-5)
    assert torch.allclose(cls, full[:, :, 0, 1:] / full[:, :, 0, 1:].sum(-1, keepdim=True))


def test_the_attention_is_the_last_blocks_softmax_of_queries_and_keys():
    """A port of scaled dot-product attention from the layer's own projection weights."""
    torch.manual_seed(0)
    vit = objects.SceneViT(dim=16, depth=2, heads=2).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        tokens = vit._tokens(x)
        first, last = vit.blocks.layers
        h = last.norm1(first(tokens))
        q, k, _ = (h @ last.self_attn.in_proj_weight.T + last.self_attn.in_proj_bias).chunk(3, dim=-1)
        q, k = (t.reshape(2, 65, 2, 8).transpose(1, 2) for t in (q, k))      # N x heads x L x 8
        expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
        assert torch.allclose(vit.attention(x), expected, atol=1e-5)
        # and the [CLS] output is what the blocks compute: the readout does not change the network
        assert torch.allclose(vit(x), vit.norm(last(first(tokens)))[:, 0], atol=1e-5)


def test_a_smaller_crop_gets_resized_positions():
    vit = objects.SceneViT()
    crop = torch.rand(2, 3, 16, 16)
    assert vit(crop).shape == (2, 64) and vit.cls_attention(crop).shape == (2, 4, 16)


def test_attention_maps_batch_without_gradient_and_restore_the_mode():
    vit = objects.SceneViT(dim=16, depth=1, heads=2).train()
    x = torch.rand(5, 3, 32, 32)
    a = objects.attention_maps(vit, x, batch_size=2)
    assert vit.training and not a.requires_grad and a.shape == (5, 2, 64)
    with torch.no_grad():
        assert torch.allclose(a, vit.eval().cls_attention(x), atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"patch": 5}, "patch must divide image_size"),
    ({"patch": 32}, "grid of at least 2 x 2"),
    ({"dim": 30, "heads": 4}, "dim must be divisible by heads"),
    ({"depth": 0}, "depth must be"),
])
def test_bad_vit_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        objects.SceneViT(**kwargs)


def test_images_of_the_wrong_shape_are_refused():
    vit = objects.SceneViT()
    for bad in (torch.rand(2, 1, 32, 32), torch.rand(2, 3, 30, 30), torch.rand(3, 32, 32)):
        with pytest.raises(ValueError, match="images must be"):
            vit(bad)


# --- the Jaccard measure ----------------------------------------------------------------------------

def patch_masks(n, grid=8, side=4, seed=0):
    """Random masks made of whole patches: N x (grid side) x (grid side), and their patch grids N x P."""
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(n, grid, grid, generator=g) < 0.3
    on[:, 0, 0] = True                                                   # never empty
    return on.repeat_interleave(side, 1).repeat_interleave(side, 2), on.flatten(1)


def test_attention_exactly_on_the_object_gives_one():
    masks, on = patch_masks(6)
    uniform_on_object = on.float()[:, None].repeat(1, 2, 1)               # N x 2 heads x P
    assert torch.equal(objects.attention_jaccard(uniform_on_object, masks), torch.ones(6, 2))
    # any positive attention on the object's patches and none elsewhere, with every patch needed
    varied = uniform_on_object * torch.rand(6, 2, 64, generator=torch.Generator().manual_seed(1)).add(0.1)
    assert torch.equal(objects.attention_jaccard(varied, masks, mass=1.0), torch.ones(6, 2))


def test_uniform_attention_keeps_every_patch_and_scores_the_objects_share():
    s = scenes.make_scenes(10, seed=3)
    by_hand = s.masks.float().sum(dim=(1, 2)) / (32 * 32)                  # |M & all| / |M | all| = |M| / S^2
    score = objects.attention_jaccard(torch.full((10, 3, 64), 1 / 64), s.masks)
    assert torch.allclose(score, by_hand[:, None].expand(10, 3))
    assert bool(objects.kept_patches(torch.full((10, 3, 64), 1 / 64)).all())


def test_attention_off_the_object_gives_zero():
    masks, on = patch_masks(6)
    off = (~on).float()[:, None]
    assert torch.equal(objects.attention_jaccard(off, masks), torch.zeros(6, 1))
    assert torch.equal(objects.attention_jaccard(torch.ones(2, 1, 4), torch.zeros(2, 4, 4, dtype=torch.bool)),
                       torch.zeros(2, 1))                                 # no object: nothing to find


def test_a_case_computed_by_hand():
    # 2 x 2 patches of 2 x 2 pixels. Attention 0.5, 0.3, 0.2, 0: 60% needs patches 0 and 1 (0.5 < 0.6 <= 0.8).
    # The object: all of patch 0 (4 pixels) and the top row of patch 2 (2 pixels).
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :2] = True
    mask[0, 2, :2] = True
    attn = torch.tensor([[[0.5, 0.3, 0.2, 0.0]]])
    assert objects.kept_patches(attn).tolist() == [[[True, True, False, False]]]
    # kept pixels 8 (patches 0 and 1), object 6, both 4: Jaccard 4 / (8 + 6 - 4) = 0.4
    assert objects.attention_jaccard(attn, mask).item() == pytest.approx(0.4)
    # at 90% the third patch is needed too: kept 12, both 6, union 12: 0.5
    assert objects.attention_jaccard(attn, mask, mass=0.9).item() == pytest.approx(0.5)
    # unnormalised attention is renormalised first
    assert objects.attention_jaccard(attn * 7, mask).item() == pytest.approx(0.4)


def dino_code_keeps(attn, mass):
    """The rule of DINO's visualisation code, by loop: sort ascending, keep where the cumulative share > 1 - mass."""
    out = np.zeros(attn.shape, dtype=bool)
    for idx in np.ndindex(*attn.shape[:-1]):
        row = attn[idx] / attn[idx].sum()
        order = np.argsort(row)
        total = 0.0
        for j in order:
            total += row[j]
            out[idx + (j,)] = total > 1 - mass
    return out


@pytest.mark.parametrize("mass", [0.3, 0.6, 0.9])
def test_kept_patches_agree_with_the_rule_of_dinos_code_when_there_are_no_ties(mass):
    attn = torch.rand(4, 3, 64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert np.array_equal(objects.kept_patches(attn, mass).numpy(), dino_code_keeps(attn.numpy(), mass))
    kept = objects.kept_patches(attn, mass)
    share = (attn * kept).sum(-1) / attn.sum(-1)
    assert bool((share >= mass - 1e-9).all())                             # enough mass...
    smallest = torch.where(kept, attn, torch.inf).min(-1).values
    assert bool(((share - smallest / attn.sum(-1)) < mass).all())        # ...and no patch to spare


@pytest.mark.parametrize("args,match", [
    ((torch.ones(2, 1, 4), torch.zeros(2, 4, 4, dtype=torch.bool), 0.0), r"mass must be in \(0, 1\]"),
    ((torch.ones(2, 1, 4), torch.zeros(2, 4, 4, dtype=torch.bool), 1.5), "mass must be in"),
    ((-torch.ones(2, 1, 4), torch.zeros(2, 4, 4, dtype=torch.bool), 0.6), "non-negative"),
    ((torch.zeros(2, 1, 4), torch.zeros(2, 4, 4, dtype=torch.bool), 0.6), "positive sum"),
    ((torch.ones(2, 4), torch.zeros(2, 4, 4, dtype=torch.bool), 0.6), "attn must be 3-D"),
    ((torch.ones(2, 1, 4), torch.zeros(2, 4, 4), 0.6), "masks must be a bool"),
    ((torch.ones(2, 1, 4), torch.zeros(3, 4, 4, dtype=torch.bool), 0.6), "N = 2"),
    ((torch.ones(2, 1, 4), torch.zeros(2, 5, 5, dtype=torch.bool), 0.6), "multiple of the patch grid"),
    ((torch.ones(2, 1, 5), torch.zeros(2, 5, 5, dtype=torch.bool), 0.6), "multiple of the patch grid"),
])
def test_bad_jaccard_arguments_raise(args, match):
    with pytest.raises(ValueError, match=match):
        objects.attention_jaccard(*args)


# --- training -----------------------------------------------------------------------------------------

def test_a_few_dino_steps_train_the_student_and_move_the_teacher_only_by_its_average(small):
    images, _ = small
    start = objects.untrained_vit(images, seed=4, vit={"dim": 32, "depth": 2})
    run = objects.pretrain_dino(images, steps=3, batch_size=8, seed=4, local_crops=2, vit={"dim": 32, "depth": 2})
    assert run.history.steps == 3 and all(math.isfinite(v) for v in run.history.loss)
    assert run.vit is run.teacher[0] and run.meta["method"] == "dino" and run.meta["local_crops"] == 2
    h, mi = run.history.values["teacher_entropy"], run.history.values["teacher_mi"]
    assert all(0 <= v <= math.log(256) + 1e-4 for v in h) and all(-1e-4 <= v <= math.log(256) for v in mi)
    trained = dict(run.student[0].named_parameters())
    teacher = dict(run.teacher[0].named_parameters())
    for name, p0 in start.named_parameters():
        assert not torch.equal(trained[name], p0), f"the student's {name} did not change"
    assert all(p.grad is None and not p.requires_grad for p in run.teacher.parameters())
    assert all(p.grad is not None for p in run.student.parameters())
    # the teacher moved towards the student, by much less than the student moved
    for name, p0 in start.named_parameters():
        moved, towards = (teacher[name] - p0).norm(), (trained[name] - p0).norm()
        assert 0 < moved < 0.1 * towards, name


def test_dino_is_deterministic_by_seed_and_starts_from_the_untrained_vit(small):
    images, _ = small
    a = objects.pretrain_dino(images, steps=2, batch_size=8, seed=1, local_crops=0, vit={"dim": 16, "depth": 1})
    b = objects.pretrain_dino(images, steps=2, batch_size=8, seed=1, local_crops=0, vit={"dim": 16, "depth": 1})
    assert a.history.loss == b.history.loss
    assert all(torch.equal(p, q) for p, q in zip(a.student.parameters(), b.student.parameters()))
    still = objects.pretrain_dino(images, steps=1, batch_size=8, seed=1, lr=1e-12, local_crops=0,
                                  vit={"dim": 16, "depth": 1})
    start = objects.untrained_vit(images, seed=1, vit={"dim": 16, "depth": 1})
    assert all(torch.allclose(p, q, atol=1e-8) for p, q in zip(start.parameters(), still.student[0].parameters()))
    assert all(torch.equal(p, q) for p, q in zip(start.parameters(), still.vit.parameters()))  # momentum 1 at the end


def test_supervised_training_learns_labels_and_starts_from_the_same_weights(small):
    images, labels = small
    start = objects.untrained_vit(images, seed=2, vit={"dim": 16, "depth": 1})
    run = objects.train_supervised_vit(images, labels, steps=3, batch_size=8, seed=2, vit={"dim": 16, "depth": 1})
    assert run.history.steps == 3 and "accuracy" in run.history.values and run.teacher is None
    assert run.vit is run.student[0] and run.student(images[:2]).shape == (2, int(labels.max()) + 1)
    assert all(not torch.equal(p, q) for p, q in zip(start.parameters(), run.vit.parameters()))
    again = objects.train_supervised_vit(images, labels, steps=3, batch_size=8, seed=2, vit={"dim": 16, "depth": 1})
    assert run.history.loss == again.history.loss


@pytest.mark.parametrize("kwargs,match", [
    ({"steps": 0}, "steps must be"),
    ({"batch_size": 1}, "batch_size must be"),
    ({"lr": 0.0}, "lr must be"),
    ({"momentum": 1.5}, r"momentum must be in \[0, 1\]"),
    ({"local_crops": -1}, "local_crops must be"),
    ({"local_size": 10}, r"local_size must be a multiple of the patch \(4\), got 10"),
    ({"vit": "big"}, "vit must be a dict"),
    ({"vit": {"heads": 5}}, "dim must be divisible by heads"),
])
def test_bad_dino_settings_raise(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        objects.pretrain_dino(small[0], **{"steps": 1, **kwargs})


def test_bad_images_and_labels_raise(small):
    images, labels = small
    with pytest.raises(ValueError, match="images must be 4-D"):
        objects.pretrain_dino(images[0], steps=1)
    with pytest.raises(ValueError, match="at least 2 images"):
        objects.untrained_vit(images[:1])
    for bad, match in ((labels[:5], "one class id"), (torch.zeros(16, dtype=torch.long), "at least 2 classes"),
                       (labels.float(), "integer tensor")):
        with pytest.raises(ValueError, match=match):
            objects.train_supervised_vit(images, bad, steps=1)
