"""sslbook.multimodal: captions, tokens, held-out pairs, the loss floor, training and zero-shot use."""
import math

import pytest
import torch

from sslbook import augment, data, multimodal


def test_captions_and_tokens():
    assert multimodal.caption(0, 0) == "a red circle"
    assert len(multimodal.all_captions()) == len(data.SHAPES) * len(data.COLOURS)
    assert multimodal.tokenize(["a red circle", "Cross"]) == [[0, 1, 5], [8]]


@pytest.mark.parametrize("texts,match", [("a red circle", "list of strings"), ([""], "empty"),
                                         (["a blue circle"], "blue")])
def test_tokenize_rejects_bad_text(texts, match):
    with pytest.raises(ValueError, match=match):
        multimodal.tokenize(texts)


def test_make_pairs_leaves_out_the_held_out_combinations():
    held = [(0, 0), (1, 1), (2, 2), (3, 3)]
    pairs = multimodal.make_pairs(500, held_out=held, seed=3)
    assert len(pairs.images) == len(pairs.captions) == 500
    seen = {(int(s), int(c)) for s, c in zip(pairs.shape, pairs.colour)}
    assert seen.isdisjoint(held) and len(seen) == 12
    assert all(cap == multimodal.caption(int(s), int(c)) for cap, s, c in zip(pairs.captions, pairs.shape, pairs.colour))


@pytest.mark.parametrize("kwargs,match", [({"n": 0}, "n"), ({"held_out": [(4, 0)]}, "shape"),
                                          ({"held_out": [(s, c) for s in range(4) for c in range(4)]}, "held_out")])
def test_make_pairs_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        multimodal.make_pairs(**{"n": 10, **kwargs})


def test_loss_floor():
    assert multimodal.loss_floor(["x"] * 7, 8) == pytest.approx(math.log(8))          # one caption: log B
    assert multimodal.loss_floor([str(i) for i in range(10**6)], 64) < 1e-3           # all distinct: near 0
    captions = [str(i % 4) for i in range(400)]                                        # 4 equal captions
    g = torch.Generator().manual_seed(0)                                               # Monte Carlo check
    draws = [torch.randint(4, (32,), generator=g) for _ in range(3000)]
    mc = sum(torch.log(torch.bincount(d, minlength=4)[d].double()).mean().item() for d in draws) / len(draws)
    assert multimodal.loss_floor(captions, 32) == pytest.approx(mc, abs=0.01)
    with pytest.raises(ValueError, match="batch_size"):
        multimodal.loss_floor(captions, 1)


def test_training_reaches_the_floor_and_classifies_seen_pairs():
    pairs = multimodal.make_pairs(1500, seed=0)
    run = multimodal.train_clip(pairs, steps=150, batch_size=64, progress=False)
    floor = multimodal.loss_floor(pairs.captions, 64)
    assert sum(run.history.loss[-10:]) / 10 < floor + 0.3 < run.history.loss[0]
    test = data.make_shapes(300, seed=5)
    pred = multimodal.zero_shot(run.model, test.images, [c for *_, c in multimodal.all_captions()])
    truth = test.shape * len(data.COLOURS) + test.colour                                # shape-major order
    assert (pred == truth).float().mean() > 0.9


def test_views_add_an_image_objective():
    pairs = multimodal.make_pairs(64, seed=0)
    plain = multimodal.train_clip(pairs, steps=1, batch_size=32, progress=False)
    views = multimodal.train_clip(pairs, steps=1, batch_size=32, progress=False, views=augment.RandomViews(hue=0.5))
    assert views.history.loss[0] > plain.history.loss[0]          # the SimCLR term adds to the loss
    assert views.meta["method"] == "clip+simclr" and plain.meta["method"] == "clip"


def test_train_clip_and_zero_shot_bad_input():
    pairs = multimodal.make_pairs(20)
    with pytest.raises(ValueError, match="batch_size"):
        multimodal.train_clip(pairs, steps=1, batch_size=64)
    with pytest.raises(ValueError, match="steps"):
        multimodal.train_clip(pairs, steps=0, batch_size=8)
    with pytest.raises(ValueError, match="texts"):
        multimodal.zero_shot(multimodal.ClipModel(), pairs.images, [])


def test_view_batch_takes_part_of_the_batch_for_the_image_objective():
    pairs = multimodal.make_pairs(64, seed=0)
    views = augment.RandomViews(hue=0.5)
    run = multimodal.train_clip(pairs, steps=2, batch_size=32, progress=False, views=views, view_batch=8)
    assert run.history.steps == 2 and run.meta["method"] == "clip+simclr"
    with pytest.raises(ValueError, match="view_batch"):
        multimodal.train_clip(pairs, steps=1, batch_size=16, progress=False, views=views, view_batch=32)
    with pytest.raises(ValueError, match="view_batch"):
        multimodal.train_clip(pairs, steps=1, batch_size=16, progress=False, views=views, view_batch=1)
